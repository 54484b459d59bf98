import { SegmentWriter, type SegmentCodec } from '../format/segment.js';
import type { SegmentEntry } from '../format/partition-index.js';
import type { ObjectStore } from '../storage/store.js';

/**
 * Collects one segment's batches for a partition worker: the SegmentWriter produces the bytes,
 * this tracks what the partition index needs (data records only, timestamps of data batches
 * only, the aborted transactions seen in the range) and stores the finished object.
 */
export class SegmentBuilder {
  readonly #writer: SegmentWriter;
  readonly #chunks: Buffer[] = [];
  readonly #aborted = new Map<string, { producer_id: number; first_offset: number }>();
  firstOffset = -1;
  lastOffset = -1;
  recordCount = 0;
  batchCount = 0;
  rawBytes = 0;
  minTimestamp: number | null = null;
  maxTimestamp: number | null = null;

  constructor(codec: SegmentCodec, level: number) {
    this.#writer = new SegmentWriter({ codec, level });
  }

  add(batch: Buffer, first: number, last: number, dataRecords: number, minTs: number | null, maxTs: number | null): void {
    this.#chunks.push(...this.#writer.add(batch));
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

  /** Writes the segment object; returns its index entry. The caller then writes the index. */
  async store(store: ObjectStore, key: string): Promise<SegmentEntry> {
    const { chunks, summary } = this.#writer.finish();
    this.#chunks.push(...chunks);
    const body = Buffer.concat(this.#chunks);
    this.#chunks.length = 0;
    await store.put(key, body);
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
      sha256: summary.sha256,
      aborted_transactions: [...this.#aborted.values()].sort((a, b) => a.first_offset - b.first_offset),
      created_at: Date.now(),
    };
  }
}
