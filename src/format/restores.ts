import type { ObjectStore } from '../storage/store.js';
import { readJsonObject } from './json-object.js';
import { keys } from './layout.js';
import { readRestoreReport, type RestoreReport } from './restore-report.js';
import { restoreStateSchema, type RestoreState } from './restore-state.js';

/* The restores of a backup (`{backup_id}/restores/`): each one's state and, once finished, its report. */

/** One restore of a backup as stored: its state (with the exact offset map) and, once finished, its report. */
export interface StoredRestore {
  restoreId: string;
  state: RestoreState;
  report: RestoreReport | undefined;
}

/** Every restore of a backup that left a state, oldest first; states of another backup id are ignored. */
export async function listRestores(store: ObjectStore, backupId: string): Promise<StoredRestore[]> {
  const out: StoredRestore[] = [];
  for await (const m of store.list(keys.restoresPrefix(backupId))) {
    if (!m.key.endsWith('/state.json')) continue;
    const state = await readJsonObject(store, m.key, restoreStateSchema);
    if (!state || state.backup_id !== backupId) continue;
    out.push({ restoreId: state.restore_id, state, report: await readRestoreReport(store, backupId, state.restore_id) });
  }
  return out.sort((a, b) => a.state.started_at - b.state.started_at);
}
