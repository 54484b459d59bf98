/**
 * validate-restore (and `restore` with dry_run): the plan, its record count, the target checks
 * and the consumer-group reset preview; nothing is written anywhere.
 */
import { previewReset, type ResetPreview } from '../offsets/plan.js';
import { checkTarget, countExactly, planRestore, refineWithFooters, type RestoreOptions, type RestorePlan } from '../restore/index.js';
import type { ResetRequest } from './reset-request.js';

export interface RestoreValidation {
  plan: RestorePlan;
  errors: string[];
  warnings: string[];
  /** What the reset after the restore will do (undefined when none is asked for or the plan failed). */
  reset: ResetPreview | undefined;
}

export async function validateRestore(opts: RestoreOptions, reset: ResetRequest, estimate = false): Promise<RestoreValidation> {
  const plan = await planRestore(opts);
  // Exact by default: index and footers for what lies wholly inside the window, decoding only the blocks it cuts.
  if (plan.errors.length === 0) {
    if (estimate) await refineWithFooters(plan, opts.store);
    else await countExactly(plan, opts.store);
  }
  const errors = [...plan.errors];
  const warnings = [...plan.warnings];
  await checkTarget(opts, plan, errors, warnings);
  const preview = plan.errors.length === 0 && reset.asked ? await previewReset({ restore: opts, ...reset }, plan) : undefined;
  if (preview?.problems.length) errors.push(...preview.problems.map((p) => `restore.reset_consumer_offsets: the consumer-group reset cannot work: ${p}`));
  return { plan, errors, warnings, reset: preview };
}
