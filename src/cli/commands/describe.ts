import type { Command } from 'commander';
import { inspectBackup } from '../../format/backup-view.js';
import { backupLocation } from '../config-mapping.js';
import { print, withStore } from '../io.js';
import { parseFormat, render } from '../output.js';
import { describeJson, describeText } from '../render/describe.js';

export function registerDescribeCommand(program: Command): void {
  program
    .command('describe')
    .description("Show a backup's time range, topics, partitions and record counts")
    .option('-p, --path <url>', 'storage location: a directory, file://, s3://bucket/prefix, az://, gs://')
    .option('-b, --backup-id <id>', 'backup id')
    .option('-c, --config <path>', "instead of --path/--backup-id: a config file's storage and backup_id")
    .option('-f, --format <format>', 'text, json or yaml', 'text')
    .action(async (o: { path?: string; backupId?: string; config?: string; format: string }) => {
      const format = parseFormat(o.format);
      const { where, backupId } = await backupLocation(o, 'describe');
      await withStore(where, async (store) => {
        const v = await inspectBackup(store, backupId);
        print(render(format, describeJson(v), () => describeText(v)));
      });
    });
}
