import { keys } from '../format/layout.js';
import { snapshotPartitionShort, type Manifest, type ManifestTopic } from '../format/manifest.js';
import { readPartitionIndex, type PartitionIndex, type SegmentEntry } from '../format/partition-index.js';
import { readBackupIndex, requireBackupManifest } from '../format/seed/backup.js';
import { isSeedEntry } from '../format/seed/manifest.js';
import { checkIndexAgainstManifest, confirmRollbacks, type RollbackProblem } from '../format/generations.js';
import { matchesFilter } from '../config/topic-selection.js';
import { errorMessage } from '../util/errors.js';
import { runPool } from '../util/pool.js';
import { TimeWindow } from '../util/time-window.js';
import type { ObjectStore } from '../storage/store.js';
import { readFooter } from './segment-source.js';
import { readPrunedLog, type PrunedRange } from '../format/pruned.js';
import { prunedWindowWarnings, type PrunedPartitionFacts } from './pruned-window.js';
import type { RestoreOptions } from './options.js';
import { chooseTopicConfigs, holdBackDestructiveRetention, type RestoredExtent } from './topic-configs.js';

export interface PlannedSegment {
  entry: SegmentEntry;
  /** Every record of the segment is inside the window (by the index's min/max timestamps). */
  fullyInside: boolean;
}

export interface PlannedPartition {
  sourceTopic: string;
  sourcePartition: number;
  targetTopic: string;
  targetPartition: number;
  segments: PlannedSegment[];
  segmentsTotal: number;
  /** Records in segments fully inside the window (exact) and in partially overlapping ones (upper bound). */
  recordsExact: number;
  recordsPartialUpperBound: number;
  /** Linear estimate of the records of partially overlapping segments that fall in the window. */
  recordsEstimate: number;
  bytesEstimate: number;
  recordsInBackup: number;
  offsetRange: [number, number] | null;
  timestampRange: [number, number] | null;
  abortedTransactions: { producer_id: number; first_offset: number }[];
}

export interface PlannedTopic {
  sourceTopic: string;
  targetTopic: string;
  sourcePartitionCount: number;
  /** Partitions the target topic needs (source count, or more when partition_mapping points higher). */
  requiredTargetPartitions: number;
  /** Set when restore.repartitioning re-spreads this topic: every record is routed by key (murmur2) or round-robin. */
  repartition?: { strategy: 'murmur2' | 'automatic'; targetPartitions: number };
  /** Configs a created target topic gets: the allowed ones of the backup and the user's (topic-configs.ts), LogAppendTime made CreateTime (see targetConfigs)... */
  configs: Record<string, string>;
  /** ...and the backup's configs left out. */
  configsSkipped: Record<string, string>;
  /** The source topic was message.timestamp.type=LogAppendTime (by its recorded configs). */
  sourceLogAppendTime: boolean;
  /** The source topic's replication factor as the backup recorded it (absent in older backups). */
  replicationFactor?: number;
  partitions: PlannedPartition[];
}

export interface RestorePlan {
  manifest: Manifest;
  /** The window as given (RestoreOptions), for reports... */
  windowStart?: number;
  windowEnd?: number;
  /** ...and as the engine reads with it. */
  window: TimeWindow;
  topics: PlannedTopic[];
  segmentsMatching: number;
  segmentsTotal: number;
  recordsEstimate: number;
  /** The window holds at least this many records (segments or blocks wholly inside it)... */
  recordsLowerBound: number;
  /** ...and at most this many (plus those of segments or blocks that only partly overlap it). */
  recordsUpperBound: number;
  recordsInBackup: number;
  /** Segment footers read to narrow the estimate (validate-restore). */
  footersRead: number;
  bytesEstimate: number;
  backupTimeRange: [number, number] | null;
  errors: string[];
  warnings: string[];
  /** Retention removals of the selected partitions (pruned.json): reported, never a silent gap. */
  pruned: PrunedRange[];
}

function overlaps(s: SegmentEntry, w: TimeWindow): boolean {
  if (isSeedEntry(s)) return true; // its manifest records first/last timestamps, not min/max: any record may be in the window
  if (s.min_timestamp === null || s.max_timestamp === null) return false; // control batches only
  return w.overlaps(s.min_timestamp, s.max_timestamp);
}

function inside(s: SegmentEntry, w: TimeWindow): boolean {
  if (isSeedEntry(s)) return !w.bounded;
  if (s.min_timestamp === null || s.max_timestamp === null) return false;
  return w.covers(s.min_timestamp, s.max_timestamp);
}

