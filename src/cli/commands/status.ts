import { inspectBackup, type BackupView } from '../../backup/inspect.js';
import { KafkaAdmin, LATEST } from '../../kafka/admin.js';
import { parsePromText, sumOf, type PromSample } from '../../metrics/prom-text.js';
import type { MetricsConfig } from '../../config/types.js';
import type { ObjectStore } from '../../storage/store.js';
import { humanDuration, isoMs } from '../../util/time.js';
import { bytes, columns, num } from '../output.js';
import { readWorkerStatuses, type WorkerStatus } from '../../backup/workers/status.js';

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
      const ends = await admin.listOffsets(topic, parts.map((p) => p.partition), LATEST, true);
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
    return { member_id: w.member_id, host: w.host, pid: w.pid, group_generation: w.group_generation, partitions: parts, records_behind: behind, records_per_second: w.records_per_second, updated_at: w.updated_at };
  });
}

function ago(ms: number, now: number): string {
  return `${humanDuration(Math.max(0, now - ms))} ago`;
}

export function statusText(s: BackupStatus, now = Date.now()): string {
  const live = s.live_records_behind !== undefined;
  const lines = [`Backup ${s.backup_id} (${s.mode})`, `  Status:          ${s.status}`];
  if (s.status === 'running') {
    lines.push(`                   (a running backup rewrites the manifest every sync interval; if no backup process is running any more it was interrupted: run the same backup again to resume)`);
  }
  lines.push(
    `  Started:         ${isoMs(s.created_at)}`,
    `  Last checkpoint: ${isoMs(s.updated_at)} (${ago(s.updated_at, now)}; manifest)`,
  );
  if (s.last_progress_at !== null) lines.push(`  Last progress:   ${isoMs(s.last_progress_at)} (${ago(s.last_progress_at, now)}; newest partition index)`);
  if (s.completed_at !== null) lines.push(`  Finished:        ${isoMs(s.completed_at)}`);
  lines.push(
    `  Records: ${num(s.records)}   Segments: ${num(s.segments)}   Stored: ${bytes(s.stored_bytes)}`,
    `  Records behind the end offsets recorded at start: ${num(s.records_behind)}` + (live ? `   behind the current end offsets: ${num(s.live_records_behind ?? 0)}` : ''),
    '',
  );
  const head = ['TOPIC', 'PARTITION', 'POSITION', 'END AT START', 'BEHIND', ...(live ? ['END NOW', 'BEHIND NOW'] : []), 'RECORDS', 'LAST SEGMENT'];
  const rows = s.partitions.map((p) => [
    p.topic,
    String(p.partition),
    p.position === null ? '-' : String(p.position),
    String(p.end_offset_at_start),
    num(p.records_behind),
    ...(live ? [p.live_end_offset === undefined ? '-' : String(p.live_end_offset), p.live_records_behind === undefined ? '-' : num(p.live_records_behind)] : []),
    num(p.records),
    p.last_segment_at === null ? '-' : `${isoMs(p.last_segment_at)} (${ago(p.last_segment_at, now)})`,
  ]);
  lines.push(...columns([head, ...rows], 2).map((l) => `  ${l}`));
  if (s.workers?.length) {
    const gen = Math.max(...s.workers.map((w) => w.group_generation));
    lines.push('', `  Workers (group generation ${gen}; a worker whose last report is older than a few sync intervals has stopped):`);
    const wrows = s.workers.map((w) => [`${w.host}:${w.pid}`, String(w.group_generation), String(w.partitions.length), num(w.records_behind), `${num(w.records_per_second)}/s`, `${isoMs(w.updated_at)} (${ago(w.updated_at, now)})`, w.partitions.join(' ')]);
    lines.push(...columns([['WORKER', 'GENERATION', 'PARTITIONS', 'BEHIND', 'THROUGHPUT', 'LAST REPORT', 'OWNS'], ...wrows], 2).map((l) => `  ${l}`));
  }
  return lines.join('\n');
}

// ---- live: the running job's metrics endpoint ----

/** Where `status --config` finds the running job: the config's `metrics` section (0.0.0.0 → 127.0.0.1). */
export function metricsUrl(m: MetricsConfig): string {
  const a = m.bind_address;
  const host = a === '0.0.0.0' ? '127.0.0.1' : a === '::' ? '[::1]' : a.includes(':') ? `[${a}]` : a;
  return `http://${host}:${m.port}${m.path}`;
}

export interface LiveStatus {
  url: string;
  reachable: boolean;
  error?: string;
  health?: Record<string, unknown>;
  mode?: string;
  backup_id?: string;
  records: number;
  kafka_bytes: number;
  stored_bytes: number;
  segments: number;
  lag_records: number;
  throughput_records_per_second: number;
  throughput_bytes_per_second: number;
  errors: number;
  retries: number;
  restore_records: number;
  restore_bytes: number;
  restore_partitions: number;
  restore_partitions_completed: number;
  partitions: { topic: string; partition: string; offset: number | null; lag: number; records: number }[];
}

