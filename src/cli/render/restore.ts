import { reportJson, type RestoreResult } from '../../restore/index.js';
import { humanDuration } from '../../util/time.js';
import { bytes, num } from '../output.js';

export function restoreJson(r: RestoreResult): unknown {
  return {
    ...reportJson(r),
    resumed: r.resumed,
    reused_batches: r.reusedBatches,
    rebuilt_batches: r.rebuiltBatches,
    bytes_in_backup: r.plan.topics.reduce((n, t) => n + t.partitions.reduce((m, p) => m + p.segments.reduce((k, s) => k + s.entry.stored_bytes, 0), 0), 0),
    warnings: r.warnings,
    report_location: { store_key: r.reportLocation?.storeKey ?? null, local_file: r.reportLocation?.localFile ?? null },
  };
}

function offsetMapWhere(r: RestoreResult): string {
  const at = r.reportLocation;
  if (!at) return 'in the restore state (the restore did not finish)';
  const places = [at.storeKey ? `in the backup storage at ${at.storeKey}` : '', at.localFile ? `in ${at.localFile}` : ''].filter(Boolean);
  return `stored with the restore report ${places.join(' and ')}`;
}

/** The seed's restore output: per topic and partition, then the summary. */
export function restoreText(r: RestoreResult): string {
  const lines: string[] = [];
  const pitr = r.plan.windowStart !== undefined || r.plan.windowEnd !== undefined;
  for (const t of r.plan.topics) {
    const parts = r.partitions.filter((p) => p.targetTopic === t.targetTopic && p.sourceTopic === t.sourceTopic);
    const total = parts.reduce((n, p) => n + p.restored, 0);
    lines.push('', `[INFO] Restoring topic: ${t.sourceTopic} → ${t.targetTopic}`);
    if (pitr) lines.push(`  Records in window: ${num(total)}`);
    for (const p of parts) {
      const from =
        p.sourcePartitions.length === 1 && p.sourcePartitions[0] === p.targetPartition
          ? ''
          : ` (from source partition${p.sourcePartitions.length > 1 ? 's' : ''} ${p.sourcePartitions.join(', ')})`;
      lines.push(`  Restoring partition ${p.targetPartition}: ${num(p.restored)} records${from}`);
    }
  }
  const secs = r.durationMs / 1000;
  lines.push(
    '',
    `[INFO] ${pitr ? 'PITR ' : ''}restore completed${r.resumed ? ' (resumed)' : ''}`,
    '[INFO] Summary:',
    `  Records Restored: ${num(r.restored)}`,
    ...(pitr ? [`  Skipped (outside window): ${num(r.skippedOutsideWindow)}`] : []),
    ...(r.abortedSkipped ? [`  Skipped (aborted transactions): ${num(r.abortedSkipped)}`] : []),
    `  Read from storage: ${bytes(r.bytesRead)}`,
    `  Duration: ${humanDuration(r.durationMs)}`,
    `  Throughput: ${num(Math.round(r.restored / Math.max(secs, 0.001)))} records/s`,
    `  Offset map: ${r.offsetMap.length} runs, ${offsetMapWhere(r)} (restore id ${r.restoreId})`,
  );
  for (const w of r.warnings) lines.push(`[WARN] ${w}`);
  return lines.join('\n').replace(/^\n/, '');
}
