import type { Command } from 'commander';
import { validateBackup } from '../../backup/validate.js';
import { backupLocation } from '../config-mapping.js';
import { print, withStore } from '../io.js';
import { parseFormat, render } from '../output.js';
import { validateJson, validateText } from '../render/validate.js';

export function registerValidateCommand(program: Command): void {
  program
    .command('validate')
    .description('Check a backup: manifest, indexes and every segment checksum (--deep decodes every record)')
    .option('-p, --path <url>', 'storage location')
    .option('-b, --backup-id <id>', 'backup id')
    .option('-c, --config <path>', "instead of --path/--backup-id: a config file's storage and backup_id")
    .option('--deep', 'decode every record batch and check its CRC', false)
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: { path?: string; backupId?: string; config?: string; deep: boolean; format: string }) => {
      const format = parseFormat(o.format, ['text', 'json']);
      const { where, backupId } = await backupLocation(o, 'validate');
      await withStore(where, async (store) => {
        const r = await validateBackup(store, backupId, o.deep);
        print(render(format, validateJson(r), () => validateText(r)));
        if (r.problems.length || r.incomplete.length) process.exitCode = 1;
      });
    });
}
