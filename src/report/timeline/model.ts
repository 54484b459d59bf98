/**
 * The timeline of a backup as data: per partition, records over time (from the segment footers'
 * block entries), segment boundaries, gaps, late records, consumer-group snapshot times and, given
 * a restore's options, its time window with the exact number of records it restores.
 */
import { inspectBackup, type PartitionView } from '../../format/backup-view.js';
import { listGroupSnapshots } from '../../format/group-snapshot.js';
import type { SegmentEntry } from '../../format/partition-index.js';
import { countExactly, planRestore, readFooter, type RestoreOptions } from '../../restore/index.js';
import type { ObjectStore } from '../../storage/store.js';
import { UserError } from '../../util/errors.js';
import { runPool } from '../../util/pool.js';
import { axisFor, density, lateSpans, type LateSpan, type TimeAxis, type TimedRun } from './density.js';

export const DEFAULT_BINS = 200;
export const MIN_BINS = 10;
export const MAX_BINS = 5000;
/** Segment footers (one or two ranged GETs each) and group snapshots read at once. */
const READ_CONCURRENCY = 8;

export interface TimelineSegment {
  key: string;
  firstOffset: number;
  lastOffset: number;
  records: number;
  minTs: number | null;
  maxTs: number | null;
  blocks: number;
}

export interface TimelineGap {
  fromOffset: number;
  toOffset: number;
  reason: string;
  /** Where the gap sits in time: after the last record before it, before the first record after it (null: the axis's edge). */
  fromTs: number | null;
  toTs: number | null;
}

export interface PartitionWindow {
  /** The restore config selects this partition. */
  selected: boolean;
  /** Exact records the restore writes from it (0 when not selected). */
  records: number;
  target: string | null;
}

export interface TimelinePartition {
  topic: string;
  partition: number;
  records: number;
  firstOffset: number | null;
  lastOffset: number | null;
  minTs: number | null;
  maxTs: number | null;
  logStartOffset: number;
  endOffset: number;
  segments: TimelineSegment[];
  gaps: TimelineGap[];
  late: LateSpan[];
  /** Records per bin of the axis (fractions: a block's records are spread evenly over its time range). */
  bins: number[];
  window: PartitionWindow | null;
}

export interface TimelineTopic {
  name: string;
  records: number;
  partitions: TimelinePartition[];
}

export interface SnapshotMark {
  takenAt: number;
  groups: string[];
}

export interface TimelineWindow {
  start: number | null;
  end: number | null;
  /** Exact records the restore writes (src/restore/count.ts), all selected partitions. */
  records: number;
  source: string;
}

export interface Timeline {
  backupId: string;
  status: string;
  mode: string;
  storeUrl: string;
  generatedAt: number;
  axis: TimeAxis | null;
  records: number;
  segments: number;
  /** 'blocks': density from the footers' block entries. */
  resolution: 'blocks';
  topics: TimelineTopic[];
  snapshots: SnapshotMark[];
  window: TimelineWindow | null;
}

export interface TimelineRequest {
  store: ObjectStore;
  backupId: string;
  bins?: number;
  /** A restore's options (from a restore config): draws its window with the exact count. */
  restore?: { options: RestoreOptions; source: string };
}

/** Reads the backup's indexes, every segment footer and the group snapshots (no record data, except blocks a window cuts). */
export async function collectTimeline(req: TimelineRequest): Promise<Timeline> {
  const bins = req.bins ?? DEFAULT_BINS;
  if (!Number.isInteger(bins) || bins < MIN_BINS || bins > MAX_BINS)
    throw new UserError('BAD_BINS', `bins: expected an integer from ${MIN_BINS} to ${MAX_BINS}, got ${bins}`);
  const view = await inspectBackup(req.store, req.backupId);
  const axis = view.minTimestamp !== null && view.maxTimestamp !== null ? axisFor(view.minTimestamp, view.maxTimestamp, bins) : null;
  const runs = await blockRuns(
    req.store,
    view.topics.flatMap((t) => t.partitions),
  );
  const topics: TimelineTopic[] = view.topics.map((t) => ({
    name: t.name,
    records: t.records,
    partitions: t.partitions.map((p) => partitionOf(p, axis, runs.get(p) ?? [])),
  }));
  const timeline: Timeline = {
    backupId: view.manifest.backup_id,
    status: view.manifest.status,
    mode: view.manifest.mode,
    storeUrl: req.store.url,
    generatedAt: Date.now(),
    axis,
    records: view.records,
    segments: view.segments,
    resolution: 'blocks',
    topics,
    snapshots: await snapshotMarks(req.store, req.backupId),
    window: null,
  };
  if (req.restore) timeline.window = await windowOf(timeline, req.restore.options, req.restore.source);
  return timeline;
}

