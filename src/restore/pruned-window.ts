/**
 * A restore, or a PITR window, that reaches into time retention pruned (pruned.json,
 * src/format/pruned.ts) says so, per partition, with what remains: never a silent gap.
 */
import { prunedRangesOf, type PrunedLog, type PrunedRange } from '../format/pruned.js';
import { isoMs } from '../util/time.js';

export interface PrunedPartitionFacts {
  topic: string;
  partition: number;
  /** The oldest kept segment's first offset and record time (null: nothing kept with records). */
  keptFromOffset: number | null;
  keptFromTime: number | null;
}

/** Warnings for the selected partitions whose pruned ranges the restore (window start..end) reaches into. */
export function prunedWindowWarnings(
  log: PrunedLog,
  parts: readonly PrunedPartitionFacts[],
  start: number | undefined,
  end: number | undefined,
): { warnings: string[]; ranges: PrunedRange[] } {
  const warnings: string[] = [];
  const ranges: PrunedRange[] = [];
  for (const p of parts) {
    const rs = prunedRangesOf(log, p.topic, p.partition);
    if (rs.length === 0) continue;
    ranges.push(...rs);
    const upTo = rs.reduce<number | null>((n, r) => (r.max_timestamp === null ? n : n === null ? r.max_timestamp : Math.max(n, r.max_timestamp)), null);
    const to = rs.reduce((n, r) => Math.max(n, r.to_offset), 0);
    // A window that starts after everything pruned does not reach into it.
    if (start !== undefined && upTo !== null && start > upTo) continue;
    if (start !== undefined && upTo === null) continue;
    const what = `${p.topic}/${p.partition}: offsets ${rs[0]!.from_offset}..${to - 1} (records ${isoMs(rs[0]!.min_timestamp)} .. ${isoMs(upTo)}) were pruned by retention (${[...new Set(rs.map((r) => r.reason))].join(', ')}, last at ${isoMs(Math.max(...rs.map((r) => r.last_pruned_at)))})`;
    const remains =
      p.keptFromOffset === null
        ? 'nothing of it remains'
        : `what remains starts at offset ${p.keptFromOffset}${p.keptFromTime !== null ? ` (${isoMs(p.keptFromTime)})` : ''}`;
    const reach =
      start === undefined
        ? 'the restore starts after them'
        : `the window starting ${isoMs(start)} reaches into pruned time${end !== undefined && upTo !== null && end <= upTo ? ' (its end too)' : ''}`;
    warnings.push(`${what}: ${reach}; ${remains}`);
  }
  return { warnings, ranges };
}
