import { z } from 'zod';
import { readJsonObject, writeJsonObject } from '../format/json-object.js';
import { keys } from '../format/layout.js';
import type { ObjectStore } from '../storage/store.js';

/*
  {backup_id}/restores/{restore_id}/three-phase.json — which phases of a three-phase-restore are
  done, so that a re-run after a failure starts at the phase that failed.
*/

const phaseSchema = z.strictObject({
  status: z.enum(['pending', 'done', 'failed']),
  finished_at: z.number().int().nullable(),
  error: z.string().nullable(),
  summary: z.string().nullable(),
});

export const threePhaseStateSchema = z.strictObject({
  format_version: z.literal(1),
  restore_id: z.string(),
  phases: z.strictObject({ restore: phaseSchema, mapping: phaseSchema, reset: phaseSchema }),
});

export type ThreePhaseState = z.infer<typeof threePhaseStateSchema>;
export type PhaseName = keyof ThreePhaseState['phases'];

const pending = (): ThreePhaseState['phases']['restore'] => ({ status: 'pending', finished_at: null, error: null, summary: null });

/** The stored progress of this restore's three-phase run, or a fresh one. */
export async function loadThreePhaseState(store: ObjectStore, backupId: string, restoreId: string): Promise<ThreePhaseState> {
  const stored = await readJsonObject(store, keys.threePhase(backupId, restoreId), threePhaseStateSchema);
  return stored ?? { format_version: 1, restore_id: restoreId, phases: { restore: pending(), mapping: pending(), reset: pending() } };
}

export async function saveThreePhaseState(store: ObjectStore, backupId: string, state: ThreePhaseState): Promise<void> {
  await writeJsonObject(store, keys.threePhase(backupId, state.restore_id), state);
}