export async function loadManifest(opts: Pick<RestoreOptions, 'store' | 'backupId'>): Promise<Manifest> {
  return requireBackupManifest(opts.store, opts.backupId); // ours or the seed tool's
}

/** The partition's index, checked to belong to it (segment keys under its prefix; see verifyPartitionIndex). */
export async function loadIndex(
  opts: Pick<RestoreOptions, 'store' | 'backupId'>,
  topic: string,
  partition: number,
  manifest?: Manifest,
): Promise<PartitionIndex | undefined> {
  // A seed-tool backup's indexes come from its manifest (format/seed/backup.ts).
  if (manifest) return readBackupIndex(opts.store, opts.backupId, manifest, topic, partition);
  return readPartitionIndex(opts.store, opts.backupId, topic, partition);
}

/**
 * Every segment the plan will read exists with the size its index records (one HEAD each), so a
 * missing or truncated segment stops the restore before anything is written to the target.
 */
async function checkSegmentObjects(plan: RestorePlan, store: ObjectStore): Promise<void> {
  const entries = plan.topics.flatMap((t) => t.partitions.flatMap((p) => p.segments.map((s) => s.entry)));
  await runPool(entries, 16, async (e) => {
    let size: number | undefined;
    try {
      size = (await store.head(e.key))?.size;
    } catch (err) {
      plan.errors.push(`${e.key}: cannot read the segment object: ${errorMessage(err)}`);
      return;
    }
    if (size === undefined) plan.errors.push(`${e.key}: segment object is missing (named by its partition index)`);
    else if (size !== e.stored_bytes)
      plan.errors.push(`${e.key}: segment object is ${size} bytes, its partition index records ${e.stored_bytes} (truncated or replaced)`);
  });
}

/**
 * The configs a created topic gets: message.timestamp.type by the LogAppendTime rule
 * (targetConfigs, restore.keep_log_append_time), every other config of the backup only if allowed,
 * and the user's values over both.
 */
function topicConfigsOf(opts: RestoreOptions, t: ManifestTopic): { configs: Record<string, string>; configsSkipped: Record<string, string> } {
  const { [TIMESTAMP_TYPE]: ts, ...rest } = t.configs;
  const c = chooseTopicConfigs(rest, opts.topicConfigsFromBackup, opts.topicConfigs);
  const timestampType =
    ts === undefined || Object.hasOwn(c.applied, TIMESTAMP_TYPE) ? {} : targetConfigs({ [TIMESTAMP_TYPE]: ts }, opts.keepLogAppendTime === true);
  return { configs: { ...timestampType, ...c.applied }, configsSkipped: c.skipped };
}

/** The oldest record a PITR restores is no older than the window's start. */
function restoredExtent(pt: PlannedTopic, windowStart: number | undefined): RestoredExtent {
  const oldest = pt.partitions.map((p) => p.timestampRange?.[0]).filter((x): x is number => x !== undefined);
  return {
    oldestTimestamp: oldest.length ? Math.max(Math.min(...oldest), windowStart ?? -Infinity) : undefined,
    largestPartitionBytes: Math.max(0, ...pt.partitions.map((p) => p.bytesEstimate)),
    now: Date.now(),
  };
}

/**
 * The manifest's partition_count decides how many partitions a created target topic gets, so it
 * must agree with what the backup holds: every partition below it listed, and an index for the
 * highest one (a backup writes each partition's index when it starts it). A forged or damaged
 * count (say 100000) would otherwise create that many partitions on the target.
 */
async function checkPartitionCount(
  opts: RestoreOptions,
  manifest: Manifest,
  t: ManifestTopic,
  read: readonly number[],
  errors: string[],
  warnings: string[],
): Promise<void> {
  const where = keys.manifest(opts.backupId);
  if (t.partitions.length !== t.partition_count) {
    errors.push(`${where}: topic ${t.name} has partition_count ${t.partition_count} but lists ${t.partitions.length} partitions (damaged or edited manifest)`);
    return;
  }
  const top = t.partition_count - 1;
  const unfinished = manifest.status === 'running' || manifest.status === 'incomplete';
  // Already reported as a missing index when the plan read it for a finished backup.
  if (read.includes(top) && !unfinished) return;
  if ((await loadIndex(opts, t.name, top, manifest)) !== undefined) return;
  const what = `${where}: topic ${t.name} has partition_count ${t.partition_count} but partition ${top} has no index (${keys.partitionIndex(opts.backupId, t.name, top)}), so the count is not confirmed`;
  // An unfinished backup may not have started its last partitions: the user may accept the manifest's count.
  if (unfinished && opts.allowIncompleteBackup === true)
    warnings.push(`${what}; a created topic gets ${t.partition_count} partitions as the manifest says (restore.allow_incomplete_backup: true)`);
  else
    errors.push(
      `${what}${unfinished ? `; the backup (status ${manifest.status}) has not reached that partition: run it to completion, or set restore.allow_incomplete_backup: true to take the manifest's count` : ''}`,
    );
}

