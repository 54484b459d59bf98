import { createHash } from 'node:crypto';
import type { RestoreReport } from '../format/restore-report.js';
import { EARLIEST, KafkaAdmin, LATEST } from '../kafka/admin.js';
import { KafkaCluster } from '../kafka/cluster.js';
import { RawProducer } from '../kafka/producer.js';
import { createMissingTargets } from './create-targets.js';
import { driftMessage, overwriteDrift, topicConfigDrift } from './existing-topics.js';
import { UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { runPool } from '../util/pool.js';
import type { OffsetRun } from './offset-map.js';
import { restorePartition, targetJobs, type JobContext, type TargetJob } from './partition-job.js';
import type { RestoreOptions } from './options.js';
import { LOG_APPEND_TIME, logAppendTimeTargetProblem, planRestore, targetPartitionsOf, TIMESTAMP_TYPE, type PlannedTopic, type RestorePlan } from './plan.js';
import { RateLimiter } from './rate-limiter.js';
import { schemaIdRewriterFor } from './schema-ids.js';
import { purgePartitions, restoreRepartitioned } from './repartition.js';
import { newRestoreState, type RestoreState, type TargetPartitionState } from '../format/restore-state.js';
import { RestoreStateStore, type ReportLocation } from './state-store.js';
import { createSingleProcessState, refuseWorkersState } from './workers/mode-guard.js';
import { formatCount } from '../util/units.js';

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
  /** Distributed restore (restore.workers): false in every worker but the one that finished it, which runs the offset phase. */
  finisher?: boolean;
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

/** The state of an earlier run of this restore, or a fresh one; saved before anything is produced. */
async function openState(
  opts: RestoreOptions,
  restoreId: string,
  started: number,
): Promise<{ states: RestoreStateStore; state: RestoreState; resumed: boolean }> {
  const states = new RestoreStateStore(opts.store, opts.backupId, restoreId, opts.checkpointState);
  const previous = await states.load();
  const state: RestoreState = previous ?? newRestoreState(restoreId, opts.backupId, started);
  if (previous) log.info({ restoreId }, 'resuming an interrupted restore');
  // Never the state of distributed workers (restore.workers): refused, and a new state is created once.
  await refuseWorkersState(opts.store, opts.backupId, restoreId, previous);
  if (!previous) await createSingleProcessState(opts.store, opts.backupId, restoreId, state);
  // Saved before anything is produced: a store that refuses writes stops the restore here, target untouched.
  await states.save(state);
  return { states, state, resumed: previous !== undefined };
}

/** Saves the state every checkpoint interval while something changed; returns the stop function. */
function checkpointEvery(opts: RestoreOptions, states: RestoreStateStore, state: RestoreState): { markDirty: () => void; stop: () => void } {
  let dirty = false;
  const timer = setInterval(() => {
    if (!dirty) return;
    dirty = false;
    void states.save(state).catch((err: unknown) => {
      log.warn({ err: (err as Error).message }, 'checkpoint failed; will retry');
      opts.metrics?.error('checkpoint');
    });
  }, Math.max(1, opts.checkpointIntervalSecs) * 1000);
  return { markDirty: () => (dirty = true), stop: () => clearInterval(timer) };
}

/** Runs one job (a target partition, or a repartitioned topic) and records what it restored. */
async function runJob(job: TargetJob, ctx: JobContext, results: PartitionResult[]): Promise<void> {
  const { opts } = ctx;
  const sourcePartitions = job.sources.map((s) => s.sourcePartition);
  if (job.repartitioned) {
    for (const r of await restoreRepartitioned(job.repartitioned, ctx)) {
      results.push({
        sourceTopic: job.repartitioned.sourceTopic,
        sourcePartitions,
        targetTopic: job.targetTopic,
        targetPartition: r.targetPartition,
        restored: r.restored,
      });
      opts.metrics?.restored(job.targetTopic, r.targetPartition, r.restored, 0);
    }
    opts.metrics?.partitionDone(job.targetTopic, -1);
    return;
  }
  const restored = await restorePartition(job, ctx);
  results.push({ sourceTopic: job.sources[0]!.sourceTopic, sourcePartitions, targetTopic: job.targetTopic, targetPartition: job.targetPartition, restored });
  opts.metrics?.partitionDone(job.targetTopic, job.targetPartition);
  opts.onProgress?.(`  Restoring partition ${job.targetPartition} of ${job.targetTopic}: ${formatCount(restored)} records`);
}

export async function runRestore(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const plan = await planRestore(opts);
  if (plan.errors.length)
    throw new UserError('INVALID_RESTORE', `cannot restore (run validate-restore for the full report):\n  - ${plan.errors.join('\n  - ')}`);
  if (!opts.target) throw new UserError('CONFIG', 'target.bootstrap_servers is required to restore');
  const restoreId = restoreIdFor(opts);
  const warnings = [...plan.warnings];
  // Built (registries read) before anything is written: an unreachable registry leaves the target untouched.
  const schemaIds = await schemaIdRewriterFor(opts);
  const cluster = await KafkaCluster.connect(opts.target);
  const admin = new KafkaAdmin(opts.target);
  try {
    const { states, state, resumed } = await openState(opts, restoreId, started);
    try {
      await prepareTargetsRacing(opts, plan, cluster, admin, state, warnings, resumed);
    } catch (err) {
      // Refused before anything was written: a new restore leaves no state behind (the backup stays as it was).
      if (!resumed) await states.discard().catch(() => {});
      throw err;
    }
    await states.save(state);

    const jobs = targetJobs(plan.topics);
    opts.metrics?.partitionsPlanned(jobs.length);
    opts.metrics?.recordsPlanned?.(plan.recordsEstimate, plan.recordsLowerBound === plan.recordsUpperBound);
    const producer = await RawProducer.create(cluster, { acks: opts.produceAcks, timeoutMs: opts.produceTimeoutMs });
    const stats: RestoreStats = { skippedOutsideWindow: 0, abortedSkipped: 0, bytesRead: 0, reused: 0, rebuilt: 0 };
    const results: PartitionResult[] = [];
    const checkpoint = checkpointEvery(opts, states, state);
    const ctx: JobContext = {
      opts,
      window: plan.window,
      cluster,
      admin,
      producer,
      state,
      stateKey: states.location,
      schemaIds,
      stats,
      markDirty: checkpoint.markDirty,
      recordLimiter: opts.rateLimitRecordsPerSec ? new RateLimiter(opts.rateLimitRecordsPerSec) : undefined,
      byteLimiter: opts.rateLimitBytesPerSec ? new RateLimiter(opts.rateLimitBytesPerSec) : undefined,
    };
    try {
      await runPool(jobs, opts.maxConcurrentPartitions, async (job) => {
        try {
          await runJob(job, ctx, results);
        } finally {
          // The partition's produce connection is closed with its job: connections follow the partitions in flight.
          const parts = job.repartitioned ? targetPartitionsOf(job.repartitioned) : [job.targetPartition];
          await Promise.all(parts.map((p) => producer.release(job.targetTopic, p)));
        }
      });
    } finally {
      checkpoint.stop();
      await states.save(state);
    }
    const offsetMap = Object.values(state.partitions).flatMap((p) => p.runs);
    const result = buildRestoreResult({ restoreId, plan, partitions: results, offsetMap, stats, started, warnings, resumed });
    if (!opts.signal?.aborted) await finish(opts, states, state, result);
    return result;
  } finally {
    await admin.close();
    await cluster.close();
  }
}

/** What a restore's jobs counted besides the offset map (shared by the single-process and the distributed restore). */
export interface RestoreStats {
  skippedOutsideWindow: number;
  abortedSkipped: number;
  bytesRead: number;
  reused: number;
  rebuilt: number;
}

/**
 * The one place a RestoreResult is assembled (single-process and distributed restore): partitions
 * sorted by target, `restored` summed from the offset map (the exact record count), and the records
 * outside the window derived from it.
 */
export function buildRestoreResult(r: {
  restoreId: string;
  plan: RestorePlan;
  partitions: PartitionResult[];
  offsetMap: OffsetRun[];
  stats: RestoreStats;
  started: number;
  warnings: string[];
  resumed: boolean;
}): RestoreResult {
  const restored = r.offsetMap.reduce((n, run) => n + run.count, 0);
  return {
    restoreId: r.restoreId,
    plan: r.plan,
    partitions: [...r.partitions].sort((a, b) => a.targetTopic.localeCompare(b.targetTopic) || a.targetPartition - b.targetPartition),
    restored,
    skippedOutsideWindow: Math.max(0, r.plan.recordsInBackup - restored - r.stats.abortedSkipped),
    abortedSkipped: r.stats.abortedSkipped,
    bytesRead: r.stats.bytesRead,
    reusedBatches: r.stats.reused,
    rebuiltBatches: r.stats.rebuilt,
    durationMs: Date.now() - r.started,
    offsetMap: r.offsetMap,
    warnings: r.warnings,
    resumed: r.resumed,
  };
}

/**
 * prepareTargets, tried again once when a new restore's target topics were created by another process at
 * the same moment (restore workers starting together with this run lose the state's create and refuse).
 */
async function prepareTargetsRacing(...args: [...Parameters<typeof prepareTargets>, boolean]): Promise<void> {
  const [opts, plan, cluster, admin, state, warnings, resumed] = args;
  try {
    await prepareTargets(opts, plan, cluster, admin, state, warnings);
  } catch (err) {
    if (resumed || err instanceof UserError) throw err;
    log.info({ err: (err as Error).message }, 'preparing the target failed (another process creating its topics?); looking again');
    await new Promise((r) => setTimeout(r, 500));
    await prepareTargets(opts, plan, cluster, admin, state, warnings);
  }
}

/** A finished restore: completed_at set, the report (with the offset map) stored. */
async function finish(opts: RestoreOptions, states: RestoreStateStore, state: RestoreState, result: RestoreResult): Promise<void> {
  state.completed_at = Date.now();
  await states.save(state);
  result.reportLocation = await states.saveReport(reportJson(result), opts.offsetReport);
  if (!states.storeWritable)
    result.warnings.push(
      `the backup storage refuses writes: the restore state is in ${opts.checkpointState} and the report with the offset map in ${result.reportLocation.localFile}`,
    );
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
export async function prepareTargets(
  opts: RestoreOptions,
  plan: RestorePlan,
  cluster: KafkaCluster,
  admin: KafkaAdmin,
  state: RestoreState,
  warnings: string[],
): Promise<void> {
  const problems: string[] = [];
  const brokers = (await cluster.refresh()).brokers.size;
  const overwrites: (() => Promise<void>)[] = [];
  // All missing topics created together, their leaders awaited together (create-targets.ts).
  const created = await createMissingTargets(opts, plan, cluster, brokers, problems, warnings);
  for (const t of plan.topics) {
    const info = await cluster.topic(t.targetTopic);
    if (!info) {
      if (created.has(t)) throw new UserError('TOPIC_CREATE', `target topic ${t.targetTopic} was created but does not appear in the metadata`);
      continue; // its problem is in `problems` (not allowed to create it, or a replication factor too large)
    }
    if (!created.has(t) && !(await existingTopicConfigs(opts, admin, t, problems, warnings, overwrites))) {
      continue;
    }
    if (info.partitions.length < t.requiredTargetPartitions) {
      problems.push(
        `target topic ${t.targetTopic} has ${info.partitions.length} partitions but the restore writes into partition ${t.requiredTargetPartitions - 1}`,
      );
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
      const purged = await purgePartitions(
        admin,
        t.targetTopic,
        parts.filter((p) => !state.partitions[`${t.targetTopic}/${p}`]),
      );
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
        problems.push(
          `target partition ${key} already holds ${end - start} records; restoring into it would mix old and restored data (set restore.allow_non_empty_target: true to append anyway, or restore into a new topic with topic_mapping)`,
        );
        continue;
      }
      const tp: TargetPartitionState = { initial_end_offset: end, produced: 0, runs: [] };
      state.partitions[key] = tp;
    }
  }
  if (problems.length) throw new UserError('TARGET_NOT_READY', `cannot restore:\n  - ${problems.join('\n  - ')}`);
  for (const overwrite of overwrites) await overwrite();
}

/**
 * restore.existing_topic_config_policy for a target topic that already exists: its drift from the
 * restore's configs is a warning (keep), is queued in `overwrites` to be set once no problem stops
 * the restore (overwrite), or stops the restore (fail). False when the topic cannot be restored into.
 */
async function existingTopicConfigs(
  opts: RestoreOptions,
  admin: KafkaAdmin,
  t: PlannedTopic,
  problems: string[],
  warnings: string[],
  overwrites: (() => Promise<void>)[],
): Promise<boolean> {
  const policy = opts.existingTopicConfigPolicy ?? 'keep';
  const drift = await topicConfigDrift(admin, t);
  const { error, warning } = driftMessage(t.targetTopic, drift, policy);
  if (error) {
    problems.push(error);
    return false;
  }
  if (warning) {
    warnings.push(warning);
    log.warn(warning);
  }
  if (policy === 'overwrite' && drift.length > 0) overwrites.push(() => overwriteDrift(admin, t.targetTopic, drift));
  return true;
}
