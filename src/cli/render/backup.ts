import type { BackupSummary, PartitionShortfall } from '../../backup/options.js';
import { humanDuration } from '../../util/time.js';
import { bytes, num } from '../output.js';

export function backupJson(sum: BackupSummary): unknown {
  return {
    backup_id: sum.backupId,
    status: sum.status,
    topics: sum.topics,
    partitions: sum.partitions,
    segments: sum.segments,
    records: sum.records,
    kafka_bytes: sum.rawBytes,
    stored_bytes: sum.storedBytes,
    consumer_groups_snapshotted: sum.groupsSnapshotted,
    duration_ms: sum.durationMs,
    missing: sum.shortfall.map((m) => ({ topic: m.topic, partition: m.partition, backed_up_to: m.reached, end_offset: m.target })),
  };
}

/** What an incomplete snapshot lacks, and how to finish it. */
function shortfallText(shortfall: PartitionShortfall[]): string[] {
  if (shortfall.length === 0) return [];
  const missing = shortfall.reduce((n, m) => n + (m.target - Math.max(m.reached, 0)), 0);
  const shown = shortfall
    .slice(0, 20)
    .map((m) => `    ${m.topic}/${m.partition}: ${m.reached < 0 ? 'not started' : `backed up to offset ${num(m.reached)}`} of ${num(m.target)}`);
  return [
    `  INCOMPLETE: ${shortfall.length} partition(s) short of the snapshot's end offsets (up to ${num(missing)} offsets missing):`,
    ...shown,
    ...(shortfall.length > shown.length ? [`    … and ${shortfall.length - shown.length} more`] : []),
    '  Run the same backup again to resume and complete it.',
  ];
}

export function backupText(sum: BackupSummary): string {
  return [
    `Backup ${sum.backupId}: ${sum.status}`,
    `  Topics: ${sum.topics}   Partitions: ${sum.partitions}   Segments: ${num(sum.segments)}`,
    `  Records: ${num(sum.records)}   Kafka bytes: ${bytes(sum.rawBytes)}   Stored: ${bytes(sum.storedBytes)}`,
    `  Consumer groups snapshotted: ${sum.groupsSnapshotted}`,
    `  Duration: ${humanDuration(sum.durationMs)}`,
    ...shortfallText(sum.shortfall),
  ].join('\n');
}
