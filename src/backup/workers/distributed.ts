import { hostname } from 'node:os';
import { EARLIEST, KafkaAdmin, LATEST } from '../../kafka/admin.js';
import { KafkaCluster } from '../../kafka/cluster.js';
import { writeJsonObject } from '../../format/json-object.js';
import { keys } from '../../format/layout.js';
import { snapshotPartitionShort, type Manifest, type ManifestTopic } from '../../format/manifest.js';
import { emptyIndex, readPartitionIndex } from '../../format/partition-index.js';
import { PreconditionFailedError, UserError } from '../../util/errors.js';
import { logger } from '../../util/logger.js';
import { Semaphore } from '../../util/semaphore.js';
import { sleep } from '../../util/time.js';
import { newManifest } from '../new-manifest.js';
import { startFor } from '../topic-selector.js';
import { snapshotGroups } from '../group-snapshot.js';
import { GenerationBook } from '../generation-book.js';
import { OpenSegmentBudget } from '../open-segment-budget.js';
import type { BackupOptions, BackupSummary, PartitionProgress, PartitionShortfall } from '../options.js';
import { PartitionWorker } from '../partition-worker.js';
import { BackupThrottle } from '../throttle.js';
import { isTransient } from '../transient.js';
import { CircuitBreaker, CircuitOpenError } from '../../util/circuit-breaker.js';
import { matchesFilter, missingLiterals } from '../../config/topic-selection.js';
import { WorkerGroup, type Assignment, type WorkerFingerprint, type WorkerGroupSettings } from './group.js';
import { OwnedPartitionStore, PartitionLostError, takeOver } from './ownership.js';
import { mergeTopics, readManifestVersioned, updateManifest } from './shared-manifest.js';
import { workerStatusKey, type WorkerStatus } from './status.js';
import { announceWorker, liveUntil } from './mode-guard.js';
import { randomBytes } from 'node:crypto';

/*
  Distributed backup (backup.workers): N processes with the same config share one backup id. The
  group on the source cluster assigns partitions; each worker takes an assigned partition over by
  a compare-and-swap of its index (ownership.ts), backs it up with the ordinary PartitionWorker
  writing through a store that swaps every index write against the version it owns, and lets it
  go (flushing what it holds) when a rebalance takes it away. A worker that lost a partition
  without knowing (paused past the session timeout) has its next index write refused by the store.
  The manifest is merged by compare-and-swap (shared-manifest.ts). A snapshot is complete when
  every partition's index reached the end offset fixed in the manifest by the first worker.
*/

const log = logger('workers');
const DEFAULT_OPEN_SEGMENT_BUDGET = 128 * 1024 * 1024;
/** How long a new owner lets the former one store what it holds (see PartitionRunner#handoverGrace). */
const HANDOVER_GRACE_MS = 2_000;
const slot = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** The settings every worker of one backup must share; a worker with others is refused, the differences named. */
export function workerFingerprint(opts: BackupOptions): WorkerFingerprint {
  return {
    backup_id: opts.backupId,
    storage: opts.store.url,
    topics_include: opts.topics.include.join(','),
    topics_exclude: opts.topics.exclude.join(','),
    mode: opts.continuous ? 'continuous' : 'snapshot',
    compression: opts.compression,
    start_offset: JSON.stringify(opts.startOffset),
    include_offset_headers: opts.includeOffsetHeaders,
  };
}

