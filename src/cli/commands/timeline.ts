import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { buildTimelinePage, DEFAULT_BINS, MAX_BINS, MIN_BINS } from '../../report/timeline/index.js';
import { openStore, parseStorageUrl } from '../../storage/index.js';
import { errorMessage, UserError } from '../../util/errors.js';
import { logger } from '../../util/logger.js';
import { isoMs } from '../../util/time.js';
import { restoreOptions } from '../config-mapping.js';
import { num } from '../output.js';

interface TimelineFlags {
  path?: string;
  backupId?: string;
  config?: string;
  output?: string;
  bins: string;
}

function parseBins(s: string): number {
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!(n >= MIN_BINS && n <= MAX_BINS)) throw new UserError('USAGE', `--bins: expected an integer from ${MIN_BINS} to ${MAX_BINS}, got "${s}"`);
  return n;
}

/** `timeline`: the backup drawn over time as one self-contained HTML page (src/report/timeline/). */
export function registerTimelineCommand(program: Command): void {
  program
    .command('timeline')
    .description(
      'Draw a backup over time as one self-contained HTML page (records, segments, gaps, late records, group snapshots; with --config, the restore window and its exact count)',
    )
    .option('-p, --path <url>', 'storage location (without --config)')
    .option('-b, --backup-id <id>', 'backup id (without --config)')
    .option('-c, --config <path>', 'restore config (mode: restore): its storage, backup_id and time window')
    .option('-o, --output <file>', 'write the page to this file instead of stdout')
    .option('--bins <n>', `time bins across the backup's range (${MIN_BINS}-${MAX_BINS})`, String(DEFAULT_BINS))
    .action(async (o: TimelineFlags) => {
      if (o.config && (o.path || o.backupId))
        throw new UserError('USAGE', 'timeline: give either --config (a restore config names the storage and backup_id) or --path with --backup-id, not both');
      if (!o.config && !(o.path && o.backupId)) throw new UserError('USAGE', 'timeline: needs --path and --backup-id, or --config with a restore config');
      const bins = parseBins(o.bins);
      const cfg = o.config ? await loadConfig(o.config, { expectMode: 'restore', onWarning: (w) => logger().warn(w) }) : undefined;
      const store = cfg ? await openStore(cfg.storage) : await openStore(parseStorageUrl(o.path!));
      try {
        const page = await buildTimelinePage({
          store,
          backupId: cfg?.backup_id ?? o.backupId!,
          bins,
          ...(cfg ? { restore: { options: restoreOptions(cfg, store), source: o.config! } } : {}),
        });
        if (!o.output) {
          process.stdout.write(page.html);
          return;
        }
        await writeFile(o.output, page.html).catch((err: unknown) => {
          throw new UserError('OUTPUT', `--output ${o.output}: cannot write the page: ${errorMessage(err)}`);
        });
        const w = page.timeline.window;
        const win = w
          ? `; window ${w.start === null ? 'beginning' : isoMs(w.start)} → ${w.end === null ? 'end' : isoMs(w.end)}: ${num(w.records)} records`
          : '';
        process.stdout.write(`Wrote ${o.output}: ${num(page.timeline.records)} records of backup ${page.timeline.backupId}${win}\n`);
      } finally {
        await store.close();
      }
    });
}