/**
 * What a restore will do, computed from the manifest and the partition indexes only (no record
 * data is read): which segments overlap the window, how many records that is, and whether the
 * topic selection and the mappings make sense. `validate-restore` prints it; `restore` runs it.
 */
export async function planRestore(opts: RestoreOptions): Promise<RestorePlan> {
  const manifest = await loadManifest(opts);
  const errors: string[] = [];
  const warnings: string[] = [];
  const window = TimeWindow.of(opts.windowStart, opts.windowEnd);
  if (window.problem) errors.push(window.problem);

  const filters = [opts.topics, ...(opts.extraTopicFilters ?? [])];
  const selected = manifest.topics.filter((t) => filters.every((f) => matchesFilter(t.name, f)));
  for (const f of filters) {
    for (const name of f.include) {
      if (!/[*?~]/.test(name) && !manifest.topics.some((t) => t.name === name))
        errors.push(`topic "${name}" is not in backup ${manifest.backup_id} (it holds: ${manifest.topics.map((t) => t.name).join(', ') || 'nothing'})`);
    }
  }
  for (const src of Object.keys(opts.topicMapping)) {
    if (!manifest.topics.some((t) => t.name === src)) errors.push(`restore.topic_mapping: source topic "${src}" is not in the backup`);
  }
  if (selected.length === 0 && errors.length === 0) errors.push('no topic of the backup is selected for restore');

  const plan: RestorePlan = {
    manifest,
    windowStart: window.start,
    windowEnd: window.end,
    window,
    topics: [],
    segmentsMatching: 0,
    segmentsTotal: 0,
    recordsEstimate: 0,
    recordsLowerBound: 0,
    recordsUpperBound: 0,
    recordsInBackup: 0,
    footersRead: 0,
    bytesEstimate: 0,
    backupTimeRange: null,
    errors,
    warnings,
    pruned: [],
  };
  const prunedFacts: PrunedPartitionFacts[] = [];
  const targetWriters = new Map<string, string[]>();
  const short: ShortPartition[] = [];
  const rollbacks: RollbackProblem[] = [];
  for (const t of selected) {
    const targetTopic = opts.topicMapping[t.name] ?? t.name;
    const parts = t.partitions.map((p) => p.partition).filter((p) => !opts.sourcePartitions || opts.sourcePartitions.includes(p));
    for (const p of opts.sourcePartitions ?? []) {
      if (p >= t.partition_count) warnings.push(`restore.source_partitions: ${t.name} has no partition ${p} (it has ${t.partition_count})`);
    }
    const rp = opts.repartitioning?.[targetTopic];
    const pt: PlannedTopic = {
      sourceTopic: t.name,
      targetTopic,
      sourcePartitionCount: t.partition_count,
      requiredTargetPartitions: rp ? rp.target_partitions : t.partition_count,
      ...topicConfigsOf(opts, t),
      sourceLogAppendTime: t.configs[TIMESTAMP_TYPE] === LOG_APPEND_TIME,
      ...(t.replication_factor !== undefined ? { replicationFactor: t.replication_factor } : {}),
      partitions: [],
      ...(rp ? { repartition: { strategy: rp.strategy, targetPartitions: rp.target_partitions } } : {}),
    };
    for (const p of parts) {
      const idx = await loadIndex(opts, t.name, p, manifest);
      // Never allowed (not even with allow_incomplete_backup): a rolled-back index or manifest would silently restore less.
      const stale = checkIndexAgainstManifest(manifest, t.name, p, idx);
      rollbacks.push(...stale);
      if (!idx && stale.length === 0) {
        const msg = `${keys.partitionIndex(opts.backupId, t.name, p)}: missing partition index (the manifest lists ${t.name}/${p})`;
        // A running (or interrupted) backup may not have reached this partition yet; a finished one has an index for every partition.
        if (manifest.status === 'running' || manifest.status === 'incomplete')
          warnings.push(`${msg}; the backup is still running or was interrupted, so nothing of this partition is restored`);
        else errors.push(msg);
      }
      noteShortfall(short, manifest, t, p, idx);
      const segs = idx?.segments ?? [];
      prunedFacts.push({
        topic: t.name,
        partition: p,
        keptFromOffset: segs[0]?.first_offset ?? null,
        keptFromTime: segs.find((s) => s.min_timestamp !== null)?.min_timestamp ?? null,
      });
      // -1: routed record by record (repartitioning), not a fixed target partition.
      const targetPartition = rp ? -1 : (opts.partitionMapping[p] ?? p);
      if (!rp) pt.requiredTargetPartitions = Math.max(pt.requiredTargetPartitions, targetPartition + 1);
      const pp: PlannedPartition = {
        sourceTopic: t.name,
        sourcePartition: p,
        targetTopic,
        targetPartition,
        segments: [],
        segmentsTotal: segs.length,
        recordsExact: 0,
        recordsPartialUpperBound: 0,
        recordsEstimate: 0,
        bytesEstimate: 0,
        recordsInBackup: 0,
        offsetRange: null,
        timestampRange: null,
        abortedTransactions: [],
      };
      for (const s of segs) {
        pp.recordsInBackup += s.record_count;
        if (s.min_timestamp !== null && s.max_timestamp !== null) {
          const r = plan.backupTimeRange;
          plan.backupTimeRange = r ? [Math.min(r[0], s.min_timestamp), Math.max(r[1], s.max_timestamp)] : [s.min_timestamp, s.max_timestamp];
        }
        pp.abortedTransactions.push(...s.aborted_transactions);
        if (!overlaps(s, window)) continue;
        const full = inside(s, window);
        pp.segments.push({ entry: s, fullyInside: full });
        if (full) {
          pp.recordsExact += s.record_count;
          pp.recordsEstimate += s.record_count;
          pp.bytesEstimate += s.raw_bytes;
        } else {
          // Share of the segment's time span the window covers, as a linear estimate of its records.
          const share = window.share(s.min_timestamp!, s.max_timestamp!);
          pp.recordsPartialUpperBound += s.record_count;
          pp.recordsEstimate += Math.round(s.record_count * share);
          pp.bytesEstimate += Math.round(s.raw_bytes * share);
        }
        pp.offsetRange = pp.offsetRange ? [pp.offsetRange[0], s.last_offset] : [s.first_offset, s.last_offset];
        const tr: [number, number] = [s.min_timestamp!, s.max_timestamp!];
        pp.timestampRange = pp.timestampRange ? [Math.min(pp.timestampRange[0], tr[0]), Math.max(pp.timestampRange[1], tr[1])] : tr;
      }
      const key = rp ? `${targetTopic}/*` : `${targetTopic}/${targetPartition}`;
      targetWriters.set(key, [...(targetWriters.get(key) ?? []), `${t.name}/${p}`]);
      plan.segmentsTotal += pp.segmentsTotal;
      plan.segmentsMatching += pp.segments.length;
      plan.recordsEstimate += pp.recordsEstimate;
      plan.recordsLowerBound += pp.recordsExact;
      plan.recordsUpperBound += pp.recordsExact + pp.recordsPartialUpperBound;
      plan.recordsInBackup += pp.recordsInBackup;
      plan.bytesEstimate += pp.bytesEstimate;
      pt.partitions.push(pp);
    }
    if (pt.sourceLogAppendTime) warnings.push(logAppendTimeNote(pt, opts.keepLogAppendTime === true));
    warnings.push(...holdBackDestructiveRetention(pt, opts.topicConfigs ?? {}, restoredExtent(pt, window.start), pt.targetTopic));
    plan.topics.push(pt);
    await checkPartitionCount(opts, manifest, t, parts, errors, warnings);
  }
  const pruned = prunedWindowWarnings(await readPrunedLog(opts.store, opts.backupId), prunedFacts, window.start, window.end);
  plan.pruned = pruned.ranges;
  warnings.push(...pruned.warnings);
  await reportRollbacks(opts, rollbacks, errors);
  reportShortfall(plan, short, opts.allowIncompleteBackup === true);
  await checkSegmentObjects(plan, opts.store);
  for (const [src, dst] of Object.entries(opts.partitionMapping)) {
    if (!selected.some((t) => Number(src) < t.partition_count))
      warnings.push(`restore.partition_mapping: source partition ${src} exists in none of the selected topics`);
    if (dst < 0) errors.push(`restore.partition_mapping: target partition ${dst} is negative`);
  }
  for (const name of Object.keys(opts.repartitioning ?? {})) {
    if (!plan.topics.some((t) => t.targetTopic === name))
      warnings.push(`restore.repartitioning: "${name}" is not the target topic of any restored topic (keys are TARGET topic names)`);
  }
  for (const [target, sources] of targetWriters) {
    if (target.endsWith('/*')) {
      const topics = new Set(sources.map((s) => s.slice(0, s.lastIndexOf('/'))));
      if (topics.size > 1) errors.push(`target topic ${target.slice(0, -2)} is repartitioned from different source topics (${[...topics].join(', ')})`);
      continue;
    }
    if (sources.length > 1) {
      const topics = new Set(sources.map((s) => s.slice(0, s.lastIndexOf('/'))));
      if (topics.size > 1)
        errors.push(
          `target partition ${target} would receive records from different source topics (${sources.join(', ')}); map them to different target topics`,
        );
      else warnings.push(`partitions ${sources.join(', ')} are merged into ${target}: each keeps its own order, one after the other`);
    }
  }
  return plan;
}

