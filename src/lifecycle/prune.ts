/**
 * `kafka-backup prune`: removes the oldest segments of a backup by a retention policy
 * (retention-policy.ts), plan-only unless `execute`. Executing takes the backup's writer lease
 * (src/backup/lease.ts): a running backup of the id makes prune refuse (that backup's own
 * backup.retention prunes under its lease instead). The order of the writes is prune-apply.ts's.
 * A prune that stopped part-way (crash, kill) is finished by the next one: ranges recorded in
 * pruned.json whose segments an index still names are unindexed, and unindexed segment objects
 * inside recorded ranges (orphans) are deleted.
 */
import { writeJsonObject } from '../format/json-object.js';
import { checkBackupId, keys } from '../format/layout.js';
import { readManifest, requireManifest, writeManifest, type Manifest } from '../format/manifest.js';
import { readPartitionIndex, type PartitionIndex, type SegmentEntry } from '../format/partition-index.js';
import { readPrunedLog, type PruneReason } from '../format/pruned.js';
import { BackupLease, LeaseHeldError, type LeaseOptions } from '../backup/lease.js';
import type { ObjectStore } from '../storage/store.js';
import { UserError } from '../util/errors.js';
import {
  deleteObjects,
  dropOldest,
  findOrphans,
  oldestKeptTime,
  unfinishedOf,
  partitionKey,
  recordAndUnindex,
  staleGroupSnapshots,
  type IndexHandle,
  type PruneHooks,
} from '../backup/retention/prune-apply.js';
import { checkPolicy, decideRetention, type RetentionPolicy } from '../backup/retention/retention-policy.js';

export interface PruneOptions {
  store: ObjectStore;
  backupId: string;
  policy: RetentionPolicy;
  /** false (default): plan only, nothing is written or deleted. */
  execute: boolean;
  /** The clock max_age counts back from (tests). */
  now?: number;
  lease?: LeaseOptions;
  hooks?: PruneHooks;
}

export interface PrunedPartitionPlan {
  topic: string;
  partition: number;
  segments: number;
  records: number;
  storedBytes: number;
  /** Offsets [fromOffset, toOffset) go. */
  fromOffset: number;
  toOffset: number;
  minTimestamp: number | null;
  maxTimestamp: number | null;
  reasons: PruneReason[];
  /** What the partition keeps: its first offset and segment count afterwards. */
  keptFromOffset: number;
  keptSegments: number;
}

export interface PruneReport {
  backupId: string;
  executed: boolean;
  partitions: PrunedPartitionPlan[];
  segments: number;
  records: number;
  storedBytes: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Segments an earlier, interrupted prune recorded but left indexed: unindexed and deleted now. */
  unfinished: { topic: string; partition: number; segments: number }[];
  /** Segment objects inside recorded pruned ranges that no index names (an interrupted prune's leftovers). */
  orphans: string[];
  /** Consumer-group snapshots older than the oldest kept data (the newest of those is kept). */
  groupSnapshots: string[];
  warnings: string[];
}

/** Plans, and with `execute` carries out, a prune of one backup. */
export async function runPrune(opts: PruneOptions): Promise<PruneReport> {
  checkBackupId(opts.backupId);
  checkPolicy(opts.policy, 'prune');
  await requireManifest(opts.store, opts.backupId);
  if (!opts.execute) return pruneHeld(opts, opts.store);
  let lease: BackupLease;
  try {
    lease = await BackupLease.acquire(opts.store, opts.backupId, opts.lease);
  } catch (err) {
    if (err instanceof LeaseHeldError) {
      throw new UserError(
        'LEASE_HELD',
        `prune refused: ${err.message}. Prune never runs beside a backup of the same id: stop it first, or give that backup backup.retention so it prunes under its own lease`,
      );
    }
    throw err;
  }
  return lease.run(opts.store, undefined, (store) => pruneHeld(opts, store));
}

interface PartitionState {
  topic: string;
  partition: number;
  index: PartitionIndex;
  /** Indexed segments an earlier prune already recorded as removed. */
  unfinished: SegmentEntry[];
}

