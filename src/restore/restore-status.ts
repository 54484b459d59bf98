/** `status --path … --backup-id … --restore-id [ID]`: a restore's progress from what it stored, per partition and per worker. */
import { listRestores } from '../format/restores.js';
import { readRestoreState } from '../format/restore-state.js';
import type { ObjectStore } from '../storage/store.js';
import { UserError } from '../util/errors.js';
import { readPartitionStates } from './workers/ownership.js';
import { readRestoreWorkerReports } from './workers/status.js';

export interface RestorePartitionStatus {
  topic: string;
  partition: number;
  /** Records this restore wrote into the partition (acknowledged and in the offset map). */
  produced: number;
  done: boolean;
  /** Distributed restore: the worker holding the partition (null when released or never taken). */
  owner: { host: string; pid: number; member_id: string; group_generation: number; epoch: number } | null;
}

export interface RestoreWorkerLine {
  member_id: string;
  host: string;
  pid: number;
  group_generation: number;
  /** Target partitions this worker holds, and those assigned to it that it has not taken over yet. */
  owns: string[];
  waiting_for: string[];
  records_restored: number;
  bytes_restored: number;
  partitions_done: number;
  records_per_second: number;
  bytes_per_second: number;
  updated_at: number;
  /** False once its report is older than it promised (live_until): the worker was killed or hangs. */
  live: boolean;
}

export interface RestoreStatus {
  backup_id: string;
  restore_id: string;
  /** `workers` for restore.workers, else `single`. */
  mode: 'workers' | 'single';
  group_id: string | null;
  started_at: number;
  updated_at: number;
  completed_at: number | null;
  records_restored: number;
  partitions_total: number;
  partitions_done: number;
  partitions: RestorePartitionStatus[];
  workers: RestoreWorkerLine[];
}

/** One restore of a backup, as `--restore-id` (without an id) lists them. */
export interface RestoreListEntry {
  restore_id: string;
  started_at: number;
  completed_at: number | null;
  records_restored: number;
  live_workers: number;
}

export async function listRestoresStatus(store: ObjectStore, backupId: string, now = Date.now()): Promise<RestoreListEntry[]> {
  const out: RestoreListEntry[] = [];
  for (const r of await listRestores(store, backupId)) {
    const workers = await readRestoreWorkerReports(store, backupId, r.restoreId);
    const s = await loadRestoreStatus(store, backupId, r.restoreId, now);
    out.push({
      restore_id: r.restoreId,
      started_at: r.state.started_at,
      completed_at: r.state.completed_at,
      records_restored: s.records_restored,
      live_workers: workers.filter((w) => w.live_until > now).length,
    });
  }
  return out;
}

function splitKey(k: string): { topic: string; partition: number } {
  const i = k.lastIndexOf('/');
  return { topic: k.slice(0, i), partition: Number(k.slice(i + 1)) };
}

export async function loadRestoreStatus(store: ObjectStore, backupId: string, restoreId: string, now = Date.now()): Promise<RestoreStatus> {
  const state = await readRestoreState(store, backupId, restoreId);
  if (!state) {
    const known = (await listRestores(store, backupId)).map((r) => r.restoreId);
    throw new UserError(
      'NOT_FOUND',
      `--restore-id ${restoreId}: backup "${backupId}" has no such restore; its restores: ${known.length ? known.join(', ') : 'none'} (give --restore-id without a value to list them)`,
    );
  }
  const keys = Object.keys(state.partitions).sort();
  const parts = keys.map(splitKey);
  const per = await readPartitionStates(store, backupId, restoreId, parts);
  const distributed = state.workers !== undefined || per.size > 0;
  const partitions: RestorePartitionStatus[] = parts.map(({ topic, partition }) => {
    const s = per.get(`${topic}/${partition}`);
    const o = s?.owner;
    return {
      topic,
      partition,
      produced: s?.state.produced ?? state.partitions[`${topic}/${partition}`]!.produced,
      done: s?.done ?? state.completed_at !== null,
      owner: o ? { host: o.host, pid: o.pid, member_id: o.member_id, group_generation: o.group_generation, epoch: o.epoch } : null,
    };
  });
  const reports = await readRestoreWorkerReports(store, backupId, restoreId);
  return {
    backup_id: backupId,
    restore_id: restoreId,
    mode: distributed ? 'workers' : 'single',
    group_id: state.workers?.group_id ?? reports[0]?.group_id ?? null,
    started_at: state.started_at,
    updated_at: Math.max(state.updated_at, ...[...per.values()].map((s) => s.updated_at)),
    completed_at: state.completed_at,
    records_restored: partitions.reduce((n, p) => n + p.produced, 0),
    partitions_total: partitions.length,
    partitions_done: partitions.filter((p) => p.done).length,
    partitions,
    workers: reports.map((w) => ({
      member_id: w.member_id,
      host: w.host,
      pid: w.pid,
      group_generation: w.group_generation,
      owns: w.partitions.filter((p) => p.owned).map((p) => `${p.topic}/${p.partition}`),
      waiting_for: w.partitions.filter((p) => !p.owned && !p.done).map((p) => `${p.topic}/${p.partition}`),
      records_restored: w.records_restored,
      bytes_restored: w.bytes_restored,
      partitions_done: w.partitions_done,
      records_per_second: w.records_per_second,
      bytes_per_second: w.bytes_per_second,
      updated_at: w.updated_at,
      live: w.live_until > now,
    })),
  };
}
