/**
 * Carries out a retention decision, in the order that keeps every instant safe (docs/lifecycle.md):
 *
 *   1. record the removals in {backup_id}/pruned.json (what, why, when);
 *   2. rewrite each partition index without its removed segments (it still names only objects
 *      that exist, and the resume point, next_offset, is untouched);
 *   3. (the caller) rewrite the manifest, pinning the new index generations;
 *   4. delete the segment objects; 5. delete consumer-group snapshots older than the kept data.
 *
 * A crash after 1 leaves ranges recorded whose segments are still indexed (readable, and the next
 * prune finishes them); after 2 or 4, segment objects no index names, inside recorded ranges:
 * orphans that the next prune deletes. No instant has an index naming a missing object, nor a
 * removed range that is not recorded.
 */
import { keys } from '../../format/layout.js';
import type { PartitionIndex, SegmentEntry } from '../../format/partition-index.js';
import { prunedBelow, readPrunedLog, recordRemoval, writePrunedLog, type PrunedLog, type PruneReason } from '../../format/pruned.js';
import type { ObjectStore } from '../../storage/store.js';
import type { PartitionRemoval } from './retention-policy.js';

/** Points a test can stop (SIGKILL) the prune at; each is reached after the named step completed. */
export type PruneStage = 'recorded' | 'index-written' | 'manifest-written' | 'segment-deleted' | 'groups-deleted';

export interface PruneHooks {
  onStage?: (stage: PruneStage, detail: string) => Promise<void> | void;
}

/** One partition's index as its owner holds it, and how to rewrite it without its oldest segments. */
export interface IndexHandle {
  topic: string;
  partition: number;
  index: PartitionIndex;
  /** Rewrites the index without these segments (which must be its oldest ones). */
  drop(removed: readonly SegmentEntry[]): Promise<void>;
}

/** Adds one partition's removals to the record, a range per run of one reason. */
export function recordPartition(log: PrunedLog, r: PartitionRemoval, by: 'prune' | 'backup', at: number): void {
  let run: { reason: PruneReason; segs: SegmentEntry[] } | undefined;
  const flush = (): void => {
    if (!run) return;
    const segs = run.segs;
    const ts = segs.flatMap((s) => (s.min_timestamp === null || s.max_timestamp === null ? [] : [s.min_timestamp, s.max_timestamp]));
    recordRemoval(
      log,
      {
        topic: r.topic,
        partition: r.partition,
        from_offset: segs[0]!.first_offset,
        to_offset: segs.at(-1)!.last_offset + 1,
        min_timestamp: ts.length ? Math.min(...ts) : null,
        max_timestamp: ts.length ? Math.max(...ts) : null,
        segments: segs.length,
        records: segs.reduce((n, s) => n + s.record_count, 0),
        stored_bytes: segs.reduce((n, s) => n + s.stored_bytes, 0),
        reason: run.reason,
        by,
      },
      at,
    );
  };
  for (const { entry, reason } of r.remove) {
    if (run && run.reason === reason) run.segs.push(entry);
    else {
      flush();
      run = { reason, segs: [entry] };
    }
  }
  flush();
}

/** Steps 1 and 2: record, then rewrite the indexes. Returns the segment keys now unindexed. */
export async function recordAndUnindex(
  store: ObjectStore,
  backupId: string,
  removals: readonly PartitionRemoval[],
  handles: ReadonlyMap<string, IndexHandle>,
  by: 'prune' | 'backup',
  hooks: PruneHooks = {},
): Promise<string[]> {
  const fresh = removals.filter((r) => r.remove.length > 0);
  if (fresh.length === 0) return [];
  const log = await readPrunedLog(store, backupId);
  const at = Date.now();
  for (const r of fresh) recordPartition(log, r, by, at);
  await writePrunedLog(store, log);
  await hooks.onStage?.('recorded', `${log.ranges.length} range(s)`);
  const unindexed: string[] = [];
  for (const r of fresh) {
    const h = handles.get(partitionKey(r.topic, r.partition));
    if (!h) continue;
    await h.drop(r.remove.map((x) => x.entry));
    unindexed.push(...r.remove.map((x) => x.entry.key));
    await hooks.onStage?.('index-written', keys.partitionIndex(backupId, r.topic, r.partition));
  }
  return unindexed;
}

