/**
 * Runs `work` over a queue with at most `limit` items in flight. The queue may grow while
 * running (call the `kick` handed to `onKick` after pushing). Without a `keepAlive` signal the
 * pool ends when the queue is drained; with one, it waits for more work until the signal aborts.
 * The first failure stops new work and is rethrown once running items settle.
 */
export async function runPool<T>(
  queue: T[],
  limit: number,
  work: (item: T) => Promise<void>,
  onKick?: (kick: () => void) => void,
  keepAlive?: AbortSignal,
): Promise<void> {
  let running = 0;
  let failure: unknown;
  let failed = false;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (!failed && running < limit && queue.length > 0) {
        const item = queue.shift() as T;
        running++;
        work(item).then(
          () => {
            running--;
            pump();
          },
          (err: unknown) => {
            running--;
            if (!failed) {
              failed = true;
              failure = err;
            }
            pump();
          },
        );
      }
      const waiting = keepAlive && !keepAlive.aborted && !failed;
      if (running === 0 && (queue.length === 0 || failed) && !waiting) resolve();
    };
    onKick?.(pump);
    keepAlive?.addEventListener('abort', pump, { once: true });
    pump();
  });
  if (failed) throw failure;
}
