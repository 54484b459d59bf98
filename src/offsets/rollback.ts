/**
 * Offset rollback snapshots (`offset-rollback snapshot|list|show|rollback|verify|delete`): the
 * committed offsets of some groups on a cluster, saved in the store under
 *
 *   offset-snapshots/{snapshot_id}/snapshot.json    the offsets (group → topic → partition)
 *   offset-snapshots/{snapshot_id}/metadata.json    the summary `list` reads
 *
 * with ids `snap-{epoch_ms}-{8 hex}`. A snapshot is the whole committed state of each group: a
 * rollback re-commits every saved offset and deletes the offsets committed since on partitions the
 * group had none for (so a reset of a fresh group is undone too), then verifies. A group with
 * active members is never altered.
 */
import { randomBytes } from 'node:crypto';
import { Admin, type AdminOptions } from '../kafka/lib.js';
import { z } from 'zod';
import { readJsonObject, writeJsonObject } from '../format/json-object.js';
import { KafkaAdmin } from '../kafka/admin.js';
import { KafkaCluster } from '../kafka/cluster.js';
import { connectionOptions, type KafkaConnectionSettings } from '../kafka/security.js';
import type { ObjectStore } from '../storage/store.js';
import { KafkaError, UserError, errorMessage } from '../util/errors.js';
import { activeReason } from './apply.js';

export const SNAPSHOTS_PREFIX = 'offset-snapshots/';
const ID_RE = /^snap-\d{1,16}-[0-9a-f]{8}$/;

export const snapshotKeys = {
  snapshot: (id: string) => `${SNAPSHOTS_PREFIX}${checkSnapshotId(id)}/snapshot.json`,
  metadata: (id: string) => `${SNAPSHOTS_PREFIX}${checkSnapshotId(id)}/metadata.json`,
};

export function checkSnapshotId(id: string): string {
  if (!ID_RE.test(id)) throw new UserError('USAGE', `snapshot id "${id}" is not of the form snap-{epoch_ms}-{8 hex} (see offset-rollback list)`);
  return id;
}

export function newSnapshotId(now = Date.now()): string {
  return `snap-${now}-${randomBytes(4).toString('hex')}`;
}

const int = z.number().int().refine(Number.isSafeInteger);

const savedOffsetSchema = z.strictObject({ offset: int, metadata: z.string().nullable(), timestamp: int });
const groupOffsetsSchema = z.strictObject({
  group_id: z.string(),
  /** topic → partition (string key) → saved offset. */
  offsets: z.record(z.string(), z.record(z.string(), savedOffsetSchema)),
  partition_count: int,
});

export const offsetSnapshotSchema = z.strictObject({
  snapshot_id: z.string(),
  created_at: z.string(),
  group_offsets: z.record(z.string(), groupOffsetsSchema),
  restore_id: z.string().nullable(),
  cluster_id: z.string().nullable(),
  bootstrap_servers: z.array(z.string()),
  description: z.string().nullable(),
});
export type OffsetSnapshot = z.infer<typeof offsetSnapshotSchema>;

export const snapshotMetadataSchema = z.strictObject({
  snapshot_id: z.string(),
  created_at: z.string(),
  group_count: int,
  offset_count: int,
  restore_id: z.string().nullable(),
  description: z.string().nullable(),
});
export type SnapshotMetadata = z.infer<typeof snapshotMetadataSchema>;

export function snapshotMetadata(s: OffsetSnapshot): SnapshotMetadata {
  return {
    snapshot_id: s.snapshot_id,
    created_at: s.created_at,
    group_count: Object.keys(s.group_offsets).length,
    offset_count: Object.values(s.group_offsets).reduce((n, g) => n + g.partition_count, 0),
    restore_id: s.restore_id,
    description: s.description,
  };
}

async function clusterIdOf(settings: KafkaConnectionSettings): Promise<string | null> {
  const c = await KafkaCluster.connect(settings);
  try {
    return c.clusterId;
  } finally {
    await c.close();
  }
}

export interface TakeSnapshotOptions {
  store: ObjectStore;
  settings: KafkaConnectionSettings;
  /** Empty = every consumer group of the cluster. */
  groups: string[];
  description?: string;
  restoreId?: string;
}

