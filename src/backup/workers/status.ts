import { z } from 'zod';

/*
  {backup_id}/workers/{member_id}.json — what one distributed worker owns, rewritten every sync
  interval and deleted when it leaves cleanly. `status` lists them; a worker killed without
  leaving keeps its last file, recognisable by its old `updated_at`.
*/

export const workerStatusSchema = z.strictObject({
  member_id: z.string(),
  group_id: z.string(),
  group_generation: z.number().int(),
  host: z.string(),
  pid: z.number().int(),
  started_at: z.number().int(),
  updated_at: z.number().int(),
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
