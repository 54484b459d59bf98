import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { threePhaseRestore, type PhaseEvent, type ThreePhaseResult } from '../../recovery/three-phase.js';
import { logger } from '../../util/logger.js';
import { resetRequest, restoreOptions } from '../config-mapping.js';
import { print, withStore } from '../io.js';
import { parseFormat, render } from '../output.js';
import { resetJson, resetText } from '../render/reset.js';
import { restoreJson, restoreText } from '../render/restore.js';

/** The text report, printed as each phase starts and ends. */
function phaseText(e: PhaseEvent): string {
  switch (e.kind) {
    case 'skipped':
      return `[PHASE ${e.n}/3] ${e.title}: already done (${e.summary}), skipped`;
    case 'started':
      return `[PHASE ${e.n}/3] ${e.title}`;
    case 'restored':
      return restoreText(e.result);
    case 'planned':
    case 'reset':
      return resetText(e.report);
    case 'done':
      return `[PHASE ${e.n}/3] done: ${e.summary}`;
  }
}

function threePhaseJson(r: ThreePhaseResult): unknown {
  return {
    restore_id: r.restoreId,
    resumed_at_phase: r.resumedAtPhase,
    ...(r.restore ? { restore: restoreJson(r.restore) } : {}),
    ...(r.mapping ? { mapping: resetJson(r.mapping) } : {}),
    ...(r.reset ? { reset: resetJson(r.reset) } : {}),
    phases: r.phases,
  };
}

export function registerThreePhaseRestoreCommand(program: Command): void {
  program
    .command('three-phase-restore')
    .description('Restore (with offset headers), build the consumer-group offset mapping, reset the groups; resumes at the failed phase')
    .requiredOption('-c, --config <path>', 'YAML config file with mode: restore')
    .option('-f, --format <format>', 'report format: text or json', 'text')
    .action(async (o: { config: string; format: string }) => {
      const format = parseFormat(o.format, ['text', 'json']);
      const cfg = await loadConfig(o.config, { expectMode: 'restore', onWarning: (w) => logger().warn(w) });
      await withStore(cfg.storage, async (store) => {
        const onEvent = format === 'text' ? (e: PhaseEvent) => print(phaseText(e)) : undefined;
        const r = await threePhaseRestore(restoreOptions(cfg, store), resetRequest(cfg), onEvent);
        print(format === 'json' ? render('json', threePhaseJson(r), () => '') : '[INFO] Three-phase restore completed');
      });
    });
}
