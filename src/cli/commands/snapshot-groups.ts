import { snapshotGroups } from '../../backup/engine.js';
import type { BackupOptions } from '../../backup/options.js';
import { matchesFilter } from '../../config/topic-selection.js';
import { readJsonObject } from '../../format/json-object.js';
import { keys } from '../../format/layout.js';
import { groupSnapshotSchema, manifestSchema, type GroupSnapshot } from '../../format/manifest.js';
import { KafkaAdmin } from '../../kafka/admin.js';
import { KafkaCluster } from '../../kafka/cluster.js';
import { UserError } from '../../util/errors.js';
import { isoMs } from '../../util/time.js';

export interface SnapshotGroupsResult {
  backup_id: string;
  key: string;
  taken_at: number;
  topics: string[];
  groups: { group_id: string; topics: string[]; partitions: number }[];
}

/**
 * Writes a consumer-group snapshot for the backup's topics now, with the backup engine's own
 * function. The topics are the manifest's when the backup exists, else the source topics the
 * backup's selection matches (same rules as `backup`).
 */
export async function snapshotGroupsNow(opts: BackupOptions): Promise<SnapshotGroupsResult> {
  const manifest = await readJsonObject(opts.store, keys.manifest(opts.backupId), manifestSchema);
  let topics: string[];
  if (manifest) {
    topics = manifest.topics.map((t) => t.name);
  } else {
    const cluster = await KafkaCluster.connect(opts.source);
    try {
      const meta = await cluster.refresh();
      topics = [...meta.topics.values()]
        .filter((t) => !t.isInternal || (opts.includeInternalTopics && (opts.internalTopics.length === 0 || opts.internalTopics.includes(t.name))))
        .map((t) => t.name)
        .filter((n) => matchesFilter(n, opts.topics));
    } finally {
      await cluster.close();
    }
  }
  topics.sort();
  if (topics.length === 0) throw new UserError('NO_TOPICS', `no topic to snapshot: backup "${opts.backupId}" has no manifest and no source topic matches source.topics`);
  const admin = new KafkaAdmin(opts.source);
  const before = new Set<string>();
  for await (const o of opts.store.list(keys.groupsPrefix(opts.backupId))) before.add(o.key);
  try {
    await snapshotGroups(opts, admin, new Set(topics));
  } finally {
    await admin.close();
  }
  let key: string | undefined;
  for await (const o of opts.store.list(keys.groupsPrefix(opts.backupId))) if (!before.has(o.key)) key = o.key;
  if (!key) throw new UserError('SNAPSHOT', `the consumer-group snapshot was not found in ${opts.store.url} after writing it`);
  const snap: GroupSnapshot | undefined = await readJsonObject(opts.store, key, groupSnapshotSchema);
  return {
    backup_id: opts.backupId,
    key,
    taken_at: snap?.taken_at ?? Date.now(),
    topics,
    groups: (snap?.groups ?? []).map((g) => ({ group_id: g.group_id, topics: Object.keys(g.offsets).sort(), partitions: Object.values(g.offsets).reduce((n, p) => n + Object.keys(p).length, 0) })),
  };
}

export function snapshotGroupsText(r: SnapshotGroupsResult, storeUrl: string): string {
  const lines = [
    `Consumer-group snapshot of backup ${r.backup_id} written: ${storeUrl.replace(/\/$/, '')}/${r.key}`,
    `  Taken at: ${isoMs(r.taken_at)}   Topics: ${r.topics.length}   Groups with committed offsets on them: ${r.groups.length}`,
  ];
  for (const g of r.groups) lines.push(`  ${g.group_id}: ${g.partitions} partition${g.partitions === 1 ? '' : 's'} on ${g.topics.join(', ')}`);
  return lines.join('\n');
}
