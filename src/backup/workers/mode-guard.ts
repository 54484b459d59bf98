import { writeJsonObject } from '../../format/json-object.js';
import { leaseKey, liveLeaseHolder } from '../lease.js';
import type { ObjectStore } from '../../storage/store.js';
import { UserError } from '../../util/errors.js';
import { readWorkerStatuses, type WorkerStatus } from './status.js';

/*
  A backup id is written either by one process under the lease (lease.ts) or by distributed workers
  (backup.workers), never by both. Each side first makes itself visible, then looks for the other:
  the single process takes the lease, then reads the workers' reports; a worker stores its report,
  then reads the lease. With the store's read-after-write consistency at least one of two processes
  starting at the same instant sees the other and refuses (both may, in an exact tie: run again).
*/

/** A report written before live_until existed counts as running this long after its updated_at. */
const LEGACY_LIVE_MS = 120_000;

const iso = (ms: number): string => new Date(ms).toISOString();

/** How long a worker's report says it is running: two sync intervals and a session timeout past its write. */
export function liveUntil(updatedAt: number, syncIntervalMs: number, sessionTimeoutMs: number): number {
  return updatedAt + 2 * syncIntervalMs + sessionTimeoutMs;
}

export const reportLiveUntil = (w: WorkerStatus): number => w.live_until ?? w.updated_at + LEGACY_LIVE_MS;

/** Worker reports of `backupId` still live at `now`. */
export async function liveWorkers(store: ObjectStore, backupId: string, now = Date.now()): Promise<WorkerStatus[]> {
  return (await readWorkerStatuses(store, backupId)).filter((w) => reportLiveUntil(w) > now);
}

/** A single-process run (holding the lease) refuses to write while workers of the same backup id run. */
export async function refuseIfWorkersLive(store: ObjectStore, backupId: string): Promise<void> {
  const live = await liveWorkers(store, backupId);
  if (live.length === 0) return;
  const who = live.map((w) => `host ${w.host} pid ${w.pid} (last report ${iso(w.updated_at)}, counts as running until ${iso(reportLiveUntil(w))})`).join(', ');
  const groups = [...new Set(live.map((w) => w.group_id))].join('", "');
  throw new UserError(
    'MODE_CONFLICT',
    `backup "${backupId}" is being written by ${live.length} distributed worker(s) of backup.workers group "${groups}": ${who}. ` +
      `A single-process backup must not write it at the same time: stop the workers (SIGTERM) and run again, or add the same backup.workers section to this config to join them. ` +
      `A worker killed without stopping counts as running until its report's time (or delete its report under ${backupId}/workers/ once it is surely gone)`,
    { backupId, workers: live.map((w) => ({ host: w.host, pid: w.pid })) },
  );
}

/** A worker refuses to write while a single-process backup holds the backup id's lease. */
export async function refuseIfLeaseHeld(store: ObjectStore, backupId: string): Promise<void> {
  const holder = await liveLeaseHolder(store, backupId);
  if (!holder) return;
  throw new UserError(
    'MODE_CONFLICT',
    `backup "${backupId}" is being written by a single-process backup: host ${holder.host}, pid ${holder.pid}, since ${iso(holder.acquired_at)} (lease ${leaseKey(backupId)}, expires ${iso(holder.expires_at)}). ` +
      `A worker (backup.workers) must not write it at the same time: stop that process (SIGTERM) and start the workers again. ` +
      `If it is gone, its lease goes stale at ${iso(holder.expires_at)}`,
    { backupId, holder: { host: holder.host, pid: holder.pid } },
  );
}

/**
 * A worker's first write: its report at `key` (it now counts as running), then the lease check. Refused,
 * it deletes the report again; nothing else was written.
 */
export async function announceWorker(store: ObjectStore, backupId: string, key: string, report: WorkerStatus): Promise<void> {
  await writeJsonObject(store, key, report);
  try {
    await refuseIfLeaseHeld(store, backupId);
  } catch (err) {
    await store.delete(key).catch(() => {});
    throw err;
  }
}
