import { z } from 'zod';

/*
  {backup_id}/topics/{topic}/{partition}/index.json — the partition's segment index, version 1.
  Rewritten (atomically, by whole-object put) after each segment is stored, so it only ever
  names complete segments. `next_offset` is where a resumed backup continues: one past the
  last offset covered by the last segment (control batches and compaction gaps included).
*/

const safeInt = z.number().int().refine(Number.isSafeInteger, 'must be a safe integer');
const nonNeg = safeInt.refine((n) => n >= 0, 'must be >= 0');

export const segmentEntrySchema = z.strictObject({
  key: z.string().min(1),
  first_offset: nonNeg,
  last_offset: nonNeg,
  record_count: nonNeg,
  batch_count: nonNeg,
  /** Smallest and largest record timestamp (ms) in the segment; null when it holds only control batches. */
  min_timestamp: safeInt.nullable(),
  max_timestamp: safeInt.nullable(),
  raw_bytes: nonNeg,
  stored_bytes: nonNeg,
  codec: z.enum(['none', 'zstd', 'lz4']),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Transactions the broker reported aborted in this offset range (READ_COMMITTED fetch). */
  aborted_transactions: z.array(z.strictObject({ producer_id: safeInt, first_offset: nonNeg })).default([]),
  created_at: safeInt,
}).refine((s) => s.last_offset >= s.first_offset, { message: 'last_offset < first_offset' });

export type SegmentEntry = z.infer<typeof segmentEntrySchema>;

export const gapSchema = z.strictObject({
  from_offset: nonNeg,
  to_offset: nonNeg,
  reason: z.string(),
  detected_at: safeInt,
});

export const partitionIndexSchema = z
  .strictObject({
    format_version: z.literal(1),
    topic: z.string(),
    partition: nonNeg,
    next_offset: nonNeg.nullable(),
    segments: z.array(segmentEntrySchema),
    /** Offset ranges that were no longer on the broker when the backup reached them (retention). */
    gaps: z.array(gapSchema).default([]),
    updated_at: safeInt,
  })
  .superRefine((idx, ctx) => {
    for (let i = 1; i < idx.segments.length; i++) {
      const prev = idx.segments[i - 1]!;
      const cur = idx.segments[i]!;
      if (cur.first_offset <= prev.last_offset) {
        ctx.addIssue({ code: 'custom', path: ['segments', i], message: `segment ${cur.key} overlaps or is out of order after ${prev.key}` });
      }
    }
  });

export type PartitionIndex = z.infer<typeof partitionIndexSchema>;

export function emptyIndex(topic: string, partition: number): PartitionIndex {
  return { format_version: 1, topic, partition, next_offset: null, segments: [], gaps: [], updated_at: Date.now() };
}

export interface PartitionSummary {
  segments: number;
  records: number;
  rawBytes: number;
  storedBytes: number;
  firstOffset: number | null;
  lastOffset: number | null;
  minTimestamp: number | null;
  maxTimestamp: number | null;
}

export function summarize(idx: PartitionIndex): PartitionSummary {
  let records = 0;
  let rawBytes = 0;
  let storedBytes = 0;
  let minTs: number | null = null;
  let maxTs: number | null = null;
  for (const s of idx.segments) {
    records += s.record_count;
    rawBytes += s.raw_bytes;
    storedBytes += s.stored_bytes;
    if (s.min_timestamp !== null) minTs = minTs === null ? s.min_timestamp : Math.min(minTs, s.min_timestamp);
    if (s.max_timestamp !== null) maxTs = maxTs === null ? s.max_timestamp : Math.max(maxTs, s.max_timestamp);
  }
  return {
    segments: idx.segments.length,
    records,
    rawBytes,
    storedBytes,
    firstOffset: idx.segments[0]?.first_offset ?? null,
    lastOffset: idx.segments.at(-1)?.last_offset ?? null,
    minTimestamp: minTs,
    maxTimestamp: maxTs,
  };
}
