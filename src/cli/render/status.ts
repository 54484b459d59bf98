import type { BackupStatus } from '../../backup/status.js';
import type { LiveStatus } from '../../metrics/live.js';
import { humanDuration, isoMs } from '../../util/time.js';
import { bytes, columns, num } from '../output.js';

function ago(ms: number, now: number): string {
  return `${humanDuration(Math.max(0, now - ms))} ago`;
}

export function statusText(s: BackupStatus, now = Date.now()): string {
  const live = s.live_records_behind !== undefined;
  const lines = [`Backup ${s.backup_id} (${s.mode})`, `  Status:          ${s.status}`];
  if (s.status === 'running') {
    lines.push(
      `                   (a running backup rewrites the manifest every sync interval; if no backup process is running any more it was interrupted: run the same backup again to resume)`,
    );
  }
  lines.push(`  Started:         ${isoMs(s.created_at)}`, `  Last checkpoint: ${isoMs(s.updated_at)} (${ago(s.updated_at, now)}; manifest)`);
  if (s.last_progress_at !== null) lines.push(`  Last progress:   ${isoMs(s.last_progress_at)} (${ago(s.last_progress_at, now)}; newest partition index)`);
  if (s.completed_at !== null) lines.push(`  Finished:        ${isoMs(s.completed_at)}`);
  lines.push(
    `  Records: ${num(s.records)}   Segments: ${num(s.segments)}   Stored: ${bytes(s.stored_bytes)}`,
    `  Records behind the end offsets recorded at start: ${num(s.records_behind)}` +
      (live ? `   behind the current end offsets: ${num(s.live_records_behind ?? 0)}` : ''),
    '',
  );
  const head = ['TOPIC', 'PARTITION', 'POSITION', 'END AT START', 'BEHIND', ...(live ? ['END NOW', 'BEHIND NOW'] : []), 'RECORDS', 'LAST SEGMENT'];
  const rows = s.partitions.map((p) => [
    p.topic,
    String(p.partition),
    p.position === null ? '-' : String(p.position),
    String(p.end_offset_at_start),
    num(p.records_behind),
    ...(live
      ? [p.live_end_offset === undefined ? '-' : String(p.live_end_offset), p.live_records_behind === undefined ? '-' : num(p.live_records_behind)]
      : []),
    num(p.records),
    p.last_segment_at === null ? '-' : `${isoMs(p.last_segment_at)} (${ago(p.last_segment_at, now)})`,
  ]);
  lines.push(...columns([head, ...rows], 2).map((l) => `  ${l}`));
  if (s.workers?.length) {
    const gen = Math.max(...s.workers.map((w) => w.group_generation));
    lines.push('', `  Workers (group generation ${gen}; a worker whose last report is older than a few sync intervals has stopped):`);
    const wrows = s.workers.map((w) => [
      `${w.host}:${w.pid}`,
      String(w.group_generation),
      String(w.partitions.length),
      num(w.records_behind),
      `${num(w.records_per_second)}/s`,
      `${isoMs(w.updated_at)} (${ago(w.updated_at, now)})`,
      w.partitions.join(' '),
    ]);
    lines.push(...columns([['WORKER', 'GENERATION', 'PARTITIONS', 'BEHIND', 'THROUGHPUT', 'LAST REPORT', 'OWNS'], ...wrows], 2).map((l) => `  ${l}`));
  }
  return lines.join('\n');
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
