import type { BackupProgress } from '../backup/options.js';
import { logger } from '../util/logger.js';
import { bytes, num } from './output.js';

/**
 * Backup progress: a live line on a terminal, a log line every 10 s otherwise
 * (so that CI logs and journald stay readable).
 */
export class BackupProgressDisplay {
  #last = 0;
  #lastRecords = 0;
  #lastTime = Date.now();
  #shown = false;
  readonly #tty = process.stderr.isTTY === true;
  constructor(readonly continuous: boolean) {}

  update(p: BackupProgress): void {
    const now = Date.now();
    const records = p.partitions.reduce((n, x) => n + x.records, 0);
    const raw = p.partitions.reduce((n, x) => n + x.rawBytes, 0);
    const done = p.partitions.filter((x) => x.done).length;
    const rate = ((records - this.#lastRecords) / Math.max(1, now - this.#lastTime)) * 1000;
    let eta = '';
    if (!this.continuous) {
      const remaining = p.partitions.reduce((n, x) => n + (x.target !== null ? Math.max(0, x.target - x.position) : 0), 0);
      if (rate > 0) eta = ` ETA ${Math.ceil(remaining / rate)}s`;
    }
    const line = `${num(records)} records, ${bytes(raw)}, ${done}/${p.partitions.length} partitions done, ${num(Math.round(rate))} rec/s${eta}`;
    if (this.#tty) {
      process.stderr.write(`\r\x1b[K${line}`);
      this.#shown = true;
    } else if (now - this.#last >= 10_000) {
      logger('progress').info(line);
      this.#last = now;
    }
    this.#lastRecords = records;
    this.#lastTime = now;
  }

  done(): void {
    if (this.#shown) process.stderr.write('\n');
    this.#shown = false;
  }
}
