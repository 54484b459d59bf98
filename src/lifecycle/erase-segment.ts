import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_HEADER_SIZE,
  BATCH_LENGTH_OFFSET,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORD_COUNT_OFFSET,
  TIMESTAMP_TYPE_BIT,
  TRANSACTIONAL_BIT,
  batchTimestampRange,
  computeBatchCrc,
  decodeBatch,
  encodeBatch,
  readBatchHeader,
  type BatchHeader,
} from '../kafka/protocol/record-batch.js';
import { readSegment, SegmentWriter } from '../format/segment.js';
import type { SegmentEntry } from '../format/partition-index.js';

/*
  Erasure inside one segment (pure: buffers in, buffers out). A batch holding a record to erase is
  re-encoded without it, with its own codec, producer fields, timestamp type and offset range: the
  kept records keep their offsets (offset deltas), timestamps, keys, values and headers in order;
  the batch keeps its baseOffset and lastOffsetDelta, so it now has an offset gap, as a compacted
  topic's batches do. A batch left with no record becomes an empty batch over the same offsets
  (what Kafka's log cleaner leaves for producer state); restore skips it. So the segment keeps its
  first and last offset, and the partition index its order and next_offset.
*/

/** Which records to erase: by key (null keys never match). */
export type KeyMatcher = (key: Buffer | null) => boolean;

export function keyMatcher(keys: readonly Buffer[]): KeyMatcher {
  const set = new Set(keys.map((k) => k.toString('hex')));
  return (key) => key !== null && set.has(key.toString('hex'));
}

export interface StrippedBatch {
  batch: Buffer;
  /** Offsets of the removed records, with the index of the key that matched in the caller's list. */
  removed: { offset: number; key: Buffer }[];
}

/** The batch without the records `drop` matches; undefined when it holds none (or is a control batch). */
export function stripBatch(batch: Buffer, drop: KeyMatcher): StrippedBatch | undefined {
  const h = readBatchHeader(batch);
  if (h.isControl || h.recordCount === 0) return undefined;
  const d = decodeBatch(batch);
  const kept = d.records.filter((r) => !drop(r.key));
  if (kept.length === d.records.length) return undefined;
  const removed = d.records.filter((r) => drop(r.key)).map((r) => ({ offset: Number(r.offset), key: r.key! }));
  const out =
    kept.length === 0
      ? emptyBatch(h)
      : encodeBatch(
          kept.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp, offsetDelta: Number(r.offset - h.baseOffset) })),
          {
            baseOffset: h.baseOffset,
            compression: h.compression,
            timestampType: h.timestampType,
            logAppendTime: h.maxTimestamp,
            producerId: h.producerId,
            producerEpoch: h.producerEpoch,
            baseSequence: h.baseSequence,
            transactional: h.isTransactional,
            partitionLeaderEpoch: h.partitionLeaderEpoch,
          },
        );
  // The batch still covers its original offsets (the erased last record leaves a gap, not a shorter batch).
  out.writeInt32BE(h.lastOffsetDelta, LAST_OFFSET_DELTA_OFFSET);
  out.writeUInt32BE(computeBatchCrc(out), CRC_OFFSET);
  return { batch: out, removed };
}

