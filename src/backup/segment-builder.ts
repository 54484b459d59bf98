import { SegmentWriter, type SegmentCodec } from '../format/segment.js';
import type { SegmentDigestAlgorithm } from '../format/segment-digest.js';
import { ATTRIBUTES_OFFSET, COMPRESSION_MASK } from '../kafka/protocol/record-batch.js';
import type { SegmentEntry } from '../format/partition-index.js';
import type { ObjectStore } from '../storage/store.js';
import { KafkaBackupError } from '../util/errors.js';

/** Compressed bytes a segment may have queued for its upload before `add` callers must wait. */
export const DEFAULT_MAX_QUEUED_BYTES = 2 * 1024 * 1024;

/** zstd blocks a segment may have on the thread pool before `add` callers must wait. */
const MAX_COMPRESSING_BLOCKS = 1;

export interface SegmentBuilderOptions {
  /** Raw bytes per block (default 1 MiB, see SegmentWriter). */
  blockSize?: number;
  /** Queued upload bytes above which `needsDrain` turns true (default 2 MiB). */
  maxQueuedBytes?: number;
  /** Whole-object digest recorded in the index (default crc32c; docs/format.md 2.4). */
  digest?: SegmentDigestAlgorithm;
}

/**
 * A single-consumer async queue of byte chunks with a byte high-water mark: the bridge between the
 * synchronous segment writer (producer side) and `ObjectStore.putStream` (consumer side).
 * `fail` makes the consumer's iteration throw, which aborts the upload (no partial object appears).
 */
class ChunkQueue implements AsyncIterable<Uint8Array> {
  readonly #chunks: Buffer[] = [];
  #queued = 0;
  #ended = false;
  #error: unknown;
  #failed = false;
  #wakeConsumer: (() => void) | undefined;
  #drainWaiters: (() => void)[] = [];
  readonly highWater: number;

  constructor(highWater: number) {
    this.highWater = highWater;
  }

  get queuedBytes(): number {
    return this.#queued;
  }

