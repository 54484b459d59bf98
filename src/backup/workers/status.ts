import { z } from 'zod';
import { readJsonObject } from '../../format/json-object.js';
import type { ObjectStore } from '../../storage/store.js';

/*
  {backup_id}/workers/{member_id}.json — what one distributed worker owns, rewritten every sync
  interval and deleted when it leaves cleanly. `status` lists them; a worker killed without
  leaving keeps its last file, recognisable by its old `updated_at`; it counts as a running worker
  until its `live_until` (mode-guard.ts).
*/

export const workerStatusSchema = z.strictObject({
  member_id: z.string(),
  group_id: z.string(),
  group_generation: z.number().int(),
  host: z.string(),
  pid: z.number().int(),
  started_at: z.number().int(),
  updated_at: z.number().int(),
  /**
   * Until when this report says the worker is running: updated_at + 2 sync intervals + the session
   * timeout. A single-process backup of the same id is refused while a report is live (mode-guard.ts).
   */
  live_until: z.number().int().optional(),
  /** Records backed up per second by this worker over its last sync interval. */
  records_per_second: z.number(),
  partitions: z.array(
    z.strictObject({
      topic: z.string(),
      partition: z.number().int(),
      epoch: z.number().int(),
      position: z.number().int(),
      target: z.number().int().nullable(),
      records: z.number().int(),
      done: z.boolean(),
    }),
  ),
});

export type WorkerStatus = z.infer<typeof workerStatusSchema>;

export const workersPrefix = (backupId: string): string => `${backupId}/workers/`;
/** Member ids are Kafka's (client id, '-', a UUID); anything outside [A-Za-z0-9._-] is replaced. */
export const workerStatusKey = (backupId: string, memberId: string): string => `${workersPrefix(backupId)}${memberId.replace(/[^A-Za-z0-9._-]/g, '_')}.json`;

/** Every worker status object of a backup (an unreadable one is skipped: it is advisory, not backup data). */
export async function readWorkerStatuses(store: ObjectStore, backupId: string): Promise<WorkerStatus[]> {
  const out: WorkerStatus[] = [];
  for await (const m of store.list(workersPrefix(backupId))) {
    if (!m.key.endsWith('.json')) continue;
    const s = await readJsonObject(store, m.key, workerStatusSchema).catch(() => undefined);
    if (s) out.push(s);
  }
  return out.sort((a, b) => a.host.localeCompare(b.host) || a.pid - b.pid);
}
