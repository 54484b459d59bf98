import { z } from 'zod';
import type { ObjectStore } from '../storage/store.js';
import { CorruptDataError } from '../util/errors.js';
import { SEGMENT_CODECS } from './codec.js';
import { readJsonObject } from './json-object.js';
import { checkSegmentKey, keys } from './layout.js';

/*
  {backup_id}/topics/{topic}/{partition}/index.json — the partition's segment index, version 1.
  Rewritten (atomically, by whole-object put) after each segment is stored, so it only ever
  names complete segments. `next_offset` is where a resumed backup continues: one past the
  last offset covered by the last segment (control batches and compaction gaps included).
*/

const safeInt = z.number().int().refine(Number.isSafeInteger, 'must be a safe integer');
const nonNeg = safeInt.refine((n) => n >= 0, 'must be >= 0');

export const segmentEntrySchema = z
  .strictObject({
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
    codec: z.enum(SEGMENT_CODECS),
    /** Whole-object digests (segment-digest.ts): every entry has at least one; sha256 is checked when present, else crc32c. */
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    crc32c: z
      .string()
      .regex(/^[0-9a-f]{8}$/)
      .optional(),
    /** Transactions the broker reported aborted in this offset range (READ_COMMITTED fetch). */
    aborted_transactions: z.array(z.strictObject({ producer_id: safeInt, first_offset: nonNeg })).default([]),
    created_at: safeInt,
  })
  .refine((s) => s.last_offset >= s.first_offset, { message: 'last_offset < first_offset' })
  .refine((s) => s.sha256 !== undefined || s.crc32c !== undefined, { message: 'a segment entry needs sha256 or crc32c (its whole-object digest)' });

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
    /** +1 on every write of the index; with manifest_generation, what rollback detection compares (generations.ts). Absent before it: read as 0. */
    generation: nonNeg.optional(),
    /** Generation of the last manifest write that had completed when this index was written. */
    manifest_generation: nonNeg.optional(),
    /** Distributed backup (src/backup/workers): the worker that owns the partition, fenced by compare-and-swap writes of this object. */
    owner: z
      .strictObject({
        /** +1 on every takeover; the owner's segment keys carry it, so owners never write the same key. */
        epoch: nonNeg,
        member_id: z.string(),
        /** The consumer-group generation in which the owner was assigned the partition. */
        group_generation: safeInt,
        host: z.string(),
        pid: nonNeg,
        since: safeInt,
      })
      .optional(),
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

/**
 * Checks that an index read from `{backupId}/topics/{topic}/{partition}/index.json` is that
 * partition's index: its own topic and partition, every segment key the layout key of its offsets
 * under the partition's prefix (never `../`, another partition or any other object), and a
 * `next_offset` not before the end of its last segment. Throws a CorruptDataError naming the index.
 */
export function verifyPartitionIndex(idx: PartitionIndex, backupId: string, topic: string, partition: number): PartitionIndex {
  const where = keys.partitionIndex(backupId, topic, partition);
  if (idx.topic !== topic || idx.partition !== partition) {
    throw new CorruptDataError(`${where}: the index is for ${idx.topic}/${idx.partition}, not ${topic}/${partition}`, where);
  }
  for (const s of idx.segments) checkSegmentKey(backupId, topic, partition, s.key, s.first_offset, s.last_offset, where);
  const last = idx.segments.at(-1);
  if (last && (idx.next_offset === null || idx.next_offset <= last.last_offset)) {
    throw new CorruptDataError(`${where}: next_offset ${idx.next_offset} is not past the last segment's last offset ${last.last_offset}`, where);
  }
  return idx;
}

/** Reads and verifies a partition index; `undefined` when it does not exist. */
export async function readPartitionIndex(store: ObjectStore, backupId: string, topic: string, partition: number): Promise<PartitionIndex | undefined> {
  const idx = await readJsonObject(store, keys.partitionIndex(backupId, topic, partition), partitionIndexSchema);
  return idx && verifyPartitionIndex(idx, backupId, topic, partition);
}

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
