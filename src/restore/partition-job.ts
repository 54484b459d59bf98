/**
 * One target partition's restore: where to resume (resume.ts checks any records that reached the
 * target after the last checkpoint), then each planned source in order, produced in batches and
 * mapped offset by offset into the partition's exact offset map.
 */
import type { TargetPartitionState } from '../format/restore-state.js';
import { UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { OffsetMapBuilder } from './offset-map.js';
import type { PlannedPartition, PlannedTopic } from './plan.js';
import { restoreBatches, type OutBatch } from './record-stream.js';
import type { RepartitionContext } from './repartition.js';
import { checkContiguous, ResumeTail, settledEnds, type RecordContent } from './resume.js';

const log = logger('restore');

/** What one job writes: a target partition, or (repartitioned) a whole target topic. */
export interface TargetJob {
  targetTopic: string;
  /** -1 for a repartitioned topic (one job writes all its partitions). */
  targetPartition: number;
  sources: PlannedPartition[];
  repartitioned?: PlannedTopic;
}

/** Everything a job shares with the others (the same context the repartitioning path takes). */
export type JobContext = RepartitionContext;

/** Where this partition's writing continues, after checking what reached the target past the last checkpoint. */
interface Position {
  key: string;
  ps: TargetPartitionState;
  map: OffsetMapBuilder;
  tail: ResumeTail | undefined;
  nextTarget: number;
  /** The partition's settled end when the job started: a transactional job's first batch lands there (after the markers). */
  end: number;
  /** Restored records already on the target: skipped in the stream, mapped, not written again. */
  skip: number;
  /** Of those, the ones the state already counts. */
  before: number;
}

async function resumePosition(job: TargetJob, ctx: JobContext): Promise<Position> {
  const { opts, cluster, admin, state, stateKey } = ctx;
  const key = `${job.targetTopic}/${job.targetPartition}`;
  const ps = state.partitions[key]!;
  const map = new OffsetMapBuilder();
  map.runs.push(...ps.runs);
  // One array from here on: a checkpoint never sees records counted in `produced` but missing from the runs.
  ps.runs = map.runs;
  // Records that reached the target after the last checkpoint: the sequence is deterministic,
  // so they must be exactly the next records; each is checked by content, then skipped and
  // mapped to the offset it got (resume.ts). The end is read once nothing is left above the HW.
  const end = (await settledEnds(cluster, admin, job.targetTopic, [job.targetPartition], opts.produceTimeoutMs)).get(job.targetPartition) ?? 0;
  // In transactions, markers take offsets too: our records end where the last mapped run ends.
  const txn = ctx.transaction !== undefined;
  const expected = txn ? mappedEnd(ps) : ps.initial_end_offset + ps.produced;
  if (end < expected) {
    throw new UserError(
      'TARGET_CHANGED',
      `${key}: the target partition ends at offset ${end} but this restore had already written up to ${expected}; it was truncated or recreated since. Delete the restore state ${stateKey} to start over.`,
    );
  }
  // In transactions only what a read_committed consumer sees counts: a former owner's aborted chunk and the markers do not.
  const tail = end > expected ? await ResumeTail.read(cluster, job.targetTopic, job.targetPartition, expected, end, stateKey, txn) : undefined;
  if (tail?.size)
    log.info({ partition: key, records: tail.size }, 'records reached the target after the last checkpoint; checked to be ours, not written again');
  const skip = txn ? ps.produced + (tail?.size ?? 0) : end - ps.initial_end_offset;
  return { key, ps, map, tail, nextTarget: expected, end, skip, before: ps.produced };
}

/** The target offset after this partition's last mapped record (its initial end when none). */
export function mappedEnd(ps: TargetPartitionState): number {
  return ps.runs.reduce((end, r) => Math.max(end, r.target + r.count), ps.initial_end_offset);
}

/** Streams one planned source into the partition, producing in batches of produce_batch_size (or 1 MiB). */
async function restoreSource(job: TargetJob, src: PlannedPartition, pos: Position, ctx: JobContext): Promise<void> {
  const { opts, producer, stats } = ctx;
  const onSkipped = (sourceOffset: number, content: () => RecordContent): void => {
    if (pos.before > 0) {
      pos.before--;
      return;
    }
    // The offset the record has on the target (consecutive, except across transaction markers).
    const at = pos.tail?.match(content(), sourceOffset) ?? pos.nextTarget;
    pos.map.add(src.sourceTopic, src.sourcePartition, sourceOffset, at);
    pos.nextTarget = at + 1;
    pos.ps.produced++;
  };
  const streamStats = { skippedOutsideWindow: 0, abortedSkipped: 0, bytesRead: 0 };
  const streamOpts = {
    window: ctx.window,
    includeOriginalOffsetHeader: opts.includeOriginalOffsetHeader,
    stripOffsetHeaders: opts.stripOffsetHeaders,
    schemaIds: ctx.schemaIds,
    skip: pos.skip,
    onSkipped,
    stats: streamStats,
  };
  let pending: OutBatch[] = [];
  let pendingRecords = 0;
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    await ctx.recordLimiter?.take(pendingRecords, opts.signal);
    await ctx.byteLimiter?.take(pendingBytes, opts.signal);
    await ctx.beforeProduce?.();
    const batches = pending.map((b) => b.batch);
    const txn = ctx.transaction;
    // In transactions the first chunk lands after whatever markers ended the partition when the job started.
    if (txn) pos.nextTarget = Math.max(pos.nextTarget, pos.end);
    const res = txn ? await txn.send(batches) : await producer.send(job.targetTopic, job.targetPartition, batches);
    checkContiguous(pos.key, res[0]!.baseOffset, pos.nextTarget);
    // Mapped only once committed: the state never counts records a read_committed consumer does not see.
    await txn?.commit();
    let t = pos.nextTarget;
    pending.forEach((b, i) => {
      // acks 0 reports no offset: the records follow on from the partition's end (we are its only writer).
      const base = res[i]!.baseOffset;
      if (base !== undefined) t = Number(base);
      for (const s of b.sourceOffsets) pos.map.add(src.sourceTopic, src.sourcePartition, s, t++);
    });
    pos.ps.produced += pendingRecords;
    opts.metrics?.restored(job.targetTopic, job.targetPartition, pendingRecords, pendingBytes);
    // The commit marker takes the offset after the chunk.
    pos.nextTarget = txn ? t + 1 : t;
    pos.ps.runs = pos.map.runs;
    ctx.markDirty();
    pending = [];
    pendingRecords = 0;
    pendingBytes = 0;
  };
  for await (const b of restoreBatches(opts.store, src, streamOpts)) {
    if (opts.signal?.aborted) break;
    if (b.reused) stats.reused++;
    else stats.rebuilt++;
    pending.push(b);
    pendingRecords += b.sourceOffsets.length;
    pendingBytes += b.batch.length;
    if (pendingRecords >= opts.produceBatchSize || pendingBytes >= 1024 * 1024) await flush();
  }
  await flush();
  // Whatever this source did not consume of the skip carries over to the next merged source.
  pos.skip = streamOpts.skip;
  stats.skippedOutsideWindow += streamStats.skippedOutsideWindow;
  stats.abortedSkipped += streamStats.abortedSkipped;
  stats.bytesRead += streamStats.bytesRead;
}

