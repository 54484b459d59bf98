/**
 * Stalled and leaderless partitions of a backup (issue 19 item 6, backup.empty_fetch_retry_secs).
 * A partition whose fetches keep coming back empty although the broker holds records beyond its
 * position (an open transaction holding the last stable offset, a broker that answers but serves
 * nothing), or whose leader is gone (its broker killed hard, no other replica in sync), is waited
 * for with a warning naming it instead of failing the backup. A snapshot gives such a partition up
 * after `empty_fetch_retry_secs` without progress: the run ends `incomplete` with the partition in
 * its shortfall (a re-run resumes it), rather than hanging. A continuous backup waits on, and
 * repeats the warning every `empty_fetch_retry_secs`.
 */
import { ErrorCode } from '../kafka/errors.js';
import { KafkaError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

/** Default backup.empty_fetch_retry_secs. */
export const DEFAULT_EMPTY_FETCH_RETRY_SECS = 60;

/** The failure (or its cause) is "this partition has no leader": LEADER_NOT_AVAILABLE after the fetcher's retries. */
export function isLeaderless(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof KafkaError && e.kafkaCode === ErrorCode.LEADER_NOT_AVAILABLE) return true;
  }
  return false;
}

/**
 * Whether a partition's failure is its having no leader (a stall to wait out while the other partitions carry
 * on), or the failure to report. "No leader" read from metadata the cluster no longer refreshes (its broker
 * stopped just after saying so) is a cluster that does not answer, not an election: it is a broker failure,
 * for the circuit breaker. As a stall it held the partition, and its worker, for as long as the cluster was
 * down. `refresh` asks the cluster for its metadata again.
 */
export async function leaderlessOrFailure(
  err: unknown,
  where: { topic: string; partition: number },
  refresh: () => Promise<unknown>,
): Promise<{ leaderless: boolean; failure: unknown }> {
  if (!isLeaderless(err)) return { leaderless: false, failure: err };
  const down = await refresh().then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  if (!down) return { leaderless: true, failure: err };
  const message = `${where.topic}/${where.partition}: no leader known and the cluster does not answer (${down.message})`;
  return { leaderless: false, failure: new KafkaError(message, undefined, { ...where }, { cause: down }) };
}

/** How long one partition has gone without progress, and the warnings about it. */
export class StallWatch {
  readonly #limitMs: number;
  readonly #log: Logger;
  #since: number | undefined;
  #warnedAt = 0;

  constructor(limitMs: number, log: Logger) {
    this.#limitMs = limitMs;
    this.#log = log;
  }

  /** Records were fetched: the partition moves. */
  progressed(): void {
    if (this.#warnedAt > 0) this.#log.info('partition moving again');
    this.#since = undefined;
    this.#warnedAt = 0;
  }

  /**
   * No progress for `reason`. Warns at once when `warnAtOnce` (a missing leader), else once the
   * limit is reached, then every limit period. True once the partition has made no progress for the limit.
   */
  stalled(reason: string, warnAtOnce = false): boolean {
    const now = Date.now();
    this.#since ??= now;
    const over = now - this.#since >= this.#limitMs;
    if ((warnAtOnce || over) && now - this.#warnedAt >= this.#limitMs) {
      this.#warnedAt = now;
      this.#log.warn({ stalledForSecs: Math.round((now - this.#since) / 1000) }, reason);
    }
    return over;
  }
}
