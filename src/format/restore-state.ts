import { z } from 'zod';
import type { ObjectStore } from '../storage/store.js';
import { readJsonObject } from './json-object.js';
import { keys } from './layout.js';

/*
  {backup_id}/restores/{restore_id}/state.json — progress of one restore, rewritten at each
  checkpoint. Per target partition: its end offset before we wrote anything, how many records
  we have written (acknowledged), and the exact offset map of those records.
*/

const int = z.number().int().refine(Number.isSafeInteger);

export const offsetRunSchema = z.strictObject({
  source_topic: z.string(),
  source_partition: int,
  source: int,
  target: int,
  count: int,
});

export const targetPartitionStateSchema = z.strictObject({
  initial_end_offset: int,
  produced: int,
  runs: z.array(offsetRunSchema),
});

export type TargetPartitionState = z.infer<typeof targetPartitionStateSchema>;
/** `count` consecutive source offsets from `source` became `count` consecutive target offsets from `target`. */
export type OffsetRun = z.infer<typeof offsetRunSchema>;

export const restoreStateSchema = z.strictObject({
  format_version: z.literal(1),
  restore_id: z.string(),
  backup_id: z.string(),
  started_at: int,
  updated_at: int,
  completed_at: int.nullable(),
  partitions: z.record(z.string(), targetPartitionStateSchema),
  /** Set when distributed workers (restore.workers) created it: a single-process run must not resume it. */
  workers: z.strictObject({ group_id: z.string() }).optional(),
});

export type RestoreState = z.infer<typeof restoreStateSchema>;

/** A restore's state before anything is produced; `workersGroup` when distributed workers create it. */
export function newRestoreState(restoreId: string, backupId: string, startedAt: number, workersGroup?: string): RestoreState {
  return {
    format_version: 1,
    restore_id: restoreId,
    backup_id: backupId,
    started_at: startedAt,
    updated_at: startedAt,
    completed_at: null,
    partitions: {},
    ...(workersGroup !== undefined ? { workers: { group_id: workersGroup } } : {}),
  };
}

export async function readRestoreState(store: ObjectStore, backupId: string, restoreId: string): Promise<RestoreState | undefined> {
  return readJsonObject(store, keys.restoreState(backupId, restoreId), restoreStateSchema);
}
