import type { Command } from 'commander';
import { listBackups } from '../../format/backup-view.js';
import { isoMs } from '../../util/time.js';
import { print, withStore } from '../io.js';
import { bytes, num, parseFormat, render } from '../output.js';

export function registerListCommand(program: Command): void {
  program
    .command('list')
    .description('List the backups in a storage location, or summarise one')
    .requiredOption('-p, --path <url>', 'storage location')
    .option('-b, --backup-id <id>', 'summarise this backup')
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: { path: string; backupId?: string; format: string }) => {
      const format = parseFormat(o.format, ['text', 'json']);
      await withStore(o.path, async (store) => {
        const views = await listBackups(store, o.backupId);
        if (views.length === 0) return print(format === 'json' ? '[]' : `No backups found in ${store.url}`);
        const json = views.map((v) => ({
          backup_id: v.manifest.backup_id,
          status: v.manifest.status,
          earliest_timestamp: v.minTimestamp,
          latest_timestamp: v.maxTimestamp,
          topics: v.topics.map((t) => t.name),
          records: v.records,
          stored_bytes: v.storedBytes,
        }));
        const line = (v: (typeof views)[number]): string =>
          `  ${v.manifest.backup_id}  ${v.manifest.status.padEnd(8)}  ${isoMs(v.minTimestamp)} → ${isoMs(v.maxTimestamp)}  ${v.topics.length} topics (${v.topics.map((t) => t.name).join(', ')})  ${num(v.records)} records  ${bytes(v.storedBytes)}`;
        print(render(format, json, () => (o.backupId ? [] : [`Available backups in ${store.url}:`]).concat(views.map(line)).join('\n')));
      });
    });
}
