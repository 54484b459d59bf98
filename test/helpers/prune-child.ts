/**
 * A prune run in its own process, so a test can SIGKILL it at a chosen point of its writes.
 *
 *   node --import tsx test/helpers/prune-child.ts '<json PruneChildConfig>'
 *
 * Runs runPrune --execute on the store the spec opens. With `stopAt`, when the prune reaches that
 * stage for the `stopAfter`-th time (default 1) it prints `STOPPED <stage> <detail>` and hangs until
 * killed; otherwise it prints the report as one JSON line and exits 0.
 */
import { runPrune } from '../../src/lifecycle/prune.js';
import type { PruneStage } from '../../src/backup/retention/prune-apply.js';
import type { RetentionPolicy } from '../../src/backup/retention/retention-policy.js';
import { openStore } from '../../src/storage/index.js';
import type { StorageSpec } from '../../src/storage/spec.js';

export interface PruneChildConfig {
  spec: StorageSpec;
  backupId: string;
  policy: RetentionPolicy;
  stopAt?: PruneStage;
  stopAfter?: number;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as PruneChildConfig;
  const store = await openStore(cfg.spec);
  let seen = 0;
  const report = await runPrune({
    store,
    backupId: cfg.backupId,
    policy: cfg.policy,
    execute: true,
    hooks: {
      onStage: async (stage, detail) => {
        if (stage !== cfg.stopAt || ++seen < (cfg.stopAfter ?? 1)) return;
        process.stdout.write(`STOPPED ${stage} ${detail}\n`);
        await new Promise(() => setInterval(() => {}, 60_000)); // hang (the timer keeps the process alive) until SIGKILL
      },
    },
  });
  process.stdout.write(JSON.stringify(report) + '\n');
  await store.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`prune-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