export function liveFromSamples(url: string, samples: PromSample[], health?: Record<string, unknown>): LiveStatus {
  const info = samples.find((s) => s.name === 'kafka_backup_info');
  const parts = new Map<string, LiveStatus['partitions'][number]>();
  const part = (s: PromSample): LiveStatus['partitions'][number] => {
    const k = `${s.labels.topic}\u0000${s.labels.partition}`;
    let p = parts.get(k);
    if (!p) parts.set(k, (p = { topic: s.labels.topic ?? '', partition: s.labels.partition ?? '', offset: null, lag: 0, records: 0 }));
    return p;
  };
  for (const s of samples) {
    if (s.name === 'kafka_backup_lag_records') part(s).lag = s.value;
    else if (s.name === 'kafka_backup_partition_offset') part(s).offset = s.value;
    else if (s.name === 'kafka_backup_records_total' || s.name === 'kafka_backup_restore_records_total') part(s).records = s.value;
  }
  return {
    url,
    reachable: true,
    health,
    mode: info?.labels.mode,
    backup_id: info?.labels.backup_id,
    records: sumOf(samples, 'kafka_backup_records_total'),
    kafka_bytes: sumOf(samples, 'kafka_backup_kafka_bytes_total'),
    stored_bytes: sumOf(samples, 'kafka_backup_stored_bytes_total'),
    segments: sumOf(samples, 'kafka_backup_segments_written_total'),
    lag_records: sumOf(samples, 'kafka_backup_lag_records'),
    throughput_records_per_second: sumOf(samples, 'kafka_backup_throughput_records_per_second'),
    throughput_bytes_per_second: sumOf(samples, 'kafka_backup_throughput_bytes_per_second'),
    errors: sumOf(samples, 'kafka_backup_errors_total'),
    retries: sumOf(samples, 'kafka_backup_retries_total'),
    restore_records: sumOf(samples, 'kafka_backup_restore_records_total'),
    restore_bytes: sumOf(samples, 'kafka_backup_restore_bytes_total'),
    restore_partitions: sumOf(samples, 'kafka_backup_restore_partitions'),
    restore_partitions_completed: sumOf(samples, 'kafka_backup_restore_partitions_completed_total'),
    partitions: [...parts.values()].sort((a, b) => a.topic.localeCompare(b.topic) || Number(a.partition) - Number(b.partition)),
  };
}

const EMPTY_LIVE = { records: 0, kafka_bytes: 0, stored_bytes: 0, segments: 0, lag_records: 0, throughput_records_per_second: 0, throughput_bytes_per_second: 0, errors: 0, retries: 0, restore_records: 0, restore_bytes: 0, restore_partitions: 0, restore_partitions_completed: 0, partitions: [] };

/** Scrapes the metrics endpoint (and /health next to it). */
export async function queryLive(url: string, timeoutMs = 5000): Promise<LiveStatus> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return { url, reachable: false, error: `HTTP ${res.status}`, ...EMPTY_LIVE };
    const samples = parsePromText(await res.text());
    let health: Record<string, unknown> | undefined;
    try {
      const h = await fetch(new URL('/health', url), { signal: AbortSignal.timeout(timeoutMs) });
      health = (await h.json()) as Record<string, unknown>;
    } catch {
      health = undefined;
    }
    return liveFromSamples(url, samples, health);
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { url, reachable: false, error: e.cause?.code ?? e.message, ...EMPTY_LIVE };
  }
}

export function liveText(l: LiveStatus): string {
  if (!l.reachable) return `No running kafka-backup job answers at ${l.url} (${l.error}). Is a backup or restore running with this config's metrics section?`;
  const health = typeof l.health?.status === 'string' ? l.health.status : 'unknown';
  const lines = [`kafka-backup ${l.mode ?? ''} of ${l.backup_id ?? '?'}: ${health}   (${l.url}, ${new Date().toISOString()})`];
  if (l.mode === 'restore') {
    lines.push(
      `  Records restored: ${num(l.restore_records)}   Bytes: ${bytes(l.restore_bytes)}   Partitions done: ${l.restore_partitions_completed}/${l.restore_partitions}`,
      `  Throughput: ${num(Math.round(l.throughput_records_per_second))} records/s, ${bytes(Math.round(l.throughput_bytes_per_second))}/s   Errors: ${l.errors}`,
    );
    return lines.join('\n');
  }
  lines.push(
    `  Records: ${num(l.records)}   Kafka bytes: ${bytes(l.kafka_bytes)}   Stored: ${bytes(l.stored_bytes)}   Segments: ${num(l.segments)}`,
    `  Throughput: ${num(Math.round(l.throughput_records_per_second))} records/s, ${bytes(Math.round(l.throughput_bytes_per_second))}/s   Lag: ${num(l.lag_records)} records   Errors: ${l.errors}   Retries: ${l.retries}`,
    '',
  );
  const rows = l.partitions.map((p) => [p.topic, p.partition, p.offset === null ? '-' : String(p.offset), num(p.lag), num(p.records)]);
  lines.push(...columns([['TOPIC', 'PARTITION', 'OFFSET', 'LAG', 'RECORDS'], ...rows], 2).map((x) => `  ${x}`));
  return lines.join('\n');
}