/** One error per object an older copy was put back for (or a pinned index deleted): never allowed, it would restore less. */
async function reportRollbacks(opts: Pick<RestoreOptions, 'store' | 'backupId'>, found: RollbackProblem[], errors: string[]): Promise<void> {
  const seen = new Set<string>();
  for (const f of await confirmRollbacks(opts.store, opts.backupId, found)) {
    if (seen.has(f.object)) continue;
    seen.add(f.object);
    errors.push(`${f.object}: ${f.problem}`);
  }
}

interface ShortPartition {
  name: string;
  /** The index's next offset, or null when the partition has no index. */
  reached: number | null;
  end: number;
}

/** A snapshot partition whose index does not reach the end offset the snapshot was started for. */
function noteShortfall(out: ShortPartition[], manifest: Manifest, t: ManifestTopic, p: number, idx: PartitionIndex | undefined): void {
  if (manifest.mode !== 'snapshot') return;
  const mp = t.partitions.find((x) => x.partition === p);
  if (!mp) return;
  // No index: nothing of the partition is backed up, which is a loss only if it held records.
  if (snapshotPartitionShort(mp, idx?.next_offset)) out.push({ name: `${t.name}/${p}`, reached: idx?.next_offset ?? null, end: mp.end_offset });
}

/**
 * An incomplete snapshot (interrupted, or an index short of what the manifest promises) is refused
 * unless restore.allow_incomplete_backup is set; then every short partition is named with its reach.
 */
