/**
 * Consumer-group offset translation: where a group that committed offset C on the source
 * (C = the next record it would read) must resume on the restored target.
 *
 * The rule (every technique implements it, exactly or approximately):
 *
 *   the target offset of the first *restored* record whose source offset is >= C,
 *   or the target partition's end offset (as restored) when there is none.
 *
 * So a committed offset that falls on a record the restore left out (PITR window, aborted
 * transaction, compaction gap) moves forward to the next restored record, one before the first
 * restored record moves to that record, and one past the last restored record (or at the end of
 * the log) becomes the end of the target partition.
 *
 * Partition merging (several source partitions restored into one target partition, which the
 * restore lays out one source after another): a single committed target offset cannot stand for
 * positions in two sources at once. We never skip: the committed target offset is the smallest
 * translated position over the merged sources the group has a committed offset for (a source
 * whose restored records were all consumed does not constrain it), and the report gives the
 * number of records at or after it that the group had already consumed on the source (it will see
 * them twice). Merged sources the group has no committed offset for do not constrain the result.
 *
 * Everything here is pure (the header search takes its fetches as a function), so the rule is
 * unit-tested without a broker.
 */
import type { OffsetRun } from '../format/restore-state.js';

/** How a target position was found. */
export type Technique = 'exact' | 'header-based' | 'timestamp-based' | 'manual';

export interface SourceCommit {
  topic: string;
  partition: number;
  /** Committed offset on the source: the next record to read. */
  offset: number;
}

export interface Translation {
  /** Offset to commit on the target partition. */
  targetOffset: number;
  /**
   * Records at or after targetOffset that the group had already consumed on the source
   * (it reads them again). Exact for `exact` and `header-based`; an upper bound for
   * `timestamp-based`.
   */
  duplicates: number;
  /** True when no restored record of the source(s) is at or after the committed offset(s). */
  atEnd: boolean;
}

/**
 * Exact translation of one source position against the runs of its target partition.
 * `runs` are the runs of one target partition in target order (as the restore stores them);
 * runs of other sources are ignored.
 */
export function translateOne(runs: readonly OffsetRun[], commit: SourceCommit, targetEnd: number): { targetOffset: number; atEnd: boolean } {
  let best: number | undefined;
  for (const r of runs) {
    if (r.source_topic !== commit.topic || r.source_partition !== commit.partition) continue;
    if (r.source + r.count <= commit.offset) continue;
    const t = r.target + Math.max(0, commit.offset - r.source);
    if (best === undefined || t < best) best = t;
  }
  return best === undefined ? { targetOffset: targetEnd, atEnd: true } : { targetOffset: best, atEnd: false };
}

/**
 * Records of the target partition at target offsets >= `targetOffset` whose source offset is
 * below the committed offset of their source (already consumed there). Sources without a
 * commit count as unconsumed.
 */
export function countDuplicates(runs: readonly OffsetRun[], commits: readonly SourceCommit[], targetOffset: number): number {
  let n = 0;
  for (const r of runs) {
    const c = commits.find((x) => x.topic === r.source_topic && x.partition === r.source_partition);
    if (!c) continue;
    // Records of this run with target >= targetOffset and source < c.offset.
    const fromIdx = Math.max(0, targetOffset - r.target);
    const toIdx = Math.min(r.count, c.offset - r.source); // exclusive
    if (toIdx > fromIdx) n += toIdx - fromIdx;
  }
  return n;
}

/**
 * Exact translation for one target partition, with any number of merged sources: the smallest
 * translated position (never skip a record the group has not consumed), and how many records
 * it will read twice.
 */
export function translateExact(runs: readonly OffsetRun[], commits: readonly SourceCommit[], targetEnd: number): Translation {
  if (commits.length === 0) throw new Error('translateExact: no committed offsets');
  let target = targetEnd;
  let atEnd = true;
  for (const c of commits) {
    const t = translateOne(runs, c, targetEnd);
    if (!t.atEnd) atEnd = false;
    target = Math.min(target, t.targetOffset);
  }
  return { targetOffset: target, duplicates: countDuplicates(runs, commits, target), atEnd };
}

/** The source partitions (topic/partition) that runs of one target partition come from, in target order. */
export function sourcesOf(runs: readonly OffsetRun[]): { topic: string; partition: number }[] {
  const out: { topic: string; partition: number }[] = [];
  for (const r of runs)
    if (!out.some((s) => s.topic === r.source_topic && s.partition === r.source_partition)) out.push({ topic: r.source_topic, partition: r.source_partition });
  return out;
}

