import type { BackupView } from '../../format/backup-view.js';
import { SEED_TOOL_VERSION } from '../../format/seed/manifest.js';
import { isoMs } from '../../util/time.js';
import { bytes, columns, num, RULE } from '../output.js';

export function describeJson(v: BackupView): unknown {
  const m = v.manifest;
  return {
    backup_id: m.backup_id,
    status: m.status,
    mode: m.mode,
    format_version: m.format_version,
    tool_version: m.tool_version,
    source_cluster_id: m.source_cluster_id,
    source_bootstrap_servers: m.source_bootstrap_servers,
    compression: m.compression,
    created_at: m.created_at,
    completed_at: m.completed_at,
    earliest_timestamp: v.minTimestamp,
    latest_timestamp: v.maxTimestamp,
    records: v.records,
    segments: v.segments,
    stored_bytes: v.storedBytes,
    raw_bytes: v.rawBytes,
    consumer_group_snapshots: v.groupSnapshots,
    pruned_segments: v.pruned.reduce((n, r) => n + r.segments, 0),
    pruned_stored_bytes: v.pruned.reduce((n, r) => n + r.stored_bytes, 0),
    topics: v.topics.map((t) => ({
      name: t.name,
      partition_count: t.partitionCount,
      records: t.records,
      segments: t.segments,
      stored_bytes: t.storedBytes,
      earliest_timestamp: t.minTimestamp,
      latest_timestamp: t.maxTimestamp,
      configs: m.topics.find((x) => x.name === t.name)?.configs ?? {},
      partitions: t.partitions.map((p) => ({
        partition: p.partition,
        records: p.summary.records,
        segments: p.summary.segments,
        first_offset: p.summary.firstOffset,
        last_offset: p.summary.lastOffset,
        next_offset: p.index?.next_offset ?? null,
        earliest_timestamp: p.summary.minTimestamp,
        latest_timestamp: p.summary.maxTimestamp,
        log_start_offset_at_backup: p.logStartOffset,
        end_offset_at_backup: p.endOffset,
        gaps: p.index?.gaps ?? [],
        /** Ranges retention removed (kafka-backup prune, backup.retention): src/format/pruned.ts. */
        pruned: v.pruned.filter((r) => r.topic === t.name && r.partition === p.partition),
      })),
    })),
  };
}

const STATUS_NOTE: Partial<Record<BackupView['manifest']['status'], string>> = {
  running: ' (still running, or interrupted: run the backup again to resume)',
  incomplete: ' (snapshot stopped before every partition reached its end offset: run the backup again to complete it)',
};

/** The seed's `describe` report, plus the facts an operator checks next (status, size). */
export function describeText(v: BackupView): string {
  const m = v.manifest;
  const lines = [
    `Backup: ${m.backup_id}`,
    RULE,
    '',
    'Time Range:',
    `  Earliest Message:  ${isoMs(v.minTimestamp)}`,
    `  Latest Message:    ${isoMs(v.maxTimestamp)}`,
    '',
    'Topics:',
    ...columns(v.topics.map((t) => [`  ${t.name}`, `${t.partitionCount} partitions`, `${num(t.records)} records`])),
    '',
    `Status:       ${m.status}${STATUS_NOTE[m.status] ?? ''}`,
    ...(m.tool_version === SEED_TOOL_VERSION
      ? ["Format:       the seed tool's (osodevops/kafka-backup); the time range is its segments' first and last records"]
      : []),
    `Source:       ${m.source_cluster_id ?? '-'} (${m.source_bootstrap_servers.join(', ')})`,
    `Created:      ${isoMs(m.created_at)}${m.completed_at ? `   Completed: ${isoMs(m.completed_at)}` : ''}`,
    `Size:         ${bytes(v.storedBytes)} stored (${bytes(v.rawBytes)} of Kafka batches, ${m.compression}) in ${num(v.segments)} segments`,
    `Group offset snapshots: ${v.groupSnapshots}`,
    ...prunedLines(v),
  ];
  return lines.join('\n');
}

/** Retention removals, one line per partition range (describe --format json has every field). */
function prunedLines(v: BackupView): string[] {
  if (v.pruned.length === 0) return [];
  const segs = v.pruned.reduce((n, r) => n + r.segments, 0);
  const size = v.pruned.reduce((n, r) => n + r.stored_bytes, 0);
  return [
    `Pruned:       ${num(segs)} segments (${bytes(size)}) removed by retention, recorded in ${v.manifest.backup_id}/pruned.json:`,
    ...v.pruned.map(
      (r) =>
        `  ${r.topic}/${r.partition}: offsets ${r.from_offset}..${r.to_offset - 1}, records ${isoMs(r.min_timestamp)} .. ${isoMs(r.max_timestamp)} (${r.reason}, by ${r.by}, ${isoMs(r.last_pruned_at)})`,
    ),
  ];
}