/** A batch with no records over the offsets of `h` (uncompressed; a delete horizon is not kept). */
function emptyBatch(h: BatchHeader): Buffer {
  const out = Buffer.alloc(BATCH_HEADER_SIZE);
  out.writeBigInt64BE(h.baseOffset, BASE_OFFSET_OFFSET);
  out.writeInt32BE(BATCH_HEADER_SIZE - LOG_OVERHEAD, BATCH_LENGTH_OFFSET);
  out.writeInt32BE(h.partitionLeaderEpoch, PARTITION_LEADER_EPOCH_OFFSET);
  out.writeInt8(2, MAGIC_OFFSET);
  out.writeInt16BE(h.attributes & (TIMESTAMP_TYPE_BIT | TRANSACTIONAL_BIT), ATTRIBUTES_OFFSET);
  out.writeInt32BE(h.lastOffsetDelta, LAST_OFFSET_DELTA_OFFSET);
  out.writeBigInt64BE(h.maxTimestamp, BASE_TIMESTAMP_OFFSET);
  out.writeBigInt64BE(h.maxTimestamp, MAX_TIMESTAMP_OFFSET);
  out.writeBigInt64BE(h.producerId, PRODUCER_ID_OFFSET);
  out.writeInt16BE(h.producerEpoch, PRODUCER_EPOCH_OFFSET);
  out.writeInt32BE(h.baseSequence, BASE_SEQUENCE_OFFSET);
  out.writeInt32BE(0, RECORD_COUNT_OFFSET);
  out.writeUInt32BE(computeBatchCrc(out), CRC_OFFSET);
  return out;
}

export interface SegmentScan {
  /** Records that match, by offset, with their key. */
  matches: { offset: number; key: Buffer }[];
}

/** The records of a whole segment object that `drop` matches (batch CRCs checked). */
export function scanSegment(bytes: Buffer, drop: KeyMatcher): SegmentScan {
  const matches: SegmentScan['matches'] = [];
  for (const b of readSegment(bytes, { verifyBatchCrc: true }).batches) {
    const h = readBatchHeader(b);
    if (h.isControl || h.recordCount === 0) continue;
    for (const r of decodeBatch(b, { verifyCrc: false }).records) if (drop(r.key)) matches.push({ offset: Number(r.offset), key: r.key! });
  }
  return { matches };
}

export interface RewrittenSegment {
  /** The new segment object. */
  bytes: Buffer;
  /** The index entry for it under `newKey` (offsets, transactions and created_at of the old one). */
  entry: SegmentEntry;
  removed: { offset: number; key: Buffer }[];
}

/**
 * The segment without the records `drop` matches, with its own codec, and its index entry
 * (counts, data timestamp range, sizes and SHA-256 recomputed). Undefined when nothing matches.
 */
export function rewriteSegment(bytes: Buffer, old: SegmentEntry, newKey: string, drop: KeyMatcher): RewrittenSegment | undefined {
  const { footer, batches } = readSegment(bytes, { verifyBatchCrc: true });
  // The rewritten segment keeps the digest its entry had (an entry with SHA-256 gets SHA-256 again).
  const w = new SegmentWriter({ codec: footer.segmentCodec, digest: old.sha256 !== undefined ? 'sha256' : 'crc32c' });
  const chunks: Buffer[] = [];
  const removed: RewrittenSegment['removed'] = [];
  let records = 0;
  let min: number | null = null;
  let max: number | null = null;
  for (const b of batches) {
    const s = stripBatch(b, drop);
    const batch = s?.batch ?? b;
    if (s) removed.push(...s.removed);
    chunks.push(...w.add(batch));
    const h = readBatchHeader(batch);
    if (h.isControl || h.recordCount === 0) continue;
    records += h.recordCount;
    const r = batchTimestampRange(batch);
    min = min === null ? Number(r.min) : Math.min(min, Number(r.min));
    max = max === null ? Number(r.max) : Math.max(max, Number(r.max));
  }
  if (removed.length === 0) return undefined;
  const fin = w.finish();
  chunks.push(...fin.chunks);
  const out = Buffer.concat(chunks);
  return {
    bytes: out,
    removed,
    entry: {
      ...old,
      key: newKey,
      record_count: records,
      batch_count: fin.summary.batchCount,
      min_timestamp: min,
      max_timestamp: max,
      raw_bytes: fin.summary.rawBytes,
      stored_bytes: fin.summary.storedBytes,
      codec: fin.summary.codec,
      crc32c: fin.summary.crc32c,
      ...(fin.summary.sha256 !== undefined ? { sha256: fin.summary.sha256 } : {}),
    },
  };
}
