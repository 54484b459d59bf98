import { digestProblem } from '../format/segment-digest.js';
import { decodeBatch, readBatchHeader } from '../kafka/protocol/record-batch.js';
import { checkBackupId, isValidTopicName, keys } from '../format/layout.js';
import { checkIndexAgainstManifest, confirmRollbacks, indexFreshnessProblems, type RollbackProblem } from '../format/generations.js';
import { erasureLogKey, readErasureLog } from '../format/erasure-log.js';
import { readPartitionIndex } from '../format/partition-index.js';
import { snapshotPartitionShort } from '../format/manifest.js';
import { readSegment } from '../format/segment.js';
import { checkSeedSegment, isSeedBackup } from '../format/seed/backup.js';
import { isSeedEntry } from '../format/seed/manifest.js';
import type { ObjectStore } from '../storage/store.js';
import { errorMessage, NotFoundError } from '../util/errors.js';
import { inspectBackup, type BackupView } from '../format/backup-view.js';
import type { PartitionIndex } from '../format/partition-index.js';
import { isoMs } from '../util/time.js';

export interface BackupProblem {
  object: string;
  problem: string;
}

export interface BackupValidation {
  backupId: string;
  deep: boolean;
  segmentsChecked: number;
  recordsChecked: number;
  bytesChecked: number;
  /** Damage: what is stored is not what the indexes say. */
  problems: BackupProblem[];
  /** A snapshot's partitions whose index does not reach the manifest's end offset: intact, but not all there. */
  incomplete: BackupProblem[];
  warnings: string[];
  /** Ranges retention removed, as recorded: expected, not damage. */
  pruned: string[];
  view?: BackupView;
}

/** A snapshot partition whose index does not reach the end offset in the manifest is data the backup lacks. */
function snapshotShortfall(view: BackupView, backupId: string): BackupProblem[] {
  if (view.manifest.mode !== 'snapshot') return [];
  const out: BackupProblem[] = [];
  for (const t of view.manifest.topics) {
    const seen = view.topics.find((v) => v.name === t.name);
    for (const mp of t.partitions) {
      const index = seen?.partitions.find((p) => p.partition === mp.partition)?.index;
      if (!index) continue; // reported as a missing partition index
      if (!snapshotPartitionShort(mp, index.next_offset)) continue;
      const reached = Math.max(index.next_offset ?? mp.log_start_offset, mp.log_start_offset);
      const claim = view.manifest.status === 'complete' ? 'the manifest says complete, but ' : '';
      out.push({
        object: `${backupId}/topics/${t.name}/${mp.partition}/index.json`,
        problem: `${claim}the index reaches offset ${reached} of the snapshot's end offset ${mp.end_offset}: offsets ${reached}..${mp.end_offset - 1} are not backed up`,
      });
    }
  }
  return out;
}

/**
 * Retention's removals of one partition (pruned.json): reported as pruned. Segments a range covers
 * that the index still names are a prune that stopped before its index write: still readable,
 * and the next prune finishes it (a warning, not damage).
 */
function prunedNotes(view: BackupView, topic: string, partition: number, index: PartitionIndex, out: BackupValidation): void {
  let below = 0;
  for (const r of view.pruned) {
    if (r.topic !== topic || r.partition !== partition) continue;
    below = Math.max(below, r.to_offset);
    out.pruned.push(
      `${topic}/${partition}: offsets ${r.from_offset}..${r.to_offset - 1} (records ${isoMs(r.min_timestamp)} .. ${isoMs(r.max_timestamp)}) pruned by ${r.by === 'backup' ? 'backup.retention' : 'kafka-backup prune'} (${r.reason}) at ${isoMs(r.last_pruned_at)}`,
    );
  }
  const left = index.segments.filter((s) => s.last_offset < below).length;
  if (left > 0)
    out.warnings.push(
      `${topic}/${partition}: ${left} segment(s) below offset ${below} are recorded as pruned but still indexed: a prune stopped part-way (the data is intact); run kafka-backup prune again to finish it`,
    );
}

