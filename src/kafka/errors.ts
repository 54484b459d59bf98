import { protocolErrorsCodesById } from './lib.js';
import { ClientClosedError, KafkaError } from '../util/errors.js';

/** Kafka error codes this tool reacts to by name. */
export const ErrorCode = {
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  REQUEST_TIMED_OUT: 7,
  MESSAGE_TOO_LARGE: 10,
  NETWORK_EXCEPTION: 13,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  NOT_ENOUGH_REPLICAS: 19,
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: 20,
  TOPIC_AUTHORIZATION_FAILED: 29,
  INVALID_TIMESTAMP: 32,
  TOPIC_ALREADY_EXISTS: 36,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  DUPLICATE_SEQUENCE_NUMBER: 46,
  INVALID_PRODUCER_EPOCH: 47,
  INVALID_TXN_STATE: 48,
  CONCURRENT_TRANSACTIONS: 51,
  KAFKA_STORAGE_ERROR: 56,
  UNKNOWN_PRODUCER_ID: 59,
  FENCED_LEADER_EPOCH: 74,
  UNKNOWN_LEADER_EPOCH: 75,
  OFFSET_NOT_AVAILABLE: 78,
  INVALID_RECORD: 87,
  PRODUCER_FENCED: 90,
} as const;

/**
 * The broker refused a transactional producer's epoch: another producer with the same transactional
 * id called InitProducerId since (the coordinator answers PRODUCER_FENCED, a partition leader that
 * already holds the newer epoch INVALID_PRODUCER_EPOCH). Nothing of the refused request was written.
 */
export function isFencedCode(code: number | undefined): boolean {
  return code === ErrorCode.PRODUCER_FENCED || code === ErrorCode.INVALID_PRODUCER_EPOCH;
}

/** A request of a transactional producer refused because a newer producer took its transactional id over. */
export class ProducerFencedError extends KafkaError {
  constructor(transactionalId: string, what: string, code: number, context: Record<string, unknown> = {}) {
    super(
      `${what} refused by the broker (${errorName(code)}): the transactional id "${transactionalId}" was taken over by a newer producer; this producer is fenced and wrote nothing more`,
      code,
      { ...context, transactionalId },
    );
  }
}

const RETRIABLE = new Set<number>([
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.REQUEST_TIMED_OUT,
  ErrorCode.NETWORK_EXCEPTION,
  ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
  ErrorCode.COORDINATOR_NOT_AVAILABLE,
  ErrorCode.NOT_COORDINATOR,
  ErrorCode.NOT_ENOUGH_REPLICAS,
  ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
  ErrorCode.KAFKA_STORAGE_ERROR,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
  ErrorCode.OFFSET_NOT_AVAILABLE,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, // transiently true right after topic creation
]);

/** Errors after which the partition leader may have moved: refresh metadata before retrying. */
const STALE_METADATA = new Set<number>([
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.KAFKA_STORAGE_ERROR,
]);

export function isRetriable(code: number): boolean {
  return RETRIABLE.has(code);
}

/**
 * A failed request that retrying cannot help: the client was closed, or the broker answered with a
 * non-retriable error code. Anything else (timeouts, dropped connections, retriable codes) is retried.
 */
export function isFatal(err: unknown): boolean {
  return err instanceof ClientClosedError || (err instanceof KafkaError && err.kafkaCode !== undefined && !isRetriable(err.kafkaCode));
}

export function needsMetadataRefresh(code: number): boolean {
  return STALE_METADATA.has(code);
}

export function errorName(code: number): string {
  return protocolErrorsCodesById[code] ?? `UNKNOWN_ERROR_${code}`;
}
