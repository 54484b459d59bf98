/**
 * Pure arithmetic of the timeline: records spread over equal time bins, and the spans where a
 * partition's timestamps go backwards. Inputs are the block entries of segment footers (or whole
 * segments from the index), so nothing here reads record data: a block's records are taken as
 * spread evenly over its [minTimestamp, maxTimestamp], which is as fine as the metadata allows.
 */

/** The drawn time axis: [start, end) in epoch ms, cut into `count` equal bins. */
export interface TimeAxis {
  start: number;
  end: number;
  count: number;
}

/** Records of one stored block (or segment) in offset order: its data records and timestamp range. */
export interface TimedRun {
  firstOffset: number;
  lastOffset: number;
  minTs: number;
  maxTs: number;
  records: number;
}

/** Timestamps that go backwards: records of [firstOffset, lastOffset] stamped as early as `fromTs` come after records stamped up to `toTs`. */
export interface LateSpan {
  fromTs: number;
  toTs: number;
  firstOffset: number;
  lastOffset: number;
  /** Data records of the blocks involved: an upper bound of the late records (the metadata does not say which ones). */
  records: number;
}

export function axisFor(minTs: number, maxTs: number, count: number): TimeAxis {
  // [min, max + 1): the last millisecond belongs to the axis; a single instant still gets a width.
  return { start: minTs, end: maxTs + 1, count };
}

export function binWidth(axis: TimeAxis): number {
  return (axis.end - axis.start) / axis.count;
}

/**
 * Adds `run.records` to `bins` in proportion to how much of [minTs, maxTs + 1) each bin covers,
 * so the bins of a partition always sum to its records (up to float rounding).
 */
export function spreadRun(bins: number[], axis: TimeAxis, run: Pick<TimedRun, 'minTs' | 'maxTs' | 'records'>): void {
  if (run.records <= 0) return;
  const w = binWidth(axis);
  const lo = Math.max(run.minTs, axis.start);
  const hi = Math.min(run.maxTs + 1, axis.end);
  if (hi <= lo) return;
  const span = run.maxTs + 1 - run.minTs;
  const first = Math.min(axis.count - 1, Math.floor((lo - axis.start) / w));
  // The last bin that [lo, hi) reaches into (bins may be narrower than 1 ms when the range is short).
  const last = Math.min(axis.count - 1, Math.ceil((hi - axis.start) / w) - 1);
  for (let i = first; i <= last; i++) {
    const a = Math.max(lo, axis.start + i * w);
    const b = Math.min(hi, i === axis.count - 1 ? axis.end : axis.start + (i + 1) * w);
    if (b > a) bins[i] = (bins[i] ?? 0) + (run.records * (b - a)) / span;
  }
}

/** Bins for the runs of one partition. */
export function density(axis: TimeAxis, runs: readonly TimedRun[]): number[] {
  const bins = new Array<number>(axis.count).fill(0);
  for (const r of runs) spreadRun(bins, axis, r);
  return bins;
}

/**
 * Runs (in offset order) whose earliest timestamp is before the latest timestamp already seen at
 * lower offsets. Overlapping spans are merged so a long disordered stretch is one span. Disorder
 * inside one block cannot be seen without decoding it and is not reported.
 */
export function lateSpans(runs: readonly TimedRun[]): LateSpan[] {
  const out: LateSpan[] = [];
  let seenMax = -Infinity;
  for (const r of runs) {
    if (r.records > 0 && r.minTs < seenMax) {
      const prev = out.at(-1);
      if (prev && r.minTs <= prev.toTs && seenMax >= prev.fromTs) {
        prev.fromTs = Math.min(prev.fromTs, r.minTs);
        prev.toTs = Math.max(prev.toTs, seenMax);
        prev.lastOffset = r.lastOffset;
        prev.records += r.records;
      } else {
        out.push({ fromTs: r.minTs, toTs: seenMax, firstOffset: r.firstOffset, lastOffset: r.lastOffset, records: r.records });
      }
    }
    if (r.records > 0) seenMax = Math.max(seenMax, r.maxTs);
  }
  return out;
}
