import { z } from 'zod';

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

export const restoreStateSchema = z.strictObject({
  format_version: z.literal(1),
  restore_id: z.string(),
  backup_id: z.string(),
  started_at: int,
  updated_at: int,
  completed_at: int.nullable(),
  partitions: z.record(z.string(), targetPartitionStateSchema),
});

export type RestoreState = z.infer<typeof restoreStateSchema>;