/** Saves the groups' committed offsets on the cluster; returns the stored snapshot. */
export async function takeSnapshot(o: TakeSnapshotOptions): Promise<OffsetSnapshot> {
  const now = Date.now();
  const admin = new KafkaAdmin(o.settings);
  let groupOffsets: OffsetSnapshot['group_offsets'] = {};
  try {
    const ids = o.groups.length ? [...new Set(o.groups)] : await admin.listGroups();
    const live = await admin.groupOffsets(ids);
    groupOffsets = {};
    for (const id of ids) {
      const g = live.find((x) => x.groupId === id);
      const offsets: Record<string, Record<string, z.infer<typeof savedOffsetSchema>>> = {};
      let count = 0;
      for (const [topic, parts] of g?.offsets ?? []) {
        offsets[topic] = {};
        for (const [p, v] of [...parts].sort((a, b) => a[0] - b[0])) {
          offsets[topic][String(p)] = { offset: Number(v.offset), metadata: v.metadata, timestamp: now };
          count++;
        }
      }
      groupOffsets[id] = { group_id: id, offsets, partition_count: count };
    }
  } finally {
    await admin.close();
  }
  const snap: OffsetSnapshot = {
    snapshot_id: newSnapshotId(now),
    created_at: new Date(now).toISOString(),
    group_offsets: groupOffsets,
    restore_id: o.restoreId ?? null,
    cluster_id: await clusterIdOf(o.settings),
    bootstrap_servers: o.settings.bootstrapServers,
    description: o.description ?? null,
  };
  // snapshot.json first: a listed snapshot (metadata.json) always has its offsets.
  await writeJsonObject(o.store, snapshotKeys.snapshot(snap.snapshot_id), snap);
  await writeJsonObject(o.store, snapshotKeys.metadata(snap.snapshot_id), snapshotMetadata(snap));
  return snap;
}

/** Every snapshot in the store, newest first. */
export async function listSnapshots(store: ObjectStore): Promise<SnapshotMetadata[]> {
  const ids = new Set<string>();
  for await (const m of store.list(SNAPSHOTS_PREFIX)) {
    const id = m.key.slice(SNAPSHOTS_PREFIX.length).split('/')[0] ?? '';
    if (ID_RE.test(id)) ids.add(id);
  }
  const out: SnapshotMetadata[] = [];
  for (const id of ids) {
    const meta = await readJsonObject(store, snapshotKeys.metadata(id), snapshotMetadataSchema);
    if (meta) out.push(meta);
    else {
      const s = await readJsonObject(store, snapshotKeys.snapshot(id), offsetSnapshotSchema);
      if (s) out.push(snapshotMetadata(s));
    }
  }
  const ms = (id: string): number => Number(id.split('-')[1]);
  return out.sort((a, b) => ms(b.snapshot_id) - ms(a.snapshot_id) || b.snapshot_id.localeCompare(a.snapshot_id));
}

export async function loadSnapshot(store: ObjectStore, id: string): Promise<OffsetSnapshot> {
  const s = await readJsonObject(store, snapshotKeys.snapshot(id), offsetSnapshotSchema);
  if (!s) throw new UserError('NO_SNAPSHOT', `no offset snapshot ${id} in ${store.url} (${snapshotKeys.snapshot(id)}); see offset-rollback list`);
  return s;
}

export async function deleteSnapshot(store: ObjectStore, id: string): Promise<void> {
  await loadSnapshot(store, id);
  await store.delete(snapshotKeys.metadata(id));
  await store.delete(snapshotKeys.snapshot(id));
}

// ---- verify ------------------------------------------------------------------------------------

export interface Mismatch {
  group_id: string;
  topic: string;
  partition: number;
  /** null: the group had no committed offset there when the snapshot was taken. */
  expected_offset: number | null;
  /** null: no committed offset there now. */
  actual_offset: number | null;
}

export interface VerifyResult {
  verified: boolean;
  snapshot_id: string;
  groups_verified: number;
  groups_mismatched: number;
  mismatches: Mismatch[];
}

/** Compares the groups' live committed offsets with the snapshot (every partition, both ways). */
export async function verifySnapshot(snap: OffsetSnapshot, settings: KafkaConnectionSettings): Promise<VerifyResult> {
  const admin = new KafkaAdmin(settings);
  const mismatches: Mismatch[] = [];
  const groups = Object.keys(snap.group_offsets).sort();
  try {
    const live = new Map((await admin.groupOffsets(groups)).map((g) => [g.groupId, g.offsets]));
    for (const id of groups) {
      const saved = snap.group_offsets[id]!.offsets;
      const now = live.get(id) ?? new Map<string, Map<number, { offset: bigint }>>();
      const keys = new Set<string>();
      for (const [t, parts] of Object.entries(saved)) for (const p of Object.keys(parts)) keys.add(`${t}\0${p}`);
      for (const [t, parts] of now) for (const p of parts.keys()) keys.add(`${t}\0${p}`);
      for (const k of [...keys].sort()) {
        const [topic, ps] = k.split('\0') as [string, string];
        const expected = saved[topic]?.[ps]?.offset ?? null;
        const v = now.get(topic)?.get(Number(ps));
        const actual = v ? Number(v.offset) : null;
        if (expected !== actual) mismatches.push({ group_id: id, topic, partition: Number(ps), expected_offset: expected, actual_offset: actual });
      }
    }
  } finally {
    await admin.close();
  }
  const bad = new Set(mismatches.map((m) => m.group_id));
  return {
    verified: mismatches.length === 0,
    snapshot_id: snap.snapshot_id,
    groups_verified: groups.length - bad.size,
    groups_mismatched: bad.size,
    mismatches,
  };
}

