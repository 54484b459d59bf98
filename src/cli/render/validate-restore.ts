import type { KafkaBackupConfig } from '../../config/types.js';
import type { RestoreValidation } from '../../recovery/validate-restore.js';
import { topicConfigLines, type RestorePlan } from '../../restore/index.js';
import { humanDuration, isoMs } from '../../util/time.js';
import { bytes, columns, num, RULE } from '../output.js';
import { consumerOffsetLines } from './reset.js';

/** The validation as reported: with its "Consumer offsets" lines, which depend on the config's wording. */
export interface ValidationView extends RestoreValidation {
  consumerOffsetActions: string[];
}

export function validationView(v: RestoreValidation, cfg: KafkaBackupConfig): ValidationView {
  return { ...v, consumerOffsetActions: consumerOffsetLines(cfg.restore, v.reset) };
}

export function validationJson(v: ValidationView): unknown {
  const p = v.plan;
  return {
    backup_id: p.manifest.backup_id,
    valid: v.errors.length === 0,
    errors: v.errors,
    warnings: v.warnings,
    time_window: { start: p.windowStart ?? null, end: p.windowEnd ?? null },
    segments_to_process: p.segmentsMatching,
    segments_total: p.segmentsTotal,
    records_to_restore: p.recordsEstimate,
    records_counted: p.recordsLowerBound === p.recordsUpperBound ? 'exact' : 'estimate',
    records_lower_bound: p.recordsLowerBound,
    records_upper_bound: p.recordsUpperBound,
    bytes_to_restore: p.bytesEstimate,
    time_range: p.backupTimeRange,
    /** Ranges of the selected partitions that retention removed (see the warnings for what a window reaches into). */
    pruned: p.pruned,
    topics_to_restore: p.topics.map((t) => ({
      source_topic: t.sourceTopic,
      target_topic: t.targetTopic,
      partitions: t.partitions.map((pp) => ({
        source_partition: pp.sourcePartition,
        target_partition: pp.targetPartition,
        segments: pp.segments.length,
        records: pp.recordsEstimate,
        records_exact: pp.recordsExact,
        records_upper_bound: pp.recordsExact + pp.recordsPartialUpperBound,
        offset_range: pp.offsetRange,
        timestamp_range: pp.timestampRange,
      })),
    })),
    consumer_offset_actions: v.consumerOffsetActions,
    topic_configs: topicConfigsJson(p),
  };
}

/** Per target topic: the configs it gets if the restore creates it, and the backup's configs left out. */
function topicConfigsJson(p: RestorePlan): unknown {
  return p.topics.map((t) => ({ target_topic: t.targetTopic, applied: t.configs, not_restored: t.configsSkipped }));
}

/** The report's "Topic configs" section. */
function topicConfigsText(p: RestorePlan): string[] {
  if (p.topics.length === 0) return [];
  return ['', 'Topic configs (for target topics the restore creates):', ...topicConfigLines(p.topics)];
}

/** The seed's "Restore Validation Report". `~` marks an estimate; exact counts have none. */
export function validationText(v: ValidationView): string {
  const p = v.plan;
  const exact = p.recordsLowerBound === p.recordsUpperBound;
  const approx = exact ? '' : '~';
  const lines = ['Restore Validation Report', RULE, '', `Status: ${v.errors.length === 0 ? '✓ VALID' : '✗ INVALID'}`, ''];
  if (p.windowStart !== undefined || p.windowEnd !== undefined) {
    lines.push('PITR Time Window:');
    lines.push(`  Start: ${p.windowStart !== undefined ? `${isoMs(p.windowStart)} (${p.windowStart})` : '(beginning of backup)'}`);
    lines.push(`  End:   ${p.windowEnd !== undefined ? `${isoMs(p.windowEnd)} (${p.windowEnd})` : '(end of backup)'}`);
    if (p.windowStart !== undefined && p.windowEnd !== undefined) lines.push(`  Duration: ${humanDuration(p.windowEnd - p.windowStart)}`);
    const prunedUpTo = p.pruned.reduce<number | null>((n, r) => (r.max_timestamp === null ? n : Math.max(n ?? r.max_timestamp, r.max_timestamp)), null);
    if (prunedUpTo !== null)
      lines.push(
        `  Pruned: records up to ${isoMs(prunedUpTo)} were removed by retention${p.windowStart === undefined || p.windowStart <= prunedUpTo ? ': the window reaches into pruned time (see Warnings)' : ''}`,
      );
    lines.push('');
  }
  lines.push('Data to Restore:');
  lines.push(`  Segments matching: ${num(p.segmentsMatching)} of ${num(p.segmentsTotal)}`);
  lines.push(`  Records in window: ${approx}${num(p.recordsEstimate)}${exact ? '' : ` (between ${num(p.recordsLowerBound)} and ${num(p.recordsUpperBound)})`}`);
  lines.push(`  Estimated size: ${bytes(p.bytesEstimate)}`);
  lines.push('');
  lines.push('Topics:');
  lines.push(
    ...columns(
      p.topics.map((t) => {
        const n = t.partitions.reduce((a, x) => a + x.recordsEstimate, 0);
        const ex = t.partitions.every((x) => x.recordsPartialUpperBound === 0);
        return [`  ${t.sourceTopic}`, `→ ${t.targetTopic}`, `(${ex ? '' : 'est. '}${num(n)} records)`];
      }),
      2,
    ),
  );
  lines.push(...topicConfigsText(p));
  if (p.recordsEstimate === 0 && v.errors.length === 0) {
    lines.push('', noRecordsWarning(p));
  }
  if (v.warnings.length) lines.push('', 'Warnings:', ...v.warnings.map((w) => `  ! ${w}`));
  if (v.errors.length) lines.push('', 'Errors:', ...v.errors.map((e) => `  ✗ ${e}`));
  if (v.consumerOffsetActions.length) lines.push('', 'Consumer offsets:', ...v.consumerOffsetActions.map((a) => `  ${a}`));
  return lines.join('\n');
}

/** The seed's warning, with what the user needs to fix it: the backup's real range and the ms hint. */
export function noRecordsWarning(p: RestorePlan): string {
  const r = p.backupTimeRange;
  return [
    'Warning: No records found in specified time window',
    r ? `  The backup holds records from ${isoMs(r[0])} (${r[0]}) to ${isoMs(r[1])} (${r[1]}).` : '  The backup holds no records.',
    '  Time window values are Unix epoch MILLISECONDS (seconds × 1000); check with "kafka-backup describe".',
  ].join('\n');
}
