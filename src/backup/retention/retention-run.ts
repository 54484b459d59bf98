/**
 * backup.retention: a continuous backup prunes itself at every sync, under its own writer lease,
 * with the same rules and write order as `kafka-backup prune` (retention-policy.ts,
 * prune-apply.ts). The partition workers own their indexes; they rewrite them (IndexHandle.drop),
 * so an index is never written by two hands at once. The run's next manifest write pins the
 * rewritten indexes, as after any index write.
 */
import type { PartitionIndex, SegmentEntry } from '../../format/partition-index.js';
import { readPrunedLog } from '../../format/pruned.js';
import type { ObjectStore } from '../../storage/store.js';
import { logger } from '../../util/logger.js';
import {
  deleteObjects,
  findOrphans,
  oldestKeptTime,
  partitionKey,
  recordAndUnindex,
  staleGroupSnapshots,
  unfinishedOf,
  type IndexHandle,
} from './prune-apply.js';
import { decideRetention, type RetentionPolicy } from './retention-policy.js';

const log = logger('retention');

export interface RetentionPass {
  segments: number;
  storedBytes: number;
  groupSnapshots: number;
}

/** What a backup's partition worker offers retention: its live index and a way to drop the oldest segments. */
export interface RetentionWorker {
  readonly progress: { topic: string; partition: number };
  readonly index: PartitionIndex | undefined;
  dropOldest(removed: readonly SegmentEntry[]): Promise<void>;
}

/** Handles on the workers that have read their index (the others have nothing to prune yet). */
export function retentionHandles(workers: readonly RetentionWorker[]): IndexHandle[] {
  return workers
    .filter((w) => w.index !== undefined)
    .map((w) => ({
      topic: w.progress.topic,
      partition: w.progress.partition,
      get index(): PartitionIndex {
        return w.index!;
      },
      drop: (removed: readonly SegmentEntry[]) => w.dropOldest(removed),
    }));
}

/** One retention pass over the partitions a running backup holds. */
export async function applyBackupRetention(
  store: ObjectStore,
  backupId: string,
  policy: RetentionPolicy,
  handles: readonly IndexHandle[],
  now = Date.now(),
): Promise<RetentionPass> {
  const pruned = await readPrunedLog(store, backupId);
  // What an earlier pass recorded but did not unindex (it was stopped): finish it first.
  const finished: string[] = [];
  for (const h of handles) {
    const unfinished = unfinishedOf(pruned, h.topic, h.partition, h.index);
    if (unfinished.length === 0) continue;
    await h.drop(unfinished);
    finished.push(...unfinished.map((s) => s.key));
  }
  const orphans = await findOrphans(store, backupId, handles, pruned);
  const decision = decideRetention(
    handles.map((h) => ({ topic: h.topic, partition: h.partition, segments: [...h.index.segments] })),
    policy,
    now,
  );
  const byKey = new Map(handles.map((h) => [partitionKey(h.topic, h.partition), h]));
  const unindexed = await recordAndUnindex(store, backupId, decision.partitions, byKey, 'backup');
  await deleteObjects(store, [...finished, ...unindexed, ...orphans]);
  let groups: string[] = [];
  const cutoff = oldestKeptTime(handles.map((h) => h.index));
  if (cutoff !== null && (pruned.ranges.length > 0 || unindexed.length > 0)) {
    groups = await staleGroupSnapshots(store, backupId, cutoff);
    for (const k of groups) await store.delete(k);
  }
  const bytes = decision.bytesBefore - decision.bytesAfter;
  if (unindexed.length)
    log.info({ segments: unindexed.length, storedBytes: bytes, groupSnapshots: groups.length }, 'backup.retention: pruned the oldest segments');
  if (decision.overBudget) log.warn(`backup.retention: ${decision.overBudget}`);
  return { segments: unindexed.length, storedBytes: bytes, groupSnapshots: groups.length };
}
