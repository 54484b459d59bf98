import { readBatchHeader } from '../kafka/protocol/record-batch.js';
import type { BackupMetricsSink } from '../metrics/sink.js';
import { RateLimiter } from '../util/rate-limiter.js';

/**
 * backup.rate_limit_records_per_sec / rate_limit_bytes_per_sec: one pair of token buckets for the
 * whole process, shared by every partition worker, so the sum over all partitions stays under the
 * limits whatever max_concurrent_partitions is. A worker pays for each Fetch response before it
 * asks for the next one: the average read rate keeps to the limit (a burst is at most one second's
 * worth plus one response per partition), and the broker is not asked for more meanwhile.
 */
export class BackupThrottle {
  readonly #records: RateLimiter | undefined;
  readonly #bytes: RateLimiter | undefined;
  readonly #metrics: BackupMetricsSink | undefined;

  private constructor(recordsPerSec: number | undefined, bytesPerSec: number | undefined, metrics: BackupMetricsSink | undefined) {
    this.#records = recordsPerSec ? new RateLimiter(recordsPerSec) : undefined;
    this.#bytes = bytesPerSec ? new RateLimiter(bytesPerSec) : undefined;
    this.#metrics = metrics;
    metrics?.rateLimits?.(recordsPerSec, bytesPerSec);
  }

  /** Undefined when no limit is set (nothing to wait for). */
  static create(recordsPerSec: number | undefined, bytesPerSec: number | undefined, metrics?: BackupMetricsSink): BackupThrottle | undefined {
    return recordsPerSec || bytesPerSec ? new BackupThrottle(recordsPerSec, bytesPerSec, metrics) : undefined;
  }

  /** Waits until the records (control batches count none) and Kafka bytes of these batches fit under the limits. */
  async take(batches: readonly Buffer[], signal?: AbortSignal): Promise<void> {
    let records = 0;
    let bytes = 0;
    for (const b of batches) {
      const h = readBatchHeader(b);
      if (!h.isControl) records += h.recordCount;
      bytes += b.length;
    }
    const started = Date.now();
    if (this.#records && records > 0) await this.#records.take(records, signal);
    if (this.#bytes && bytes > 0) await this.#bytes.take(bytes, signal);
    const waited = Date.now() - started;
    if (waited > 0) this.#metrics?.throttled?.(waited);
  }
}
