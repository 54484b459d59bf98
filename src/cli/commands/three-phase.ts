/**
 * `kafka-backup three-phase-restore --config …`:
 *   phase 1  restore (offset headers always on, so header-based translation stays possible);
 *   phase 2  build the mapping: translate the groups' committed offsets with the restore's stored
 *            offset map (plan only, nothing committed);
 *   phase 3  reset the groups on the target (commit), with the configured technique.
 * Progress is stored in {backup_id}/restores/{restore_id}/three-phase.json; a re-run after a
 * failure starts at the phase that failed (phase 1 itself resumes exactly, see the restore engine).
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { loadConfig } from '../../config/index.js';
import { readJsonObject, writeJsonObject } from '../../format/json-object.js';
import { keys } from '../../format/layout.js';
import { loadRestoreState, refusedGroups, resetGroupOffsets } from '../../offsets/reset.js';
import { restoreIdFor, runRestore } from '../../restore/engine.js';
import { openStore } from '../../storage/index.js';
import { UserError } from '../../util/errors.js';
import { logger } from '../../util/logger.js';
import { restoreOptions } from '../config-mapping.js';
import { parseFormat, render, num } from '../output.js';
import { resetJson, resetRequest, resetText } from './offsets.js';
import { restoreJson, restoreText } from './restore.js';

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
type PhaseName = keyof ThreePhaseState['phases'];

export const threePhaseKey = (backupId: string, restoreId: string): string => `${keys.restorePrefix(backupId, restoreId)}three-phase.json`;

const pending = (): ThreePhaseState['phases']['restore'] => ({ status: 'pending', finished_at: null, error: null, summary: null });

export function registerThreePhaseRestore(program: Command): void {
  program
    .command('three-phase-restore')
    .description('Restore (with offset headers), build the consumer-group offset mapping, reset the groups; resumes at the failed phase')
    .requiredOption('-c, --config <path>', 'YAML config file with mode: restore')
    .option('-f, --format <format>', 'report format: text or json', 'text')
    .action(async (o: { config: string; format: string }) => {
      const format = parseFormat(o.format, ['text', 'json']);
      const out = (s: string): void => void process.stdout.write(s.endsWith('\n') ? s : s + '\n');
      const cfg = await loadConfig(o.config, { expectMode: 'restore', onWarning: (w) => logger().warn(w) });
      const store = await openStore(cfg.storage);
      try {
        const opts = { ...restoreOptions(cfg, store), includeOriginalOffsetHeader: true };
        if (opts.dryRun) throw new UserError('CONFIG', 'three-phase-restore does not take restore.dry_run: true (use validate-restore)');
        // skip (the default) means exact here: resetting the groups is this command's purpose.
        const req = resetRequest(cfg);
        const restoreId = restoreIdFor(opts);
        const key = threePhaseKey(cfg.backup_id, restoreId);
        const state: ThreePhaseState = (await readJsonObject(store, key, threePhaseStateSchema)) ?? { format_version: 1, restore_id: restoreId, phases: { restore: pending(), mapping: pending(), reset: pending() } };
        const json: Record<string, unknown> = { restore_id: restoreId, resumed_at_phase: null };
        const run = async (name: PhaseName, n: number, title: string, fn: () => Promise<string>): Promise<void> => {
          const ph = state.phases[name];
          if (ph.status === 'done') {
            if (format === 'text') out(`[PHASE ${n}/3] ${title}: already done (${ph.summary ?? ''}), skipped`);
            return;
          }
          if (json.resumed_at_phase === null && n > 1) json.resumed_at_phase = n;
          if (format === 'text') out(`[PHASE ${n}/3] ${title}`);
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
            await writeJsonObject(store, key, state);
          }
          if (format === 'text') out(`[PHASE ${n}/3] done: ${ph.summary}`);
        };

        await run('restore', 1, 'Restoring data with offset headers', async () => {
          const res = await runRestore(opts);
          if (format === 'text') out(restoreText(res));
          json.restore = restoreJson(res);
          return `${num(res.restored)} records restored${res.resumed ? ' (resumed)' : ''}`;
        });
        await run('mapping', 2, 'Building the consumer-group offset mapping', async () => {
          const rs = await loadRestoreState(opts);
          if (!rs || rs.completed_at === null) throw new UserError('RESTORE_INCOMPLETE', 'the restore has not completed; run the command again to finish it');
          const runs = Object.values(rs.partitions).reduce((n, p) => n + p.runs.length, 0);
          const plan = await resetGroupOffsets({ restore: opts, strategy: req.strategy, groups: req.groups, manualOffsets: req.manualOffsets, dryRun: true });
          if (format === 'text') out(resetText(plan));
          json.mapping = resetJson(plan);
          return `offset map of ${Object.keys(rs.partitions).length} target partitions (${runs} runs); ${plan.groups.filter((g) => g.status === 'planned').length} group(s) to reset`;
        });
        await run('reset', 3, 'Resetting consumer-group offsets', async () => {
          const rep = await resetGroupOffsets({ restore: opts, strategy: req.strategy, groups: req.groups, manualOffsets: req.manualOffsets });
          if (format === 'text') out(resetText(rep));
          json.reset = resetJson(rep);
          const refused = refusedGroups(rep);
          if (refused.length) throw new UserError('GROUP_ACTIVE', refused.map((g) => g.reason).join('; '));
          return `${rep.groups.filter((g) => g.status === 'reset').length} group(s) reset`;
        });
        json.phases = state.phases;
        if (format === 'json') out(render('json', json, () => ''));
        else out('[INFO] Three-phase restore completed');
      } finally {
        await store.close();
      }
    });
}
