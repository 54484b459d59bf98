import { z } from 'zod';
import type { ObjectStore } from '../storage/store.js';
import { readJsonObject, writeJsonObject } from './json-object.js';
import { keys } from './layout.js';

/*
  {backup_id}/consumer-groups/{taken_at_ms:015}.json — the committed offsets of every consumer group
  that had offsets on a backed-up topic, at one instant. A restore's offset phase translates the
  latest snapshot taken at or before its window end.
*/

const safeInt = z.number().int().refine(Number.isSafeInteger, 'must be a safe integer');

export const groupSnapshotSchema = z.strictObject({
  taken_at: safeInt,
  groups: z.array(
    z.strictObject({
      group_id: z.string(),
      /** topic → partition (as a string key) → committed offset. */
      offsets: z.record(z.string(), z.record(z.string(), safeInt)),
    }),
  ),
});

export type GroupSnapshot = z.infer<typeof groupSnapshotSchema>;

export interface StoredGroupSnapshot {
  key: string;
  snapshot: GroupSnapshot;
}

/** Stores a snapshot under its time; returns its key. */
export async function writeGroupSnapshot(store: ObjectStore, backupId: string, snap: GroupSnapshot): Promise<string> {
  const key = keys.groupSnapshot(backupId, snap.taken_at);
  await writeJsonObject(store, key, snap);
  return key;
}

/** Every consumer-group snapshot of a backup, oldest first. */
export async function listGroupSnapshots(store: ObjectStore, backupId: string): Promise<StoredGroupSnapshot[]> {
  const out: StoredGroupSnapshot[] = [];
  for await (const m of store.list(keys.groupsPrefix(backupId))) {
    if (!m.key.endsWith('.json')) continue;
    const snapshot = await readJsonObject(store, m.key, groupSnapshotSchema);
    if (snapshot) out.push({ key: m.key, snapshot });
  }
  return out.sort((a, b) => a.snapshot.taken_at - b.snapshot.taken_at);
}

/** How many snapshots a backup holds (lists keys only). */
export async function countGroupSnapshots(store: ObjectStore, backupId: string): Promise<number> {
  let n = 0;
  for await (const m of store.list(keys.groupsPrefix(backupId))) if (m.key.endsWith('.json')) n++;
  return n;
}

/** Where a backup's snapshots live, for messages. */
export function groupSnapshotsLocation(backupId: string): string {
  return `${keys.groupsPrefix(backupId)}*.json`;
}
