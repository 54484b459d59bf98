/**
 * Typed errors. A `UserError` is a mistake the user can fix (bad config, bad URL,
 * unreachable broker): the CLI prints its message on one line, without a stack.
 * Anything else is a bug or an unexpected failure and is printed with its stack at -v.
 */
export class KafkaBackupError extends Error {
  readonly code: string;
  readonly context: Record<string, unknown>;
  constructor(code: string, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.context = context;
  }
}

/** A mistake in what the user gave us: config, flags, URLs, paths, time windows. */
export class UserError extends KafkaBackupError {}

/** Config file problems: `key` is the dotted path of the offending key. */
export class ConfigError extends UserError {
  constructor(
    message: string,
    readonly key?: string,
    context: Record<string, unknown> = {},
  ) {
    super('CONFIG', message, { ...context, key });
  }
}

/** Storage backend failures; `key` is the object key relative to the backend root. */
export class StorageError extends KafkaBackupError {
  constructor(
    code: string,
    message: string,
    readonly key?: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, { key }, options);
  }
}

/** The object does not exist. */
export class NotFoundError extends StorageError {
  constructor(key: string, options?: { cause?: unknown }) {
    super('NOT_FOUND', `object not found: ${key}`, key, options);
  }
}

/** A conditional create found the object already there. */
export class AlreadyExistsError extends StorageError {
  constructor(key: string, options?: { cause?: unknown }) {
    super('ALREADY_EXISTS', `object already exists: ${key}`, key, options);
  }
}

/** A compare-and-swap write (`putIfMatch`) found another version than the one it expected. */
export class PreconditionFailedError extends StorageError {
  constructor(key: string, expected: string | null, options?: { cause?: unknown }) {
    super(
      'PRECONDITION_FAILED',
      `${key}: changed by another writer (expected ${expected === null ? 'no object' : `version ${expected}`}); write refused`,
      key,
      options,
    );
  }
}

/** Stored data failed a checksum or structural check. */
export class CorruptDataError extends KafkaBackupError {
  constructor(
    message: string,
    readonly object?: string,
    context: Record<string, unknown> = {},
  ) {
    super('CORRUPT', message, { ...context, object });
  }
}

/** Kafka protocol or broker failure; carries the Kafka error code when there is one. */
export class KafkaError extends KafkaBackupError {
  constructor(
    message: string,
    readonly kafkaCode?: number,
    context: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super('KAFKA', message, { ...context, kafkaCode }, options);
  }
}

/** A request on a cluster client that was closed (e.g. a prefetch still in flight when its backup ended): never retried. */
export class ClientClosedError extends KafkaError {
  constructor(what: string) {
    super(`${what}: the Kafka client is closed`);
  }
}

/** The broker cannot be reached at all: a user-facing problem (wrong address, broker down). */
export class BrokerUnreachableError extends UserError {
  constructor(message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('BROKER_UNREACHABLE', message, context, options);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
