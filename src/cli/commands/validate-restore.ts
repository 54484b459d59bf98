import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { validateRestore } from '../../recovery/validate-restore.js';
import { logger } from '../../util/logger.js';
import { resetRequest, restoreOptions } from '../config-mapping.js';
import { print, withStore } from '../io.js';
import { parseFormat, render } from '../output.js';
import { validationJson, validationText, validationView } from '../render/validate-restore.js';

export function registerValidateRestoreCommand(program: Command): void {
  program
    .command('validate-restore')
    .description('Check a restore config against the backup and the target, and show what it would restore (writes nothing)')
    .requiredOption('-c, --config <path>', 'YAML config file with mode: restore')
    .option('-f, --format <format>', 'text, json or yaml', 'text')
    .option('--estimate', 'estimate the record count from the segment footers instead of counting exactly (reads no record data)', false)
    .action(async (o: { config: string; format: string; estimate: boolean }) => {
      const format = parseFormat(o.format);
      const cfg = await loadConfig(o.config, { expectMode: 'restore', onWarning: (w) => logger().warn(w) });
      await withStore(cfg.storage, async (store) => {
        const v = validationView(await validateRestore(restoreOptions(cfg, store), resetRequest(cfg), o.estimate), cfg);
        print(render(format, validationJson(v), () => validationText(v)));
        if (v.errors.length) process.exitCode = 1;
      });
    });
}
