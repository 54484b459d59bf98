import { setFlagsFromString } from 'node:v8';

/**
 * The backup's garbage collection without incremental marking. A backup allocates about two bytes of
 * buffers per byte it fetches (node's socket reads, then the copy of each partition's records), so V8
 * collects every few tens of MB and, with incremental marking, is marking most of the time: write
 * barriers on, marking steps on the one JavaScript thread. Atomic collections of the backup's small heap
 * took 10-14 % off a 2 GB backup's time and 15 % off its CPU, at 5-25 MB more peak RSS. A full restore
 * used 1.4-2.7 CPU s more with it, so only the backup sets it (docs/performance.md, round five).
 * A node started with an incremental-marking flag of its own keeps it. Returns whether it was set.
 */
export function backupGcTuning(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => /incremental[-_]marking/.test(a))) return false;
  setFlagsFromString('--no-incremental-marking');
  return true;
}
