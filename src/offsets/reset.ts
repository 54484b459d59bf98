/**
 * A consumer-group offset reset for a restore config: the plan (plan.ts), then the same apply step
 * the offset commands use (apply.ts). `restore`'s offset phase and three-phase-restore call this.
 */
import { applyOffsetPlan } from './apply.js';
import { planGroupResets, type GroupResetOptions } from './plan.js';
import type { ResetReport } from './report.js';

export async function resetGroupOffsets(o: GroupResetOptions): Promise<ResetReport> {
  const plan = await planGroupResets(o);
  return applyOffsetPlan(plan, o.restore.target!, { dryRun: o.dryRun ?? false });
}