function reportShortfall(plan: RestorePlan, short: ShortPartition[], allowed: boolean): void {
  const m = plan.manifest;
  if (short.length === 0) {
    if (m.mode === 'snapshot' && m.status !== 'complete')
      plan.warnings.push(`backup ${m.backup_id} is marked ${m.status}, but every selected partition reaches the snapshot's end offset`);
    return;
  }
  const reach = (s: ShortPartition): string => `${s.name} reaches offset ${s.reached ?? 'none (not started)'} of ${s.end}`;
  if (!allowed) {
    const shown = short.slice(0, 10).map(reach).join('; ');
    plan.errors.push(
      `backup ${m.backup_id} is an incomplete snapshot (status ${m.status}): ${short.length} selected partition(s) do not reach the snapshot's end offsets (${shown}${short.length > 10 ? `; … ${short.length - 10} more` : ''}). ` +
        'Run the backup again to complete it, or set restore.allow_incomplete_backup: true to restore what it holds',
    );
    return;
  }
  plan.warnings.push(`backup ${m.backup_id} is an incomplete snapshot (status ${m.status}); restoring what it holds (restore.allow_incomplete_backup: true)`);
  for (const s of short) plan.warnings.push(`incomplete: ${reach(s)}: offsets ${s.reached ?? 0} to ${s.end - 1} are not in the backup`);
}

export const TIMESTAMP_TYPE = 'message.timestamp.type';
export const LOG_APPEND_TIME = 'LogAppendTime';

/**
 * A LogAppendTime target stamps every restored record with the time of the restore, so its
 * consumers (and any later point-in-time restore of it) would see other timestamps than the
 * source's consumers saw. Unless the user keeps LogAppendTime, the target is created CreateTime:
 * the restore re-encodes each LogAppendTime batch as CreateTime records carrying the batch's append
 * time (record-stream.ts), which such a target keeps.
 */
