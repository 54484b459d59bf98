import { readJsonObject } from '../format/json-object.js';
import { checkBackupId, keys } from '../format/layout.js';
import { manifestSchema, type Manifest } from '../format/manifest.js';
import { readPartitionIndex, summarize, type PartitionIndex, type PartitionSummary } from '../format/partition-index.js';
import { readPrunedLog, type PrunedRange } from '../format/pruned.js';
import type { ObjectStore } from '../storage/store.js';
import { CorruptDataError, UserError } from '../util/errors.js';

export interface PartitionView {
  topic: string;
  partition: number;
  index: PartitionIndex | undefined;
  summary: PartitionSummary;
  logStartOffset: number;
  endOffset: number;
}

export interface TopicView {
  name: string;
  partitionCount: number;
  records: number;
  storedBytes: number;
  rawBytes: number;
  segments: number;
  minTimestamp: number | null;
  maxTimestamp: number | null;
  partitions: PartitionView[];
}

export interface BackupView {
  manifest: Manifest;
  topics: TopicView[];
  records: number;
  storedBytes: number;
  rawBytes: number;
  segments: number;
  minTimestamp: number | null;
  maxTimestamp: number | null;
  groupSnapshots: number;
  /** What retention removed ({backup_id}/pruned.json): reported as pruned, never as missing data. */
  pruned: PrunedRange[];
}

const EMPTY: PartitionSummary = { segments: 0, records: 0, rawBytes: 0, storedBytes: 0, firstOffset: null, lastOffset: null, minTimestamp: null, maxTimestamp: null };

function minN(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}
function maxN(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

/** Reads a backup's manifest and every partition index: what `list`, `describe` and `validate` show. */
export async function inspectBackup(store: ObjectStore, backupId: string): Promise<BackupView> {
  checkBackupId(backupId);
  const manifest = await readJsonObject(store, keys.manifest(backupId), manifestSchema);
  if (!manifest) {
    throw new UserError('BACKUP_NOT_FOUND', `backup "${backupId}" not found in ${store.url} (no ${keys.manifest(backupId)}); "kafka-backup list --path ${store.url}" lists the backups there`);
  }
  if (manifest.backup_id !== backupId) {
    throw new CorruptDataError(`${keys.manifest(backupId)}: the manifest is for backup_id "${manifest.backup_id}", not "${backupId}"`, keys.manifest(backupId));
  }
  const view: BackupView = { manifest, topics: [], records: 0, storedBytes: 0, rawBytes: 0, segments: 0, minTimestamp: null, maxTimestamp: null, groupSnapshots: 0, pruned: (await readPrunedLog(store, backupId)).ranges };
  for (const t of manifest.topics) {
    const tv: TopicView = { name: t.name, partitionCount: t.partition_count, records: 0, storedBytes: 0, rawBytes: 0, segments: 0, minTimestamp: null, maxTimestamp: null, partitions: [] };
    const indexes = await Promise.all(t.partitions.map((p) => readPartitionIndex(store, backupId, t.name, p.partition)));
    t.partitions.forEach((p, i) => {
      const index = indexes[i];
      const summary = index ? summarize(index) : EMPTY;
      tv.partitions.push({ topic: t.name, partition: p.partition, index, summary, logStartOffset: p.log_start_offset, endOffset: p.end_offset });
      tv.records += summary.records;
      tv.storedBytes += summary.storedBytes;
      tv.rawBytes += summary.rawBytes;
      tv.segments += summary.segments;
      tv.minTimestamp = minN(tv.minTimestamp, summary.minTimestamp);
      tv.maxTimestamp = maxN(tv.maxTimestamp, summary.maxTimestamp);
    });
    view.topics.push(tv);
    view.records += tv.records;
    view.storedBytes += tv.storedBytes;
    view.rawBytes += tv.rawBytes;
    view.segments += tv.segments;
    view.minTimestamp = minN(view.minTimestamp, tv.minTimestamp);
    view.maxTimestamp = maxN(view.maxTimestamp, tv.maxTimestamp);
  }
  for await (const _ of store.list(keys.groupsPrefix(backupId))) view.groupSnapshots++;
  return view;
}

/** Backup ids in a storage location: every `{id}/manifest.json` one level down. */
export async function listBackupIds(store: ObjectStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const o of store.list('')) {
    const m = /^([^/]+)\/manifest\.json$/.exec(o.key);
    if (m?.[1]) ids.push(m[1]);
  }
  return ids.sort();
}