  push(chunk: Buffer): void {
    if (this.#ended || this.#failed) throw new KafkaBackupError('SEGMENT_FINISHED', 'segment upload already ended');
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#queued += chunk.length;
    this.#wake();
  }

  end(): void {
    this.#ended = true;
    this.#wake();
  }

  fail(err: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#error = err;
    this.#chunks.length = 0;
    this.#queued = 0;
    this.#wake();
    this.#releaseDrain();
  }

  /** Resolves once the queue is at or below its high-water mark (or the consumer is gone). */
  drained(): Promise<void> {
    if (this.#queued <= this.highWater || this.#failed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #wake(): void {
    const w = this.#wakeConsumer;
    this.#wakeConsumer = undefined;
    w?.();
  }

  #releaseDrain(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      if (this.#failed) throw this.#error;
      const chunk = this.#chunks.shift();
      if (chunk) {
        this.#queued -= chunk.length;
        if (this.#queued <= this.highWater) this.#releaseDrain();
        yield chunk;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#wakeConsumer = resolve));
    }
  }
}

/**
 * Collects one segment's batches for a partition worker: the SegmentWriter produces the bytes,
 * this tracks what the partition index needs (data records only, timestamps of data batches
 * only, the aborted transactions seen in the range) and stores the object.
 *
 * Streaming: after `open(store, key)` every block the writer cuts goes straight into
 * `store.putStream` while batches are still being added, so a segment never sits whole in
 * memory: what is held is the block being filled (about the block size of raw batches) plus
 * at most `maxQueuedBytes` of compressed blocks waiting for the upload (callers await `drain()`
 * when `needsDrain`), plus whatever the store buffers itself (S3: its multipart parts).
 * `store` ends the stream and resolves once the object is complete, so the caller writes the
 * index only after the segment exists. Without `open`, `store` uploads everything at the end.
 */
export class SegmentBuilder {
  #w: SegmentWriter | undefined;
  readonly #codec: SegmentCodec;
  readonly #level: number;
  readonly #blockSize: number | undefined;
  readonly #aborted = new Map<string, { producer_id: number; first_offset: number }>();
  readonly #maxQueued: number;
  readonly #digest: SegmentDigestAlgorithm | undefined;
  #queue: ChunkQueue | undefined;
  #upload: Promise<{ size: number }> | undefined;
  #uploadError: { error: unknown } | undefined;
  #key: string | undefined;
  /** Blocks cut before `open` (only when a caller never opens: then `store` uploads them all). */
  readonly #unopened: Buffer[] = [];
  firstOffset = -1;
  lastOffset = -1;
  recordCount = 0;
  batchCount = 0;
  rawBytes = 0;
  minTimestamp: number | null = null;
  maxTimestamp: number | null = null;

  constructor(codec: SegmentCodec, level: number, opts: SegmentBuilderOptions = {}) {
    this.#codec = codec;
    this.#level = level;
    this.#blockSize = opts.blockSize;
    this.#maxQueued = opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.#digest = opts.digest;
  }

  /**
   * The writer is made at the first batch: when that batch is already compressed by the
   * producer (lz4, zstd, ...), the segment's blocks are stored as they are (codec none) instead of
   * compressing compressed bytes again, which costs most of a backup's CPU and gains little.
   */
  #writerFor(batch: Buffer): SegmentWriter {
    if (!this.#w) {
      const producerCompressed = batch.length > ATTRIBUTES_OFFSET + 1 && (batch.readInt16BE(ATTRIBUTES_OFFSET) & COMPRESSION_MASK) !== 0;
      const codec = producerCompressed ? 'none' : this.#codec;
      // zstd runs on libuv's thread pool: the JavaScript thread keeps fetching, hashing and writing meanwhile.
      this.#w = new SegmentWriter({
        codec,
        level: this.#level,
        compressOffThread: true,
        ...(this.#digest !== undefined ? { digest: this.#digest } : {}),
        ...(this.#blockSize !== undefined ? { blockSize: this.#blockSize } : {}),
      });
    }
    return this.#w;
  }

  get #writer(): SegmentWriter {
    if (!this.#w) throw new KafkaBackupError('SEGMENT_EMPTY', 'a segment needs at least one batch');
    return this.#w;
  }

  /** Starts the upload of this segment to `key`; blocks are streamed as they are cut. */
  open(store: ObjectStore, key: string): void {
    if (this.#queue) throw new KafkaBackupError('SEGMENT_OPEN', `segment already streaming to ${this.#key}`);
    const queue = new ChunkQueue(this.#maxQueued);
    this.#queue = queue;
    this.#key = key;
    this.#upload = store.putStream(key, queue);
    // Observed here so a failed upload never becomes an unhandled rejection; rethrown by drain/store.
    this.#upload.catch((error: unknown) => {
      this.#uploadError = { error };
      queue.fail(error);
    });
    for (const c of this.#unopened.splice(0)) queue.push(c);
  }

  /** The key this segment streams to, once opened. */
  get key(): string | undefined {
    return this.#key;
  }

  /** Compressed bytes waiting for the upload. */
  get queuedBytes(): number {
    return this.#queue?.queuedBytes ?? 0;
  }

  /** True when the caller should `await drain()` before adding more. */
  get needsDrain(): boolean {
    return (
      (this.#w !== undefined && this.#w.compressingBlocks > MAX_COMPRESSING_BLOCKS) || (this.#queue !== undefined && this.#queue.queuedBytes > this.#maxQueued)
    );
  }

  /**
   * Waits until at most MAX_COMPRESSING_BLOCKS blocks are being compressed and the upload has
   * taken the queued blocks down to the limit; throws if the upload failed.
   */
  async drain(): Promise<void> {
    if (this.#w && this.#w.compressingBlocks > MAX_COMPRESSING_BLOCKS) this.#emit(await this.#w.settle(MAX_COMPRESSING_BLOCKS));
    if (!this.#queue) return;
    await this.#queue.drained();
    if (this.#uploadError) throw this.#uploadError.error;
  }

  /**
   * `range` is the batch's `batchTimestampRange` (all batches, for the block index); `minTs` /
   * `maxTs` widen the segment's data range (null for control and empty batches).
   */
  add(batch: Buffer, first: number, last: number, dataRecords: number, minTs: number | null, maxTs: number | null, range?: { min: bigint; max: bigint }): void {
    if (this.#uploadError) throw this.#uploadError.error;
    const chunks = this.#writerFor(batch).add(batch, range);
    if (chunks.length) this.#emit(chunks);
    if (this.firstOffset < 0) this.firstOffset = first;
    this.lastOffset = last;
    this.recordCount += dataRecords;
    this.batchCount++;
    this.rawBytes += batch.length;
    if (minTs !== null) this.minTimestamp = this.minTimestamp === null ? minTs : Math.min(this.minTimestamp, minTs);
    if (maxTs !== null) this.maxTimestamp = this.maxTimestamp === null ? maxTs : Math.max(this.maxTimestamp, maxTs);
  }

  addAborted(list: { producerId: bigint; firstOffset: bigint }[]): void {
    for (const a of list) {
      if (a.firstOffset > BigInt(this.lastOffset)) continue;
      this.#aborted.set(`${a.producerId}:${a.firstOffset}`, { producer_id: Number(a.producerId), first_offset: Number(a.firstOffset) });
    }
  }

  /** Abandons the upload (no object appears); for a worker that fails or stops mid-segment. */
  async abort(reason: unknown = new KafkaBackupError('SEGMENT_ABORTED', 'segment abandoned')): Promise<void> {
    if (!this.#queue || !this.#upload) return;
    this.#queue.fail(reason);
    await this.#upload.catch(() => {});
  }

  /**
   * Ends the segment and resolves once the object is complete; returns its index entry. The
   * caller then writes the index. `key` must be the key given to `open`, when it was called.
   */
  async store(store: ObjectStore, key: string): Promise<SegmentEntry> {
    if (!this.#queue) this.open(store, key);
    else if (key !== this.#key) throw new KafkaBackupError('SEGMENT_KEY', `segment streams to ${this.#key}, not ${key}`);
    const { chunks, summary } = await this.#writer.finishAsync();
    // An upload that failed meanwhile is the error to report (not the closed queue's refusal of more chunks).
    if (this.#uploadError) throw this.#uploadError.error;
    this.#emit(chunks);
    this.#queue!.end();
    const { size } = await this.#upload!;
    if (size !== summary.storedBytes) throw new KafkaBackupError('SEGMENT_SIZE', `${key}: stored ${size} bytes, the segment has ${summary.storedBytes}`);
    return {
      key,
      first_offset: this.firstOffset,
      last_offset: this.lastOffset,
      record_count: this.recordCount,
      batch_count: this.batchCount,
      min_timestamp: this.minTimestamp,
      max_timestamp: this.maxTimestamp,
      raw_bytes: this.rawBytes,
      stored_bytes: summary.storedBytes,
      codec: summary.codec,
      crc32c: summary.crc32c,
      ...(summary.sha256 !== undefined ? { sha256: summary.sha256 } : {}),
      aborted_transactions: [...this.#aborted.values()].sort((a, b) => a.first_offset - b.first_offset),
      created_at: Date.now(),
    };
  }

  #emit(chunks: Buffer[]): void {
    if (!this.#queue) this.#unopened.push(...chunks);
    else for (const c of chunks) this.#queue.push(c);
  }
}