// ---- rollback ----------------------------------------------------------------------------------

export interface RollbackResult {
  status: 'success' | 'partial_success' | 'failed';
  snapshot_id: string;
  groups_rolled_back: number;
  groups_failed: number;
  offsets_restored: number;
  /** Offsets committed after the snapshot on partitions the group had none for, now deleted. */
  offsets_deleted: number;
  errors: string[];
  duration_ms: number;
}

/** Deletes committed offsets (OffsetDelete) of an empty group. */
async function deleteGroupOffsets(settings: KafkaConnectionSettings, groupId: string, parts: Map<string, number[]>): Promise<void> {
  const admin = new Admin({
    clientId: settings.clientId ?? 'kafka-backup-admin',
    bootstrapBrokers: settings.bootstrapServers,
    retries: 5,
    retryDelay: 500,
    ...connectionOptions(settings),
  } as AdminOptions);
  try {
    await admin.deleteConsumerGroupOffsets({ groupId, topics: [...parts].map(([name, partitionIndexes]) => ({ name, partitionIndexes })) });
  } catch (err) {
    const e = err as Error & { errors?: { message?: string; apiCode?: number }[] };
    throw new KafkaError(`OffsetDelete ${groupId}: ${e.errors?.[0]?.message ?? e.message}`, e.errors?.[0]?.apiCode, {}, { cause: err });
  } finally {
    await admin.close().catch(() => {});
  }
}

/**
 * Puts the snapshot's offsets back: per group, refuses it when it has active members, commits the
 * saved offsets, deletes offsets on partitions the snapshot has none for; then verifies.
 * Refuses a cluster whose id differs from the snapshot's.
 */
export async function rollbackSnapshot(
  snap: OffsetSnapshot,
  settings: KafkaConnectionSettings,
): Promise<{ result: RollbackResult; verification: VerifyResult }> {
  const started = Date.now();
  const cid = await clusterIdOf(settings);
  if (snap.cluster_id && cid && snap.cluster_id !== cid) {
    throw new UserError(
      'WRONG_CLUSTER',
      `snapshot ${snap.snapshot_id} was taken on cluster ${snap.cluster_id} (${snap.bootstrap_servers.join(',')}); ${settings.bootstrapServers.join(',')} is cluster ${cid}: nothing rolled back`,
    );
  }
  const admin = new KafkaAdmin(settings);
  const errors: string[] = [];
  let ok = 0;
  let restored = 0;
  let deleted = 0;
  const groups = Object.keys(snap.group_offsets).sort();
  try {
    const described = new Map((await admin.describeGroups(groups)).map((d) => [d.groupId, d]));
    const live = new Map((await admin.groupOffsets(groups)).map((g) => [g.groupId, g.offsets]));
    for (const id of groups) {
      const why = activeReason(described.get(id));
      if (why) {
        errors.push(why);
        continue;
      }
      try {
        const saved = snap.group_offsets[id]!.offsets;
        const commit = new Map<string, Map<number, bigint>>();
        for (const [t, parts] of Object.entries(saved)) {
          const m = new Map<number, bigint>();
          for (const [p, v] of Object.entries(parts)) m.set(Number(p), BigInt(v.offset));
          if (m.size) commit.set(t, m);
        }
        const extra = new Map<string, number[]>();
        for (const [t, parts] of live.get(id) ?? []) {
          const ps = [...parts.keys()].filter((p) => saved[t]?.[String(p)] === undefined);
          if (ps.length) extra.set(t, ps);
        }
        if (commit.size) await admin.commitGroupOffsets(id, commit);
        if (extra.size) await deleteGroupOffsets(settings, id, extra);
        restored += [...commit.values()].reduce((n, m) => n + m.size, 0);
        deleted += [...extra.values()].reduce((n, a) => n + a.length, 0);
        ok++;
      } catch (err) {
        errors.push(`group ${id}: ${errorMessage(err)}`);
      }
    }
  } finally {
    await admin.close();
  }
  const verification = await verifySnapshot(snap, settings);
  const failed = groups.length - ok;
  return {
    result: {
      status: failed === 0 && verification.verified ? 'success' : ok === 0 ? 'failed' : 'partial_success',
      snapshot_id: snap.snapshot_id,
      groups_rolled_back: ok,
      groups_failed: failed,
      offsets_restored: restored,
      offsets_deleted: deleted,
      errors,
      duration_ms: Date.now() - started,
    },
    verification,
  };
}
