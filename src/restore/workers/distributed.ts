/**
 * Distributed restore (restore.workers): N processes started with the same restore config share
 * one restore. Each joins a group on the TARGET cluster; the coordinator assigns the target
 * partitions; each worker restores the ones it owns with the single-process partition job
 * (partition-job.ts, so resume.ts's content check covers records written after the last
 * checkpoint), keeping each partition's progress and exact offset map in its own stored state,
 * fenced by compare-and-swap before every produce request (ownership.ts). Workers stay in the
 * group until every partition is done (a dead worker's partitions come back to the others after
 * the session timeout); then one worker (the one whose create-once claim wins) merges the
 * partition states into state.json, writes the report and runs the consumer-group offset phase.
 *
 * The broker fences a former owner too: each target partition is written in transactions under its
 * own transactional id (transactionalIdFor), which every new owner takes over with InitProducerId
 * before writing; a batch the former owner still sends after that is refused by the broker.
 */
import { hostname } from 'node:os';
import { keys } from '../../format/layout.js';
import { encodeJson, finisherSchema, type RestorePartitionState } from '../../format/restore-partition-state.js';
import { newRestoreState, readRestoreState, restoreStateSchema, type OffsetRun, type RestoreState } from '../../format/restore-state.js';
import type { ObjectStore } from '../../storage/store.js';
import { KafkaAdmin, LATEST } from '../../kafka/admin.js';
import { KafkaCluster } from '../../kafka/cluster.js';
import { ProducerFencedError } from '../../kafka/errors.js';
import { RawProducer } from '../../kafka/producer.js';
import { PartitionTransactions } from '../../kafka/transactions.js';
import { PreconditionFailedError, UserError } from '../../util/errors.js';
import { logger } from '../../util/logger.js';
import { Semaphore } from '../../util/semaphore.js';
import { sleep } from '../../util/time.js';
import { buildRestoreResult, type PartitionResult, prepareTargets, type RestoreResult, type RestoreStats, reportJson, restoreIdFor } from '../engine.js';
import type { RestoreOptions, RestoreWorkersSettings } from '../options.js';
import { type JobContext, mappedEnd, restorePartition, type TargetJob, targetJobs } from '../partition-job.js';
import { ResumeTail } from '../resume.js';
import { planRestore, type RestorePlan } from '../plan.js';
import { RateLimiter } from '../rate-limiter.js';
import { schemaIdRewriterFor } from '../schema-ids.js';
import { RestoreStateStore } from '../state-store.js';
import { type RestoreAssignment, RestoreWorkerGroup, refuseIfGroupDiffers, restoreWorkerFingerprint } from './group.js';
import { OwnedRestorePartition, RestorePartitionLostError, readPartitionStates } from './ownership.js';
import { testStopHook } from './test-stop.js';
import { refuseSingleProcessState } from './mode-guard.js';
import { RestoreWorkerReporter } from './status.js';

const log = logger('restore-workers');

/**
 * The transactional id of one target partition of one restore: every owner of the partition uses it,
 * so the new owner's InitProducerId fences the former one (ACL: TransactionalId prefix `kafka-backup-restore-`).
 */
export function transactionalIdFor(restoreId: string, topic: string, partition: number): string {
  return `kafka-backup-${restoreId}-${topic}-${partition}`;
}

/** How long the coordinator lets a transaction stay open before aborting it (one chunk is one transaction). */
function transactionTimeoutMs(opts: RestoreOptions): number {
  // At most the broker default transaction.max.timeout.ms (15 min), which InitProducerId would refuse to exceed.
  return Math.min(900_000, Math.max(60_000, 2 * opts.produceTimeoutMs));
}

