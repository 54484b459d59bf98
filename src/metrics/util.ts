import { KafkaBackupError, KafkaError } from '../util/errors.js';

/**
 * A short, fixed-vocabulary name of what went wrong, for the unauthenticated /health endpoint:
 * the error's class and code (`StorageError ACCESS_DENIED`, `KafkaError 3`), never its message,
 * which may carry bucket URLs, object keys, broker addresses or config values.
 */
export function errorClass(err: unknown): string {
  const ident = (s: unknown, re: RegExp): string | undefined => (typeof s === 'string' && re.test(s) ? s : undefined);
  if (!(err instanceof Error)) return 'unknown';
  const name = ident(err.name, /^[A-Za-z][A-Za-z0-9]{0,39}$/) ?? 'Error';
  if (err instanceof KafkaError && typeof err.kafkaCode === 'number') return `${name} ${err.kafkaCode}`;
  const code = err instanceof KafkaBackupError ? ident(err.code, /^[A-Z][A-Z0-9_]{0,39}$/) : undefined;
  return code ? `${name} ${code}` : name;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
