/** `status --path`: a backup's progress from what it stored, and optionally its lag against the cluster now. */
import { inspectBackup, type BackupView } from '../format/backup-view.js';
import { KafkaAdmin, LATEST } from '../kafka/admin.js';
import type { ObjectStore } from '../storage/store.js';
import { readWorkerStatuses, type WorkerStatus } from './workers/status.js';

/** One partition's progress, from its index (and the live end offset when asked). */
export interface PartitionStatus {
  topic: string;
  partition: number;
  /** Next offset to back up (index `next_offset`); null when the partition has no index yet. */
  position: number | null;
  /** End offset (read-committed) recorded in the manifest when the backup (or its last run) started. */
  end_offset_at_start: number;
  /** end_offset_at_start − position (0 when past it; the whole range when nothing is stored yet). */
  records_behind: number;
  segments: number;
  records: number;
  stored_bytes: number;
  /** When the newest segment was stored (ms); null when none. */
  last_segment_at: number | null;
  /** The current end offset and the lag against it (only with --bootstrap-servers). */
  live_end_offset?: number;
  live_records_behind?: number;
}

export interface BackupStatus {
  backup_id: string;
  status: string;
  mode: string;
  created_at: number;
  /** Manifest `updated_at`: the last manifest checkpoint. */
  updated_at: number;
  completed_at: number | null;
  /** The newest index write of any partition (segment stored / position advanced). */
  last_progress_at: number | null;
  records: number;
  stored_bytes: number;
  segments: number;
  records_behind: number;
  live_records_behind?: number;
  partitions: PartitionStatus[];
  /** Distributed backup: one entry per worker (backup.workers), from {backup_id}/workers/. */
  workers?: WorkerStatusLine[];
}

export interface WorkerStatusLine {
  member_id: string;
  host: string;
  pid: number;
  group_generation: number;
  partitions: string[];
  /** Records behind, over its partitions (the live end offsets when known, else those at start). */
  records_behind: number;
  records_per_second: number;
  updated_at: number;
}

/** The static status of a stored backup: manifest and partition indexes (no Kafka access). */
export function backupStatus(v: BackupView): BackupStatus {
  const partitions: PartitionStatus[] = [];
  let lastProgress: number | null = null;
  for (const t of v.topics) {
    for (const p of t.partitions) {
      const idx = p.index;
      const position = idx?.next_offset ?? null;
      const lastSeg = idx?.segments.at(-1);
      if (idx) lastProgress = Math.max(lastProgress ?? 0, idx.updated_at);
      partitions.push({
        topic: p.topic,
        partition: p.partition,
        position,
        end_offset_at_start: p.endOffset,
        records_behind: Math.max(0, p.endOffset - (position ?? p.logStartOffset)),
        segments: p.summary.segments,
        records: p.summary.records,
        stored_bytes: p.summary.storedBytes,
        last_segment_at: lastSeg?.created_at ?? null,
      });
    }
  }
  const m = v.manifest;
  return {
    backup_id: m.backup_id,
    status: m.status,
    mode: m.mode,
    created_at: m.created_at,
    updated_at: m.updated_at,
    completed_at: m.completed_at,
    last_progress_at: lastProgress,
    records: v.records,
    stored_bytes: v.storedBytes,
    segments: v.segments,
    records_behind: partitions.reduce((n, p) => n + p.records_behind, 0),
    partitions,
  };
}

/** Adds the lag against the cluster's current (read-committed) end offsets. */
export async function addLiveLag(s: BackupStatus, bootstrapServers: string[]): Promise<void> {
  const admin = new KafkaAdmin({ bootstrapServers, clientId: 'kafka-backup-status' });
  try {
    const byTopic = new Map<string, PartitionStatus[]>();
    for (const p of s.partitions) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p]);
    let total = 0;
    for (const [topic, parts] of byTopic) {
      const ends = await admin.listOffsets(
        topic,
        parts.map((p) => p.partition),
        LATEST,
        true,
      );
      for (const p of parts) {
        const end = ends.get(p.partition);
        if (end === undefined) continue;
        p.live_end_offset = Number(end);
        p.live_records_behind = Math.max(0, Number(end) - (p.position ?? 0));
        total += p.live_records_behind;
      }
    }
    s.live_records_behind = total;
  } finally {
    await admin.close();
  }
}

export async function loadStatus(store: ObjectStore, backupId: string, bootstrapServers?: string[]): Promise<BackupStatus> {
  const s = backupStatus(await inspectBackup(store, backupId));
  if (bootstrapServers?.length) await addLiveLag(s, bootstrapServers);
  const ws = await readWorkerStatuses(store, backupId);
  if (ws.length) s.workers = workerLines(s, ws);
  return s;
}

function workerLines(s: BackupStatus, ws: WorkerStatus[]): WorkerStatusLine[] {
  const byPart = new Map(s.partitions.map((p) => [`${p.topic}/${p.partition}`, p]));
  return ws.map((w) => {
    const parts = w.partitions.map((p) => `${p.topic}/${p.partition}`);
    const behind = parts.reduce((n, k) => n + (byPart.get(k)?.live_records_behind ?? byPart.get(k)?.records_behind ?? 0), 0);
    return {
      member_id: w.member_id,
      host: w.host,
      pid: w.pid,
      group_generation: w.group_generation,
      partitions: parts,
      records_behind: behind,
      records_per_second: w.records_per_second,
      updated_at: w.updated_at,
    };
  });
}