/** What the distributed restore does not support (yet), refused before anything is written. */
function refuseUnsupported(opts: RestoreOptions, plan: RestorePlan): void {
  const why = (what: string, reason: string): UserError =>
    new UserError('CONFIG', `${what} cannot be combined with restore.workers.group_id (${reason}); restore with one process instead`);
  if (plan.topics.some((t) => t.repartition)) throw why('restore.repartitioning', 'one job writes all partitions of a repartitioned topic');
  if (opts.purgeTopics) throw why('restore.purge_topics', 'a worker starting late could delete records another worker already restored');
  if (opts.checkpointState) throw why('restore.checkpoint_state', 'the workers share their progress through the backup storage by compare-and-swap');
  if (opts.produceAcks === 0) throw why('restore.produce_acks: 0', 'a reassigned partition resumes from acknowledged offsets');
}

/**
 * The restore's state.json as the shared header: each target partition's initial end offset, read
 * by whichever worker prepares the target first and created once (If-None-Match). Anything is
 * produced only after it exists, so a worker that prepares later reads it and does not take the
 * records of another worker for a non-empty target.
 */
async function sharedHeader(
  opts: RestoreOptions,
  plan: RestorePlan,
  cluster: KafkaCluster,
  admin: KafkaAdmin,
  restoreId: string,
  started: number,
  warnings: string[],
): Promise<{ state: RestoreState; resumed: boolean }> {
  const key = keys.restoreState(opts.backupId, restoreId);
  for (let attempt = 1; ; attempt++) {
    const cur = await opts.store.getVersioned(key);
    const existing = cur ? restoreStateSchema.parse(JSON.parse(cur.data.toString('utf8'))) : undefined;
    if (existing) await refuseSingleProcessState(opts.store, opts.backupId, restoreId, existing);
    const state: RestoreState = existing ?? newRestoreState(restoreId, opts.backupId, started, opts.workers!.groupId);
    try {
      await prepareTargets(opts, plan, cluster, admin, state, warnings);
      if (existing) return { state, resumed: true };
      await opts.store.putIfMatch(key, encodeJson(state), null);
      return { state, resumed: false };
    } catch (err) {
      // Another worker prepared (or created a topic) at the same time: look again at what it stored.
      const raced = err instanceof PreconditionFailedError || (!existing && ((await opts.store.exists(key)) || !(err instanceof UserError)));
      if (!raced || attempt >= 5) throw err;
      log.info({ err: (err as Error).message }, 'another worker prepared the target at the same time; looking again');
      await sleep(300 + Math.random() * 500);
    }
  }
}

interface Running {
  ac: AbortController;
  done: Promise<void>;
}

/** Runs the target partitions assigned to this worker; stops the ones taken away. */
class PartitionRunner {
  readonly #running = new Map<string, Running>();
  readonly #sem: Semaphore;
  #assignment: RestoreAssignment | undefined;
  failed: unknown;

  constructor(
    readonly jobs: Map<string, TargetJob>,
    readonly header: RestoreState,
    readonly restoreId: string,
    readonly workers: RestoreWorkersSettings,
    readonly ctx: Omit<JobContext, 'state' | 'stateKey' | 'markDirty' | 'beforeProduce'>,
  ) {
    this.#sem = new Semaphore(ctx.opts.maxConcurrentPartitions);
  }