/** Restores one target partition from its planned sources; returns how many records it now maps. */
export async function restorePartition(job: TargetJob, ctx: JobContext): Promise<number> {
  const pos = await resumePosition(job, ctx);
  for (const src of job.sources) {
    if (ctx.opts.signal?.aborted) break;
    await restoreSource(job, src, pos, ctx);
  }
  // The target holds more records past the checkpoint than this restore writes: not ours.
  if (!ctx.opts.signal?.aborted) pos.tail?.finish();
  pos.ps.runs = pos.map.runs;
  return pos.map.records;
}

/** The jobs of a plan: one per target partition (merged sources in order), one per repartitioned topic. */
export function targetJobs(topics: readonly PlannedTopic[]): TargetJob[] {
  const jobs = new Map<string, TargetJob>();
  for (const t of topics) {
    if (t.repartition) {
      jobs.set(`${t.targetTopic}/*`, { targetTopic: t.targetTopic, targetPartition: -1, sources: t.partitions, repartitioned: t });
      continue;
    }
    for (const p of t.partitions) {
      const k = `${p.targetTopic}/${p.targetPartition}`;
      const j = jobs.get(k) ?? { targetTopic: p.targetTopic, targetPartition: p.targetPartition, sources: [] };
      j.sources.push(p);
      jobs.set(k, j);
    }
  }
  for (const j of jobs.values()) j.sources.sort((a, b) => a.sourceTopic.localeCompare(b.sourceTopic) || a.sourcePartition - b.sourcePartition);
  return [...jobs.values()];
}
