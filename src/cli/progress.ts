import type { BackupProgress, PartitionProgress } from '../backup/options.js';
import type { RestoreMetricsSink } from '../metrics/sink.js';
import { setLogInterlude } from '../util/log-format.js';
import { logger } from '../util/logger.js';
import { humanDuration } from '../util/time.js';
import { bytes, num } from './output.js';

/**
 * Progress of long runs (backup, restore): on a terminal a live block redrawn in place (a bar,
 * records, bytes, rate, ETA, one line per topic); otherwise a log line every 10 s, so that CI logs
 * and journald stay readable; nothing with --quiet. main.ts sets the mode from the global flags.
 */
export type ProgressMode = 'live' | 'lines' | 'off';

let mode: ProgressMode = process.stderr.isTTY === true ? 'live' : 'lines';

export function setProgressMode(m: ProgressMode): void {
  mode = m;
}

const LINE_INTERVAL_MS = 10_000;
const MAX_TOPIC_LINES = 8;
const BAR_WIDTH = 24;

export function bar(fraction: number, width = BAR_WIDTH): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}] ${String(Math.floor(f * 100)).padStart(3)}%`;
}

/** Lines redrawn in place on stderr; log lines written meanwhile go above them (log-format.ts calls clear/redraw). */
class LiveBlock {
  #drawn = 0;
  #lines: string[] = [];

  draw(lines: string[]): void {
    this.#lines = lines;
    // A line wider than the terminal would wrap and the next frame would erase too few lines: cut it.
    const width = process.stderr.columns ?? Number.POSITIVE_INFINITY;
    process.stderr.write(`${this.#erase()}${lines.map((l) => (l.length > width - 1 ? `${l.slice(0, width - 2)}…` : l)).join('\n')}\n`);
    this.#drawn = lines.length;
    setLogInterlude({ clear: () => this.clear(), redraw: () => this.draw(this.#lines) });
  }

  /** Removes the block (before a log line, or at the end when it should not stay). */
  clear(): void {
    process.stderr.write(this.#erase());
    this.#drawn = 0;
  }

  /** Leaves the last frame on screen as the run's final state. */
  stop(): void {
    setLogInterlude(undefined);
    this.#drawn = 0;
  }

  #erase(): string {
    return this.#drawn > 0 ? `\x1b[${this.#drawn}F\x1b[J` : '';
  }
}

/** Records a second over the last updates (a window of about 10 s, so one slow second does not swing the ETA). */
class Rate {
  readonly #samples: { t: number; n: number }[] = [];
  add(t: number, n: number): number {
    this.#samples.push({ t, n });
    while (this.#samples.length > 2 && t - this.#samples[0]!.t > 10_000) this.#samples.shift();
    const first = this.#samples[0]!;
    return t > first.t ? ((n - first.n) / (t - first.t)) * 1000 : 0;
  }
}

interface TopicLine {
  name: string;
  records: number;
  done: number;
  partitions: number;
  fraction: number | null;
}

/** Share of the offsets between where each partition started and its snapshot target that is behind it. */
function fractionOf(parts: PartitionProgress[], starts: Map<string, number>): number | null {
  let total = 0;
  let covered = 0;
  for (const p of parts) {
    if (p.target === null) return null;
    const start = starts.get(`${p.topic}/${p.partition}`) ?? p.position;
    total += Math.max(0, p.target - start);
    covered += Math.max(0, Math.min(p.position, p.target) - start);
  }
  return total === 0 ? 1 : covered / total;
}

export class BackupProgressDisplay {
  #lastLine = 0;
  readonly #starts = new Map<string, number>();
  readonly #rate = new Rate();
  readonly #offsetRate = new Rate();
  readonly #live = new LiveBlock();
  constructor(readonly continuous: boolean) {}

  update(p: BackupProgress): void {
    if (mode === 'off') return;
    const now = Date.now();
    for (const x of p.partitions) if (!this.#starts.has(`${x.topic}/${x.partition}`)) this.#starts.set(`${x.topic}/${x.partition}`, x.position);
    const records = p.partitions.reduce((n, x) => n + x.records, 0);
    const raw = p.partitions.reduce((n, x) => n + x.rawBytes, 0);
    const done = p.partitions.filter((x) => x.done).length;
    // Until the window holds two samples (the first second, or a run shorter than that): the average since the start.
    const rate = this.#rate.add(now, records) || (records / Math.max(1, now - p.startedAt)) * 1000;
    const fraction = this.continuous ? null : fractionOf(p.partitions, this.#starts);
    let eta: number | null = null;
    if (fraction !== null) {
      const remaining = p.partitions.reduce((n, x) => n + (x.target !== null ? Math.max(0, x.target - x.position) : 0), 0);
      const offRate = this.#offsetRate.add(
        now,
        p.partitions.reduce((n, x) => n + x.position, 0),
      );
      if (offRate > 0) eta = (remaining / offRate) * 1000;
    }
    const summary = `${num(records)} records, ${bytes(raw)}, ${num(Math.round(rate))} rec/s${eta !== null ? `, ETA ${humanDuration(eta)}` : ''}, ${done}/${p.partitions.length} partitions done`;
    if (mode === 'live') {
      this.#live.draw([`${fraction !== null ? `${bar(fraction)}  ` : ''}${summary}`, ...this.#topicLines(p.partitions)]);
    } else if (now - this.#lastLine >= LINE_INTERVAL_MS) {
      logger('progress').info(
        {
          records,
          raw_bytes: raw,
          records_per_sec: Math.round(rate),
          ...(fraction !== null ? { percent: Math.floor(fraction * 100) } : {}),
          ...(eta !== null ? { eta_ms: Math.round(eta) } : {}),
          partitions_done: done,
          partitions: p.partitions.length,
        },
        summary,
      );
      this.#lastLine = now;
    }
  }

  #topicLines(parts: PartitionProgress[]): string[] {
    const topics = new Map<string, PartitionProgress[]>();
    for (const x of parts) topics.set(x.topic, [...(topics.get(x.topic) ?? []), x]);
    if (topics.size < 2 && parts.length < 2) return [];
    const lines: TopicLine[] = [...topics].map(([name, ps]) => ({
      name,
      records: ps.reduce((n, x) => n + x.records, 0),
      done: ps.filter((x) => x.done).length,
      partitions: ps.length,
      fraction: this.continuous ? null : fractionOf(ps, this.#starts),
    }));
    const width = Math.min(30, Math.max(...lines.map((l) => l.name.length)));
    const shown = lines
      .slice(0, MAX_TOPIC_LINES)
      .map(
        (l) =>
          `  ${l.name.padEnd(width)}  ${l.fraction !== null ? `${bar(l.fraction, 12)}  ` : ''}${num(l.records)} records, ${l.done}/${l.partitions} partitions done`,
      );
    return lines.length > MAX_TOPIC_LINES ? [...shown, `  … ${lines.length - MAX_TOPIC_LINES} more topics`] : shown;
  }

  done(): void {
    this.#live.stop();
  }
}

/**
 * Restore progress, fed by the engine's metrics calls (teed with the Prometheus sink when the
 * metrics endpoint is on): records and bytes acknowledged by the target against the plan's count,
 * rate, ETA, partitions done and records per target topic. A resumed restore counts only what this
 * run writes against the whole plan, so its bar starts low and its ETA is too long.
 */
export class RestoreProgressDisplay implements RestoreMetricsSink {
  #planned = 0;
  #recordsPlanned: { records: number; exact: boolean } | undefined;
  #records = 0;
  #bytes = 0;
  #done = 0;
  #lastDraw = 0;
  #lastLine = Date.now();
  readonly #started = Date.now();
  readonly #topics = new Map<string, number>();
  readonly #rate = new Rate();
  readonly #live = new LiveBlock();

  #next: RestoreMetricsSink | undefined;

  /** Passes every call on to `next` too (the metrics endpoint's sink, when it is on). */
  teeTo(next: RestoreMetricsSink | undefined): this {
    this.#next = next;
    return this;
  }

  partitionsPlanned(count: number): void {
    this.#planned = count;
    this.#next?.partitionsPlanned(count);
  }

  recordsPlanned(records: number, exact: boolean): void {
    this.#recordsPlanned = { records, exact };
    this.#next?.recordsPlanned?.(records, exact);
  }

  restored(topic: string, partition: number, records: number, bytesWritten: number): void {
    this.#records += records;
    this.#bytes += bytesWritten;
    this.#topics.set(topic, (this.#topics.get(topic) ?? 0) + records);
    this.#next?.restored(topic, partition, records, bytesWritten);
    this.#show(false);
  }

  partitionDone(topic: string, partition: number): void {
    this.#done++;
    this.#next?.partitionDone(topic, partition);
    this.#show(true);
  }

  error(operation: string): void {
    this.#next?.error(operation);
  }

  #show(force: boolean): void {
    if (mode === 'off') return;
    const now = Date.now();
    const rate = this.#rate.add(now, this.#records) || (this.#records / Math.max(1, now - this.#started)) * 1000;
    const plan = this.#recordsPlanned;
    // By records when the plan says how many (an estimate, marked ~, when a window cuts segments), else by partitions.
    const fraction = plan && plan.records > 0 ? this.#records / plan.records : this.#planned > 0 ? this.#done / this.#planned : 0;
    const eta = plan && rate > 0 && this.#done < this.#planned ? (Math.max(0, plan.records - this.#records) / rate) * 1000 : null;
    const of = plan ? ` of ${plan.exact ? '' : '~'}${num(plan.records)}` : '';
    const summary = `${num(this.#records)}${of} records restored, ${bytes(this.#bytes)}, ${num(Math.round(rate))} rec/s${eta !== null ? `, ETA ${plan?.exact ? '' : '~'}${humanDuration(eta)}` : ''}, ${this.#done}/${this.#planned} partitions done`;
    if (mode === 'live') {
      if (!force && now - this.#lastDraw < 200) return; // redraw at most 5 times a second
      this.#lastDraw = now;
      const topics = [...this.#topics].slice(0, MAX_TOPIC_LINES).map(([t, n]) => `  ${t}  ${num(n)} records`);
      this.#live.draw([`${bar(fraction)}  ${summary}`, ...(this.#topics.size > 1 ? topics : [])]);
    } else if (now - this.#lastLine >= LINE_INTERVAL_MS) {
      logger('progress').info(
        {
          records: this.#records,
          ...(plan ? { records_planned: plan.records, records_planned_exact: plan.exact, percent: Math.floor(Math.min(1, fraction) * 100) } : {}),
          ...(eta !== null ? { eta_ms: Math.round(eta) } : {}),
          bytes: this.#bytes,
          records_per_sec: Math.round(rate),
          partitions_done: this.#done,
          partitions: this.#planned,
        },
        summary,
      );
      this.#lastLine = now;
    }
  }

  done(): void {
    this.#live.stop();
  }
}