class PartitionRunner {
  readonly ac = new AbortController();
  readonly done: Promise<void>;
  lost = false;
  finished = false;
  epoch = 0;
  progress: PartitionProgress | undefined;
  worker: PartitionWorker | undefined;
  book: GenerationBook | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly generation: number,
    private readonly ctx: WorkerContext,
    after: Promise<void> | undefined,
  ) {
    this.done = (async () => {
      await after;
      await this.#loop();
    })().finally(() => (this.finished = true));
  }

  stop(): void {
    this.ac.abort();
  }

  /**
   * A rebalance tells the former owner and us at the same moment. If another member wrote the index
   * lately, give it HANDOVER_GRACE_MS to store the segment it holds: taking over at once would refuse
   * that write and re-fetch its records (nothing lost either way, only work repeated).
   */
  async #handoverGrace(memberId: string): Promise<void> {
    const idx = await readPartitionIndex(this.ctx.opts.store, this.ctx.opts.backupId, this.topic, this.partition).catch(() => undefined);
    const prior = idx?.owner;
    if (!prior || prior.member_id === memberId || Date.now() - idx.updated_at > this.ctx.opts.workers.sessionTimeoutMs) return;
    await sleep(HANDOVER_GRACE_MS, this.ac.signal);
  }

  async #loop(): Promise<void> {
    const { opts, cluster, admin } = this.ctx;
    for (let failures = 0; !this.ac.signal.aborted; ) {
      try {
        const m = await readManifestVersioned(opts.store, opts.backupId);
        const mp = m?.manifest.topics.find((t) => t.name === this.topic)?.partitions.find((p) => p.partition === this.partition);
        if (!m || !mp)
          throw new UserError('WORKER_PARTITION_UNKNOWN', `${this.topic}/${this.partition} is assigned but not in the manifest of ${opts.backupId}`);
        const startAt = startFor(opts.startOffset, this.topic, this.partition, mp.log_start_offset, mp.end_offset);
        const who = { memberId: this.ctx.memberId, groupGeneration: this.generation };
        await this.#handoverGrace(who.memberId);
        if (this.ac.signal.aborted) return;
        const t = await takeOver(opts.store, opts.backupId, this.topic, this.partition, startAt, who, m.manifest.generation ?? 0);
        this.epoch = t.epoch;
        const fresh = await readManifestVersioned(opts.store, opts.backupId);
        this.book = new GenerationBook(fresh?.manifest);
        const owned = new OwnedPartitionStore(
          opts.store,
          keys.partitionIndex(opts.backupId, this.topic, this.partition),
          this.topic,
          this.partition,
          t.version,
          (err) => {
            log.warn({ topic: this.topic, partition: this.partition }, err.message);
            this.ac.abort();
          },
        );
        const job = { topic: this.topic, partition: this.partition, startAt, target: opts.continuous ? null : mp.end_offset, epoch: t.epoch };
        this.worker = new PartitionWorker(
          { ...opts, store: owned, signal: this.ac.signal },
          cluster,
          admin,
          job,
          this.ctx.gate,
          this.ctx.budget,
          this.book,
          this.ctx.throttle,
        );
        this.progress = this.worker.progress;
        await this.worker.run();
        if (owned.lost) this.lost = true;
        return;
      } catch (err) {
        if (err instanceof PartitionLostError || (err as { cause?: unknown }).cause instanceof PartitionLostError) {
          this.lost = true;
          log.warn({ topic: this.topic, partition: this.partition }, `partition lost: ${(err as Error).message}`);
          return;
        }
        if (this.ac.signal.aborted) return;
        // backup.circuit_breaker: wait out a transient failure with the others; once it opens, the worker stops.
        const breaker = opts.breaker;
        if (err instanceof CircuitOpenError || breaker?.openError) return;
        if (breaker && isTransient(err)) {
          const open = await breaker.failed(err, this.ac.signal).then(
            () => false,
            () => true,
          );
          if (open) return;
          continue;
        }
        failures++;
        log.warn({ topic: this.topic, partition: this.partition, err: (err as Error).message, failures }, 'partition worker failed; retrying');
        if (failures >= 5) throw err;
        await sleep(1000 * failures, this.ac.signal);
      }
    }
  }
}

interface WorkerContext {
  opts: BackupOptions & { workers: WorkerGroupSettings };
  cluster: KafkaCluster;
  admin: KafkaAdmin;
  gate: Semaphore;
  budget: OpenSegmentBudget;
  /** backup.rate_limit_*: per worker process. */
  throttle: BackupThrottle | undefined;
  memberId: string;
}