export function targetConfigs(source: Record<string, string>, keepLogAppendTime: boolean): Record<string, string> {
  if (keepLogAppendTime || source[TIMESTAMP_TYPE] !== LOG_APPEND_TIME) return source;
  return { ...source, [TIMESTAMP_TYPE]: 'CreateTime' };
}

function logAppendTimeNote(t: PlannedTopic, keep: boolean): string {
  if (keep) {
    return `${t.sourceTopic} is message.timestamp.type=LogAppendTime at the source and restore.keep_log_append_time is true: a created target ${t.targetTopic} is LogAppendTime too, so the broker stamps every restored record with the time of the restore (the source's timestamps are not kept)`;
  }
  return `${t.sourceTopic} is message.timestamp.type=LogAppendTime at the source: a created target ${t.targetTopic} gets message.timestamp.type=CreateTime and every record keeps the append time the source's consumers saw, as a CreateTime timestamp (set restore.keep_log_append_time: true to keep LogAppendTime and have the broker re-stamp the records)`;
}

/**
 * An existing target topic with LogAppendTime would overwrite every restored timestamp: an error
 * unless restore.keep_log_append_time says the user wants that.
 */
export function logAppendTimeTargetProblem(targetTopic: string, keep: boolean): { error?: string; warning?: string } {
  if (keep)
    return {
      warning: `target topic ${targetTopic} uses message.timestamp.type=LogAppendTime (restore.keep_log_append_time: true): the broker stamps every restored record with the time of the restore`,
    };
  return {
    error: `target topic ${targetTopic} uses message.timestamp.type=LogAppendTime: the broker would replace every restored timestamp with the time of the restore; set its message.timestamp.type to CreateTime, restore into a new topic (topic_mapping), or set restore.keep_log_append_time: true to accept the new timestamps`,
  };
}

/** The target partitions a planned topic writes into. */
export function targetPartitionsOf(t: PlannedTopic): number[] {
  if (t.repartition) return Array.from({ length: t.repartition.targetPartitions }, (_, i) => i);
  return [...new Set(t.partitions.map((p) => p.targetPartition))].sort((a, b) => a - b);
}

/**
 * Narrows the plan's record estimate with the block index in the footer of every segment the
 * window only partly covers (one or two small ranged GETs per segment, no record data): blocks
 * wholly inside count exactly, blocks wholly outside not at all, and only the blocks the window
 * cuts through (about 1 MiB of batches each) remain estimated.
 */
export async function refineWithFooters(plan: RestorePlan, store: ObjectStore): Promise<void> {
  const w = plan.window;
  for (const t of plan.topics) {
    for (const pp of t.partitions) {
      let exact = 0;
      let partial = 0;
      let estimate = 0;
      let bytes = 0;
      for (const seg of pp.segments) {
        if (seg.fullyInside) {
          exact += seg.entry.record_count;
          estimate += seg.entry.record_count;
          bytes += seg.entry.raw_bytes;
          continue;
        }
        if (isSeedEntry(seg.entry)) {
          // No block index to narrow with: the segment keeps its linear estimate and counts in the upper bound.
          const share = w.share(seg.entry.min_timestamp!, seg.entry.max_timestamp!);
          partial += seg.entry.record_count;
          estimate += Math.round(seg.entry.record_count * share);
          bytes += Math.round(seg.entry.raw_bytes * share);
          continue;
        }
        const { footer } = await readFooter(store, seg.entry);
        plan.footersRead++;
        for (const b of footer.blocks) {
          const records = b.recordCount - b.controlBatchCount;
          if (records <= 0) continue;
          const lo = Number(b.minTimestamp);
          const hi = Number(b.maxTimestamp);
          if (!w.overlaps(lo, hi)) continue;
          if (w.covers(lo, hi)) {
            exact += records;
            estimate += records;
            bytes += b.rawLength;
          } else {
            const share = w.share(lo, hi);
            partial += records;
            estimate += Math.round(records * share);
            bytes += Math.round(b.rawLength * share);
          }
        }
      }
      plan.recordsEstimate += estimate - pp.recordsEstimate;
      plan.recordsLowerBound += exact - pp.recordsExact;
      plan.recordsUpperBound += exact + partial - (pp.recordsExact + pp.recordsPartialUpperBound);
      plan.bytesEstimate += bytes - pp.bytesEstimate;
      pp.recordsExact = exact;
      pp.recordsPartialUpperBound = partial;
      pp.recordsEstimate = estimate;
      pp.bytesEstimate = bytes;
    }
  }
}
