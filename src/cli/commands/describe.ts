import type { Command } from 'commander';
import { inspectBackup } from '../../format/backup-view.js';
import { print, withStore } from '../io.js';
import { parseFormat, render } from '../output.js';
import { describeJson, describeText } from '../render/describe.js';

export function registerDescribeCommand(program: Command): void {
  program
    .command('describe')
    .description("Show a backup's time range, topics, partitions and record counts")
    .requiredOption('-p, --path <url>', 'storage location: a directory, file://, s3://bucket/prefix, az://, gs://')
    .requiredOption('-b, --backup-id <id>', 'backup id')
    .option('-f, --format <format>', 'text, json or yaml', 'text')
    .action(async (o: { path: string; backupId: string; format: string }) => {
      const format = parseFormat(o.format);
      await withStore(o.path, async (store) => {
        const v = await inspectBackup(store, o.backupId);
        print(render(format, describeJson(v), () => describeText(v)));
      });
    });
}
