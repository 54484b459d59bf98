import type { Command } from 'commander';
import { runBackup } from '../../backup/engine.js';
import { loadConfig } from '../../config/index.js';
import { withMetrics } from '../../metrics/index.js';
import { logger } from '../../util/logger.js';
import { backupOptions } from '../config-mapping.js';
import { backupGcTuning } from '../gc-tuning.js';
import { print, stopSignal, withStore } from '../io.js';
import { parseFormat, render } from '../output.js';
import { BackupProgressDisplay } from '../progress.js';
import { backupJson, backupText } from '../render/backup.js';

export function registerBackupCommand(program: Command): void {
  program
    .command('backup')
    .description('Back up topics from a Kafka cluster (mode: backup), once (snapshot) or continuously')
    .requiredOption('-c, --config <path>', 'YAML config file with mode: backup')
    .option('-f, --format <format>', 'report format: text, json or yaml', 'text')
    .action(async (o: { config: string; format: string }) => {
      backupGcTuning();
      const format = parseFormat(o.format);
      const cfg = await loadConfig(o.config, { expectMode: 'backup', onWarning: (w) => logger().warn(w) });
      await withStore(cfg.storage, async (store) => {
        const ac = stopSignal();
        const progress = new BackupProgressDisplay(cfg.backup.continuous);
        try {
          const info = { mode: 'backup' as const, backupId: cfg.backup_id };
          const sum = await withMetrics(cfg.metrics, info, store, ac.signal, (m) =>
            runBackup({ ...backupOptions(cfg, m.store), metrics: m.metrics, signal: ac.signal, onProgress: (p) => progress.update(p) }),
          );
          progress.done();
          print(render(format, backupJson(sum), () => backupText(sum)));
          if (sum.status === 'incomplete') process.exitCode = ac.signal.aborted ? 130 : 1;
        } finally {
          progress.done();
        }
      });
    });
}