/**
 * Index objects of partitions the manifest does not list. One written after a newer manifest
 * generation than the stored manifest's gives a put-back manifest away (returned); any other is a
 * warning (a backup that stopped before its manifest named the partition, or one written before generations).
 */
async function unlistedIndexes(store: ObjectStore, view: BackupView, out: BackupValidation): Promise<RollbackProblem[]> {
  const { manifest } = view;
  const listed = new Set(manifest.topics.flatMap((t) => t.partitions.map((p) => `${t.name}/${p.partition}`)));
  const found: RollbackProblem[] = [];
  const prefix = keys.topicsPrefix(out.backupId);
  for await (const o of store.list(prefix)) {
    const m = /^([^/]+)\/(\d{1,6})\/index\.json$/.exec(o.key.slice(prefix.length));
    if (!m || !o.key.startsWith(prefix) || !isValidTopicName(m[1]!) || listed.has(`${m[1]}/${Number(m[2])}`)) continue;
    const [topic, partition] = [m[1]!, Number(m[2])];
    try {
      const idx = await readPartitionIndex(store, out.backupId, topic, partition);
      const stale = indexFreshnessProblems(out.backupId, manifest.generation ?? 0, 0, topic, partition, idx);
      if (stale.length) found.push(...stale);
      else
        out.warnings.push(
          `${o.key}: a partition index the manifest does not list (its backup stopped before the manifest named ${topic}/${partition}); it is not restored`,
        );
    } catch (err) {
      out.problems.push({ object: o.key, problem: errorMessage(err) });
    }
  }
  return found;
}

/** The erasure log (src/format/erasure-log.ts) must be readable; an erase that did not finish is named. */
async function checkErasureLog(store: ObjectStore, backupId: string, out: BackupValidation): Promise<void> {
  try {
    const unfinished = (await readErasureLog(store, backupId)).entries.filter((e) => e.status === 'started');
    for (const e of unfinished)
      out.warnings.push(
        `${erasureLogKey(backupId)}: an erase of a key from ${e.topic} started at ${new Date(e.started_at).toISOString()} did not finish; run the same erase --execute again to complete it`,
      );
  } catch (err) {
    out.problems.push({ object: erasureLogKey(backupId), problem: errorMessage(err) });
  }
}

/**
 * Checks a backup end to end: the manifest and every partition index parse, every segment named
 * by an index exists with the recorded size and whole-object digest (SHA-256 or CRC-32C, segment-digest.ts), segments follow each other without
 * overlap; with `deep`, every segment is decoded and every batch's CRC-32C and records checked
 * against the index (offsets, record counts, timestamp range).
 */
