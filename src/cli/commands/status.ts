import { Option, type Command } from 'commander';
import { loadStatus } from '../../backup/status.js';
import { loadConfig } from '../../config/index.js';
import { metricsUrl, queryLive } from '../../metrics/live.js';
import { UserError } from '../../util/errors.js';
import { logger } from '../../util/logger.js';
import { sleep } from '../../util/time.js';
import { print, withStore } from '../io.js';
import { parseFormat, render } from '../output.js';
import { liveText, statusText } from '../render/status.js';
import { restoreListText, restoreStatusText } from '../render/restore-status.js';
import { listRestoresStatus, loadRestoreStatus } from '../../restore/index.js';

function splitList(v: string, prev: string[] = []): string[] {
  return prev.concat(
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

interface StatusFlags {
  path?: string;
  backupId?: string;
  /** true: list the backup's restores; a string: that restore's status. */
  restoreId?: string | true;
  config?: string;
  watch: boolean;
  interval: string;
  bootstrapServers?: string[];
  format: string;
  dbPath?: string;
}

/** The reference's `status --db-path`: its local SQLite progress file, which this tool does not have. */
export const DB_PATH_REFUSAL =
  "status --db-path: this tool keeps no local offsets database (the Rust tool's SQLite file); a backup's progress is in the backup itself: use status --path URL --backup-id ID, or --config FILE for the running job";

function checkFlags(o: StatusFlags): void {
  if (o.dbPath !== undefined) throw new UserError('USAGE', DB_PATH_REFUSAL);
  if (o.config && (o.path || o.backupId))
    throw new UserError('USAGE', 'status: --config (live status) cannot be combined with --path/--backup-id (status from storage)');
  if (o.restoreId !== undefined && (o.config || o.bootstrapServers))
    throw new UserError(
      'USAGE',
      'status: --restore-id (a restore, from storage) goes with --path and --backup-id only, not with --config or --bootstrap-servers',
    );
  if (o.watch && !o.config) throw new UserError('USAGE', 'status: --watch needs --config (it queries the running job’s metrics endpoint)');
  if (!o.config && (!o.path || !o.backupId))
    throw new UserError('USAGE', 'status: give --path and --backup-id (status from storage), or --config (live status of a running job)');
}

/** Live status from the running job's metrics endpoint: once, or every interval until Ctrl-C. */
async function liveStatus(o: StatusFlags, format: string): Promise<void> {
  const cfg = await loadConfig(o.config!, { onWarning: (w) => logger().debug(w) });
  const url = metricsUrl(cfg.metrics);
  const interval = Number(o.interval);
  if (!Number.isFinite(interval) || interval <= 0) throw new UserError('USAGE', `--interval: "${o.interval}" is not a positive number of seconds`);
  if (!o.watch) {
    const live = await queryLive(url);
    print(render(format, live, () => liveText(live)));
    if (!live.reachable) process.exitCode = 1;
    return;
  }
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (!ac.signal.aborted) {
      const live = await queryLive(url);
      const out = render(format, live, () => liveText(live));
      if (format === 'text' && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
      print(format === 'json' ? JSON.stringify(live) : out);
      await sleep(interval * 1000, ac.signal);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description(
      "Progress of a backup: from storage (--path, --backup-id), or live from the running job's metrics endpoint (--config [--watch]); a restore's with --restore-id",
    )
    .option('-p, --path <url>', 'storage location (static status)')
    .option('-b, --backup-id <id>', 'backup id (static status)')
    .option(
      '--bootstrap-servers <list>',
      'static status: also show the lag against the current end offsets of this cluster (PLAINTEXT; comma-separated or repeated)',
      splitList,
    )
    .option('-r, --restore-id [id]', "a restore of the backup (with --path, --backup-id): its partitions and workers; without an id, the backup's restores")
    .option('-c, --config <path>', "live status: query the metrics endpoint of this config's metrics section")
    .option('--watch', 'live status: refresh until Ctrl-C (needs --config)', false)
    .option('--interval <secs>', 'seconds between refreshes with --watch', '2')
    .option('-f, --format <format>', 'text or json', 'text')
    .addOption(new Option('--db-path <path>', "the Rust tool's local offsets database: refused (there is none)").hideHelp())
    .action(async (o: StatusFlags) => {
      const format = parseFormat(o.format, ['text', 'json']);
      checkFlags(o);
      if (o.config) return liveStatus(o, format);
      await withStore(o.path!, async (store) => {
        if (o.restoreId === true) {
          const list = await listRestoresStatus(store, o.backupId!);
          return print(render(format, list, () => restoreListText(o.backupId!, list)));
        }
        if (o.restoreId !== undefined) {
          const r = await loadRestoreStatus(store, o.backupId!, o.restoreId);
          return print(render(format, r, () => restoreStatusText(r)));
        }
        const s = await loadStatus(store, o.backupId!, o.bootstrapServers);
        print(render(format, s, () => statusText(s)));
      });
    });
}