async function pruneHeld(opts: PruneOptions, store: ObjectStore): Promise<PruneReport> {
  const { backupId } = opts;
  // Read again under the lease: a backup that ran until we took it may have rewritten it.
  const manifest = await readManifest(store, backupId);
  if (!manifest) throw new UserError('BACKUP_NOT_FOUND', `backup "${backupId}": ${keys.manifest(backupId)} disappeared while prune started`);
  const log = await readPrunedLog(store, backupId);
  const states: PartitionState[] = [];
  for (const t of manifest.topics) {
    for (const p of t.partitions) {
      const index = await readPartitionIndex(store, backupId, t.name, p.partition);
      if (!index) continue;
      states.push({ topic: t.name, partition: p.partition, index, unfinished: unfinishedOf(log, t.name, p.partition, index) });
    }
  }
  const now = opts.now ?? Date.now();
  const decision = decideRetention(
    states.map((s) => ({ topic: s.topic, partition: s.partition, segments: s.index.segments.slice(s.unfinished.length) })),
    opts.policy,
    now,
  );
  const report: PruneReport = {
    backupId,
    executed: opts.execute,
    partitions: [],
    segments: 0,
    records: 0,
    storedBytes: 0,
    bytesBefore: decision.bytesBefore,
    bytesAfter: decision.bytesAfter,
    unfinished: states.filter((s) => s.unfinished.length).map((s) => ({ topic: s.topic, partition: s.partition, segments: s.unfinished.length })),
    orphans: await findOrphans(store, backupId, states, log),
    groupSnapshots: [],
    warnings: decision.overBudget ? [decision.overBudget] : [],
  };
  const byPartition = new Map(states.map((s) => [partitionKey(s.topic, s.partition), s]));
  for (const r of decision.partitions) {
    const st = byPartition.get(partitionKey(r.topic, r.partition))!;
    const segs = r.remove.map((x) => x.entry);
    const ts = segs.flatMap((s) => (s.min_timestamp === null || s.max_timestamp === null ? [] : [s.min_timestamp, s.max_timestamp]));
    const kept = st.index.segments.slice(st.unfinished.length + segs.length);
    const plan: PrunedPartitionPlan = {
      topic: r.topic,
      partition: r.partition,
      segments: segs.length,
      records: segs.reduce((n, s) => n + s.record_count, 0),
      storedBytes: segs.reduce((n, s) => n + s.stored_bytes, 0),
      fromOffset: segs[0]!.first_offset,
      toOffset: segs.at(-1)!.last_offset + 1,
      minTimestamp: ts.length ? Math.min(...ts) : null,
      maxTimestamp: ts.length ? Math.max(...ts) : null,
      reasons: [...new Set(r.remove.map((x) => x.reason))],
      keptFromOffset: kept[0]!.first_offset,
      keptSegments: kept.length,
    };
    report.partitions.push(plan);
    report.segments += plan.segments;
    report.records += plan.records;
    report.storedBytes += plan.storedBytes;
  }
  // Snapshots older than what stays: only once something was (or is being) pruned.
  const keptIndexes = states.map((s) => ({
    ...s.index,
    segments: s.index.segments.slice(
      s.unfinished.length + (decision.partitions.find((r) => r.topic === s.topic && r.partition === s.partition)?.remove.length ?? 0),
    ),
  }));
  const cutoff = oldestKeptTime(keptIndexes);
  if (cutoff !== null && (log.ranges.length > 0 || decision.partitions.length > 0)) report.groupSnapshots = await staleGroupSnapshots(store, backupId, cutoff);
  if (!opts.execute) return report;

  const hooks = opts.hooks ?? {};
  const rewritten = new Map<string, number>();
  const saveIndex = async (st: PartitionState): Promise<void> => {
    st.index.generation = (st.index.generation ?? 0) + 1;
    st.index.manifest_generation = manifest.generation ?? 0;
    st.index.updated_at = Date.now();
    await writeJsonObject(store, keys.partitionIndex(backupId, st.topic, st.partition), st.index);
    rewritten.set(partitionKey(st.topic, st.partition), st.index.generation);
  };
  // An earlier prune's recorded removals first: their record exists already.
  const finished: string[] = [];
  for (const st of states) {
    if (st.unfinished.length === 0 || !dropOldest(st.index, st.unfinished)) continue;
    await saveIndex(st);
    finished.push(...st.unfinished.map((s) => s.key));
    await hooks.onStage?.('index-written', keys.partitionIndex(backupId, st.topic, st.partition));
  }
  const handles = new Map<string, IndexHandle>(
    states.map((st) => [
      partitionKey(st.topic, st.partition),
      {
        topic: st.topic,
        partition: st.partition,
        index: st.index,
        drop: async (removed) => {
          if (dropOldest(st.index, removed)) await saveIndex(st);
        },
      },
    ]),
  );
  const unindexed = await recordAndUnindex(store, backupId, decision.partitions, handles, 'prune', hooks);
  if (rewritten.size > 0) {
    await saveManifest(store, manifest, rewritten);
    await hooks.onStage?.('manifest-written', keys.manifest(backupId));
  }
  await deleteObjects(store, [...finished, ...unindexed, ...report.orphans], hooks);
  for (const k of report.groupSnapshots) await store.delete(k);
  if (report.groupSnapshots.length) await hooks.onStage?.('groups-deleted', `${report.groupSnapshots.length}`);
  return report;
}

/** A new manifest generation that pins the rewritten indexes' generations (docs/format.md 4.2). */
async function saveManifest(store: ObjectStore, manifest: Manifest, rewritten: ReadonlyMap<string, number>): Promise<void> {
  for (const t of manifest.topics) {
    for (const p of t.partitions) {
      const g = rewritten.get(partitionKey(t.name, p.partition));
      if (g !== undefined) p.index_generation = g;
    }
  }
  manifest.generation = (manifest.generation ?? 0) + 1;
  manifest.updated_at = Date.now();
  await writeManifest(store, manifest.backup_id, manifest);
}
