/**
 * The exact source → target offset map of one target partition, kept as runs: a run says that
 * `count` consecutive source offsets starting at `source` became `count` consecutive target
 * offsets starting at `target`. Filtering and compaction gaps split runs; a plain full restore
 * of an uncompacted partition is a single run.
 */
export interface OffsetRun {
  source_topic: string;
  source_partition: number;
  source: number;
  target: number;
  count: number;
}

export class OffsetMapBuilder {
  readonly runs: OffsetRun[] = [];

  /** Appends one record's mapping, extending the last run when both sides are consecutive. */
  add(sourceTopic: string, sourcePartition: number, source: number, target: number): void {
    const last = this.runs.at(-1);
    if (
      last &&
      last.source_topic === sourceTopic &&
      last.source_partition === sourcePartition &&
      last.source + last.count === source &&
      last.target + last.count === target
    ) {
      last.count++;
      return;
    }
    this.runs.push({ source_topic: sourceTopic, source_partition: sourcePartition, source, target, count: 1 });
  }

  get records(): number {
    return this.runs.reduce((n, r) => n + r.count, 0);
  }
}

/** Target offset of a source offset, or undefined when that record was not restored. */
export function lookupTarget(runs: OffsetRun[], topic: string, partition: number, source: number): number | undefined {
  for (const r of runs) {
    if (r.source_topic === topic && r.source_partition === partition && source >= r.source && source < r.source + r.count) {
      return r.target + (source - r.source);
    }
  }
  return undefined;
}
