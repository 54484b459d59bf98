/**
 * Offset plans from what a backup store already holds, without a restore config: the stored
 * restore state(s) of a backup (the exact offset map) and the backup's consumer-group snapshots.
 * Used by `offset-reset plan|execute|script` and `offset-reset-bulk`.
 *
 * Which restore: the one named (`--restore-id`), else the latest completed one (the choice is
 * reported). Which snapshot: the same rule as a reset after a restore (the latest one taken at or
 * before the restore's window end, read from the restore's report). The target end offset of a
 * partition is its end as restored (initial end + records written).
 */
import { readManifest } from '../format/manifest.js';
import type { RestoreState } from '../format/restore-state.js';
import { listRestores } from '../format/restores.js';
import { KafkaAdmin } from '../kafka/admin.js';
import type { KafkaConnectionSettings } from '../kafka/security.js';
import type { ObjectStore } from '../storage/store.js';
import { UserError } from '../util/errors.js';
import { isoMs } from '../util/time.js';
import { fillBefore } from './apply.js';
import { snapshotOffsets } from './committed.js';
import type { CommittedOffsets, GroupReset, PartitionReset, ResetReport } from './report.js';
import { sourcesOf, translateExact, type SourceCommit } from './translate.js';

/** One stored restore of a backup, as the offset commands use it. */
export interface StoredRestore {
  restoreId: string;
  state: RestoreState;
  startedAt: number;
  completedAt: number | null;
  /** The restore's time window (from its report; unknown for an unfinished restore). */
  windowStart: number | undefined;
  windowEnd: number | undefined;
}

/** Every restore of a backup that left a state (with its exact offset map), oldest first. */
export async function loadStoredRestores(store: ObjectStore, backupId: string): Promise<StoredRestore[]> {
  return (await listRestores(store, backupId)).map((r) => ({
    restoreId: r.restoreId,
    state: r.state,
    startedAt: r.state.started_at,
    completedAt: r.state.completed_at,
    windowStart: r.report?.time_window_start ?? undefined,
    windowEnd: r.report?.time_window_end ?? undefined,
  }));
}

/**
 * The restore to plan against: `requested` when given, else the latest completed one.
 * Returns the restore and a sentence saying which one was chosen and why.
 */
export function chooseRestore(
  restores: readonly StoredRestore[],
  backupId: string,
  requested?: string,
): { restore: StoredRestore; why: string; warnings: string[] } {
  const warnings: string[] = [];
  if (restores.length === 0) {
    throw new UserError(
      'NO_RESTORE',
      `backup ${backupId} has no stored restore (${backupId}/restores/*/state.json): restore it first; the offset map of that restore is what the offsets are translated with`,
    );
  }
  if (requested) {
    const r = restores.find((x) => x.restoreId === requested);
    if (!r) throw new UserError('NO_RESTORE', `backup ${backupId} has no restore ${requested}; its restores: ${restores.map((x) => x.restoreId).join(', ')}`);
    if (r.completedAt === null)
      warnings.push(
        `restore ${r.restoreId} has not finished: only the records restored so far are mapped, and its time window is unknown (the latest group snapshot is used)`,
      );
    return { restore: r, why: `restore ${r.restoreId} (as asked${r.completedAt !== null ? `, completed ${isoMs(r.completedAt)}` : ', unfinished'})`, warnings };
  }
  const done = restores.filter((x) => x.completedAt !== null).sort((a, b) => b.completedAt! - a.completedAt!);
  if (done.length === 0) {
    throw new UserError(
      'NO_RESTORE',
      `backup ${backupId} has no completed restore (unfinished: ${restores.map((x) => x.restoreId).join(', ')}); finish it (run it again), or pass --restore-id to plan against what it restored so far`,
    );
  }
  const r = done[0]!;
  const others = done
    .slice(1)
    .map((x) => x.restoreId)
    .join(', ');
  const why =
    done.length === 1
      ? `restore ${r.restoreId} (completed ${isoMs(r.completedAt)}, the only completed restore)`
      : `restore ${r.restoreId} (completed ${isoMs(r.completedAt)}, the latest of ${done.length} completed restores; --restore-id picks another: ${others})`;
  return { restore: r, why, warnings };
}

