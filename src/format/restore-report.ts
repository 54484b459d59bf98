import { z } from 'zod';
import type { ObjectStore } from '../storage/store.js';
import { readJsonObject } from './json-object.js';
import { keys } from './layout.js';
import { offsetRunSchema } from './restore-state.js';

/*
  {backup_id}/restores/{restore_id}/report.json — written once when a restore finishes: what it
  restored (window, counts, per target partition) and its whole offset map. Read by the offset
  commands (the restore's window picks the group snapshot) and by `validation run` (what the
  target should hold). Unknown fields are ignored so that a newer writer's report stays readable.
*/

const int = z.number().int().refine(Number.isSafeInteger);

export const restoredPartitionSchema = z.object({
  sourceTopic: z.string(),
  sourcePartitions: z.array(int),
  targetTopic: z.string(),
  targetPartition: int,
  restored: int,
});

export const restoreReportSchema = z.object({
  restore_id: z.string(),
  backup_id: z.string(),
  source_cluster_id: z.string().nullable().optional(),
  time_window_start: int.nullable(),
  time_window_end: int.nullable(),
  records_restored: int,
  records_skipped_outside_window: int,
  records_skipped_aborted: int,
  bytes_read: int,
  duration_ms: int,
  partitions: z.array(restoredPartitionSchema),
  offset_map: z.array(offsetRunSchema),
});

export type RestoreReport = z.infer<typeof restoreReportSchema>;
export type RestoredPartition = z.infer<typeof restoredPartitionSchema>;

export async function readRestoreReport(store: ObjectStore, backupId: string, restoreId: string): Promise<RestoreReport | undefined> {
  return readJsonObject(store, keys.restoreReport(backupId, restoreId), restoreReportSchema);
}