// ---- header-based ------------------------------------------------------------------------------

/** What a probe of the target partition at an offset finds: the first record at or after it. */
export interface ProbeResult {
  /** Offset of that record on the target. */
  offset: number;
  /** Its x-original-offset header, or undefined when the record has none. */
  original: number | undefined;
}

/**
 * Header-based translation: binary search over target offsets [start, end) for the first
 * record whose x-original-offset is >= C. `probe(o)` returns the first record at or after
 * target offset o (undefined past the end). Requires one source per target partition (the
 * original offsets increase along the target partition); fetches O(log n) times.
 */
export async function searchByHeader(
  probe: (offset: number) => Promise<ProbeResult | undefined>,
  committed: number,
  start: number,
  end: number,
): Promise<{ targetOffset: number; atEnd: boolean; probes: number }> {
  const seen = new Map<number, ProbeResult | undefined>();
  const at = async (o: number): Promise<ProbeResult | undefined> => {
    if (!seen.has(o)) {
      const r = await probe(o);
      if (r && r.offset >= end) seen.set(o, undefined);
      else if (r && r.original === undefined) throw new MissingHeaderError(r.offset);
      else seen.set(o, r);
    }
    return seen.get(o);
  };
  // P(o) = "the first record at or after o is past the end, or has original >= committed": monotone in o.
  let lo = start;
  let hi = end;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const r = await at(mid);
    if (!r || r.original! >= committed) hi = mid;
    else lo = Math.max(mid + 1, r.offset + 1);
  }
  const r = lo < end ? await at(lo) : undefined;
  return r ? { targetOffset: r.offset, atEnd: false, probes: seen.size } : { targetOffset: end, atEnd: true, probes: seen.size };
}

export class MissingHeaderError extends Error {
  constructor(readonly offset: number) {
    super(
      `the target record at offset ${offset} has no x-original-offset header (restore with include_original_offset_header: true or consumer_group_strategy: header-based)`,
    );
  }
}

// ---- timestamp-based ---------------------------------------------------------------------------

export interface SourceRecordTime {
  offset: number;
  timestamp: number;
}

/**
 * Timestamp-based (approximate) translation, source side: `records` are the source partition's
 * records that the restore wrote (in source offset order). Returns the timestamp to look up on
 * the target with ListOffsets (the timestamp of the first restored record at or after C), or
 * undefined when there is none (commit the end offset), and the records the group will see
 * twice: ListOffsets returns the first record whose timestamp is >= that timestamp, which with
 * out-of-order timestamps can be a record before C; from there up to C everything is read again.
 * Exact when the target keeps the source's order and CreateTime timestamps; the count is labelled
 * an upper bound because the caller does not filter aborted transactions out of `records`.
 */
export function timestampLookup(records: readonly SourceRecordTime[], committed: number): { timestamp: number | undefined; duplicatesAtMost: number } {
  const first = records.find((r) => r.offset >= committed);
  if (!first) return { timestamp: undefined, duplicatesAtMost: 0 };
  const landing = records.findIndex((r) => r.timestamp >= first.timestamp);
  let dup = 0;
  for (let i = landing; i < records.length && records[i]!.offset < committed; i++) dup++;
  return { timestamp: first.timestamp, duplicatesAtMost: dup };
}

// ---- which snapshot ------------------------------------------------------------------------------

/**
 * The consumer-group snapshot to translate: the latest taken at or before the window's end
 * (a PITR restore: the groups' positions as of the end of the restored window), else the latest
 * one (no window end), else the earliest one with a warning (every snapshot is later than the
 * window's end).
 */
export function chooseSnapshot<T extends { taken_at: number }>(
  snapshots: readonly T[],
  windowEnd: number | undefined,
): { snapshot: T | undefined; warning?: string } {
  if (snapshots.length === 0) return { snapshot: undefined };
  const sorted = [...snapshots].sort((a, b) => a.taken_at - b.taken_at);
  if (windowEnd === undefined) return { snapshot: sorted.at(-1) };
  const before = sorted.filter((s) => s.taken_at <= windowEnd);
  if (before.length) return { snapshot: before.at(-1) };
  return {
    snapshot: sorted[0],
    warning: `every consumer-group snapshot of the backup was taken after the window's end (${new Date(windowEnd).toISOString()}); using the earliest (${new Date(sorted[0]!.taken_at).toISOString()}), so groups resume at their position at that time, clamped to the restored records`,
  };
}
