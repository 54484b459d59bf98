import type { Command } from 'commander';
import { readJsonObject } from '../../format/json-object.js';
import { keys } from '../../format/layout.js';
import { restoreStateSchema } from '../../format/restore-state.js';
import { openStore, parseStorageUrl } from '../../storage/index.js';
import type { ObjectStore } from '../../storage/store.js';
import { resetAsked, resetTechnique } from '../../config/consumer-groups.js';
import type { KafkaBackupConfig } from '../../config/types.js';
import { previewReset, refusedGroups, resetGroupOffsets, type ResetPreview, type ResetReport, type ResetStrategy } from '../../offsets/reset.js';
import { planRestore, type RestorePlan } from '../../restore/plan.js';
import { UserError } from '../../util/errors.js';
import type { RestoreOptions } from '../../restore/options.js';
import { isoMs } from '../../util/time.js';
import { columns, parseFormat, render } from '../output.js';
import { registerThreePhaseRestore } from './three-phase.js';
import { registerOffsetResetCommands } from './offset-reset.js';
import { registerOffsetRollbackCommands } from './offset-rollback.js';

/** The consumer-group part of a restore config as reset options (the technique per src/config/consumer-groups.ts). */
export function resetRequest(cfg: KafkaBackupConfig): { strategy: ResetStrategy; groups: string[]; manualOffsets: KafkaBackupConfig['restore']['manual_offsets'] } {
  const r = cfg.restore;
  return { strategy: resetTechnique(r), groups: r.consumer_groups, manualOffsets: r.manual_offsets };
}

/** The reset `restore` will run after the data (undefined when none is asked for), checked against the backup. */
export async function resetPreviewFor(cfg: KafkaBackupConfig, opts: RestoreOptions, plan: RestorePlan): Promise<ResetPreview | undefined> {
  if (!resetAsked(cfg.restore)) return undefined;
  return previewReset({ restore: opts, ...resetRequest(cfg) }, plan);
}

/** Before `restore` writes anything: a reset that cannot work stops it here, not after the data is written. */
export async function refuseImpossibleReset(cfg: KafkaBackupConfig, opts: RestoreOptions): Promise<void> {
  if (!resetAsked(cfg.restore)) return;
  const plan = await planRestore(opts);
  if (plan.errors.length) return; // the restore itself reports these
  const p = await resetPreviewFor(cfg, opts, plan);
  if (p?.problems.length) throw new UserError('CONFIG', `restore.reset_consumer_offsets: the consumer-group reset after this restore cannot work, nothing was written: ${p.problems.join('; ')}`);
}

/** validate-restore's "Consumer offsets" lines: what `restore` will do with the groups, truthfully. */
export function consumerOffsetLines(cfg: KafkaBackupConfig, p: ResetPreview | undefined): string[] {
  const r = cfg.restore;
  if (!p) {
    if (r.consumer_group_strategy === 'skip') return [];
    const headers = r.consumer_group_strategy === 'header-based' ? ' (offset headers are added to the restored records)' : '';
    return [`not changed by restore: consumer_group_strategy is ${r.consumer_group_strategy}${headers} but reset_consumer_offsets is false; three-phase-restore would reset them with ${r.consumer_group_strategy}`];
  }
  const from = p.offsetsFrom === undefined ? '' : p.offsetsFrom.kind === 'manual' ? '; source positions from restore.manual_offsets' : `; source positions from the group snapshot taken ${isoMs(p.offsetsFrom.takenAt)}`;
  const why = r.consumer_group_strategy === 'skip' ? ' (reset_consumer_offsets: true with the default strategy)' : '';
  const groups = p.groups.length ? p.groups.join(', ') : 'none (no group in the snapshot has committed offsets on a backed-up topic)';
  return [
    `reset after the restore with technique ${TECHNIQUE_LABEL[p.technique]}${why}${from}`,
    `groups: ${groups}${r.consumer_groups.length ? '' : ' (every group of the snapshot: restore.consumer_groups is empty)'}`,
    ...p.warnings.map((w) => `warning: ${w}`),
  ];
}

export interface OffsetsOutcome {
  report?: ResetReport;
  error?: string;
}

/**
 * After `restore`: resets the configured groups when `reset_consumer_offsets` or
 * `auto_consumer_groups` is set. Never throws: the restore itself succeeded, so failures are
 * returned for the caller to report after the restore's own report.
 */