/** Topics and partitions of the source that the filter selects, with their current offsets. */
async function selectTopics(opts: BackupOptions, cluster: KafkaCluster, admin: KafkaAdmin): Promise<ManifestTopic[]> {
  const meta = await cluster.refresh();
  const names = [...meta.topics.values()]
    .filter((t) => !t.isInternal || (opts.includeInternalTopics && (opts.internalTopics.length === 0 || opts.internalTopics.includes(t.name))))
    .map((t) => t.name)
    .filter((n) => matchesFilter(n, opts.topics))
    .sort();
  const missing = missingLiterals(opts.topics, new Set(names));
  if (missing.length && opts.onMissingTopic === 'warn')
    log.warn(
      { topics: missing },
      `source.topics.include names topics that do not exist on the source cluster: ${missing.join(', ')}; backing up the others (backup.on_missing_topic: warn)`,
    );
  else if (missing.length)
    throw new UserError(
      'TOPIC_NOT_FOUND',
      `source.topics.include names topics that do not exist on the source cluster: ${missing.join(', ')} (backup.on_missing_topic: warn backs up the others)`,
    );
  if (names.length === 0)
    throw new UserError(
      'NO_TOPICS',
      `no topic on the source cluster matches source.topics (include: [${opts.topics.include.join(', ')}], exclude: [${opts.topics.exclude.join(', ')}])`,
    );
  const configs =
    opts.captureTopicConfigs !== false
      ? await admin.topicConfigs(names).catch(() => new Map<string, Record<string, string>>())
      : new Map<string, Record<string, string>>();
  const out: ManifestTopic[] = [];
  for (const name of names) {
    const parts = meta.topics
      .get(name)!
      .partitions.map((p) => p.partition)
      .sort((a, b) => a - b);
    const starts = await admin.listOffsets(name, parts, EARLIEST);
    const ends = await admin.listOffsets(name, parts, LATEST, true);
    out.push({
      name,
      partition_count: parts.length,
      configs: configs.get(name) ?? {},
      partitions: parts.map((p) => ({ partition: p, log_start_offset: Number(starts.get(p) ?? 0n), end_offset: Number(ends.get(p) ?? 0n) })),
    });
  }
  return out;
}

/** The manifest settings a worker must share with the backup it joins (the group fingerprint covers the rest). */
function manifestDrift(m: Manifest, opts: BackupOptions, clusterId: string | null): string[] {
  const d: string[] = [];
  const mode = opts.continuous ? 'continuous' : 'snapshot';
  if (m.mode !== mode) d.push(`mode: ${mode} here, ${m.mode} in the backup`);
  if (m.compression !== opts.compression) d.push(`compression: ${opts.compression} here, ${m.compression} in the backup`);
  if (m.include_offset_headers !== opts.includeOffsetHeaders)
    d.push(`include_offset_headers: ${opts.includeOffsetHeaders} here, ${m.include_offset_headers} in the backup`);
  if (m.source_cluster_id && clusterId && m.source_cluster_id !== clusterId)
    d.push(`source cluster id: ${clusterId} here, ${m.source_cluster_id} in the backup`);
  return d;
}

/** Partitions of the manifest whose index has not reached its end offset (a snapshot is complete when none). */
export async function sharedShortfall(opts: BackupOptions, m: Manifest): Promise<PartitionShortfall[]> {
  const out: PartitionShortfall[] = [];
  for (const t of m.topics) {
    for (const p of t.partitions) {
      const idx = await readPartitionIndex(opts.store, opts.backupId, t.name, p.partition);
      const reached = idx?.next_offset ?? -1;
      if (snapshotPartitionShort(p, reached)) out.push({ topic: t.name, partition: p.partition, reached, target: p.end_offset });
    }
  }
  return out;
}

/**
 * Continuous mode: topics (or partitions) that match the selection but are not in the manifest yet. Each
 * gets an index at its log start before it is listed (whatever appears after the backup started is backed up
 * whole, as in a single-process run), then the manifest lists it. Returns the new manifest, or undefined.
 */
async function pickUpNewPartitions(opts: BackupOptions, cluster: KafkaCluster, admin: KafkaAdmin, manifest: Manifest): Promise<Manifest | undefined> {
  const now = await selectTopics(opts, cluster, admin);
  const known = new Set(manifest.topics.flatMap((t) => t.partitions.map((p) => slot(t.name, p.partition))));
  const fresh = now
    .map((t) => ({ ...t, partitions: t.partitions.filter((p) => !known.has(slot(t.name, p.partition))) }))
    .filter((t) => t.partitions.length > 0);
  if (fresh.length === 0) return undefined;
  for (const t of fresh) {
    for (const p of t.partitions) {
      const idx = { ...emptyIndex(t.name, p.partition), next_offset: p.log_start_offset };
      // Another worker may have created it first: its index stands.
      await opts.store
        .putIfMatch(keys.partitionIndex(opts.backupId, t.name, p.partition), Buffer.from(JSON.stringify(idx, null, 2) + '\n'), null)
        .catch((err: unknown) => {
          if (!(err instanceof PreconditionFailedError)) throw err;
        });
    }
  }
  log.info({ topics: fresh.map((t) => t.name), partitions: fresh.reduce((n, t) => n + t.partitions.length, 0) }, 'new topics or partitions picked up');
  return updateManifest(opts.store, opts.backupId, (stored) => ({ ...(stored ?? manifest), topics: mergeTopics((stored ?? manifest).topics, now, () => 0) }));
}

