/**
 * three-phase-restore:
 *   phase 1  restore (offset headers always on, so header-based translation stays possible);
 *   phase 2  build the mapping: translate the groups' committed offsets with the restore's stored
 *            offset map (plan only, nothing committed);
 *   phase 3  reset the groups on the target (commit), with the configured technique.
 * A re-run after a failure starts at the phase that failed (phase 1 itself resumes exactly).
 */
import { loadRestoreState } from '../offsets/plan.js';
import { refusedGroups, type ResetReport } from '../offsets/report.js';
import { resetGroupOffsets } from '../offsets/reset.js';
import { restoreIdFor, runRestore, type RestoreOptions, type RestoreResult } from '../restore/index.js';
import { UserError } from '../util/errors.js';
import { formatCount } from '../util/units.js';
import type { ResetRequest } from './reset-request.js';
import { loadThreePhaseState, saveThreePhaseState, type PhaseName, type ThreePhaseState } from './three-phase-state.js';

/** Progress as it happens, for the caller to print. */
export type PhaseEvent =
  | { kind: 'skipped'; n: number; title: string; summary: string }
  | { kind: 'started'; n: number; title: string }
  | { kind: 'restored'; result: RestoreResult }
  | { kind: 'planned' | 'reset'; report: ResetReport }
  | { kind: 'done'; n: number; summary: string };

export interface ThreePhaseResult {
  restoreId: string;
  /** The first phase this run executed when earlier ones were already done (null: from the start). */
  resumedAtPhase: number | null;
  restore?: RestoreResult;
  mapping?: ResetReport;
  reset?: ResetReport;
  phases: ThreePhaseState['phases'];
}

export async function threePhaseRestore(
  restoreOpts: RestoreOptions,
  req: ResetRequest,
  onEvent: (e: PhaseEvent) => void = () => {},
): Promise<ThreePhaseResult> {
  const opts = { ...restoreOpts, includeOriginalOffsetHeader: true };
  if (opts.dryRun) throw new UserError('CONFIG', 'three-phase-restore does not take restore.dry_run: true (use validate-restore)');
  if (opts.workers)
    throw new UserError(
      'CONFIG',
      'three-phase-restore does not take restore.workers.group_id (run `restore` with workers, then `offset-reset`, or one process)',
    );
  const restoreId = restoreIdFor(opts);
  const state = await loadThreePhaseState(opts.store, opts.backupId, restoreId);
  const out: ThreePhaseResult = { restoreId, resumedAtPhase: null, phases: state.phases };
  const run = async (name: PhaseName, n: number, title: string, fn: () => Promise<string>): Promise<void> => {
    const ph = state.phases[name];
    if (ph.status === 'done') return onEvent({ kind: 'skipped', n, title, summary: ph.summary ?? '' });
    if (out.resumedAtPhase === null && n > 1) out.resumedAtPhase = n;
    onEvent({ kind: 'started', n, title });
    try {
      ph.summary = await fn();
      ph.status = 'done';
      ph.error = null;
    } catch (err) {
      ph.status = 'failed';
      ph.error = (err as Error).message;
      throw err;
    } finally {
      ph.finished_at = Date.now();
      await saveThreePhaseState(opts.store, opts.backupId, state);
    }
    onEvent({ kind: 'done', n, summary: ph.summary });
  };
  const reset = { restore: opts, strategy: req.strategy, groups: req.groups, manualOffsets: req.manualOffsets };

  await run('restore', 1, 'Restoring data with offset headers', async () => {
    const res = await runRestore(opts);
    out.restore = res;
    onEvent({ kind: 'restored', result: res });
    return `${formatCount(res.restored)} records restored${res.resumed ? ' (resumed)' : ''}`;
  });
  await run('mapping', 2, 'Building the consumer-group offset mapping', async () => {
    const rs = await loadRestoreState(opts);
    if (!rs || rs.completed_at === null) throw new UserError('RESTORE_INCOMPLETE', 'the restore has not completed; run the command again to finish it');
    const runs = Object.values(rs.partitions).reduce((n, p) => n + p.runs.length, 0);
    const plan = await resetGroupOffsets({ ...reset, dryRun: true });
    out.mapping = plan;
    onEvent({ kind: 'planned', report: plan });
    return `offset map of ${Object.keys(rs.partitions).length} target partitions (${runs} runs); ${plan.groups.filter((g) => g.status === 'planned').length} group(s) to reset`;
  });
  await run('reset', 3, 'Resetting consumer-group offsets', async () => {
    const rep = await resetGroupOffsets(reset);
    out.reset = rep;
    onEvent({ kind: 'reset', report: rep });
    const refused = refusedGroups(rep);
    if (refused.length) throw new UserError('GROUP_ACTIVE', refused.map((g) => g.reason).join('; '));
    return `${rep.groups.filter((g) => g.status === 'reset').length} group(s) reset`;
  });
  return out;
}
