/**
 * Compare-and-swap writes of one key in a tight loop, until killed: a test SIGKILLs it at a random
 * moment and checks that the next writer is not stuck behind a lock the dead process left.
 *
 *   node --import tsx test/helpers/cas-child.ts <dir> <key>
 */
import { FsStore } from '../../src/storage/fs.js';
import { PreconditionFailedError } from '../../src/util/errors.js';

async function main(): Promise<void> {
  const [dir, key] = process.argv.slice(2);
  if (!dir || !key) throw new Error('usage: cas-child.ts <dir> <key>');
  const store = new FsStore(dir);
  process.stdout.write('ready\n');
  for (let i = 0; ; i++) {
    const cur = await store.getVersioned(key);
    await store.putIfMatch(key, Buffer.from(`${process.pid}-${i}`), cur?.version ?? null).catch((err: unknown) => {
      if (!(err instanceof PreconditionFailedError)) throw err;
    });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`cas-child: ${(err as Error).message}\n`);
  process.exit(1);
});