/** Step 4: deletes segment objects (idempotent: a missing one is fine). */
export async function deleteObjects(store: ObjectStore, objectKeys: readonly string[], hooks: PruneHooks = {}): Promise<void> {
  for (const k of objectKeys) {
    await store.delete(k);
    await hooks.onStage?.('segment-deleted', k);
  }
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** Rewrites `index` in place without `removed`, which must be its oldest segments (else nothing changes and false). */
export function dropOldest(index: PartitionIndex, removed: readonly SegmentEntry[]): boolean {
  const gone = new Set(removed.map((s) => s.key));
  let n = 0;
  while (n < index.segments.length && gone.has(index.segments[n]!.key)) n++;
  if (n !== gone.size || n >= index.segments.length) return false;
  index.segments.splice(0, n);
  return true;
}

const SNAPSHOT_RE = /\/consumer-groups\/(\d{1,15})\.json$/;

/**
 * Consumer-group snapshots older than the oldest kept data: all taken before `cutoff`, except the
 * newest of them (it holds the groups' positions as of the start of the kept data, which a restore
 * from there translates).
 */
export async function staleGroupSnapshots(store: ObjectStore, backupId: string, cutoff: number): Promise<string[]> {
  const older: { key: string; at: number }[] = [];
  for await (const o of store.list(keys.groupsPrefix(backupId))) {
    const m = SNAPSHOT_RE.exec(o.key);
    if (m && Number(m[1]) < cutoff) older.push({ key: o.key, at: Number(m[1]) });
  }
  older.sort((a, b) => a.at - b.at);
  return older.slice(0, -1).map((o) => o.key);
}

/** The oldest record time still held, over all partitions (null: no data). */
export function oldestKeptTime(indexes: Iterable<PartitionIndex>): number | null {
  let min: number | null = null;
  for (const idx of indexes) {
    for (const s of idx.segments) {
      if (s.min_timestamp !== null) min = min === null ? s.min_timestamp : Math.min(min, s.min_timestamp);
    }
  }
  return min;
}

/** The oldest indexed segments that the record already lists as pruned: an earlier prune stopped before its index write. */
export function unfinishedOf(log: PrunedLog, topic: string, partition: number, index: PartitionIndex): SegmentEntry[] {
  const below = prunedBelow(log, topic, partition);
  const out: SegmentEntry[] = [];
  // Never the last segment: it ends at the resume point.
  for (const s of index.segments.slice(0, -1)) {
    if (s.last_offset >= below) break;
    out.push(s);
  }
  return out;
}

const SEGMENT_FILE_RE = /\/(\d{20})(?:-\d{20})?\.kbseg$/;

/**
 * Segment objects of a partition that its index does not name and that lie inside its recorded
 * pruned ranges: left by a prune that stopped between its index write and its deletes. Anything
 * else unindexed (a running backup's segment in flight, above the resume point) is never touched.
 */
export async function findOrphans(
  store: ObjectStore,
  backupId: string,
  states: readonly { topic: string; partition: number; index: PartitionIndex }[],
  log: PrunedLog,
): Promise<string[]> {
  const out: string[] = [];
  for (const st of states) {
    const below = prunedBelow(log, st.topic, st.partition);
    if (below === 0) continue;
    const named = new Set(st.index.segments.map((s) => s.key));
    for await (const o of store.list(keys.partitionPrefix(backupId, st.topic, st.partition))) {
      const m = SEGMENT_FILE_RE.exec(o.key);
      if (m && !named.has(o.key) && Number(m[1]) < below) out.push(o.key);
    }
  }
  return out;
}
