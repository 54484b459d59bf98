/**
 * Consumer-group offset reset after a restore: which committed offsets (the backup's group
 * snapshot, or the user's), how they translate to the target (exact map, headers, timestamps),
 * the active-member check, the commit, and the per-group report.
 */
import { readJsonObject } from '../format/json-object.js';
import { keys } from '../format/layout.js';
import { groupSnapshotSchema, type GroupSnapshot } from '../format/manifest.js';
import { EARLIEST, KafkaAdmin, LATEST } from '../kafka/admin.js';
import { KafkaCluster } from '../kafka/cluster.js';
import { fetchPartition } from '../kafka/fetcher.js';
import { decodeBatch, readBatchHeader, splitBatches } from '../kafka/protocol/record-batch.js';
import { restoreIdFor } from '../restore/engine.js';
import { readOriginalOffset } from '../restore/headers.js';
import type { RestoreOptions } from '../restore/options.js';
import { planRestore, type PlannedPartition, type RestorePlan } from '../restore/plan.js';
import { readSegmentBatches } from '../restore/segment-source.js';
import type { RestoreState } from '../format/restore-state.js';
import { RestoreStateStore } from '../restore/state-store.js';
import type { ObjectStore } from '../storage/store.js';
import { UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { chooseSnapshot, searchByHeader, timestampLookup, translateExact, type SourceCommit, type SourceRecordTime, type Technique } from './translate.js';

const log = logger('offsets');

export type ResetStrategy = Technique;

/** group → source topic → source partition → committed source offset (the `manual_offsets` shape). */
export type CommittedOffsets = Record<string, Record<string, Record<number, number>>>;

export interface GroupResetOptions {
  /** The restore whose target the groups are moved to (same options as the restore itself). */
  restore: RestoreOptions;
  strategy: ResetStrategy;
  /** Groups to reset; empty = every group of the chosen snapshot (or of manualOffsets). */
  groups: string[];
  /** For `manual`: the committed source offsets, translated with the restore's exact map. */
  manualOffsets?: CommittedOffsets;
  /** Compute and report, commit nothing. */
  dryRun?: boolean;
}

export interface PartitionReset {
  targetTopic: string;
  targetPartition: number;
  /** The source positions this target position stands for (several when partitions were merged). */
  sources: SourceCommit[];
  /** The group's committed offset on the target before the reset (null = none). */
  before: number | null;
  after: number;
  /** Records at or after `after` the group had already consumed on the source. */
  duplicates: number;
  /** `duplicates` is an upper bound (timestamp-based), not an exact count. */
  duplicatesApproximate: boolean;
  /** No restored record is left to read for this group here. */
  atEnd: boolean;
}

export type GroupStatus = 'reset' | 'planned' | 'refused' | 'no-offsets';

export interface GroupReset {
  groupId: string;
  technique: ResetStrategy;
  status: GroupStatus;
  reason?: string;
  partitions: PartitionReset[];
}

export interface ResetReport {
  backupId: string;
  restoreId: string;
  technique: ResetStrategy;
  /** Where the committed source offsets came from. */
  offsetsFrom: { kind: 'snapshot'; takenAt: number; key: string } | { kind: 'manual' };
  dryRun: boolean;
  warnings: string[];
  groups: GroupReset[];
}

/** Every consumer-group snapshot of a backup. */
export async function loadGroupSnapshots(store: ObjectStore, backupId: string): Promise<{ key: string; snapshot: GroupSnapshot }[]> {
  const out: { key: string; snapshot: GroupSnapshot }[] = [];
  for await (const m of store.list(keys.groupsPrefix(backupId))) {
    if (!m.key.endsWith('.json')) continue;
    const s = await readJsonObject(store, m.key, groupSnapshotSchema);
    if (s) out.push({ key: m.key, snapshot: s });
  }
  return out;
}

export async function loadRestoreState(opts: RestoreOptions): Promise<RestoreState | undefined> {
  return new RestoreStateStore(opts.store, opts.backupId, restoreIdFor(opts), opts.checkpointState).load();
}

/** The committed source offsets to translate: the user's (manual) or the right snapshot's. */
async function committedOffsets(o: GroupResetOptions, warnings: string[]): Promise<{ offsets: CommittedOffsets; from: ResetReport['offsetsFrom'] }> {
  if (o.strategy === 'manual') {
    if (!o.manualOffsets || Object.keys(o.manualOffsets).length === 0) {
      throw new UserError('CONFIG', 'consumer_group_strategy: manual needs restore.manual_offsets: {group: {source topic: {partition: committed source offset}}}');
    }
    return { offsets: o.manualOffsets, from: { kind: 'manual' } };
  }
  const snaps = await loadGroupSnapshots(o.restore.store, o.restore.backupId);
  const chosen = chooseSnapshot(snaps.map((s) => ({ taken_at: s.snapshot.taken_at, s })), o.restore.windowEnd);
  if (!chosen.snapshot) throw new UserError('NO_GROUP_SNAPSHOT', `backup ${o.restore.backupId} has no consumer-group snapshot (${keys.groupsPrefix(o.restore.backupId)}*.json); nothing to translate (use consumer_group_strategy: manual with restore.manual_offsets)`);
  if (chosen.warning) warnings.push(chosen.warning);
  const offsets: CommittedOffsets = {};
  for (const g of chosen.snapshot.s.snapshot.groups) {
    const topics: Record<string, Record<number, number>> = {};
    for (const [t, parts] of Object.entries(g.offsets)) topics[t] = Object.fromEntries(Object.entries(parts).map(([p, off]) => [Number(p), off]));
    offsets[g.group_id] = topics;
  }
  return { offsets, from: { kind: 'snapshot', takenAt: chosen.snapshot.taken_at, key: chosen.snapshot.s.key } };
}

/** What a reset after the restore will do, or why it cannot, known before any data is written. */
export interface ResetPreview {
  technique: ResetStrategy;
  /** Groups that will be reset (the configured ones, or those of the snapshot used). */
  groups: string[];
  offsetsFrom?: ResetReport['offsetsFrom'];
  warnings: string[];
  /** Reasons the reset cannot work; `restore` refuses to start when there is one. */
  problems: string[];
}

/**
 * The reset's inputs checked against the backup and the plan: the group snapshot it translates
 * (or manual_offsets) exists, and a technique that needs one source per target partition is not
 * used on merged partitions. `restore` runs this before writing anything; validate-restore prints it.
 */
export async function previewReset(o: Omit<GroupResetOptions, 'dryRun'>, plan: RestorePlan): Promise<ResetPreview> {
  const warnings: string[] = [];
  const problems: string[] = [];
  let offsets: CommittedOffsets = {};
  let from: ResetReport['offsetsFrom'] | undefined;
  try {
    ({ offsets, from } = await committedOffsets(o, warnings));
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    problems.push(err.message);
  }
  if (o.strategy === 'header-based' || o.strategy === 'timestamp-based') {
    for (const tp of targetPartitionPlans(plan).values()) {
      if (tp.targetPartition === -1) problems.push(`${tp.targetTopic} is repartitioned (restore.repartitioning): ${o.strategy} needs one source per target partition; use consumer_group_strategy: exact (the restore's offset map)`);
      else if (tp.sources.length > 1) problems.push(`${tp.targetTopic}/${tp.targetPartition} holds records of several source partitions (${tp.sources.map((s) => `${s.sourceTopic}/${s.sourcePartition}`).join(', ')}): ${o.strategy} needs one source per target partition; use consumer_group_strategy: exact (the restore's offset map)`);
    }
  }
  return { technique: o.strategy, groups: o.groups.length ? o.groups : Object.keys(offsets).sort(), offsetsFrom: from, warnings, problems };
}

/** The planned partitions grouped by the target partition they are written to. */
function targetPartitionPlans(plan: RestorePlan): Map<string, TargetPartitionPlan> {
  const targets = new Map<string, TargetPartitionPlan>();
  for (const t of plan.topics) {
    for (const p of t.partitions) {
      const k = `${p.targetTopic}/${p.targetPartition}`;
      const tp = targets.get(k) ?? { targetTopic: p.targetTopic, targetPartition: p.targetPartition, sources: [] };
      tp.sources.push(p);
      targets.set(k, tp);
    }
  }
  return targets;
}

interface TargetPartitionPlan {
  targetTopic: string;
  targetPartition: number;
  sources: PlannedPartition[];
}

/** Translates the committed offsets of the groups to the restore's target, and (unless dryRun) commits them. */
export async function resetGroupOffsets(o: GroupResetOptions): Promise<ResetReport> {
  const r = o.restore;
  if (!r.target) throw new UserError('CONFIG', 'target.bootstrap_servers is required to reset consumer-group offsets');
  const warnings: string[] = [];
  const restoreId = restoreIdFor(r);
  const { offsets, from } = await committedOffsets(o, warnings);
  const plan = await planRestore(r);
  if (plan.errors.length) throw new UserError('INVALID_RESTORE', `restore configuration is not valid:\n  - ${plan.errors.join('\n  - ')}`);
  const targets = targetPartitionPlans(plan);

  const technique = o.strategy;
  const needsMap = technique === 'exact' || technique === 'manual';
  const state = await loadRestoreState(r);
  if (needsMap && !state) {
    throw new UserError('NO_OFFSET_MAP', `no stored offset map for this restore (${keys.restoreState(r.backupId, restoreId)}): run the restore with this configuration first (the map is tied to the backup, the target and the selection)`);
  }
  if (needsMap && state && state.completed_at === null) warnings.push(`restore ${restoreId} has not finished: only the records restored so far are mapped`);

  const groupIds = o.groups.length ? o.groups : Object.keys(offsets).sort();
  const admin = new KafkaAdmin(r.target);
  const cluster = technique === 'header-based' ? await KafkaCluster.connect(r.target) : undefined;
  const groups: GroupReset[] = [];
  try {
    const described = new Map((await admin.describeGroups(groupIds)).map((d) => [d.groupId, d]));
    for (const groupId of groupIds) {
      const committed = offsets[groupId];
      if (!committed) {
        groups.push({ groupId, technique, status: 'no-offsets', reason: from.kind === 'manual' ? 'not in restore.manual_offsets' : 'the group has no committed offsets on a backed-up topic in the snapshot', partitions: [] });
        continue;
      }
      const d = described.get(groupId);
      if (d && d.members.length > 0) {
        const who = d.members.map((m) => `${m.memberId} (client ${m.clientId}${m.clientHost ? ` on ${m.clientHost}` : ''})`).join(', ');
        groups.push({ groupId, technique, status: 'refused', reason: `group ${groupId} has ${d.members.length} active member(s) on the target: ${who}; stop its consumers and run the reset again`, partitions: [] });
        continue;
      }
      const partitions: PartitionReset[] = [];
      for (const tp of targets.values()) {
        const commits: SourceCommit[] = [];
        for (const s of tp.sources) {
          const c = committed[s.sourceTopic]?.[s.sourcePartition];
          if (c !== undefined) commits.push({ topic: s.sourceTopic, partition: s.sourcePartition, offset: c });
        }
        if (commits.length === 0) continue;
        partitions.push(await translatePartition(technique, r, tp, commits, state, admin, cluster));
      }
      if (partitions.length === 0) {
        groups.push({ groupId, technique, status: 'no-offsets', reason: 'none of its committed partitions was restored', partitions });
        continue;
      }
      const before = (await admin.groupOffsets([groupId]))[0]?.offsets;
      for (const p of partitions) {
        const b = before?.get(p.targetTopic)?.get(p.targetPartition);
        p.before = b ? Number(b.offset) : null;
      }
      if (!o.dryRun) {
        const commit = new Map<string, Map<number, bigint>>();
        for (const p of partitions) {
          const m = commit.get(p.targetTopic) ?? new Map<number, bigint>();
          m.set(p.targetPartition, BigInt(p.after));
          commit.set(p.targetTopic, m);
        }
        await admin.commitGroupOffsets(groupId, commit);
        log.info({ groupId, partitions: partitions.length, technique }, 'consumer group offsets reset');
      }
      groups.push({ groupId, technique, status: o.dryRun ? 'planned' : 'reset', partitions });
    }
  } finally {
    await admin.close();
    await cluster?.close();
  }
  return { backupId: r.backupId, restoreId, technique, offsetsFrom: from, dryRun: o.dryRun ?? false, warnings, groups };
}

async function translatePartition(
  technique: ResetStrategy,
  r: RestoreOptions,
  tp: TargetPartitionPlan,
  commits: SourceCommit[],
  state: RestoreState | undefined,
  admin: KafkaAdmin,
  cluster: KafkaCluster | undefined,
): Promise<PartitionReset> {
  const key = `${tp.targetTopic}/${tp.targetPartition}`;
  const base = { targetTopic: tp.targetTopic, targetPartition: tp.targetPartition, sources: commits, before: null };
  if (technique === 'exact' || technique === 'manual') {
    const ps = state?.partitions[key];
    if (!ps) throw new UserError('NO_OFFSET_MAP', `the stored restore state has no offset map for ${key}: the restore did not reach it`);
    const t = translateExact(ps.runs, commits, ps.initial_end_offset + ps.produced);
    return { ...base, after: t.targetOffset, duplicates: t.duplicates, duplicatesApproximate: false, atEnd: t.atEnd };
  }
  if (tp.sources.length > 1) {
    throw new UserError(
      'MERGED_PARTITION',
      `${key} holds records of several source partitions (${tp.sources.map((s) => `${s.sourceTopic}/${s.sourcePartition}`).join(', ')}): ${technique} translation needs one source per target partition; use consumer_group_strategy: exact (the restore's offset map)`,
    );
  }
  const commit = commits[0]!;
  const start = state?.partitions[key]?.initial_end_offset ?? Number((await admin.listOffsets(tp.targetTopic, [tp.targetPartition], EARLIEST)).get(tp.targetPartition) ?? 0n);
  const end = Number((await admin.listOffsets(tp.targetTopic, [tp.targetPartition], LATEST)).get(tp.targetPartition) ?? 0n);
  if (technique === 'header-based') {
    const probe = async (offset: number): Promise<{ offset: number; original: number | undefined } | undefined> => {
      const res = await fetchPartition(cluster!, tp.targetTopic, tp.targetPartition, BigInt(offset), { maxWaitMs: 0, maxBytes: 1024 * 1024 });
      for (const b of splitBatches(res.records).batches) {
        if (readBatchHeader(b).isControl) continue;
        for (const rec of decodeBatch(b).records) {
          if (rec.offset < BigInt(offset)) continue;
          const orig = readOriginalOffset(rec.headers);
          return { offset: Number(rec.offset), original: orig === undefined ? undefined : Number(orig) };
        }
      }
      return undefined;
    };
    const t = await searchByHeader(probe, commit.offset, start, end).catch((err: unknown) => {
      throw new UserError('NO_OFFSET_HEADERS', `${key}: ${(err as Error).message}`);
    });
    return { ...base, after: t.targetOffset, duplicates: 0, duplicatesApproximate: false, atEnd: t.atEnd };
  }
  // timestamp-based
  const records = await restoredRecordTimes(r, tp.sources[0]!);
  const look = timestampLookup(records, commit.offset);
  if (look.timestamp === undefined) return { ...base, after: end, duplicates: 0, duplicatesApproximate: true, atEnd: true };
  const found = (await admin.listOffsets(tp.targetTopic, [tp.targetPartition], BigInt(look.timestamp))).get(tp.targetPartition);
  const after = found === undefined || found < 0n ? end : Math.min(end, Math.max(start, Number(found)));
  return { ...base, after, duplicates: look.duplicatesAtMost, duplicatesApproximate: true, atEnd: after >= end };
}

/**
 * Offsets and timestamps of the records of one source partition that the restore writes:
 * data records of the planned segments inside the window. Aborted transactions are not
 * filtered out (this is the approximate technique; they only make the duplicate bound larger).
 */
async function restoredRecordTimes(r: RestoreOptions, pp: PlannedPartition): Promise<SourceRecordTime[]> {
  const out: SourceRecordTime[] = [];
  const lo = r.windowStart === undefined ? undefined : BigInt(r.windowStart);
  const hi = r.windowEnd === undefined ? undefined : BigInt(r.windowEnd);
  for (const seg of pp.segments) {
    for await (const { batch } of readSegmentBatches(r.store, seg.entry, { windowStart: r.windowStart, windowEnd: r.windowEnd })) {
      if (readBatchHeader(batch).isControl) continue;
      for (const rec of decodeBatch(batch).records) {
        if ((lo !== undefined && rec.timestamp < lo) || (hi !== undefined && rec.timestamp > hi)) continue;
        out.push({ offset: Number(rec.offset), timestamp: Number(rec.timestamp) });
      }
    }
  }
  return out;
}

/** Groups that could not be reset (active members), for the caller's exit status. */
export function refusedGroups(rep: ResetReport): GroupReset[] {
  return rep.groups.filter((g) => g.status === 'refused');
}
