import { createHash } from 'node:crypto';
import type { RestoreReport } from '../format/restore-report.js';
import { EARLIEST, KafkaAdmin, LATEST } from '../kafka/admin.js';
import { KafkaCluster } from '../kafka/cluster.js';
import { RawProducer } from '../kafka/producer.js';
import { UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { runPool } from '../util/pool.js';
import { OffsetMapBuilder, type OffsetRun } from './offset-map.js';
import type { RestoreOptions } from './options.js';
import { LOG_APPEND_TIME, logAppendTimeTargetProblem, planRestore, targetPartitionsOf, TIMESTAMP_TYPE, type PlannedPartition, type PlannedTopic, type RestorePlan } from './plan.js';
import { RateLimiter } from './rate-limiter.js';
import { createMissingTopics, missingTargetTopics } from './create-targets.js';
import { schemaIdRewriterFor } from './schema-ids.js';
import { purgePartitions, restoreRepartitioned } from './repartition.js';
import { restoreBatches, type OutBatch } from './record-stream.js';
import { type RestoreState, type TargetPartitionState } from '../format/restore-state.js';
import { RestoreStateStore, type ReportLocation } from './state-store.js';
import { checkContiguous, ResumeTail, settledEnds, type RecordContent } from './resume.js';

const log = logger('restore');

export interface PartitionResult {
  sourceTopic: string;
  sourcePartitions: number[];
  targetTopic: string;
  targetPartition: number;
  restored: number;
}

export interface RestoreResult {
  restoreId: string;
  plan: RestorePlan;
  partitions: PartitionResult[];
  restored: number;
  skippedOutsideWindow: number;
  abortedSkipped: number;
  bytesRead: number;
  reusedBatches: number;
  rebuiltBatches: number;
  durationMs: number;
  offsetMap: OffsetRun[];
  warnings: string[];
  resumed: boolean;
  /** Where the report with the offset map was written (unset for an interrupted restore). */
  reportLocation?: ReportLocation;
}

/** A restore's identity: the same backup, target and selection resume the same restore. */
export function restoreIdFor(opts: RestoreOptions): string {
  const h = createHash('sha256')
    .update(
      JSON.stringify([
        opts.backupId,
        [...(opts.target?.bootstrapServers ?? [])].sort(),
        opts.windowStart ?? null,
        opts.windowEnd ?? null,
        opts.topics,
        opts.extraTopicFilters ?? [],
        opts.topicMapping,
        opts.sourcePartitions ?? null,
        opts.partitionMapping,
        opts.includeOriginalOffsetHeader,
        opts.stripOffsetHeaders,
      ]),
    )
    .digest('hex');
  return `restore-${h.slice(0, 16)}`;
}

interface TargetJob {
  targetTopic: string;
  /** -1 for a repartitioned topic (one job writes all its partitions). */
  targetPartition: number;
  sources: PlannedPartition[];
  repartitioned?: PlannedTopic;
}

export async function runRestore(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const plan = await planRestore(opts);
  if (plan.errors.length) throw new UserError('INVALID_RESTORE', `cannot restore (run validate-restore for the full report):\n  - ${plan.errors.join('\n  - ')}`);
  if (!opts.target) throw new UserError('CONFIG', 'target.bootstrap_servers is required to restore');
  const restoreId = restoreIdFor(opts);
  const warnings = [...plan.warnings];
  // Built (registries read) before anything is written: an unreachable registry leaves the target untouched.
  const schemaIds = await schemaIdRewriterFor(opts);
  const cluster = await KafkaCluster.connect(opts.target);
  const admin = new KafkaAdmin(opts.target);
  try {
    const states = new RestoreStateStore(opts.store, opts.backupId, restoreId, opts.checkpointState);
    const previous = await states.load();
    const stateKey = states.location;
    const state: RestoreState = previous ?? { format_version: 1, restore_id: restoreId, backup_id: opts.backupId, started_at: started, updated_at: started, completed_at: null, partitions: {} };
    const resumed = previous !== undefined;
    if (resumed) log.info({ restoreId }, 'resuming an interrupted restore');

    // Saved before anything is produced: a store that refuses writes stops the restore here, target untouched.
    await states.save(state);
    try {
      await prepareTargets(opts, plan, cluster, admin, state, warnings);
    } catch (err) {
      // Refused before anything was written: a new restore leaves no state behind (the backup stays as it was).
      if (!resumed) await states.discard().catch(() => {});
      throw err;
    }
    await states.save(state);

    const jobs = new Map<string, TargetJob>();
    for (const t of plan.topics) {
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
    opts.metrics?.partitionsPlanned(jobs.size);
    opts.metrics?.recordsPlanned?.(plan.recordsEstimate, plan.recordsLowerBound === plan.recordsUpperBound);
    for (const j of jobs.values()) j.sources.sort((a, b) => a.sourceTopic.localeCompare(b.sourceTopic) || a.sourcePartition - b.sourcePartition);

    const producer = await RawProducer.create(cluster, { acks: opts.produceAcks, timeoutMs: opts.produceTimeoutMs });
    const recordLimiter = opts.rateLimitRecordsPerSec ? new RateLimiter(opts.rateLimitRecordsPerSec) : undefined;
    const byteLimiter = opts.rateLimitBytesPerSec ? new RateLimiter(opts.rateLimitBytesPerSec) : undefined;
    const stats = { skippedOutsideWindow: 0, abortedSkipped: 0, bytesRead: 0, reused: 0, rebuilt: 0 };
    const results: PartitionResult[] = [];
    let dirty = false;
    const checkpoint = setInterval(() => {
      if (!dirty) return;
      dirty = false;
      void states.save(state).catch((err: unknown) => { log.warn({ err: (err as Error).message }, 'checkpoint failed; will retry'); opts.metrics?.error('checkpoint'); });
    }, Math.max(1, opts.checkpointIntervalSecs) * 1000);

    try {
      const runJob = async (job: TargetJob): Promise<void> => {
        if (job.repartitioned) {
          const ctx = { opts, cluster, admin, producer, state, stateKey, recordLimiter, byteLimiter, stats, schemaIds, markDirty: () => (dirty = true) };
          for (const r of await restoreRepartitioned(job.repartitioned, ctx)) {
            results.push({ sourceTopic: job.repartitioned.sourceTopic, sourcePartitions: job.sources.map((s) => s.sourcePartition), targetTopic: job.targetTopic, targetPartition: r.targetPartition, restored: r.restored });
            opts.metrics?.restored(job.targetTopic, r.targetPartition, r.restored, 0);
          }
          opts.metrics?.partitionDone(job.targetTopic, -1);
          return;
        }
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
        const expected = ps.initial_end_offset + ps.produced;
        if (end < expected) {
          throw new UserError('TARGET_CHANGED', `${key}: the target partition ends at offset ${end} but this restore had already written up to ${expected}; it was truncated or recreated since. Delete the restore state ${stateKey} to start over.`);
        }
        const tail = end > expected ? await ResumeTail.read(cluster, job.targetTopic, job.targetPartition, expected, end, stateKey) : undefined;
        if (tail) log.info({ partition: key, records: tail.size }, 'records reached the target after the last checkpoint; checked to be ours, not written again');
        let nextTarget = ps.initial_end_offset + ps.produced;
        let skip = end - ps.initial_end_offset;
        let before = ps.produced;
        for (const src of job.sources) {
          if (opts.signal?.aborted) break;
          const onSkipped = (sourceOffset: number, content: () => RecordContent): void => {
            if (before > 0) {
              before--;
              return;
            }
            tail?.match(content(), sourceOffset);
            map.add(src.sourceTopic, src.sourcePartition, sourceOffset, nextTarget++);
            ps.produced++;
          };
          const streamStats = { skippedOutsideWindow: 0, abortedSkipped: 0, bytesRead: 0 };
          const streamOpts = {
            windowStart: opts.windowStart,
            windowEnd: opts.windowEnd,
            includeOriginalOffsetHeader: opts.includeOriginalOffsetHeader,
            stripOffsetHeaders: opts.stripOffsetHeaders,
            schemaIds,
            skip,
            onSkipped,
            stats: streamStats,
          };
          const stream = restoreBatches(opts.store, src, streamOpts);
          let pending: OutBatch[] = [];
          let pendingRecords = 0;
          let pendingBytes = 0;
          const flush = async (): Promise<void> => {
            if (pending.length === 0) return;
            await recordLimiter?.take(pendingRecords, opts.signal);
            await byteLimiter?.take(pendingBytes, opts.signal);
            const res = await producer.send(job.targetTopic, job.targetPartition, pending.map((b) => b.batch));
            checkContiguous(key, res[0]!.baseOffset, nextTarget);
            let t = nextTarget;
            pending.forEach((b, i) => {
              // acks 0 reports no offset: the records follow on from the partition's end (we are its only writer).
              const base = res[i]!.baseOffset;
              if (base !== undefined) t = Number(base);
              for (const s of b.sourceOffsets) map.add(src.sourceTopic, src.sourcePartition, s, t++);
            });
            ps.produced += pendingRecords;
            opts.metrics?.restored(job.targetTopic, job.targetPartition, pendingRecords, pendingBytes);
            nextTarget = t;
            ps.runs = map.runs;
            dirty = true;
            pending = [];
            pendingRecords = 0;
            pendingBytes = 0;
          };
          for await (const b of stream) {
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
          skip = streamOpts.skip;
          stats.skippedOutsideWindow += streamStats.skippedOutsideWindow;
          stats.abortedSkipped += streamStats.abortedSkipped;
          stats.bytesRead += streamStats.bytesRead;
        }
        // The target holds more records past the checkpoint than this restore writes: not ours.
        if (!opts.signal?.aborted) tail?.finish();
        ps.runs = map.runs;
        const restored = map.records;
        results.push({ sourceTopic: job.sources[0]!.sourceTopic, sourcePartitions: job.sources.map((s) => s.sourcePartition), targetTopic: job.targetTopic, targetPartition: job.targetPartition, restored });
        opts.metrics?.partitionDone(job.targetTopic, job.targetPartition);
        opts.onProgress?.(`  Restoring partition ${job.targetPartition} of ${job.targetTopic}: ${restored.toLocaleString('en-US')} records`);
      };
      await runPool([...jobs.values()], opts.maxConcurrentPartitions, async (job) => {
        try {
          await runJob(job);
        } finally {
          // The partition's produce connection is closed with its job: connections follow the partitions in flight.
          const parts = job.repartitioned ? targetPartitionsOf(job.repartitioned) : [job.targetPartition];
          await Promise.all(parts.map((p) => producer.release(job.targetTopic, p)));
        }
      });
    } finally {
      clearInterval(checkpoint);
      await states.save(state);
    }
    const offsetMap = Object.values(state.partitions).flatMap((p) => p.runs);
    const restored = offsetMap.reduce((n, r) => n + r.count, 0);
    const result: RestoreResult = {
      restoreId,
      plan,
      partitions: results.sort((a, b) => a.targetTopic.localeCompare(b.targetTopic) || a.targetPartition - b.targetPartition),
      restored,
      skippedOutsideWindow: Math.max(0, plan.recordsInBackup - restored - stats.abortedSkipped),
      abortedSkipped: stats.abortedSkipped,
      bytesRead: stats.bytesRead,
      reusedBatches: stats.reused,
      rebuiltBatches: stats.rebuilt,
      durationMs: Date.now() - started,
      offsetMap,
      warnings,
      resumed,
    };
    if (!opts.signal?.aborted) {
      state.completed_at = Date.now();
      await states.save(state);
      result.reportLocation = await states.saveReport(reportJson(result), opts.offsetReport);
      if (!states.storeWritable) warnings.push(`the backup storage refuses writes: the restore state is in ${opts.checkpointState} and the report with the offset map in ${result.reportLocation.localFile}`);
    }
    return result;
  } finally {
    await admin.close();
    await cluster.close();
  }
}

/** The restore's stored report (schema and key: src/format/restore-report.ts). */
export function reportJson(r: RestoreResult): RestoreReport {
  return {
    restore_id: r.restoreId,
    backup_id: r.plan.manifest.backup_id,
    source_cluster_id: r.plan.manifest.source_cluster_id ?? null,
    time_window_start: r.plan.windowStart ?? null,
    time_window_end: r.plan.windowEnd ?? null,
    records_restored: r.restored,
    records_skipped_outside_window: r.skippedOutsideWindow,
    records_skipped_aborted: r.abortedSkipped,
    bytes_read: r.bytesRead,
    duration_ms: r.durationMs,
    partitions: r.partitions,
    offset_map: r.offsetMap,
  };
}


/**
 * Creates missing target topics, refuses non-empty target partitions (unless allowed) and
 * LogAppendTime targets (unless kept knowingly), and records each target partition's starting end offset.
 */
async function prepareTargets(opts: RestoreOptions, plan: RestorePlan, cluster: KafkaCluster, admin: KafkaAdmin, state: RestoreState, warnings: string[]): Promise<void> {
  const problems: string[] = [];
  // All missing topics at once, then a short metadata poll (create-targets.ts).
  if (opts.createTopics) await createMissingTopics(await missingTargetTopics(plan, cluster), cluster, admin, opts.defaultReplicationFactor, warnings);
  for (const t of plan.topics) {
    const info = await cluster.topic(t.targetTopic);
    if (!info) {
      problems.push(`target topic ${t.targetTopic} does not exist; create it or set restore.create_topics: true`);
      continue;
    }
    if (info.partitions.length < t.requiredTargetPartitions) {
      problems.push(`target topic ${t.targetTopic} has ${info.partitions.length} partitions but the restore writes into partition ${t.requiredTargetPartitions - 1}`);
      continue;
    }
    const tsType = (await admin.topicConfig(t.targetTopic, [TIMESTAMP_TYPE]))[TIMESTAMP_TYPE];
    if (tsType === LOG_APPEND_TIME) {
      const { error, warning } = logAppendTimeTargetProblem(t.targetTopic, opts.keepLogAppendTime === true);
      if (error) {
        problems.push(error);
        continue;
      }
      warnings.push(warning!);
      log.warn(warning!);
    }
    const parts = targetPartitionsOf(t);
    if (opts.purgeTopics && parts.some((p) => !state.partitions[`${t.targetTopic}/${p}`])) {
      const purged = await purgePartitions(admin, t.targetTopic, parts.filter((p) => !state.partitions[`${t.targetTopic}/${p}`]));
      if (purged) {
        const w = `restore.purge_topics: deleted ${purged} records from ${t.targetTopic} before restoring`;
        warnings.push(w);
        log.warn(w);
      }
    }
    const starts = await admin.listOffsets(t.targetTopic, parts, EARLIEST);
    const ends = await admin.listOffsets(t.targetTopic, parts, LATEST);
    for (const p of parts) {
      const key = `${t.targetTopic}/${p}`;
      if (state.partitions[key]) continue;
      const end = Number(ends.get(p) ?? 0n);
      const start = Number(starts.get(p) ?? 0n);
      if (end > start && !opts.allowNonEmptyTarget) {
        problems.push(`target partition ${key} already holds ${end - start} records; restoring into it would mix old and restored data (set restore.allow_non_empty_target: true to append anyway, or restore into a new topic with topic_mapping)`);
        continue;
      }
      const tp: TargetPartitionState = { initial_end_offset: end, produced: 0, runs: [] };
      state.partitions[key] = tp;
    }
  }
  if (problems.length) throw new UserError('TARGET_NOT_READY', `cannot restore:\n  - ${problems.join('\n  - ')}`);
}
