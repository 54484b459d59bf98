import { countGroupSnapshots } from './group-snapshot.js';
import type { Manifest } from './manifest.js';
import { summarize, type PartitionIndex, type PartitionSummary } from './partition-index.js';
import { readBackupIndex, requireBackupManifest } from './seed/backup.js';
import { readPrunedLog, type PrunedRange } from './pruned.js';
import type { ObjectStore } from '../storage/store.js';

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

const EMPTY: PartitionSummary = {
  segments: 0,
  records: 0,
  rawBytes: 0,
  storedBytes: 0,
  firstOffset: null,
  lastOffset: null,
  minTimestamp: null,
  maxTimestamp: null,
};

function minN(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}
function maxN(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

/** Reads a backup's manifest and every partition index: what `list`, `describe` and `validate` show. */
export async function inspectBackup(store: ObjectStore, backupId: string): Promise<BackupView> {
  const manifest = await requireBackupManifest(store, backupId); // ours or the seed tool's
  const view: BackupView = {
    manifest,
    topics: [],
    records: 0,
    storedBytes: 0,
    rawBytes: 0,
    segments: 0,
    minTimestamp: null,
    maxTimestamp: null,
    groupSnapshots: 0,
    pruned: (await readPrunedLog(store, backupId)).ranges,
  };
  for (const t of manifest.topics) {
    const tv: TopicView = {
      name: t.name,
      partitionCount: t.partition_count,
      records: 0,
      storedBytes: 0,
      rawBytes: 0,
      segments: 0,
      minTimestamp: null,
      maxTimestamp: null,
      partitions: [],
    };
    const indexes = await Promise.all(t.partitions.map((p) => readBackupIndex(store, backupId, manifest, t.name, p.partition)));
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
  view.groupSnapshots = await countGroupSnapshots(store, backupId);
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

/** `list`: the named backup, or every backup in the location, each read whole. */
export async function listBackups(store: ObjectStore, backupId?: string): Promise<BackupView[]> {
  const views: BackupView[] = [];
  for (const id of backupId ? [backupId] : await listBackupIds(store)) views.push(await inspectBackup(store, id));
  return views;
}
