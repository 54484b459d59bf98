/**
 * One distributed-restore worker in its own process, so a test can SIGKILL it at any moment.
 *
 *   node --import tsx test/helpers/restore-child.ts '<json RestoreChildConfig>'
 *
 * Runs runDistributedRestore with the test defaults (a filesystem store at `dir`) and the
 * overrides in the JSON argument; prints the result's summary as one JSON line and exits 0.
 */
import { runDistributedRestore } from '../../src/restore/workers/distributed.js';
import type { RestoreOptions } from '../../src/restore/options.js';
import { FsStore } from '../../src/storage/fs.js';
import { testRestoreOptions } from './options.js';

export interface RestoreChildConfig {
  bootstrap: string;
  dir: string;
  backupId: string;
  options: Partial<Omit<RestoreOptions, 'store' | 'target' | 'signal' | 'onProgress' | 'backupId'>>;
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (!arg) throw new Error('usage: restore-child.ts <json config>');
  const cfg = JSON.parse(arg) as RestoreChildConfig;
  const ac = new AbortController();
  process.on('SIGTERM', () => ac.abort());
  process.on('SIGINT', () => ac.abort());
  const r = await runDistributedRestore({ ...testRestoreOptions(cfg.bootstrap, new FsStore(cfg.dir), cfg.backupId, cfg.options), signal: ac.signal });
  process.stdout.write(
    `${JSON.stringify({ restoreId: r.restoreId, restored: r.restored, finisher: r.finisher, warnings: r.warnings, offsetMap: r.offsetMap, report: r.reportLocation ?? null })}\n`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`restore-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
