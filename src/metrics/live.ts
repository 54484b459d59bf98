/** `status --config`: what the running job's metrics endpoint says. */
import type { MetricsConfig } from '../config/types.js';
import { parsePromText, sumOf, type PromSample } from './prom-text.js';

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
    if (!p) {
      p = { topic: s.labels.topic ?? '', partition: s.labels.partition ?? '', offset: null, lag: 0, records: 0 };
      parts.set(k, p);
    }
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

const EMPTY_LIVE = {
  records: 0,
  kafka_bytes: 0,
  stored_bytes: 0,
  segments: 0,
  lag_records: 0,
  throughput_records_per_second: 0,
  throughput_bytes_per_second: 0,
  errors: 0,
  retries: 0,
  restore_records: 0,
  restore_bytes: 0,
  restore_partitions: 0,
  restore_partitions_completed: 0,
  partitions: [],
};

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
