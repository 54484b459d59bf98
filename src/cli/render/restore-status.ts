import type { RestoreListEntry, RestoreStatus } from '../../restore/index.js';
import { humanDuration, isoMs } from '../../util/time.js';
import { bytes, columns, num } from '../output.js';

function ago(ms: number, now: number): string {
  return `${humanDuration(Math.max(0, now - ms))} ago`;
}

export function restoreStatusText(s: RestoreStatus, now = Date.now()): string {
  const state = s.completed_at !== null ? `finished ${isoMs(s.completed_at)}` : 'not finished (running, or interrupted: run the same restore again to resume)';
  const lines = [
    `Restore ${s.restore_id} of backup ${s.backup_id} (${s.mode === 'workers' ? `restore.workers group ${s.group_id ?? '?'}` : 'single process'})`,
    `  Status:        ${state}`,
    `  Started:       ${isoMs(s.started_at)}`,
    `  Last progress: ${isoMs(s.updated_at)} (${ago(s.updated_at, now)})`,
    `  Records restored: ${num(s.records_restored)}   Partitions done: ${s.partitions_done}/${s.partitions_total}`,
    '',
  ];
  const rows = s.partitions.map((p) => [
    p.topic,
    String(p.partition),
    num(p.produced),
    p.done ? 'yes' : 'no',
    p.owner ? `${p.owner.host}:${p.owner.pid} (epoch ${p.owner.epoch}, generation ${p.owner.group_generation})` : '-',
  ]);
  lines.push(...columns([['TARGET TOPIC', 'PARTITION', 'RESTORED', 'DONE', 'OWNER'], ...rows], 2).map((l) => `  ${l}`));
  if (s.workers.length) {
    const gen = Math.max(...s.workers.map((w) => w.group_generation));
    lines.push('', `  Workers (group generation ${gen}; "gone" = its last report is older than it promised: killed or hung):`);
    const wrows = s.workers.map((w) => [
      `${w.host}:${w.pid}${w.live ? '' : ' (gone)'}`,
      String(w.group_generation),
      num(w.records_restored),
      bytes(w.bytes_restored),
      String(w.partitions_done),
      `${num(w.records_per_second)}/s ${bytes(w.bytes_per_second)}/s`,
      `${isoMs(w.updated_at)} (${ago(w.updated_at, now)})`,
      w.owns.join(' ') + (w.waiting_for.length ? ` (waiting for ${w.waiting_for.join(' ')})` : ''),
    ]);
    lines.push(...columns([['WORKER', 'GENERATION', 'RECORDS', 'BYTES', 'DONE', 'THROUGHPUT', 'LAST REPORT', 'OWNS'], ...wrows], 2).map((l) => `  ${l}`));
  }
  return lines.join('\n');
}

export function restoreListText(backupId: string, list: RestoreListEntry[]): string {
  if (list.length === 0) return `Backup ${backupId} has no restores.`;
  const rows = list.map((r) => [
    r.restore_id,
    isoMs(r.started_at),
    r.completed_at === null ? 'no' : isoMs(r.completed_at),
    num(r.records_restored),
    String(r.live_workers),
  ]);
  return [
    `Restores of backup ${backupId}:`,
    ...columns([['RESTORE ID', 'STARTED', 'FINISHED', 'RESTORED', 'LIVE WORKERS'], ...rows], 2).map((l) => `  ${l}`),
  ].join('\n');
}