export interface OffsetPlan {
  /** Per-group plan (status `planned` or `no-offsets`), in the shape of a reset report. */
  report: ResetReport;
  restore: StoredRestore;
  /** Which restore was used, and why. */
  restoreChoice: string;
  generatedAt: number;
  /** The backup's source cluster id (null when unknown or the manifest is unreadable). */
  sourceClusterId: string | null;
}

export interface PlanOptions {
  store: ObjectStore;
  backupId: string;
  /** Empty = every group of the chosen snapshot. */
  groups: string[];
  restoreId?: string;
  /** Also read each group's current offsets (`before`) on this cluster; nothing is changed there. */
  target?: KafkaConnectionSettings;
}

/** Target partitions of a stored restore: runs, sources and end offset as restored. */
export function targetPartitions(
  state: RestoreState,
): { targetTopic: string; targetPartition: number; end: number; runs: RestoreState['partitions'][string]['runs'] }[] {
  return Object.entries(state.partitions)
    .map(([k, ps]) => {
      const slash = k.lastIndexOf('/');
      return { targetTopic: k.slice(0, slash), targetPartition: Number(k.slice(slash + 1)), end: ps.initial_end_offset + ps.produced, runs: ps.runs };
    })
    .sort((a, b) => a.targetTopic.localeCompare(b.targetTopic) || a.targetPartition - b.targetPartition);
}

/** Translates the committed offsets of one group against a stored restore (exact). */
export function planGroup(groupId: string, committed: CommittedOffsets[string] | undefined, state: RestoreState): GroupReset {
  if (!committed)
    return {
      groupId,
      technique: 'exact',
      status: 'no-offsets',
      reason: 'the group has no committed offsets on a backed-up topic in the snapshot',
      partitions: [],
    };
  const partitions: PartitionReset[] = [];
  for (const tp of targetPartitions(state)) {
    const commits: SourceCommit[] = [];
    for (const s of sourcesOf(tp.runs)) {
      const c = committed[s.topic]?.[s.partition];
      if (c !== undefined) commits.push({ topic: s.topic, partition: s.partition, offset: c });
    }
    if (commits.length === 0) continue;
    const t = translateExact(tp.runs, commits, tp.end);
    partitions.push({
      targetTopic: tp.targetTopic,
      targetPartition: tp.targetPartition,
      sources: commits,
      before: null,
      after: t.targetOffset,
      duplicates: t.duplicates,
      duplicatesApproximate: false,
      atEnd: t.atEnd,
    });
  }
  if (partitions.length === 0)
    return { groupId, technique: 'exact', status: 'no-offsets', reason: 'none of its committed partitions was restored', partitions };
  return { groupId, technique: 'exact', status: 'planned', partitions };
}

/** The exact plan for the chosen groups: reads the store only, changes nothing anywhere. */
export async function buildOffsetPlan(o: PlanOptions): Promise<OffsetPlan> {
  const { restore, why, warnings } = chooseRestore(await loadStoredRestores(o.store, o.backupId), o.backupId, o.restoreId);
  const { offsets, from } = await snapshotOffsets(o.store, o.backupId, restore.windowEnd, warnings, 'there are no committed offsets to translate');
  const groupIds = o.groups.length ? [...new Set(o.groups)] : Object.keys(offsets).sort();
  const groups = groupIds.map((g) => planGroup(g, offsets[g], restore.state));
  const report: ResetReport = { backupId: o.backupId, restoreId: restore.restoreId, technique: 'exact', offsetsFrom: from, dryRun: true, warnings, groups };
  if (o.target) await readCurrentOffsets(o.target, groups);
  const sourceClusterId = (await readManifest(o.store, o.backupId).catch(() => undefined))?.source_cluster_id ?? null;
  return { report, restore, restoreChoice: why, generatedAt: Date.now(), sourceClusterId };
}

async function readCurrentOffsets(target: KafkaConnectionSettings, groups: GroupReset[]): Promise<void> {
  const admin = new KafkaAdmin(target);
  try {
    await fillBefore(admin, groups);
  } finally {
    await admin.close();
  }
}
