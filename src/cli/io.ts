/** What every command does around its engine call: print, stop on a signal, open and close a store. */
import { openStore, parseStorageUrl } from '../storage/index.js';
import type { ObjectStore } from '../storage/store.js';
import type { StorageSpec } from '../storage/spec.js';
import { logger } from '../util/logger.js';

export function print(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : s + '\n');
}

/** Ctrl-C / SIGTERM: stop cleanly (flush what is complete); a second Ctrl-C exits at once. */
export function stopSignal(): AbortController {
  const ac = new AbortController();
  let count = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    count++;
    if (count > 1) process.exit(130);
    logger().warn(`${sig} received: finishing the current segment and stopping (Ctrl-C again to exit at once)`);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return ac;
}

/** Opens the store (a --path URL or a config's storage section), runs `fn`, and closes it. */
export async function withStore<T>(where: string | StorageSpec, fn: (store: ObjectStore) => Promise<T>): Promise<T> {
  const store = await openStore(typeof where === 'string' ? parseStorageUrl(where) : where);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
