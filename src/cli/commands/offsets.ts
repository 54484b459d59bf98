import type { Command } from 'commander';
import type { KafkaBackupConfig } from '../../config/types.js';
import { refusedGroups, resetGroupOffsets, type ResetReport, type ResetStrategy } from '../../offsets/reset.js';
import type { RestoreOptions } from '../../restore/options.js';
import { UserError } from '../../util/errors.js';
import { isoMs } from '../../util/time.js';
import { columns } from '../output.js';
import { registerThreePhaseRestore } from './three-phase.js';

/** The consumer-group part of a restore config as reset options (undefined = no reset asked for). */
export function resetRequest(cfg: KafkaBackupConfig, forceStrategy?: ResetStrategy): { strategy: ResetStrategy; groups: string[]; manualOffsets: KafkaBackupConfig['restore']['manual_offsets'] } | { skip: string } {
  const r = cfg.restore;
  const s = forceStrategy ?? r.consumer_group_strategy;
  if (s === 'skip') return { skip: 'consumer_group_strategy is skip: consumer-group offsets were not changed' };
  if (s === 'cluster-scan') throw new UserError('CONFIG', 'consumer_group_strategy: cluster-scan is not supported; use exact (the restore\'s offset map), header-based or timestamp-based');
  return { strategy: s, groups: r.consumer_groups, manualOffsets: r.manual_offsets };
}

export interface OffsetsOutcome {
  report?: ResetReport;
  notice?: string;
  error?: string;
}

/**
 * After `restore`: resets the configured groups when `reset_consumer_offsets` or
 * `auto_consumer_groups` is set. Never throws: the restore itself succeeded, so failures are
 * returned for the caller to report after the restore's own report.
 */
export async function offsetsAfterRestore(cfg: KafkaBackupConfig, opts: RestoreOptions): Promise<OffsetsOutcome | undefined> {
  if (!cfg.restore.reset_consumer_offsets && !cfg.restore.auto_consumer_groups) return undefined;
  try {
    const req = resetRequest(cfg);
    if ('skip' in req) return { notice: req.skip };
    return { report: await resetGroupOffsets({ restore: opts, strategy: req.strategy, groups: req.groups, manualOffsets: req.manualOffsets }) };
  } catch (err) {
    return { error: `consumer-group offset reset failed: ${(err as Error).message}` };
  }
}

/** Exit status and stderr lines for an outcome (refused groups and failures are errors). */
export function outcomeErrors(o: OffsetsOutcome | undefined): string[] {
  if (!o) return [];
  if (o.error) return [o.error];
  return o.report ? refusedGroups(o.report).map((g) => `consumer group not reset: ${g.reason}`) : [];
}

const TECHNIQUE_LABEL: Record<ResetStrategy, string> = {
  exact: 'exact (the restore\'s offset map)',
  manual: 'manual (your source offsets, translated with the restore\'s offset map)',
  'header-based': 'header-based (binary search on x-original-offset)',
  'timestamp-based': 'timestamp-based (APPROXIMATE: ListOffsets by the record timestamp)',
};

export function resetJson(rep: ResetReport): Record<string, unknown> {
  return {
    backup_id: rep.backupId,
    restore_id: rep.restoreId,
    technique: rep.technique,
    offsets_from: rep.offsetsFrom.kind === 'manual' ? { kind: 'manual' } : { kind: 'snapshot', taken_at: rep.offsetsFrom.takenAt, key: rep.offsetsFrom.key },
    dry_run: rep.dryRun,
    warnings: rep.warnings,
    groups: rep.groups.map((g) => ({
      group_id: g.groupId,
      status: g.status,
      technique: g.technique,
      reason: g.reason ?? null,
      records_seen_twice: g.partitions.reduce((n, p) => n + p.duplicates, 0),
      partitions: g.partitions.map((p) => ({
        topic: p.targetTopic,
        partition: p.targetPartition,
        sources: p.sources.map((s) => ({ topic: s.topic, partition: s.partition, committed_offset: s.offset })),
        offset_before: p.before,
        offset_after: p.after,
        records_seen_twice: p.duplicates,
        records_seen_twice_is_upper_bound: p.duplicatesApproximate,
        at_end: p.atEnd,
      })),
    })),
  };
}

export function resetText(rep: ResetReport): string {
  const from = rep.offsetsFrom.kind === 'manual' ? 'restore.manual_offsets' : `the group snapshot taken ${isoMs(rep.offsetsFrom.takenAt)}`;
  const lines = [`[INFO] Consumer-group offsets${rep.dryRun ? ' (plan, nothing committed)' : ''}: technique ${TECHNIQUE_LABEL[rep.technique]}; source positions from ${from}`];
  for (const w of rep.warnings) lines.push(`[WARN] ${w}`);
  for (const g of rep.groups) {
    const twice = g.partitions.reduce((n, p) => n + p.duplicates, 0);
    const approx = g.partitions.some((p) => p.duplicatesApproximate);
    lines.push(`  Group ${g.groupId}: ${g.status}${g.reason ? ` (${g.reason})` : ''}${g.partitions.length ? `; records it may see twice: ${approx ? 'at most ' : ''}${twice}` : ''}`);
    if (!g.partitions.length) continue;
    const rows = [['    partition', 'source position', 'before', 'after', 'seen twice']];
    for (const p of g.partitions) {
      rows.push([
        `    ${p.targetTopic}/${p.targetPartition}`,
        p.sources.map((s) => `${s.topic}/${s.partition}@${s.offset}`).join(' + '),
        p.before === null ? '-' : String(p.before),
        `${p.after}${p.atEnd ? ' (end)' : ''}`,
        `${p.duplicatesApproximate ? '≤' : ''}${p.duplicates}`,
      ]);
    }
    lines.push(...columns(rows, 3));
  }
  return lines.join('\n');
}

/** Registers the offset commands (called once from src/cli/main.ts). */
export function registerOffsetCommands(program: Command): void {
  registerThreePhaseRestore(program);
}
