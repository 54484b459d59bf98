import type { Command } from 'commander';
import { loadConfig, type KafkaBackupConfig } from '../../config/index.js';
import { withMetrics } from '../../metrics/index.js';
import { offsetErrors, restoreJob } from '../../recovery/restore-job.js';
import { validateRestore } from '../../recovery/validate-restore.js';
import type { RestoreOptions } from '../../restore/index.js';
import { logger } from '../../util/logger.js';
import { isoMs } from '../../util/time.js';
import { resetRequest, restoreOptions } from '../config-mapping.js';
import { print, stopSignal, withStore } from '../io.js';
import { RestoreProgressDisplay } from '../progress.js';
import { parseFormat, render } from '../output.js';
import { resetJson, resetText } from '../render/reset.js';
import { restoreJson, restoreText } from '../render/restore.js';
import { noRecordsWarning, validationJson, validationText, validationView } from '../render/validate-restore.js';

/** dry_run: true makes `restore` exactly `validate-restore`: the same checks, nothing written. */
async function dryRun(cfg: KafkaBackupConfig, opts: RestoreOptions, format: string): Promise<void> {
  const v = validationView(await validateRestore(opts, resetRequest(cfg)), cfg);
  print(render(format, validationJson(v), () => `Dry run: nothing written.\n\n${validationText(v)}`));
  if (v.errors.length) process.exitCode = 1;
}

function startLines(cfg: KafkaBackupConfig, opts: RestoreOptions): string[] {
  const pitr = opts.windowStart !== undefined || opts.windowEnd !== undefined;
  const lines = [`[INFO] Starting ${pitr ? 'PITR ' : ''}restore from: ${cfg.backup_id}`];
  if (pitr) {
    lines.push(
      `[INFO] Time window: ${opts.windowStart !== undefined ? isoMs(opts.windowStart) : 'beginning'} to ${opts.windowEnd !== undefined ? isoMs(opts.windowEnd) : 'end of backup'}`,
    );
    lines.push('[INFO] Filtering records by timestamp...');
  }
  return lines;
}

export function registerRestoreCommand(program: Command): void {
  program
    .command('restore')
    .description('Restore a backup, whole or a point-in-time window, into a Kafka cluster (mode: restore)')
    .requiredOption('-c, --config <path>', 'YAML config file with mode: restore')
    .option('-f, --format <format>', 'report format: text, json or yaml', 'text')
    .action(async (o: { config: string; format: string }) => {
      const format = parseFormat(o.format);
      const cfg = await loadConfig(o.config, { expectMode: 'restore', onWarning: (w) => logger().warn(w) });
      await withStore(cfg.storage, async (store) => {
        const opts = restoreOptions(cfg, store);
        if (opts.dryRun) return dryRun(cfg, opts, format);
        const ac = stopSignal();
        const text = format === 'text';
        if (text) print(startLines(cfg, opts).join('\n'));
        const info = { mode: 'restore' as const, backupId: cfg.backup_id };
        const progress = new RestoreProgressDisplay();
        const { restore: res, offsets } = await withMetrics(cfg.metrics, info, store, ac.signal, (m) =>
          restoreJob(
            { ...opts, store: m.store, metrics: progress.teeTo(m.metrics), signal: ac.signal, onProgress: text ? (l) => logger().debug(l) : undefined },
            resetRequest(cfg),
          ),
        ).finally(() => progress.done());
        const rep = offsets?.report;
        print(
          render(
            format,
            { ...(restoreJson(res) as object), ...(rep ? { consumer_group_offsets: resetJson(rep) } : {}) },
            () => restoreText(res) + (rep ? `\n\n${resetText(rep)}` : ''),
          ),
        );
        for (const e of offsetErrors(offsets)) {
          process.stderr.write(`error: ${e}\n`);
          process.exitCode = 1;
        }
        if (res.restored === 0 && text) print('\n' + noRecordsWarning(res.plan));
        if (ac.signal.aborted) {
          print('Restore interrupted: run the same command again to continue where it stopped.');
          process.exitCode = 130;
        }
      });
    });
}
