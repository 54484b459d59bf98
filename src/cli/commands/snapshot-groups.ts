import type { Command } from 'commander';
import { snapshotGroupsNow, type SnapshotGroupsResult } from '../../backup/group-snapshot.js';
import { loadConfig } from '../../config/index.js';
import { logger } from '../../util/logger.js';
import { isoMs } from '../../util/time.js';
import { backupOptions } from '../config-mapping.js';
import { print, withStore } from '../io.js';
import { parseFormat, render } from '../output.js';

function snapshotGroupsText(r: SnapshotGroupsResult, storeUrl: string): string {
  const lines = [
    `Consumer-group snapshot of backup ${r.backup_id} written: ${storeUrl.replace(/\/$/, '')}/${r.key}`,
    `  Taken at: ${isoMs(r.taken_at)}   Topics: ${r.topics.length}   Groups with committed offsets on them: ${r.groups.length}`,
  ];
  for (const g of r.groups) lines.push(`  ${g.group_id}: ${g.partitions} partition${g.partitions === 1 ? '' : 's'} on ${g.topics.join(', ')}`);
  return lines.join('\n');
}

export function registerSnapshotGroupsCommand(program: Command): void {
  program
    .command('snapshot-groups')
    .description("Write a consumer-group offsets snapshot for the backup's topics now (mode: backup config)")
    .requiredOption('-c, --config <path>', 'YAML config file with mode: backup')
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: { config: string; format: string }) => {
      const format = parseFormat(o.format, ['text', 'json']);
      const cfg = await loadConfig(o.config, { expectMode: 'backup', onWarning: (w) => logger().warn(w) });
      await withStore(cfg.storage, async (store) => {
        const r = await snapshotGroupsNow(backupOptions(cfg, store));
        print(render(format, r, () => snapshotGroupsText(r, store.url)));
      });
    });
}
