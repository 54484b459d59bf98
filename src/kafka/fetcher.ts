import { KafkaError } from '../util/errors.js';
import type { KafkaCluster } from './cluster.js';
import { ErrorCode, errorName, isFatal, isRetriable, needsMetadataRefresh } from './errors.js';
import type { FetchPartitionResponse } from './protocol/fetch.js';
import { sleep } from '../util/time.js';

export interface FetchOptions {
  maxWaitMs?: number;
  maxBytes?: number;
  readCommitted?: boolean;
  retries?: number;
  /** Called before each retry (metrics). */
  onRetry?: () => void;
}

/**
 * Fetches raw record batches of one partition from its leader, following leader
 * changes and retrying transient errors with backoff. OFFSET_OUT_OF_RANGE is returned
 * to the caller (it decides whether that is a gap to record or an error).
 */
export async function fetchPartition(
  cluster: KafkaCluster,
  topic: string,
  partition: number,
  offset: bigint,
  opts: FetchOptions = {},
): Promise<FetchPartitionResponse> {
  const retries = opts.retries ?? 8;
  const maxBytes = opts.maxBytes ?? 8 * 1024 * 1024;
  let lastErr: unknown;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) opts.onRetry?.();
    if (attempt > 0) await sleep(Math.min(100 * 2 ** attempt, 5000));
    try {
      // Shared with every other partition of the same leader: one request, a few connections per broker.
      const p = await cluster.fetcher.fetch({
        topic,
        partition,
        offset,
        partitionMaxBytes: maxBytes,
        maxWaitMs: opts.maxWaitMs ?? 500,
        readCommitted: opts.readCommitted ?? false,
      });
      if (p.errorCode === ErrorCode.NONE || p.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) return p;
      const err = new KafkaError(`fetch ${topic}/${partition} at offset ${offset}: ${errorName(p.errorCode)}`, p.errorCode, { topic, partition });
      if (!isRetriable(p.errorCode)) throw err;
      lastErr = err;
      if (needsMetadataRefresh(p.errorCode)) await cluster.refresh().catch(() => {});
    } catch (err) {
      if (isFatal(err)) throw err;
      lastErr = err;
      await cluster.refresh().catch(() => {});
    }
  }
  throw new KafkaError(
    `fetch ${topic}/${partition} failed after ${retries} retries: ${(lastErr as Error)?.message}`,
    undefined,
    { topic, partition },
    { cause: lastErr },
  );
}
