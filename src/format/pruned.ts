import { z } from 'zod';
import type { ObjectStore } from '../storage/store.js';
import { CorruptDataError } from '../util/errors.js';
import { readJsonObject, writeJsonObject } from './json-object.js';
import { checkBackupId, isValidTopicName } from './layout.js';

/*
  {backup_id}/pruned.json — the record of every range retention removed from the backup
  (`kafka-backup prune --execute`, or backup.retention in a running continuous backup).

  Written BEFORE the partition indexes stop naming the pruned segments, and the segments are
  deleted only after that (docs/lifecycle.md), so at any instant:
  - every offset below a partition's first indexed segment that the backup once held is covered
    by a range here (readers report it as pruned, never as corruption or a silent gap);
  - a range here whose segments an index still names is a prune that stopped before its index
    write: the data is still there and readable, and the next prune finishes it.

  Consecutive removals of one partition for the same reason are merged into one range
  (first_pruned_at .. last_pruned_at, `removals` counts them), so the object stays about one
  entry per partition and reason however often a continuous backup prunes.
*/

const safeInt = z.number().int().refine(Number.isSafeInteger, 'must be a safe integer');
const nonNeg = safeInt.refine((n) => n >= 0, 'must be >= 0');

export const PRUNE_REASONS = ['max_age', 'before', 'max_total_bytes'] as const;
export type PruneReason = (typeof PRUNE_REASONS)[number];

export const prunedRangeSchema = z
  .strictObject({
    topic: z.string().refine(isValidTopicName, 'is not a valid Kafka topic name'),
    partition: nonNeg,
    /** Offsets [from_offset, to_offset) are no longer in the backup. */
    from_offset: nonNeg,
    to_offset: nonNeg,
    /** Record time range of what was removed (null: only transaction markers). */
    min_timestamp: safeInt.nullable(),
    max_timestamp: safeInt.nullable(),
    segments: nonNeg,
    records: nonNeg,
    stored_bytes: nonNeg,
    reason: z.enum(PRUNE_REASONS),
    /** Who pruned: the prune command, or a continuous backup's own retention. */
    by: z.enum(['prune', 'backup']),
    first_pruned_at: safeInt,
    last_pruned_at: safeInt,
    removals: nonNeg,
  })
  .refine((r) => r.to_offset > r.from_offset, { message: 'to_offset must be greater than from_offset' });

export type PrunedRange = z.infer<typeof prunedRangeSchema>;

export const prunedLogSchema = z.strictObject({
  format_version: z.literal(1),
  backup_id: z.string(),
  ranges: z.array(prunedRangeSchema),
  updated_at: safeInt,
});

export type PrunedLog = z.infer<typeof prunedLogSchema>;

export const prunedLogKey = (backupId: string): string => `${checkBackupId(backupId)}/pruned.json`;

export function emptyPrunedLog(backupId: string): PrunedLog {
  return { format_version: 1, backup_id: backupId, ranges: [], updated_at: Date.now() };
}

/** The backup's prune record; an empty one when nothing was ever pruned. */
export async function readPrunedLog(store: ObjectStore, backupId: string): Promise<PrunedLog> {
  const key = prunedLogKey(backupId);
  const log = await readJsonObject(store, key, prunedLogSchema);
  if (!log) return emptyPrunedLog(backupId);
  if (log.backup_id !== backupId) throw new CorruptDataError(`${key}: the prune record is for backup_id "${log.backup_id}", not "${backupId}"`, key);
  return log;
}

export async function writePrunedLog(store: ObjectStore, log: PrunedLog): Promise<void> {
  log.updated_at = Date.now();
  await writeJsonObject(store, prunedLogKey(log.backup_id), log);
}

/** A removal about to be recorded (one contiguous run of one partition's segments, one reason). */
export type PrunedRemoval = Omit<PrunedRange, 'first_pruned_at' | 'last_pruned_at' | 'removals'>;

/**
 * Adds a removal to the record: merged into the partition's last range when it continues it with
 * the same reason and actor, else appended.
 */
export function recordRemoval(log: PrunedLog, r: PrunedRemoval, at: number): void {
  const last = log.ranges.findLast((x) => x.topic === r.topic && x.partition === r.partition);
  if (last && last.reason === r.reason && last.by === r.by && r.from_offset >= last.to_offset) {
    last.to_offset = r.to_offset;
    last.min_timestamp = minN(last.min_timestamp, r.min_timestamp);
    last.max_timestamp = maxN(last.max_timestamp, r.max_timestamp);
    last.segments += r.segments;
    last.records += r.records;
    last.stored_bytes += r.stored_bytes;
    last.last_pruned_at = at;
    last.removals++;
    return;
  }
  log.ranges.push({ ...r, first_pruned_at: at, last_pruned_at: at, removals: 1 });
}

/** One partition's ranges, oldest first. */
export function prunedRangesOf(log: PrunedLog, topic: string, partition: number): PrunedRange[] {
  return log.ranges.filter((r) => r.topic === topic && r.partition === partition).sort((a, b) => a.from_offset - b.from_offset);
}

/** Offsets below this were pruned from the partition (0: nothing was). */
export function prunedBelow(log: PrunedLog, topic: string, partition: number): number {
  return prunedRangesOf(log, topic, partition).reduce((n, r) => Math.max(n, r.to_offset), 0);
}

/** The newest record time pruned from the partition (null: nothing with records was). */
export function prunedUntilTime(log: PrunedLog, topic: string, partition: number): number | null {
  return prunedRangesOf(log, topic, partition).reduce<number | null>((n, r) => maxN(n, r.max_timestamp), null);
}

function minN(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}
function maxN(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}