export async function validateBackup(store: ObjectStore, backupId: string, deep: boolean): Promise<BackupValidation> {
  checkBackupId(backupId); // a backup id like "../x" is a usage error, not a problem of some backup
  const out: BackupValidation = {
    backupId,
    deep,
    segmentsChecked: 0,
    recordsChecked: 0,
    bytesChecked: 0,
    problems: [],
    incomplete: [],
    warnings: [],
    pruned: [],
  };
  let view: BackupView;
  try {
    view = await inspectBackup(store, backupId);
  } catch (err) {
    out.problems.push({ object: `${backupId}/manifest.json or an index`, problem: errorMessage(err) });
    return out;
  }
  out.view = view;
  if (view.manifest.status === 'running')
    out.warnings.push('the backup is marked running: it is in progress, or was interrupted (run it again to resume); what is indexed is complete and valid');
  if (view.manifest.status === 'failed') out.problems.push({ object: `${backupId}/manifest.json`, problem: 'the backup is marked failed' });
  if (view.manifest.status === 'incomplete')
    out.warnings.push('the backup is an incomplete snapshot: it was stopped before every partition reached its end offset (run it again to complete it)');
  out.incomplete.push(...snapshotShortfall(view, backupId));
  const seed = isSeedBackup(view.manifest);
  if (seed)
    out.warnings.push(
      'a backup written by the seed tool (osodevops/kafka-backup): its segments are checked against their CRC-32 and the manifest (it records no SHA-256), and rollback cannot be detected',
    );
  else if (view.manifest.generation === undefined)
    out.warnings.push(
      'the manifest has no generation (written before rollback detection): an older manifest or index put back in its place cannot be detected',
    );
  const rollbacks: RollbackProblem[] = [];
  for (const t of view.topics) {
    if (t.partitions.length !== t.partitionCount) out.warnings.push(`${t.name}: manifest lists ${t.partitions.length} of ${t.partitionCount} partitions`);
    for (const p of t.partitions) {
      // An older index or manifest put back, or a pinned index deleted (reported after the loop).
      const stale = checkIndexAgainstManifest(view.manifest, t.name, p.partition, p.index);
      rollbacks.push(...stale);
      if (!p.index) {
        if (stale.length === 0) out.problems.push({ object: `${backupId}/topics/${t.name}/${p.partition}/index.json`, problem: 'missing partition index' });
        continue;
      }
      prunedNotes(view, t.name, p.partition, p.index, out);
      for (const g of p.index.gaps)
        out.warnings.push(`${t.name}/${p.partition}: offsets ${g.from_offset}..${g.to_offset - 1} were deleted by retention before the backup reached them`);
      for (const s of p.index.segments) {
        out.segmentsChecked++;
        let bytes: Buffer;
        try {
          bytes = await store.get(s.key);
        } catch (err) {
          out.problems.push({ object: s.key, problem: err instanceof NotFoundError ? 'segment object is missing' : errorMessage(err) });
          continue;
        }
        out.bytesChecked += bytes.length;
        if (bytes.length !== s.stored_bytes) {
          out.problems.push({ object: s.key, problem: `size ${bytes.length} differs from the ${s.stored_bytes} bytes recorded in the index` });
          continue;
        }
        if (isSeedEntry(s)) {
          const r = checkSeedSegment(bytes, s, deep);
          if (r.problem !== undefined) out.problems.push({ object: s.key, problem: r.problem });
          out.recordsChecked += r.records;
          continue;
        }
        const digest = digestProblem(s, bytes);
        if (digest !== undefined) {
          out.problems.push({ object: s.key, problem: digest });
          continue;
        }
        if (!deep) continue;
        try {
          const { batches } = readSegment(bytes, { verifyBatchCrc: true });
          let records = 0;
          let first = -1;
          let last = -1;
          let min: number | null = null;
          let max: number | null = null;
          for (const b of batches) {
            const h = readBatchHeader(b);
            if (first < 0) first = Number(h.baseOffset);
            last = Number(h.lastOffset);
            if (h.isControl) continue;
            const d = decodeBatch(b);
            records += d.records.length;
            for (const r of d.records) {
              const ts = Number(r.timestamp);
              min = min === null ? ts : Math.min(min, ts);
              max = max === null ? ts : Math.max(max, ts);
            }
          }
          out.recordsChecked += records;
          const diffs: string[] = [];
          if (records !== s.record_count) diffs.push(`${records} records, index says ${s.record_count}`);
          if (first !== s.first_offset || last !== s.last_offset) diffs.push(`offsets ${first}..${last}, index says ${s.first_offset}..${s.last_offset}`);
          if (min !== s.min_timestamp || max !== s.max_timestamp) diffs.push(`timestamps ${min}..${max}, index says ${s.min_timestamp}..${s.max_timestamp}`);
          if (diffs.length) out.problems.push({ object: s.key, problem: diffs.join('; ') });
        } catch (err) {
          out.problems.push({ object: s.key, problem: errorMessage(err) });
        }
      }
    }
  }
  rollbacks.push(...(await unlistedIndexes(store, view, out)));
  await checkErasureLog(store, backupId, out);
  // Once per object (a put-back manifest is seen from every index written after it).
  const named = new Set<string>();
  for (const r of await confirmRollbacks(store, backupId, rollbacks)) {
    if (!named.has(r.object)) out.problems.push({ object: r.object, problem: r.problem });
    named.add(r.object);
  }
  return out;
}