/**
 * Creates the shared manifest, or joins the one another worker created: refused when it was started
 * with other settings; a continuous backup adds what this worker selected, a snapshot keeps its partitions
 * and end offsets as the first worker fixed them.
 */
async function joinManifest(opts: BackupOptions, mine: ManifestTopic[], clusterId: string | null, started: number): Promise<Manifest> {
  return updateManifest(opts.store, opts.backupId, (stored) => {
    if (stored) {
      const drift = manifestDrift(stored, opts, clusterId);
      if (drift.length)
        throw new UserError('WORKER_CONFIG_DRIFT', `backup "${opts.backupId}" was started with other settings; this worker is refused: ${drift.join('; ')}`);
      // A snapshot's partitions and end offsets are those fixed by the worker that created it.
      if (opts.continuous) stored.topics = mergeTopics(stored.topics, mine, () => 0);
      if (stored.status !== 'complete') stored.status = 'running';
      if (stored.status === 'running') stored.completed_at = null;
      return stored;
    }
    return newManifest({ ...opts, sourceClusterId: undefined }, clusterId, started, mine);
  });
}

/**
 * Runs this process as one worker of a distributed backup until `opts.signal` aborts (continuous)
 * or the snapshot is complete, whichever worker reached which partition.
 */
export async function runDistributedBackup(given: BackupOptions & { workers: WorkerGroupSettings }): Promise<BackupSummary> {
  const started = Date.now();
  // backup.circuit_breaker, per worker: its partitions ride through transient failures; once it opens this worker
  // stops as on SIGTERM (flushes, leaves the group) and fails with CIRCUIT_OPEN; the others go on.
  const breaker = given.circuitBreaker ? new CircuitBreaker('backup worker', given.circuitBreaker) : undefined;
  const opts = breaker ? { ...given, breaker, signal: given.signal ? AbortSignal.any([given.signal, breaker.signal]) : breaker.signal } : given;
  const cluster = await KafkaCluster.connect(opts.source);
  const admin = new KafkaAdmin(opts.source);
  const runners = new Map<string, PartitionRunner>();
  const retired: PartitionRunner[] = [];
  let group: WorkerGroup | undefined;
  let failure: unknown;
  const fail = (err: unknown): void => {
    failure ??= err;
    wake();
  };
  let wake: () => void = () => {};
  // This process's report (one key per process: the member id changes when it rejoins).
  const statusKey = workerStatusKey(opts.backupId, `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`);
  const syncMs = Math.max(1, opts.syncIntervalSecs) * 1000;
  let announced = false;
  let onAssignment: (a: Assignment) => void = () => {};
  try {
    group = new WorkerGroup(opts.source, opts.workers, workerFingerprint(opts), (a) => onAssignment(a));
    await group.checkRunningGroup(admin);
    const mine = await selectTopics(opts, cluster, admin);
    const clusterId = opts.sourceClusterId ?? cluster.clusterId ?? null;
    // Visible before anything else is written, then refused if a single-process backup holds the lease (mode-guard.ts).
    const report = (s: Omit<WorkerStatus, 'host' | 'pid' | 'started_at' | 'updated_at' | 'live_until' | 'group_id'>): WorkerStatus => {
      const now = Date.now();
      const live_until = liveUntil(now, syncMs, opts.workers.sessionTimeoutMs);
      return { ...s, group_id: opts.workers.groupId, host: hostname(), pid: process.pid, started_at: started, updated_at: now, live_until };
    };
    await announceWorker(opts.store, opts.backupId, statusKey, report({ member_id: '', group_generation: -1, records_per_second: 0, partitions: [] }));
    announced = true;
    let manifest = await joinManifest(opts, mine, clusterId, started);
    if (manifest.status === 'complete') log.info({ backupId: opts.backupId }, 'the snapshot is already complete');

    const ctx: WorkerContext = {
      opts,
      cluster,
      admin,
      gate: new Semaphore(opts.maxConcurrentPartitions),
      budget: new OpenSegmentBudget(opts.openSegmentBudgetBytes ?? DEFAULT_OPEN_SEGMENT_BUDGET),
      throttle: BackupThrottle.create(opts.rateLimitRecordsPerSec, opts.rateLimitBytesPerSec, opts.metrics),
      memberId: '',
    };
    let generation = -1;
    onAssignment = (a: Assignment): void => {
      generation = a.generation;
      ctx.memberId = a.memberId;
      const wanted = new Set(a.partitions.map((p) => slot(p.topic, p.partition)));
      for (const [k, r] of runners) {
        if (!wanted.has(k)) {
          // Handed over: the worker flushes what it holds (its index write may already be refused) and ends.
          r.stop();
          runners.delete(k);
          retired.push(r);
        }
      }
      for (const p of a.partitions) {
        const k = slot(p.topic, p.partition);
        const cur = runners.get(k);
        if (cur && !cur.finished && !cur.lost) continue;
        if (cur?.finished && !cur.lost && !opts.continuous) continue; // reached its end offset
        start(p.topic, p.partition, a.generation);
      }
    };
    const start = (topic: string, partition: number, gen: number): void => {
      const k = slot(topic, partition);
      const before = retired.filter((r) => r.topic === topic && r.partition === partition && !r.finished).map((r) => r.done);
      const r = new PartitionRunner(
        topic,
        partition,
        gen,
        ctx,
        Promise.all(before).then(() => {}),
      );
      runners.set(k, r);
      r.done.then(async () => {
        if (!opts.continuous) wake(); // a snapshot partition done: see at once whether the backup is
        // Lost while still assigned to us (a former owner of an older generation wrote in between, or we were the
        // zombie and have rejoined since): take it over again, in the current generation, after a pause.
        if (!r.lost || runners.get(k) !== r || opts.signal?.aborted) return;
        await sleep(1000, opts.signal);
        if (runners.get(k) === r && !opts.signal?.aborted && generation >= gen) start(topic, partition, generation);
      }, fail);
    };
    if (manifest.status !== 'complete') await group.join(manifest.topics.map((t) => t.name));

    const seen = new WeakMap<PartitionRunner, number>();
    let lastSyncAt = started;
    let groupsTaken = 0;
    const ft = manifest.topics[0];
    const first = ft?.partitions[0] ? { topic: ft.name, partition: ft.partitions[0].partition } : undefined;
    const sync = async (final: boolean): Promise<void> => {
      const live = [...runners.values(), ...retired];
      manifest = await updateManifest(opts.store, opts.backupId, (stored) => {
        const base = stored ?? manifest;
        base.topics = mergeTopics(base.topics, [], (t, p) =>
          Math.max(0, ...live.filter((r) => r.topic === t && r.partition === p).map((r) => r.book?.indexGeneration(t, p) ?? 0)),
        );
        if (final && base.status === 'running') base.status = opts.continuous ? 'stopped' : 'incomplete';
        return base;
      });
      for (const r of live) if (r.book) r.book.manifestGeneration = Math.max(r.book.manifestGeneration, manifest.generation ?? 0);
      const status: WorkerStatus = report({
        member_id: ctx.memberId,
        group_generation: generation,
        records_per_second: 0,
        partitions: [...runners.values()]
          .filter((r) => !r.lost && r.progress)
          .map((r) => ({
            topic: r.topic,
            partition: r.partition,
            epoch: r.epoch,
            position: r.progress!.position,
            target: r.progress!.target,
            records: r.progress!.records,
            done: r.progress!.done,
          })),
      });
      // Throughput of this process: records its partition workers added since the last sync (a partition taken
      // over counts from the first sync that sees it, not from the records already in its index).
      let added = 0;
      for (const r of [...runners.values(), ...retired]) {
        const now = r.progress?.records;
        if (now === undefined) continue;
        const before = seen.get(r);
        if (before !== undefined) added += Math.max(0, now - before);
        seen.set(r, now);
      }
      status.records_per_second = Math.round((added * 1000) / Math.max(1, status.updated_at - lastSyncAt));
      lastSyncAt = status.updated_at;
      // The consumer-group offsets restore translates: taken by the worker that owns the first partition, each sync.
      if (!final && opts.groupSnapshots !== false && first && runners.get(slot(first.topic, first.partition))?.finished === false) {
        groupsTaken = await snapshotGroups(opts, admin, new Set(manifest.topics.map((t) => t.name))).catch(() => 0);
      }
      opts.metrics?.workerGroup?.(generation, status.partitions.length);
      if (!final) await writeJsonObject(opts.store, statusKey, status).catch(() => {});
      opts.onProgress?.({ startedAt: started, partitions: [...runners.values()].flatMap((r) => (r.progress ? [r.progress] : [])) });
    };

    const statusOf = (): Manifest['status'] => manifest.status;
    // Until stopped (continuous) or until every partition of the snapshot reached its end offset.
    let lastSync = Date.now();
    while (!opts.signal?.aborted && failure === undefined && statusOf() !== 'complete') {
      // A snapshot worker whose partitions are all done checks every second whether the others' are.
      const idle = !opts.continuous && [...runners.values()].every((r) => r.finished);
      await new Promise<void>((resolve) => {
        wake = resolve;
        const t = setTimeout(resolve, idle ? Math.min(1000, syncMs) : syncMs);
        opts.signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            resolve();
          },
          { once: true },
        );
      });
      try {
        if (!idle || Date.now() - lastSync >= syncMs) {
          await sync(false);
          lastSync = Date.now();
          if (opts.continuous) {
            const grown = await pickUpNewPartitions(opts, cluster, admin, manifest);
            if (grown) {
              manifest = grown;
              await group.resubscribe(manifest.topics.map((t) => t.name));
            }
          }
        } else {
          const m = await readManifestVersioned(opts.store, opts.backupId);
          if (m) manifest = m.manifest;
        }
        retired.splice(0, retired.length, ...retired.filter((r) => !r.finished));
        // `sync` replaced the manifest: read its status afresh (not narrowed by the loop condition).
        if (!opts.continuous && statusOf() !== 'complete' && [...runners.values()].every((r) => r.finished)) {
          const short = await sharedShortfall(opts, manifest);
          if (short.length === 0) {
            manifest = await updateManifest(opts.store, opts.backupId, (stored) => ({ ...(stored ?? manifest), status: 'complete', completed_at: Date.now() }));
            log.info({ backupId: opts.backupId }, 'snapshot complete: every partition reached its end offset');
          }
        }
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'periodic sync failed; will retry');
        opts.metrics?.error('sync');
      }
    }
    for (const r of [...runners.values(), ...retired]) r.stop();
    await Promise.allSettled([...runners.values(), ...retired].map((r) => r.done));
    await group.leave();
    group = undefined;
    if (breaker?.openError) throw breaker.openError;
    if (failure !== undefined) throw failure;
    // Every worker takes one at its end too: whichever stops last leaves the newest offsets.
    if (opts.groupSnapshots !== false)
      groupsTaken = Math.max(groupsTaken, await snapshotGroups(opts, admin, new Set(manifest.topics.map((t) => t.name))).catch(() => 0));
    await sync(await lastOne(admin, opts.workers.groupId));
    const shortfall = opts.continuous ? [] : await sharedShortfall(opts, manifest);
    const parts = [...runners.values()].flatMap((r) => (r.progress ? [r.progress] : []));
    const sum = (f: (p: PartitionProgress) => number): number => parts.reduce((n, p) => n + f(p), 0);
    return {
      backupId: opts.backupId,
      status: statusOf() === 'complete' ? 'complete' : opts.continuous ? 'stopped' : 'incomplete',
      topics: manifest.topics.length,
      partitions: parts.length,
      records: sum((p) => p.records),
      rawBytes: sum((p) => p.rawBytes),
      storedBytes: sum((p) => p.storedBytes),
      segments: sum((p) => p.segments),
      durationMs: Date.now() - started,
      groupsSnapshotted: groupsTaken,
      shortfall,
    };
  } finally {
    for (const r of [...runners.values(), ...retired]) r.stop();
    await group?.leave();
    // Stopped or failed, this process no longer writes: its report must not keep a single-process run out.
    if (announced) await opts.store.delete(statusKey).catch(() => {});
    await admin.close();
    await cluster.close();
  }
}

/** True when no other member is left in the group: this worker's stop ends the backup run. */
async function lastOne(admin: KafkaAdmin, groupId: string): Promise<boolean> {
  try {
    const [g] = await admin.describeGroups([groupId]);
    return (g?.members.length ?? 0) === 0;
  } catch {
    return false;
  }
}
