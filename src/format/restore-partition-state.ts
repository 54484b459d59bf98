import { z } from 'zod';
import { CorruptDataError } from '../util/errors.js';
import { targetPartitionStateSchema } from './restore-state.js';

/*
  {backup_id}/restores/{restore_id}/partitions/{target_topic}/{partition}.json — one target
  partition's progress in a distributed restore (restore.workers), written only by
  compare-and-swap (ObjectStore.putIfMatch) by the worker that owns the partition:
    owner     who writes it now (null once released on a rebalance); `epoch` rises at each
              takeover, so every later write of a former owner names a replaced version and is
              refused by the store;
    state     the same per-partition progress and exact offset map as state.json's partitions;
    done      the partition's whole sequence is on the target and in `state`.
  The restore's state.json then holds only each partition's initial end offset (created once,
  by whichever worker prepares the target first) until the last worker merges these into it.
  {backup_id}/restores/{restore_id}/finisher.json is created once (If-None-Match) by the worker
  that runs the finish (report, consumer-group offset phase).
*/

const int = z.number().int().refine(Number.isSafeInteger);

export const partitionOwnerSchema = z.strictObject({
  epoch: int,
  member_id: z.string(),
  group_generation: int,
  host: z.string(),
  pid: int,
  since: int,
});

export const restorePartitionStateSchema = z.strictObject({
  format_version: z.literal(1),
  restore_id: z.string(),
  target_topic: z.string(),
  target_partition: int,
  /** Highest epoch ever taken; kept when the owner releases the partition. */
  epoch: int,
  owner: partitionOwnerSchema.nullable(),
  done: z.boolean(),
  updated_at: int,
  state: targetPartitionStateSchema,
});

export type RestorePartitionState = z.infer<typeof restorePartitionStateSchema>;
export type PartitionOwner = z.infer<typeof partitionOwnerSchema>;

export const finisherSchema = z.strictObject({ member_id: z.string(), host: z.string(), pid: int, at: int });

export function encodeJson(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v, null, 2) + '\n', 'utf8');
}

/** Parses a stored partition state; throws with the key on damage. */
export function parseRestorePartitionState(key: string, data: Buffer): RestorePartitionState {
  let raw: unknown;
  try {
    raw = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new CorruptDataError(`${key}: not valid JSON (${(err as Error).message})`, key);
  }
  const r = restorePartitionStateSchema.safeParse(raw);
  if (!r.success) throw new CorruptDataError(`${key}: ${r.error.issues[0]?.message ?? 'invalid content'}`, key);
  return r.data;
}
