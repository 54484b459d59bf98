/**
 * What the restored target should hold, per target partition: from the latest finished restore of
 * the backup (its `restores/{id}/state.json` offset map and `report.json`), which is right after a
 * PITR or filtered/mapped restore; otherwise from the backup's manifest and partition indexes
 * (a whole restore into fresh topics of the same names).
 */
import { inspectBackup, type BackupView } from '../format/backup-view.js';
import type { RestoreReport } from '../format/restore-report.js';
import type { RestoreState } from '../format/restore-state.js';
import { listRestores, type StoredRestore } from '../format/restores.js';
import type { ObjectStore } from '../storage/store.js';
import { logger } from '../util/logger.js';

export interface PartitionExpectation {
  topic: string;
  partition: number;
  /** Source partitions written into this target partition (`topic/partition`). */
  sources: string[];
  /** Records the restore wrote (or the backup holds). */
  records: number;
  /** Offset on the target where the restored records start (the end offset before the restore). */
  startOffset: number;
  /** High watermark the target should have: one past the last restored record. */
  highWatermark: number;
}

export interface RestoreSummary {
  restoreId: string;
  completedAt: number;
  timeWindowStart: number | null;
  timeWindowEnd: number | null;
  recordsRestored: number;
}

export interface Expectations {
  source: 'restore-report' | 'backup-manifest';
  restore?: RestoreSummary;
  backup: BackupView;
  partitions: PartitionExpectation[];
}

/** The finished restores of a backup (state and report both stored), newest first. */
export async function finishedRestores(store: ObjectStore, backupId: string): Promise<{ report: RestoreReport; state: RestoreState }[]> {
  const out: { report: RestoreReport; state: RestoreState }[] = [];
  let restores: StoredRestore[] = [];
  try {
    restores = await listRestores(store, backupId);
  } catch (err) {
    logger('validation').warn({ backupId, err: (err as Error).message }, 'ignoring unreadable restore states');
  }
  for (const r of restores) if (r.report && r.state.completed_at !== null && r.report.backup_id === backupId) out.push({ report: r.report, state: r.state });
  return out.sort((a, b) => (b.state.completed_at ?? 0) - (a.state.completed_at ?? 0));
}

export async function loadExpectations(store: ObjectStore, backupId: string): Promise<Expectations> {
  const backup = await inspectBackup(store, backupId);
  const latest = (await finishedRestores(store, backupId))[0];
  if (latest) {
    const { report, state } = latest;
    const sourcesOf = new Map<string, string[]>();
    for (const p of report.partitions) {
      const k = `${p.targetTopic}/${p.targetPartition}`;
      sourcesOf.set(
        k,
        p.sourcePartitions.map((s) => `${p.sourceTopic}/${s}`),
      );
    }
    const partitions: PartitionExpectation[] = [];
    for (const [key, ps] of Object.entries(state.partitions)) {
      const slash = key.lastIndexOf('/');
      const topic = key.slice(0, slash);
      const partition = Number(key.slice(slash + 1));
      const records = ps.runs.reduce((n, r) => n + r.count, 0);
      const runSources = [...new Set(ps.runs.map((r) => `${r.source_topic}/${r.source_partition}`))];
      const high = ps.runs.reduce((h, r) => Math.max(h, r.target + r.count), ps.initial_end_offset);
      const start = ps.runs.reduce((s, r) => Math.min(s, r.target), Number.MAX_SAFE_INTEGER);
      partitions.push({
        topic,
        partition,
        sources: sourcesOf.get(key) ?? runSources,
        records,
        startOffset: ps.runs.length ? Math.min(start, ps.initial_end_offset) : ps.initial_end_offset,
        highWatermark: high,
      });
    }
    partitions.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    return {
      source: 'restore-report',
      restore: {
        restoreId: report.restore_id,
        completedAt: state.completed_at ?? 0,
        timeWindowStart: report.time_window_start ?? null,
        timeWindowEnd: report.time_window_end ?? null,
        recordsRestored: report.records_restored,
      },
      backup,
      partitions,
    };
  }
  const partitions: PartitionExpectation[] = [];
  for (const t of backup.topics) {
    for (const p of t.partitions) {
      partitions.push({
        topic: t.name,
        partition: p.partition,
        sources: [`${t.name}/${p.partition}`],
        records: p.summary.records,
        startOffset: 0,
        highWatermark: p.summary.records,
      });
    }
  }
  return { source: 'backup-manifest', backup, partitions };
}
