/**
 * Which segments a retention policy removes (pure: no I/O). Shared by `kafka-backup prune` and a
 * continuous backup's `backup.retention`. The rules (docs/lifecycle.md, "Retention and prune"):
 *
 * - per partition only a contiguous run of its OLDEST segments is removed, so what remains is one
 *   unbroken offset range ending at the resume point (the index's next_offset, never changed);
 * - the newest `keepSegments` segments of every partition (at least 1: the one that ends at the
 *   resume point) are never removed, whatever the other limits say;
 * - a segment is expired by age when its newest record is older than the cutoff (`maxAgeMs` before
 *   now, or `before`); expired segments go first, then, while the whole backup is over
 *   `maxTotalBytes`, the oldest segment of any partition (by its newest record) goes next.
 */
import type { SegmentEntry } from '../../format/partition-index.js';
import type { PruneReason } from '../../format/pruned.js';
import { UserError } from '../../util/errors.js';
export { parseByteSize, parseDuration } from '../../util/units.js';

export interface RetentionPolicy {
  /** Remove segments whose newest record is older than now - maxAgeMs. */
  maxAgeMs?: number;
  /** Remove segments whose newest record is older than this time (epoch ms). */
  before?: number;
  /** Remove oldest segments until the backup's stored bytes are at most this. */
  maxTotalBytes?: number;
  /** Never remove the newest N segments of a partition (>= 1; default 1). */
  keepSegments?: number;
}

export interface PartitionSegments {
  topic: string;
  partition: number;
  /** The index's segments, oldest first. */
  segments: readonly SegmentEntry[];
}

export interface SegmentRemoval {
  entry: SegmentEntry;
  reason: PruneReason;
}

export interface PartitionRemoval {
  topic: string;
  partition: number;
  /** The oldest segments of the partition, in order; always a prefix of its index's segments. */
  remove: SegmentRemoval[];
}

export interface RetentionDecision {
  partitions: PartitionRemoval[];
  /** Stored bytes of the backup before and after the removals. */
  bytesBefore: number;
  bytesAfter: number;
  /** Set when max_total_bytes cannot be met without touching the kept segments. */
  overBudget?: string;
}

export const DEFAULT_KEEP_SEGMENTS = 1;

/** Refuses a policy that removes nothing or breaks the rules; a one-line UserError naming the setting. */
export function checkPolicy(p: RetentionPolicy, where: string): void {
  if (p.maxAgeMs === undefined && p.before === undefined && p.maxTotalBytes === undefined) {
    throw new UserError('USAGE', `${where}: no limit given: set max_age (--older-than), --before or max_total_bytes (--max-total-bytes)`);
  }
  if (p.keepSegments !== undefined && (!Number.isInteger(p.keepSegments) || p.keepSegments < 1)) {
    throw new UserError(
      'USAGE',
      `${where}: keep_segments must be an integer >= 1 (the newest segment ends at the backup's resume point), got ${p.keepSegments}`,
    );
  }
  if (p.maxAgeMs !== undefined && (!Number.isSafeInteger(p.maxAgeMs) || p.maxAgeMs <= 0))
    throw new UserError('USAGE', `${where}: max_age must be a positive duration, got ${p.maxAgeMs} ms`);
  if (p.maxTotalBytes !== undefined && (!Number.isSafeInteger(p.maxTotalBytes) || p.maxTotalBytes < 0))
    throw new UserError('USAGE', `${where}: max_total_bytes must be a number of bytes >= 0, got ${p.maxTotalBytes}`);
}

/** A segment's age: its newest record, or when it was written if it holds only transaction markers. */
function segmentTime(s: SegmentEntry): number {
  return s.max_timestamp ?? s.created_at;
}

export function decideRetention(parts: readonly PartitionSegments[], policy: RetentionPolicy, now: number): RetentionDecision {
  const keep = Math.max(1, policy.keepSegments ?? DEFAULT_KEEP_SEGMENTS);
  const ageCut = policy.maxAgeMs !== undefined ? now - policy.maxAgeMs : undefined;
  const state = parts.map((p) => ({ p, removable: Math.max(0, p.segments.length - keep), remove: [] as SegmentRemoval[] }));
  const bytesBefore = parts.reduce((n, p) => n + p.segments.reduce((m, s) => m + s.stored_bytes, 0), 0);
  let total = bytesBefore;
  for (const st of state) {
    for (const s of st.p.segments.slice(0, st.removable)) {
      const t = segmentTime(s);
      const byAge = ageCut !== undefined && t < ageCut;
      const byBefore = policy.before !== undefined && t < policy.before;
      if (!byAge && !byBefore) break; // contiguous: nothing after the first kept segment goes by age
      const reason: PruneReason = byAge ? 'max_age' : 'before';
      st.remove.push({ entry: s, reason });
      total -= s.stored_bytes;
    }
  }
  let overBudget: string | undefined;
  if (policy.maxTotalBytes !== undefined) {
    while (total > policy.maxTotalBytes) {
      let best: (typeof state)[number] | undefined;
      for (const st of state) {
        const next = st.p.segments[st.remove.length];
        if (st.remove.length >= st.removable || !next) continue;
        if (!best || segmentTime(next) < segmentTime(best.p.segments[best.remove.length]!)) best = st;
      }
      if (!best) {
        overBudget = `the backup stays at ${total} bytes, over max_total_bytes ${policy.maxTotalBytes}: only the newest ${keep} segment(s) of each partition are left, and those are kept`;
        break;
      }
      const s = best.p.segments[best.remove.length]!;
      best.remove.push({ entry: s, reason: 'max_total_bytes' });
      total -= s.stored_bytes;
    }
  }
  return {
    partitions: state.filter((st) => st.remove.length > 0).map((st) => ({ topic: st.p.topic, partition: st.p.partition, remove: st.remove })),
    bytesBefore,
    bytesAfter: total,
    ...(overBudget ? { overBudget } : {}),
  };
}
