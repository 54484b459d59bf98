import { isFatal } from '../kafka/errors.js';
import { LeaseLostError } from './lease.js';
import { CircuitOpenError } from '../util/circuit-breaker.js';
import { CorruptDataError, KafkaBackupError, KafkaError, StorageError, UserError } from '../util/errors.js';

/** Storage codes that no retry can fix: credentials, permissions, a missing bucket, our own key checks. */
const PERMANENT_STORAGE_CODES = new Set(['ACCESS_DENIED', 'NO_SUCH_BUCKET', 'NO_CREDENTIALS', 'INVALID_KEY', 'INVALID_RANGE', 'ALREADY_EXISTS', 'NOT_FOUND']);

/** Socket and SDK error codes of an endpoint that is down or unreachable for now. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Whether a failure may pass once storage or the broker answers again (the circuit breaker rides
 * through those). Mistakes of the user, damaged data, a lost lease, a closed client and Kafka
 * errors the broker calls non-retriable (authorization, unknown topic) are not: they fail at once,
 * as without a breaker.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof CircuitOpenError || err instanceof UserError || err instanceof CorruptDataError || err instanceof LeaseLostError) return false;
  if (err instanceof StorageError) return !PERMANENT_STORAGE_CODES.has(err.code);
  if (err instanceof KafkaError) return !isFatal(err);
  if (err instanceof KafkaBackupError) return false;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && NETWORK_CODES.has(code);
}
