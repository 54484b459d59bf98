/**
 * A point-in-time restore's window: inclusive bounds in epoch milliseconds, either side open
 * (restore.time_window_start / time_window_end, RestoreOptions.windowStart / windowEnd). Built once
 * from the two optional numbers; the start > end check and the comparisons live here only.
 *
 * Record timestamps are bigints (record batches), index and footer timestamps numbers: every method
 * takes either, and a comparison between a bigint and a number is exact in JavaScript.
 */
export type Timestamp = bigint | number;

export class TimeWindow {
  /** No bounds: every timestamp is inside. */
  static readonly ALL = new TimeWindow(undefined, undefined);

  private constructor(
    /** Inclusive start, epoch ms; undefined = from the beginning. */
    readonly start: number | undefined,
    /** Inclusive end, epoch ms; undefined = to the end. */
    readonly end: number | undefined,
  ) {}

  static of(start: number | undefined, end: number | undefined): TimeWindow {
    return start === undefined && end === undefined ? TimeWindow.ALL : new TimeWindow(start, end);
  }

  /** True when either side is set (a point-in-time restore). */
  get bounded(): boolean {
    return this.start !== undefined || this.end !== undefined;
  }

  /** Why the window is unusable (start after end: it would hold nothing), or undefined. */
  get problem(): string | undefined {
    const { start: s, end: e } = this;
    if (s === undefined || e === undefined || s <= e) return undefined;
    return `time_window_start ${s} (${isoOf(s)}) is after time_window_end ${e} (${isoOf(e)}); the window would be empty`;
  }

  contains(ts: Timestamp): boolean {
    return (this.start === undefined || ts >= this.start) && (this.end === undefined || ts <= this.end);
  }

  /** Some of [min, max] is inside the window. */
  overlaps(min: Timestamp, max: Timestamp): boolean {
    return (this.start === undefined || max >= this.start) && (this.end === undefined || min <= this.end);
  }

  /** All of [min, max] is inside the window. */
  covers(min: Timestamp, max: Timestamp): boolean {
    return this.contains(min) && this.contains(max);
  }

  /** Share (0..1) of the span [min, max] inside the window: a linear estimate of the records there. */
  share(min: number, max: number): number {
    if (max === min) return 1;
    const a = Math.max(min, this.start ?? min);
    const b = Math.min(max, this.end ?? max);
    return Math.max(0, Math.min(1, (b - a + 1) / (max - min + 1)));
  }

  /** "2024-11-10T10:00:00.000Z to end of backup" (for messages). */
  describe(): string {
    const from = this.start === undefined ? 'beginning of backup' : isoOf(this.start);
    const to = this.end === undefined ? 'end of backup' : isoOf(this.end);
    return `${from} to ${to}`;
  }
}

function isoOf(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? 'out of the date range' : d.toISOString();
}