/** Every segment's blocks as timed runs of data records, per partition, in offset order. */
async function blockRuns(store: ObjectStore, parts: PartitionView[]): Promise<Map<PartitionView, TimedRun[][]>> {
  const out = new Map<PartitionView, TimedRun[][]>();
  const work: { p: PartitionView; i: number; entry: SegmentEntry }[] = [];
  for (const p of parts) {
    const segs = p.index?.segments ?? [];
    out.set(
      p,
      segs.map(() => []),
    );
    segs.forEach((entry, i) => {
      work.push({ p, i, entry });
    });
  }
  await runPool(work, READ_CONCURRENCY, async ({ p, i, entry }) => {
    const { footer } = await readFooter(store, entry);
    out.get(p)![i] = footer.blocks
      .map((b) => ({
        firstOffset: Number(b.firstOffset),
        lastOffset: Number(b.lastOffset),
        minTs: Number(b.minTimestamp),
        maxTs: Number(b.maxTimestamp),
        records: Math.max(0, b.recordCount - b.controlBatchCount),
      }))
      .filter((r) => r.records > 0);
  });
  return out;
}

function partitionOf(p: PartitionView, axis: TimeAxis | null, perSegment: TimedRun[][]): TimelinePartition {
  const segs = p.index?.segments ?? [];
  const runs = perSegment.flat();
  return {
    topic: p.topic,
    partition: p.partition,
    records: p.summary.records,
    firstOffset: p.summary.firstOffset,
    lastOffset: p.summary.lastOffset,
    minTs: p.summary.minTimestamp,
    maxTs: p.summary.maxTimestamp,
    logStartOffset: p.logStartOffset,
    endOffset: p.endOffset,
    segments: segs.map((s, i) => ({
      key: s.key,
      firstOffset: s.first_offset,
      lastOffset: s.last_offset,
      records: s.record_count,
      minTs: s.min_timestamp,
      maxTs: s.max_timestamp,
      blocks: perSegment[i]?.length ?? 0,
    })),
    gaps: (p.index?.gaps ?? []).map((g) => ({
      fromOffset: g.from_offset,
      toOffset: g.to_offset,
      reason: g.reason,
      fromTs: segs.filter((s) => s.last_offset < g.from_offset && s.max_timestamp !== null).at(-1)?.max_timestamp ?? null,
      toTs: segs.find((s) => s.first_offset >= g.to_offset && s.min_timestamp !== null)?.min_timestamp ?? null,
    })),
    late: lateSpans(runs),
    bins: axis ? density(axis, runs) : [],
    window: null,
  };
}

/** Group snapshot times, with the groups each holds. */
async function snapshotMarks(store: ObjectStore, backupId: string): Promise<SnapshotMark[]> {
  return (await listGroupSnapshots(store, backupId)).map(({ snapshot }) => ({
    takenAt: snapshot.taken_at,
    groups: snapshot.groups.map((g) => g.group_id).sort(),
  }));
}

/** The restore's window and its exact count, per partition and in total; a plan with errors is refused. */
async function windowOf(timeline: Timeline, options: RestoreOptions, source: string): Promise<TimelineWindow> {
  if (options.backupId !== timeline.backupId)
    throw new UserError('TIMELINE_BACKUP', `${source}: backup_id "${options.backupId}" is not the backup drawn ("${timeline.backupId}")`);
  const plan = await planRestore(options);
  if (plan.errors.length) throw new UserError('TIMELINE_PLAN', `${source}: the restore config does not plan: ${plan.errors.join('; ')}`);
  await countExactly(plan, options.store);
  const chosen = new Map(plan.topics.flatMap((t) => t.partitions.map((pp) => [`${pp.sourceTopic}/${pp.sourcePartition}`, pp] as const)));
  for (const t of timeline.topics) {
    for (const p of t.partitions) {
      const pp = chosen.get(`${p.topic}/${p.partition}`);
      p.window = pp
        ? {
            selected: true,
            records: pp.recordsExact,
            target: pp.targetPartition < 0 ? `${pp.targetTopic} (repartitioned)` : `${pp.targetTopic}/${pp.targetPartition}`,
          }
        : { selected: false, records: 0, target: null };
    }
  }
  return { start: plan.windowStart ?? null, end: plan.windowEnd ?? null, records: plan.recordsEstimate, source };
}
