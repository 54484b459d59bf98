import type { KafkaAdmin } from '../kafka/admin.js';
import { EARLIEST } from '../kafka/admin.js';
import type { KafkaCluster } from '../kafka/cluster.js';
import { ErrorCode } from '../kafka/errors.js';
import { fetchPartition } from '../kafka/fetcher.js';
import type { FetchPartitionResponse } from '../kafka/protocol/fetch.js';
import { batchTimestampRange, readBatchHeader, splitBatches } from '../kafka/protocol/record-batch.js';
import { readJsonObject, writeJsonObject } from '../format/json-object.js';
import { keys } from '../format/layout.js';
import { DEFAULT_BLOCK_SIZE } from '../format/segment.js';
import { emptyIndex, partitionIndexSchema, summarize, type PartitionIndex, type SegmentEntry } from '../format/partition-index.js';
import { dropOldest } from './retention/prune-apply.js';
import { KafkaError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { sleep } from '../util/time.js';
import type { Semaphore } from '../util/semaphore.js';
import type { BackupOptions, PartitionProgress } from './options.js';
import type { OpenSegmentBudget } from './open-segment-budget.js';
import type { GenerationBook } from './generation-book.js';
import { DEFAULT_MAX_QUEUED_BYTES, SegmentBuilder } from './segment-builder.js';
import { isTransient } from './transient.js';
import { DEFAULT_EMPTY_FETCH_RETRY_SECS, leaderlessOrFailure, StallWatch } from './stalls.js';
import { AbortedBatchFilter } from './isolation.js';
import type { BackupThrottle } from './throttle.js';

const CONTROL_FLAG = 0x20;

/**
 * At most what one open segment upload holds: an object-store part being assembled (5 MiB, S3's
 * part size; not imported, which would load the AWS SDK), the upload queue and the block being filled.
 */
const OPEN_UPLOAD_HOLD_BYTES = 5 * 1024 * 1024 + DEFAULT_MAX_QUEUED_BYTES + DEFAULT_BLOCK_SIZE;

export interface PartitionJob {
  topic: string;
  partition: number;
  /** Where to start when the index holds no position yet. */
  startAt: number;
  /** Snapshot: stop once the position reaches this offset. Continuous: null. */
  target: number | null;
  /** Distributed backup: the ownership epoch, carried in this worker's segment keys. */
  epoch?: number;
}

/**
 * Backs up one partition: fetch raw batches from the position in its index, roll them into
 * segments, store each segment and only then the index that names it. A crash at any point
 * leaves the index naming complete segments only, and `next_offset` is exactly where to resume.
 */
export class PartitionWorker {
  readonly progress: PartitionProgress;
  readonly #opts: BackupOptions;
  readonly #cluster: KafkaCluster;
  readonly #admin: KafkaAdmin;
  readonly #job: PartitionJob;
  readonly #gate: Semaphore | undefined;
  readonly #budget: OpenSegmentBudget | undefined;
  readonly #book: GenerationBook | undefined;
  readonly #throttle: BackupThrottle | undefined;
  readonly #log;
  #index: PartitionIndex = emptyIndex('', 0);
  readonly #stall: StallWatch;
  /** The stored index was read (once per run; retries after a transient failure keep the one in memory). */
  #indexLoaded = false;
  /** Index writes one at a time (segment flushes and backup.retention both rewrite it). */
  #saving: Promise<void> = Promise.resolve();
  /** The segment being streamed to storage, abandoned if the worker fails. */
  #streaming: SegmentBuilder | undefined;

  constructor(
    opts: BackupOptions,
    cluster: KafkaCluster,
    admin: KafkaAdmin,
    job: PartitionJob,
    gate?: Semaphore,
    budget?: OpenSegmentBudget,
    book?: GenerationBook,
    throttle?: BackupThrottle,
  ) {
    this.#throttle = throttle;
    this.#gate = gate;
    this.#book = book;
    this.#budget = budget;
    this.#opts = opts;
    this.#cluster = cluster;
    this.#admin = admin;
    this.#job = job;
    this.#log = logger('backup').child({ topic: job.topic, partition: job.partition });
    this.#stall = new StallWatch((opts.emptyFetchRetrySecs ?? DEFAULT_EMPTY_FETCH_RETRY_SECS) * 1000, this.#log);
    this.progress = {
      topic: job.topic,
      partition: job.partition,
      position: job.startAt,
      target: job.target,
      records: 0,
      rawBytes: 0,
      storedBytes: 0,
      segments: 0,
      done: false,
    };
  }

  async run(): Promise<void> {
    for (;;) {
      try {
        await this.#run();
        return;
      } catch (err) {
        // No partial object: the open upload is abandoned; the index still names complete segments only.
        await this.#streaming?.abort(err);
        this.#streaming = undefined;
        this.#budget?.set(this, 0);
        this.#opts.metrics?.error('partition');
        const { topic, partition } = this.#job;
        const { leaderless, failure } = await leaderlessOrFailure(err, { topic, partition }, () => this.#cluster.refresh());
        if (leaderless && !this.#opts.signal?.aborted) {
          const over = this.#stall.stalled(
            `${topic}/${partition} has no leader (its broker may be down): waiting for the cluster to elect one; the other partitions carry on`,
            true,
          );
          // A snapshot does not hang on it: the partition stays short and the run says incomplete (a re-run resumes it).
          if (over && !this.#opts.continuous) {
            this.#log.warn('no leader for backup.empty_fetch_retry_secs: this snapshot leaves the partition short');
            return;
          }
          await sleep(1000, this.#opts.signal);
          continue;
        }
        const breaker = this.#opts.breaker;
        if (!breaker || this.#opts.signal?.aborted || !isTransient(failure)) throw failure;
        // Ride through: nothing is fetched while waiting, and the retry starts over from the stored index.
        this.#log.debug({ err: (failure as Error).message }, 'partition failed; retrying after the circuit breaker cool-down');
        await breaker.failed(failure, this.#opts.signal);
        if (this.#opts.signal?.aborted) return;
      }
    }
  }

  async #run(): Promise<void> {
    const { topic, partition } = this.#job;
    const { store, backupId } = this.#opts;
    const indexKey = keys.partitionIndex(backupId, topic, partition);
    if (!this.#indexLoaded) {
      const stored = await readJsonObject(store, indexKey, partitionIndexSchema);
      this.#book?.checkResumed(backupId, topic, partition, stored);
      if (stored) this.#book?.indexStored(topic, partition, stored.generation ?? 0);
      this.#index = stored ?? emptyIndex(topic, partition);
      this.#indexLoaded = true;
    }
    // A retry after a transient failure (circuit breaker) continues from this run's own index: every
    // segment it names is stored, even when the index write that followed failed (the next one carries it).
    const s = summarize(this.#index);
    Object.assign(this.progress, { records: s.records, rawBytes: s.rawBytes, storedBytes: s.storedBytes, segments: s.segments });
    let position = this.#index.next_offset ?? this.#job.startAt;
    this.progress.position = position;
    if (this.#index.next_offset === null) {
      this.#index.next_offset = position;
      await this.#saveIndex();
    }
    let fetchMax = this.#opts.fetchMaxBytes;
    let builder: SegmentBuilder | undefined;
    let openedAt = 0;
    const signal = this.#opts.signal;

    const flush = async (): Promise<void> => {
      if (!builder || builder.batchCount === 0) return;
      const b = builder;
      builder = undefined;
      const key = b.key ?? keys.streamedSegment(backupId, topic, partition, b.firstOffset, this.#job.epoch);
      const entry = await b.store(store, key);
      this.#streaming = undefined;
      this.#budget?.set(this, 0);
      this.#index.segments.push(entry);
      this.#index.next_offset = position;
      await this.#saveIndex();
      this.#opts.breaker?.succeeded();
      this.progress.segments++;
      this.progress.storedBytes += entry.stored_bytes;
      this.#opts.metrics?.segmentWritten(topic, partition, entry.stored_bytes);
      this.#log.debug({ key, records: entry.record_count, bytes: entry.stored_bytes }, 'segment stored');
    };

    // One Fetch is started ahead: as soon as a response arrives, the request for the offset after
    // its last batch goes out, so the broker reads the log while this worker stores what came.
    let ahead: { at: number; res: Promise<FetchPartitionResponse> } | undefined;
    const startFetch = (at: number): { at: number; res: Promise<FetchPartitionResponse> } => {
      const res = (async () => {
        // Continuous mode: every partition has a worker, and the gate bounds how many fetch at once.
        const release = await this.#gate?.acquire();
        try {
          return await fetchPartition(this.#cluster, topic, partition, BigInt(at), {
            maxBytes: fetchMax,
            maxWaitMs: this.#gate?.contended
              ? 50
              : (this.#opts.fetchMaxWaitMs ?? (this.#opts.continuous ? Math.max(100, Math.min(this.#opts.pollIntervalMs * 5, 1000)) : 500)),
            readCommitted: true,
            onRetry: () => this.#opts.metrics?.retry('fetch'),
          });
        } finally {
          release?.();
        }
      })();
      // Observed here so a prefetch that is never awaited (stop, failure) is not an unhandled rejection.
      res.catch(() => {});
      return { at, res };
    };

    while (!signal?.aborted) {
      if (this.#job.target !== null && position >= this.#job.target) break;
      const current = ahead?.at === position ? ahead : startFetch(position);
      ahead = undefined;
      const res = await current.res;
      if (res.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
        const logStart = Number((await this.#admin.listOffsets(topic, [partition], EARLIEST)).get(partition) ?? -1);
        if (logStart > position) {
          // Retention removed records before we reached them: record the gap, never hide it.
          await flush();
          this.#log.warn({ from: position, to: logStart }, 'records deleted by retention before they were backed up');
          this.#index.gaps.push({ from_offset: position, to_offset: logStart, reason: 'offset_out_of_range', detected_at: Date.now() });
          position = logStart;
          this.#index.next_offset = position;
          await this.#saveIndex();
          continue;
        }
        throw new KafkaError(`${topic}/${partition}: offset ${position} is out of range (log starts at ${logStart})`, ErrorCode.OFFSET_OUT_OF_RANGE);
      }
      const { batches } = splitBatches(res.records);
      if (batches.length > 0) this.#stall.progressed();
      else if (res.records.length === 0 && Number(res.highWatermark) > position && this.#stalled(position, res)) break;
      if (batches.length === 0 && res.records.length > 0) {
        // A batch larger than the fetch size: ask for more next time.
        fetchMax = Math.min(fetchMax * 2, 256 * 1024 * 1024);
        continue;
      }
      // backup.rate_limit_*: paid before the next Fetch is sent.
      if (this.#throttle && batches.length > 0) await this.#throttle.take(batches, signal);
      // backup.isolation_level: read_committed: aborted transactions' batches are left out here instead of at restore.
      const filter = this.#opts.isolationLevel === 'read_committed' ? new AbortedBatchFilter(res.abortedTransactions) : undefined;
      if (batches.length > 0) {
        const tail = readBatchHeader(batches[batches.length - 1]!);
        const next = Number(tail.baseOffset) + tail.lastOffsetDelta + 1;
        if (next > position && (this.#job.target === null || next < this.#job.target)) ahead = startFetch(next);
      }
      // Transaction markers of this response: an aborted transaction the broker lists for the
      // response but whose marker comes before the current segment's first offset ended in an
      // earlier segment and must not be listed in this one (restore trusts each segment's list).
      const markers: { producerId: bigint; offset: number }[] = [];
      const abortedFor = (b: SegmentBuilder): { producerId: bigint; firstOffset: bigint }[] =>
        filter
          ? []
          : res.abortedTransactions.filter(
              (a) => !markers.some((m) => m.producerId === a.producerId && m.offset >= Number(a.firstOffset) && m.offset < b.firstOffset),
            );
      for (const batch of batches) {
        const h = readBatchHeader(batch);
        const last = Number(h.baseOffset) + h.lastOffsetDelta;
        // Every batch goes through the filter (those before the position too: their markers end transactions).
        const aborted = filter?.isAborted(h) ?? false;
        if (last < position) continue;
        if (aborted) {
          position = last + 1;
          continue;
        }
        if (!builder) {
          builder = new SegmentBuilder(
            this.#opts.compression,
            this.#opts.compressionLevel,
            this.#opts.segmentDigest !== undefined ? { digest: this.#opts.segmentDigest } : {},
          );
          // Streamed: blocks go to storage while the segment fills; the index follows once it is complete.
          builder.open(store, keys.streamedSegment(backupId, topic, partition, Number(h.baseOffset), this.#job.epoch));
          this.#streaming = builder;
          openedAt = Date.now();
        }
        const control = (h.attributes & CONTROL_FLAG) !== 0;
        if (control) markers.push({ producerId: h.producerId, offset: Number(h.baseOffset) });
        // Empty batches (kept by the log cleaner for producer state) hold no record: their
        // maxTimestamp is not a record timestamp and must not widen the index's data range.
        // One record scan per batch, shared with the segment's block index.
        const range = batchTimestampRange(batch);
        const data = !control && h.recordCount > 0;
        builder.add(batch, Number(h.baseOffset), last, control ? 0 : h.recordCount, data ? Number(range.min) : null, data ? Number(range.max) : null, range);
        position = last + 1;
        if (!control) this.progress.records += h.recordCount;
        this.progress.rawBytes += batch.length;
        this.#opts.metrics?.recordsRead(topic, partition, control ? 0 : h.recordCount, batch.length);
        if (
          builder.rawBytes >= this.#opts.segmentMaxBytes ||
          (this.#opts.segmentMaxRecords !== undefined && builder.recordCount >= this.#opts.segmentMaxRecords)
        ) {
          builder.addAborted(abortedFor(builder));
          await flush();
        } else if (builder.needsDrain) {
          await builder.drain();
        }
      }
      if (builder) builder.addAborted(abortedFor(builder));
      this.progress.position = position;
      if (builder && this.#budget) {
        // What an open segment's upload can hold: its raw bytes so far, but never more than one part being
        // assembled plus the queued blocks and the block being filled (a long segment's earlier parts are sent).
        this.#budget.set(this, Math.min(builder.rawBytes, OPEN_UPLOAD_HOLD_BYTES));
        // Too much held by open uploads across partitions: roll this segment now if it is one of the large ones.
        if (this.#budget.shouldRoll(this)) {
          this.#log.debug({ held: this.#budget.total, limit: this.#budget.limit }, 'open segments over budget: rolling this one early');
          await flush();
        }
      }
      this.#opts.metrics?.position(topic, partition, position, Number(res.highWatermark));
      const full =
        builder &&
        (builder.rawBytes >= this.#opts.segmentMaxBytes ||
          (this.#opts.segmentMaxRecords !== undefined && builder.recordCount >= this.#opts.segmentMaxRecords) ||
          Date.now() - openedAt >= this.#opts.segmentMaxIntervalMs);
      if (full) await flush();
      if (batches.length === 0 && this.#opts.continuous) {
        // Nothing new: make what we hold durable within the interval, then poll again.
        if (builder && Date.now() - openedAt >= this.#opts.segmentMaxIntervalMs) await flush();
        await sleep(this.#opts.pollIntervalMs, signal);
      }
    }
    await flush();
    this.progress.done = true;
  }

  /** An empty fetch below the high watermark: warns once stalled for empty_fetch_retry_secs; true when a snapshot gives the partition up. */
  #stalled(position: number, res: FetchPartitionResponse): boolean {
    const { topic, partition } = this.#job;
    const lso = Number(res.lastStableOffset);
    const why = lso >= 0 && lso <= position ? `an open transaction holds the last stable offset at ${lso}` : 'the broker returns nothing';
    const over = this.#stall.stalled(
      `${topic}/${partition}: no records fetched at offset ${position} although the high watermark is ${res.highWatermark} (${why}); waiting`,
    );
    if (over && !this.#opts.continuous) this.#log.warn('no progress for backup.empty_fetch_retry_secs: this snapshot leaves the partition short');
    return over && !this.#opts.continuous;
  }

  /** The partition's index as this worker holds it; undefined until it has read it. */
  get index(): PartitionIndex | undefined {
    return this.#indexLoaded ? this.#index : undefined;
  }

  /** backup.retention: rewrites the index without these segments, if they are still its oldest. */
  async dropOldest(removed: readonly SegmentEntry[]): Promise<void> {
    if (dropOldest(this.#index, removed)) await this.#saveIndex();
  }

  #saveIndex(): Promise<void> {
    const run = this.#saving.then(() => this.#writeIndex());
    this.#saving = run.catch(() => {});
    return run;
  }

  async #writeIndex(): Promise<void> {
    const { topic, partition } = this.#job;
    this.#index.updated_at = Date.now();
    // Rollback detection (src/format/generations.ts): every write a new generation, bound to the manifest's.
    const generation = (this.#index.generation ?? 0) + 1;
    this.#index.generation = generation;
    if (this.#book) this.#index.manifest_generation = this.#book.manifestGeneration;
    await writeJsonObject(this.#opts.store, keys.partitionIndex(this.#opts.backupId, topic, partition), this.#index);
    this.#book?.indexStored(topic, partition, generation);
  }
}