  assign(a: RestoreAssignment): void {
    this.#assignment = a;
    const want = new Set(a.partitions.map((p) => `${p.topic}/${p.partition}`));
    for (const [k, r] of this.#running) if (!want.has(k)) r.ac.abort();
  }

  /** Starts every assigned partition that is neither running nor done. */
  reconcile(states: Map<string, RestorePartitionState>): void {
    const a = this.#assignment;
    if (!a) return;
    for (const { topic, partition } of a.partitions) {
      const k = `${topic}/${partition}`;
      const job = this.jobs.get(k);
      if (!job || this.#running.has(k) || states.get(k)?.done) continue;
      this.#start(k, job, a);
    }
  }

  #start(k: string, job: TargetJob, a: RestoreAssignment): void {
    const ac = new AbortController();
    const entry: Running = { ac, done: Promise.resolve() };
    entry.done = (async () => {
      const release = await this.#sem.acquire();
      try {
        if (!ac.signal.aborted) await this.#runOwned(k, job, a, ac.signal);
      } catch (err) {
        if (err instanceof RestorePartitionLostError) log.warn({ partition: k }, err.message);
        // A refusal (TARGET_CHANGED: a batch landed where this restore's records do not end) stops the worker even
        // after the partition was taken away, and so does the broker's fence (a batch sent after losing it, refused).
        else if (!ac.signal.aborted || err instanceof UserError || err instanceof ProducerFencedError) {
          if (err instanceof ProducerFencedError) log.error({ partition: k }, `fenced: ${err.message}`);
          this.failed ??= err;
        }
      } finally {
        release();
        if (this.#running.get(k) === entry) this.#running.delete(k);
      }
    })();
    this.#running.set(k, entry);
  }

  async #runOwned(k: string, job: TargetJob, a: RestoreAssignment, stop: AbortSignal): Promise<void> {
    const { opts, producer } = this.ctx;
    const signal = opts.signal ? AbortSignal.any([stop, opts.signal]) : stop;
    const initial = this.header.partitions[k];
    if (!initial) throw new UserError('TARGET_CHANGED', `${k}: not in the restore's stored state; delete the restore's state to start over`);
    const owned = await OwnedRestorePartition.takeOver(
      opts.store,
      opts.backupId,
      this.restoreId,
      job.targetTopic,
      job.targetPartition,
      initial,
      { memberId: a.memberId, groupGeneration: a.generation },
      this.workers.sessionTimeoutMs,
      signal,
    );
    if (!owned) return;
    const state: RestoreState = { ...this.header, partitions: { [k]: structuredClone(owned.doc.state) } };
    const ps = (): NonNullable<RestoreState['partitions'][string]> => state.partitions[k]!;
    // The broker's fence, taken before anything is read or written: the former owner's epoch is refused from here on,
    // and the transaction it left open is aborted (its records are not counted by the resume check below).
    const transaction = await PartitionTransactions.init(
      this.ctx.cluster,
      producer,
      job.targetTopic,
      job.targetPartition,
      transactionalIdFor(this.restoreId, job.targetTopic, job.targetPartition),
      {
        transactionTimeoutMs: transactionTimeoutMs(opts),
        testHook: testStopHook(k, () => ps().produced),
      },
    );
    const ctx: JobContext = {
      ...this.ctx,
      opts: { ...opts, signal },
      state,
      stateKey: owned.key,
      markDirty: () => {},
      // The store's fence: a produce goes out only after this owner's swap of the state succeeded.
      beforeProduce: () => fencedSave(owned, ps, this.workers.sessionTimeoutMs / 3),
      transaction,
    };
    try {
      await restorePartition(job, ctx);
      if (signal.aborted) await owned.release(ps());
      else {
        await owned.save(ps(), true);
        opts.metrics?.partitionDone(job.targetTopic, job.targetPartition);
      }
    } finally {
      await producer.release(job.targetTopic, job.targetPartition);
    }
  }

  /** Stops every running partition (each releases what it owns) and waits for them. */
  async stopAll(): Promise<void> {
    for (const r of this.#running.values()) r.ac.abort();
    await Promise.all([...this.#running.values()].map((r) => r.done));
  }
}

/**
 * The swap before a produce request. A swap that took longer than `limitMs` (monotonic time: a GC, a
 * SIGSTOP or a paused VM in the middle of it) is done again: the partition may have been taken over
 * meanwhile, and only a swap that completed just now says it was not. What remains is a pause between
 * this check and the request reaching the socket (docs/operations.md, "The zombie, precisely").
 */
async function fencedSave(owned: OwnedRestorePartition, ps: () => NonNullable<RestoreState['partitions'][string]>, limitMs: number): Promise<void> {
  for (;;) {
    const t0 = performance.now();
    await owned.save(ps());
    if (performance.now() - t0 <= limitMs) return;
    log.warn(
      { partition: owned.key, ms: Math.round(performance.now() - t0) },
      'the fenced state write took too long; checking ownership again before producing',
    );
  }
}

function allDone(keys: string[], states: Map<string, RestorePartitionState>): boolean {
  return keys.every((k) => states.get(k)?.done === true);
}

/** Runs this process as one worker of a distributed restore; see the file comment. */
export async function runDistributedRestore(opts: RestoreOptions): Promise<RestoreResult> {
  const workers = opts.workers;
  if (!workers) throw new UserError('CONFIG', 'restore.workers.group_id is required for a distributed restore');
  const started = Date.now();
  const plan = await planRestore(opts);
  if (plan.errors.length)
    throw new UserError('INVALID_RESTORE', `cannot restore (run validate-restore for the full report):\n  - ${plan.errors.join('\n  - ')}`);
  if (!opts.target) throw new UserError('CONFIG', 'target.bootstrap_servers is required to restore');
  refuseUnsupported(opts, plan);
  const restoreId = restoreIdFor(opts);
  const warnings = [...plan.warnings];
  const schemaIds = await schemaIdRewriterFor(opts);
  const cluster = await KafkaCluster.connect(opts.target);
  const admin = new KafkaAdmin(opts.target);
  try {
    const fingerprint = restoreWorkerFingerprint(opts, restoreId);
    await refuseIfGroupDiffers(admin, workers.groupId, fingerprint);
    const { state: header, resumed } = await sharedHeader(opts, plan, cluster, admin, restoreId, started, warnings);
    const jobs = targetJobs(plan.topics);
    const jobByKey = new Map(jobs.map((j) => [`${j.targetTopic}/${j.targetPartition}`, j]));
    const all = jobs.map((j) => ({ topic: j.targetTopic, partition: j.targetPartition }));
    const allKeys = [...jobByKey.keys()];
    opts.metrics?.partitionsPlanned(jobs.length);
    const producer = await RawProducer.create(cluster, { acks: opts.produceAcks, timeoutMs: opts.produceTimeoutMs });
    const stats: RestoreStats = { skippedOutsideWindow: 0, abortedSkipped: 0, bytesRead: 0, reused: 0, rebuilt: 0 };
    // status --restore-id and the worker gauges (status.ts).
    const reporter = new RestoreWorkerReporter({ ...opts, workers }, restoreId, Math.max(1, opts.checkpointIntervalSecs) * 1000);
    const runner = new PartitionRunner(jobByKey, header, restoreId, workers, {
      opts: reporter.counting(opts),
      window: plan.window,
      cluster,
      admin,
      producer,
      schemaIds,
      stats,
      recordLimiter: opts.rateLimitRecordsPerSec ? new RateLimiter(opts.rateLimitRecordsPerSec) : undefined,
      byteLimiter: opts.rateLimitBytesPerSec ? new RateLimiter(opts.rateLimitBytesPerSec) : undefined,
    });
    let states = await readPartitionStates(opts.store, opts.backupId, restoreId, all);
    if (!allDone(allKeys, states)) {
      const group = new RestoreWorkerGroup(opts.target, workers, fingerprint, (a) => {
        reporter.assigned(a);
        runner.assign(a);
      });
      reporter.start();
      try {
        await group.join([...new Set(jobs.map((j) => j.targetTopic))]);
        // Every worker stays until every partition is done: a dead worker's partitions come back to the living.
        for (;;) {
          states = await readPartitionStates(opts.store, opts.backupId, restoreId, all);
          if (allDone(allKeys, states) || opts.signal?.aborted) break;
          if (runner.failed) throw runner.failed;
          runner.reconcile(states);
          await sleep(500, opts.signal);
        }
      } finally {
        await runner.stopAll();
        await group.leave();
        await reporter.stop();
      }
      if (runner.failed) throw runner.failed;
    }
    const result = resultOf(restoreId, plan, jobs, states, stats, started, warnings, resumed);
    if (opts.signal?.aborted || !allDone(allKeys, states)) return result;
    result.finisher = await claimFinish(opts.store, opts.backupId, restoreId, 2 * workers.sessionTimeoutMs);
    if (result.finisher) {
      await checkTargetEnds(cluster, admin, jobs, states, result.warnings);
      for (const k of allKeys) header.partitions[k] = states.get(k)!.state;
      header.completed_at = Date.now();
      const store = new RestoreStateStore(opts.store, opts.backupId, restoreId, undefined);
      await store.save(header);
      result.reportLocation = await store.saveReport(reportJson(result), opts.offsetReport);
    }
    return result;
  } finally {
    await admin.close();
    await cluster.close();
  }
}

/**
 * True for the one worker whose claim wins: it writes the report and runs the offset phase. The claim is
 * created once (If-None-Match); a claim older than `staleMs` whose restore never completed (its worker
 * died between the claim and the report) is taken over by swapping it, so a worker run again finishes.
 */
export async function claimFinish(store: ObjectStore, backupId: string, restoreId: string, staleMs: number, now = Date.now()): Promise<boolean> {
  const key = keys.restoreFinisher(backupId, restoreId);
  const mine = encodeJson({ member_id: `${hostname()}:${process.pid}`, host: hostname(), pid: process.pid, at: now });
  for (let attempt = 0; attempt < 5; attempt++) {
    const cur = await store.getVersioned(key);
    if (cur) {
      if ((await readRestoreState(store, backupId, restoreId))?.completed_at) return false;
      const claim = finisherSchema.safeParse(JSON.parse(cur.data.toString('utf8')));
      if (claim.success && now - claim.data.at < staleMs) return false;
      log.warn(
        { restoreId, claim: claim.success ? claim.data : null },
        'the worker that claimed the finish of this restore did not complete it; taking it over',
      );
    }
    try {
      await store.putIfMatch(key, mine, cur?.version ?? null);
      log.info({ restoreId }, 'every partition is restored; this worker finishes the restore');
      return true;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
    }
  }
  return false;
}

/**
 * Each target partition must end where this restore's records end: past the last mapped record only
 * transaction markers and aborted records (what a read_committed consumer does not see) may follow. A
 * committed record there was written by someone else (another producer on the target topic).
 */
async function checkTargetEnds(
  cluster: KafkaCluster,
  admin: KafkaAdmin,
  jobs: TargetJob[],
  states: Map<string, RestorePartitionState>,
  warnings: string[],
): Promise<void> {
  const byTopic = new Map<string, number[]>();
  for (const j of jobs) byTopic.set(j.targetTopic, [...(byTopic.get(j.targetTopic) ?? []), j.targetPartition]);
  for (const [topic, parts] of byTopic) {
    const ends = await admin.listOffsets(topic, parts, LATEST);
    for (const p of parts) {
      const key = `${topic}/${p}`;
      const ours = mappedEnd(states.get(key)!.state);
      const end = Number(ends.get(p) ?? 0n);
      const foreign = end > ours ? (await ResumeTail.read(cluster, topic, p, ours, end, key, true)).size : 0;
      if (end < ours || foreign > 0) {
        const w =
          end < ours
            ? `${key}: the partition ends at offset ${end} but this restore's records end at ${ours}: it was truncated or recreated while the restore ran`
            : `${key}: ${foreign} committed record(s) past this restore's last record (offset ${ours - 1}) are not in the offset map: written by another producer`;
        warnings.push(w);
        log.error(w);
      }
    }
  }
}

function resultOf(
  restoreId: string,
  plan: RestorePlan,
  jobs: TargetJob[],
  states: Map<string, RestorePartitionState>,
  stats: RestoreStats,
  started: number,
  warnings: string[],
  resumed: boolean,
): RestoreResult {
  const partitions: PartitionResult[] = jobs.map((j) => ({
    sourceTopic: j.sources[0]!.sourceTopic,
    sourcePartitions: j.sources.map((s) => s.sourcePartition),
    targetTopic: j.targetTopic,
    targetPartition: j.targetPartition,
    restored: states.get(`${j.targetTopic}/${j.targetPartition}`)?.state.produced ?? 0,
  }));
  const offsetMap: OffsetRun[] = jobs.flatMap((j) => states.get(`${j.targetTopic}/${j.targetPartition}`)?.state.runs ?? []);
  return { ...buildRestoreResult({ restoreId, plan, partitions, offsetMap, stats, started, warnings, resumed }), finisher: false };
}
