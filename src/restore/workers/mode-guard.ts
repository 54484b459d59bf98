import { keys } from '../../format/layout.js';
import { encodeJson } from '../../format/restore-partition-state.js';
import { restoreStateSchema, type RestoreState } from '../../format/restore-state.js';
import type { ObjectStore } from '../../storage/store.js';
import { PreconditionFailedError, StorageError, UserError } from '../../util/errors.js';

/*
  One restore id is run either by one process or by distributed workers (restore.workers), never both.
  The restore's state.json says which: the workers create it with `workers: {group_id}` (restores from
  before that marker are recognised by their per-partition states), a single process without. Both
  create it once (If-None-Match), so of two starting together exactly one creates it and the other,
  reading the winner's, refuses before it produces anything.
*/

const iso = (ms: number): string => new Date(ms).toISOString();

/** True when distributed workers run (or ran) this restore. */
export async function startedByWorkers(store: ObjectStore, backupId: string, restoreId: string, state: RestoreState): Promise<boolean> {
  if (state.workers) return true;
  for await (const _ of store.list(`${keys.restorePrefix(backupId, restoreId)}partitions/`)) return true;
  return false;
}

function workersStateError(backupId: string, restoreId: string, state: RestoreState): UserError {
  const group = state.workers ? ` group "${state.workers.group_id}"` : '';
  return new UserError(
    'MODE_CONFLICT',
    `restore "${restoreId}" of backup "${backupId}" is a distributed restore (restore.workers${group}, started ${iso(state.started_at)}) and is not finished: ` +
      `a single-process run must not resume its state (${keys.restoreState(backupId, restoreId)}). Run it with the same restore.workers section ` +
      `(any number of workers resume each partition where it stopped), or delete ${keys.restorePrefix(backupId, restoreId)} to restore again from the start`,
    { backupId, restoreId },
  );
}

function singleStateError(backupId: string, restoreId: string, state: RestoreState): UserError {
  const how = state.completed_at === null ? `not finished (last checkpoint ${iso(state.updated_at)})` : `finished ${iso(state.completed_at)}`;
  return new UserError(
    'MODE_CONFLICT',
    `restore "${restoreId}" of backup "${backupId}" was started by a single process (no restore.workers) and is ${how}: ` +
      `restore workers must not take over its state (${keys.restoreState(backupId, restoreId)}). Finish it with one process (remove restore.workers), ` +
      `or delete ${keys.restorePrefix(backupId, restoreId)} to restore again from the start`,
    { backupId, restoreId },
  );
}

/** Single process: refuses to resume a state the workers created and have not finished. */
export async function refuseWorkersState(store: ObjectStore, backupId: string, restoreId: string, previous: RestoreState | undefined): Promise<void> {
  if (previous && previous.completed_at === null && (await startedByWorkers(store, backupId, restoreId, previous)))
    throw workersStateError(backupId, restoreId, previous);
}

/** Workers: refuse to take over a state a single process created. */
export async function refuseSingleProcessState(store: ObjectStore, backupId: string, restoreId: string, existing: RestoreState): Promise<void> {
  if (!(await startedByWorkers(store, backupId, restoreId, existing))) throw singleStateError(backupId, restoreId, existing);
}

/**
 * Single process, new restore: creates state.json once. Losing the create to workers that started at the
 * same instant refuses this run. A store that refuses writes is left to the state store (restore.checkpoint_state).
 */
export async function createSingleProcessState(store: ObjectStore, backupId: string, restoreId: string, state: RestoreState): Promise<void> {
  const key = keys.restoreState(backupId, restoreId);
  try {
    await store.putIfMatch(key, encodeJson(state), null);
  } catch (err) {
    if (err instanceof StorageError && (err.code === 'ACCESS_DENIED' || err.code === 'READ_ONLY')) return;
    if (!(err instanceof PreconditionFailedError)) throw err;
    const cur = await store.getVersioned(key);
    const other = cur ? restoreStateSchema.parse(JSON.parse(cur.data.toString('utf8'))) : undefined;
    if (other && (await startedByWorkers(store, backupId, restoreId, other))) throw workersStateError(backupId, restoreId, other);
    throw new UserError(
      'MODE_CONFLICT',
      `restore "${restoreId}" of backup "${backupId}": another process created its state (${key}) at the same moment; only one process may run a restore: run again to resume it`,
      { backupId, restoreId },
    );
  }
}
