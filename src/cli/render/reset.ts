/** Consumer-group offset reports: a reset's (plan or outcome) and validate-restore's preview lines. */
import type { KafkaBackupConfig } from '../../config/types.js';
import type { ResetPreview } from '../../offsets/plan.js';
import type { ResetReport, ResetStrategy } from '../../offsets/report.js';
import { isoMs } from '../../util/time.js';
import { columns } from '../output.js';

/** validate-restore's "Consumer offsets" lines: what `restore` will do with the groups, truthfully. */
export function consumerOffsetLines(r: KafkaBackupConfig['restore'], p: ResetPreview | undefined): string[] {
  if (!p) {
    if (r.consumer_group_strategy === 'skip') return [];
    const headers = r.consumer_group_strategy === 'header-based' ? ' (offset headers are added to the restored records)' : '';
    return [
      `not changed by restore: consumer_group_strategy is ${r.consumer_group_strategy}${headers} but reset_consumer_offsets is false; three-phase-restore would reset them with ${r.consumer_group_strategy}`,
    ];
  }
  const from =
    p.offsetsFrom === undefined
      ? ''
      : p.offsetsFrom.kind === 'manual'
        ? '; source positions from restore.manual_offsets'
        : `; source positions from the group snapshot taken ${isoMs(p.offsetsFrom.takenAt)}`;
  const why = r.consumer_group_strategy === 'skip' ? ' (reset_consumer_offsets: true with the default strategy)' : '';
  const groups = p.groups.length ? p.groups.join(', ') : 'none (no group in the snapshot has committed offsets on a backed-up topic)';
  return [
    `reset after the restore with technique ${TECHNIQUE_LABEL[p.technique]}${why}${from}`,
    `groups: ${groups}${r.consumer_groups.length ? '' : ' (every group of the snapshot: restore.consumer_groups is empty)'}`,
    ...p.warnings.map((w) => `warning: ${w}`),
  ];
}

const TECHNIQUE_LABEL: Record<ResetStrategy, string> = {
  exact: "exact (the restore's offset map)",
  manual: "manual (your source offsets, translated with the restore's offset map)",
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
  const lines = [
    `[INFO] Consumer-group offsets${rep.dryRun ? ' (plan, nothing committed)' : ''}: technique ${TECHNIQUE_LABEL[rep.technique]}; source positions from ${from}`,
  ];
  for (const w of rep.warnings) lines.push(`[WARN] ${w}`);
  for (const g of rep.groups) {
    const twice = g.partitions.reduce((n, p) => n + p.duplicates, 0);
    const approx = g.partitions.some((p) => p.duplicatesApproximate);
    lines.push(
      `  Group ${g.groupId}: ${g.status}${g.reason ? ` (${g.reason})` : ''}${g.partitions.length ? `; records it may see twice: ${approx ? 'at most ' : ''}${twice}` : ''}`,
    );
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
