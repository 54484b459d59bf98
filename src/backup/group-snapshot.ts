/**
 * Consumer-group snapshots: the committed offsets of the groups reading the backed-up topics,
 * taken by a running backup at each sync interval and by `snapshot-groups` on demand.
 */
import { matchesFilter } from '../config/topic-selection.js';
import { writeGroupSnapshot, type GroupSnapshot } from '../format/group-snapshot.js';
import { readManifest } from '../format/manifest.js';
import { KafkaAdmin } from '../kafka/admin.js';
import { KafkaCluster } from '../kafka/cluster.js';
import { UserError } from '../util/errors.js';
import type { BackupOptions } from './options.js';

/** Stores the committed offsets of every group that has offsets on a backed-up topic; returns how many groups. */
export async function snapshotGroups(opts: BackupOptions, admin: KafkaAdmin, topics: Set<string>): Promise<number> {
  return (await takeGroupSnapshot(opts, admin, topics)).snapshot.groups.length;
}

async function takeGroupSnapshot(opts: BackupOptions, admin: KafkaAdmin, topics: Set<string>): Promise<{ key: string; snapshot: GroupSnapshot }> {
  const snapshot = await collectGroupSnapshot(admin, topics);
  return { key: await writeGroupSnapshot(opts.store, opts.backupId, snapshot), snapshot };
}

/** The committed offsets of every group that has offsets on one of `topics`, now (not stored). */
export async function collectGroupSnapshot(admin: KafkaAdmin, topics: Set<string>): Promise<GroupSnapshot> {
  const ids = await admin.listGroups();
  const all = await admin.groupOffsets(ids);
  const snapshot: GroupSnapshot = { taken_at: Date.now(), groups: [] };
  for (const g of all) {
    const offsets: Record<string, Record<string, number>> = {};
    for (const [topic, parts] of g.offsets) {
      if (!topics.has(topic)) continue;
      offsets[topic] = Object.fromEntries([...parts].map(([p, o]) => [String(p), Number(o.offset)]));
    }
    if (Object.keys(offsets).length) snapshot.groups.push({ group_id: g.groupId, offsets });
  }
  return snapshot;
}

export interface SnapshotGroupsResult {
  backup_id: string;
  key: string;
  taken_at: number;
  topics: string[];
  groups: { group_id: string; topics: string[]; partitions: number }[];
}

/** The topics a snapshot covers: the manifest's when the backup exists, else what the selection matches now. */
async function snapshotTopics(opts: BackupOptions): Promise<string[]> {
  const manifest = await readManifest(opts.store, opts.backupId);
  if (manifest) return manifest.topics.map((t) => t.name).sort();
  const cluster = await KafkaCluster.connect(opts.source);
  try {
    const meta = await cluster.refresh();
    return [...meta.topics.values()]
      .filter((t) => !t.isInternal || (opts.includeInternalTopics && (opts.internalTopics.length === 0 || opts.internalTopics.includes(t.name))))
      .map((t) => t.name)
      .filter((n) => matchesFilter(n, opts.topics))
      .sort();
  } finally {
    await cluster.close();
  }
}

/** `snapshot-groups`: a consumer-group snapshot for the backup's topics, now (same rules as `backup`). */
export async function snapshotGroupsNow(opts: BackupOptions): Promise<SnapshotGroupsResult> {
  const topics = await snapshotTopics(opts);
  if (topics.length === 0)
    throw new UserError('NO_TOPICS', `no topic to snapshot: backup "${opts.backupId}" has no manifest and no source topic matches source.topics`);
  const admin = new KafkaAdmin(opts.source);
  try {
    const { key, snapshot } = await takeGroupSnapshot(opts, admin, new Set(topics));
    return {
      backup_id: opts.backupId,
      key,
      taken_at: snapshot.taken_at,
      topics,
      groups: snapshot.groups.map((g) => ({
        group_id: g.group_id,
        topics: Object.keys(g.offsets).sort(),
        partitions: Object.values(g.offsets).reduce((n, p) => n + Object.keys(p).length, 0),
      })),
    };
  } finally {
    await admin.close();
  }
}
