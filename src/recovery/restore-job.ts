/**
 * `restore`: the data, then (when asked) the consumer groups' offsets. A reset that cannot work
 * stops the job before any data is written; a reset that fails after the data is reported, not
 * thrown, because the restore itself succeeded.
 */
import { previewReset } from '../offsets/plan.js';
import { refusedGroups, type ResetReport } from '../offsets/report.js';
import { resetGroupOffsets } from '../offsets/reset.js';
import { planRestore, runRestore, type RestoreOptions, type RestoreResult } from '../restore/index.js';
import { UserError } from '../util/errors.js';
import type { ResetRequest } from './reset-request.js';

export interface OffsetsOutcome {
  report?: ResetReport;
  error?: string;
}

export interface RestoreJobResult {
  restore: RestoreResult;
  /** Undefined when no reset was asked for, or the restore was interrupted. */
  offsets: OffsetsOutcome | undefined;
}

async function refuseImpossibleReset(opts: RestoreOptions, reset: ResetRequest): Promise<void> {
  if (!reset.asked) return;
  const plan = await planRestore(opts);
  if (plan.errors.length) return; // the restore itself reports these
  const p = await previewReset({ restore: opts, ...reset }, plan);
  if (p.problems.length)
    throw new UserError(
      'CONFIG',
      `restore.reset_consumer_offsets: the consumer-group reset after this restore cannot work, nothing was written: ${p.problems.join('; ')}`,
    );
}

async function offsetsAfterRestore(opts: RestoreOptions, reset: ResetRequest): Promise<OffsetsOutcome | undefined> {
  if (!reset.asked) return undefined;
  try {
    return { report: await resetGroupOffsets({ restore: opts, strategy: reset.strategy, groups: reset.groups, manualOffsets: reset.manualOffsets }) };
  } catch (err) {
    return { error: `consumer-group offset reset failed: ${(err as Error).message}` };
  }
}

export async function restoreJob(opts: RestoreOptions, reset: ResetRequest): Promise<RestoreJobResult> {
  await refuseImpossibleReset(opts, reset);
  const restore = await runRestore(opts);
  const offsets = opts.signal?.aborted ? undefined : await offsetsAfterRestore(opts, reset);
  return { restore, offsets };
}

/** Refused groups and failures of the offset phase, as error lines (the exit status is 1 when there is one). */
export function offsetErrors(o: OffsetsOutcome | undefined): string[] {
  if (!o) return [];
  if (o.error) return [o.error];
  return o.report ? refusedGroups(o.report).map((g) => `consumer group not reset: ${g.reason}`) : [];
}