export async function offsetsAfterRestore(cfg: KafkaBackupConfig, opts: RestoreOptions): Promise<OffsetsOutcome | undefined> {
  if (!resetAsked(cfg.restore)) return undefined;
  try {
    const req = resetRequest(cfg);
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

export interface MappingEntry {
  restore_id: string;
  completed_at: number | null;
  target_topic: string;
  target_partition: number;
  source_topic: string;
  source_partition: number;
  source_first_offset: number;
  source_last_offset: number;
  target_first_offset: number;
  target_last_offset: number;
  records: number;
  runs: number;
}

/** The exact offset maps of every restore of a backup (from the stored restore states), one entry per target partition and source. */
export async function offsetMappings(store: ObjectStore, backupId: string): Promise<MappingEntry[]> {
  const out: MappingEntry[] = [];
  for await (const m of store.list(`${backupId}/restores/`)) {
    if (!m.key.endsWith('/state.json')) continue;
    const st = await readJsonObject(store, m.key, restoreStateSchema);
    if (!st) continue;
    for (const [k, ps] of Object.entries(st.partitions)) {
      const slash = k.lastIndexOf('/');
      const bySource = new Map<string, typeof ps.runs>();
      for (const r of ps.runs) {
        const sk = `${r.source_topic}/${r.source_partition}`;
        bySource.set(sk, [...(bySource.get(sk) ?? []), r]);
      }
      for (const runs of bySource.values()) {
        const first = runs[0]!;
        const last = runs.at(-1)!;
        out.push({
          restore_id: st.restore_id, completed_at: st.completed_at, target_topic: k.slice(0, slash), target_partition: Number(k.slice(slash + 1)),
          source_topic: first.source_topic, source_partition: first.source_partition,
          source_first_offset: Math.min(...runs.map((r) => r.source)), source_last_offset: Math.max(...runs.map((r) => r.source + r.count - 1)),
          target_first_offset: first.target, target_last_offset: last.target + last.count - 1,
          records: runs.reduce((n, r) => n + r.count, 0), runs: runs.length,
        });
      }
    }
  }
  return out.sort((a, b) => a.restore_id.localeCompare(b.restore_id) || a.target_topic.localeCompare(b.target_topic) || a.target_partition - b.target_partition);
}

/** Registers the offset commands (called once from src/cli/main.ts). */
export function registerOffsetCommands(program: Command): void {
  program
    .command('show-offset-mapping')
    .description("Show the exact source → target offset maps of a backup's restores")
    .requiredOption('-p, --path <url>', 'storage location')
    .requiredOption('-b, --backup-id <id>', 'backup id')
    .option('-f, --format <format>', 'text, json, yaml or csv', 'text')
    .action(async (o: { path: string; backupId: string; format: string }) => {
      const format = parseFormat(o.format, ['text', 'json', 'yaml', 'csv']);
      const store = await openStore(parseStorageUrl(o.path));
      try {
        const entries = await offsetMappings(store, o.backupId);
        const cols = ['restore_id', 'target_topic', 'target_partition', 'source_topic', 'source_partition', 'source_first_offset', 'source_last_offset', 'target_first_offset', 'target_last_offset', 'records', 'runs'] as const;
        let s: string;
        if (format === 'csv') s = [cols.join(','), ...entries.map((e) => cols.map((c) => String(e[c])).join(','))].join('\n');
        else
          s = render(format, { backup_id: o.backupId, entries }, () =>
            entries.length === 0
              ? `No stored restore of ${o.backupId} (restore states under ${keys.restorePrefix(o.backupId, '')})`
              : columns([
                  ['restore', 'target', 'source', 'source offsets', 'target offsets', 'records', 'runs'],
                  ...entries.map((e) => [`${e.restore_id}${e.completed_at === null ? ' (unfinished)' : ''}`, `${e.target_topic}/${e.target_partition}`, `${e.source_topic}/${e.source_partition}`, `${e.source_first_offset}..${e.source_last_offset}`, `${e.target_first_offset}..${e.target_last_offset}`, String(e.records), String(e.runs)]),
                ], 3).join('\n'),
          );
        process.stdout.write(s + '\n');
      } finally {
        await store.close();
      }
    });
  registerThreePhaseRestore(program);
  registerOffsetResetCommands(program);
  registerOffsetRollbackCommands(program);
}
