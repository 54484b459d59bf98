import { KafkaAdmin } from '../kafka/admin.js';
import { KafkaCluster } from '../kafka/cluster.js';
import { readJsonObject } from '../format/json-object.js';
import { checkBackupId, keys } from '../format/layout.js';
import { readManifest, snapshotPartitionShort, writeManifest, type Manifest } from '../format/manifest.js';
import { UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import type { BackupOptions, BackupSummary, PartitionShortfall } from './options.js';
import { partitionIndexSchema } from '../format/partition-index.js';
import { OpenSegmentBudget } from './open-segment-budget.js';
import { PartitionWorker, type PartitionJob } from './partition-worker.js';
import { missingLiterals } from '../config/topic-selection.js';
import { TopicSelector } from './topic-selector.js';
import { runPool } from '../util/pool.js';
import { Semaphore } from '../util/semaphore.js';
import { BackupLease, type LeaseOptions } from './lease.js';
import { refuseIfWorkersLive } from './workers/mode-guard.js';
import { GenerationBook } from './generation-book.js';
import { newManifest } from './new-manifest.js';
import { GroupSnapshotter } from './group-snapshot-schedule.js';
import { CircuitBreaker } from '../util/circuit-breaker.js';
import { BackupThrottle } from './throttle.js';
import { applyBackupRetention, retentionHandles } from './retention/retention-run.js';

/** Bytes all open segment uploads may hold together before the largest roll early. */
const DEFAULT_OPEN_SEGMENT_BUDGET = 128 * 1024 * 1024;

const log = logger('backup');

/**
 * Runs a snapshot or continuous backup; resumes a backup id that already has data. Holds the
 * backup id's lease ({backup_id}/lease.json, src/backup/lease.ts) while it runs: a second writer
 * is refused; losing the lease stops the run and fences its writes. `lease: false` skips it.
 */
export async function runBackup(opts: BackupOptions & { lease?: LeaseOptions | false }): Promise<BackupSummary> {
  checkBackupId(opts.backupId);
  // Several workers: per-partition fenced ownership instead of the single-writer lease.
  // Loaded on demand: single-process runs never need it.
  if (opts.workers) return (await import('./workers/distributed.js')).runDistributedBackup({ ...opts, workers: opts.workers });
  if (opts.lease === false) return runBackupHeld(opts);
  const lease = await BackupLease.acquire(opts.store, opts.backupId, opts.lease);
  // Lease first, then the workers' reports: of a worker and this process starting together, one sees the other.
  await refuseIfWorkersLive(opts.store, opts.backupId).catch(async (err: unknown) => {
    await lease.release();
    throw err;
  });
  return lease.run(opts.store, opts.signal, (store, signal) => runBackupHeld({ ...opts, store, signal }));
}

/** The manifest of this run: the stored one (resumed, `running` again) or a new one. */
function openManifest(opts: BackupOptions, existing: Manifest | undefined, clusterId: string | null, started: number): Manifest {
  if (existing) {
    log.info({ backupId: opts.backupId, status: existing.status }, 'resuming existing backup');
    return { ...existing, status: 'running', completed_at: null };
  }
  return newManifest(opts, clusterId, started);
}

/** The first selection must name existing topics (or warn, with on_missing_topic: warn) and match something. */
function checkSelection(opts: BackupOptions, known: Set<string>, firstJobs: PartitionJob[]): void {
  const missing = missingLiterals(opts.topics, known);
  const names = missing.join(', ');
  if (missing.length && opts.onMissingTopic === 'warn') {
    log.warn(
      { topics: missing },
      `source.topics.include names topics that do not exist on the source cluster: ${names}; backing up the others (backup.on_missing_topic: warn)`,
    );
  } else if (missing.length) {
    throw new UserError(
      'TOPIC_NOT_FOUND',
      `source.topics.include names topics that do not exist on the source cluster: ${names} (backup.on_missing_topic: warn backs up the others)`,
    );
  }
  if (firstJobs.length === 0) {
    const { include, exclude } = opts.topics;
    throw new UserError(
      'NO_TOPICS',
      `no topic on the source cluster matches source.topics (include: [${include.join(', ')}], exclude: [${exclude.join(', ')}])`,
    );
  }
}

/** What one run shares between its workers, its periodic sync and its end. */
interface BackupRun {
  opts: BackupOptions;
  cluster: KafkaCluster;
  admin: KafkaAdmin;
  manifest: Manifest;
  book: GenerationBook;
  selector: TopicSelector;
  snapshots: GroupSnapshotter;
  workers: PartitionWorker[];
  queue: PartitionJob[];
  /** Wakes the worker pool after the queue grew. */
  kick: () => void;
  groups: number;
  save: () => Promise<void>;
}

/** One periodic sync: new topics and partitions, group snapshots and retention (continuous), then the manifest. */
async function syncOnce(r: BackupRun): Promise<void> {
  const { opts } = r;
  if (opts.continuous) {
    const more = await r.selector.select();
    if (more.length) {
      // Listed in the manifest before their workers write an index (which names the manifest generation).
      await r.save();
      log.info({ topics: [...new Set(more.map((j) => j.topic))], partitions: more.length }, 'new topics or partitions picked up');
      r.queue.push(...more);
      r.kick();
    }
    r.groups = await maybeSnapshotGroups(opts, r.snapshots, r.admin, r.selector.known);
    // backup.retention: under this run's lease; the save below pins the rewritten indexes.
    if (opts.retention) {
      await applyBackupRetention(opts.store, opts.backupId, opts.retention, retentionHandles(r.workers)).catch((err: unknown) => {
        // The next sync retries; what was recorded but not finished is finished then (prune-apply.ts).
        log.warn({ err: (err as Error).message }, 'backup.retention pass failed; will retry');
        opts.metrics?.error('retention');
      });
    }
  }
  await r.save();
}

/**
 * Syncs every sync interval, one at a time; `stop` awaits the sync in flight, so a sync's write
 * never lands after the final manifest (it would put `running` back over the final status).
 */
function startSync(r: BackupRun): { stop: () => Promise<void> } {
  let syncing: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (syncing) return;
    syncing = syncOnce(r)
      .catch((err: unknown) => {
        log.warn({ err: (err as Error).message }, 'periodic sync failed; will retry');
        r.opts.metrics?.error('sync');
      })
      .finally(() => {
        syncing = undefined;
      });
  }, Math.max(1, r.opts.syncIntervalSecs) * 1000);
  return {
    stop: async () => {
      clearInterval(timer);
      await syncing;
    },
  };
}

/**
 * The partition workers. A snapshot runs max_concurrent_partitions workers, each to its end offset.
 * A continuous worker never ends, so every partition gets one and the gate bounds concurrent fetches instead.
 */
async function runWorkers(r: BackupRun): Promise<void> {
  const { opts } = r;
  const gate = opts.continuous ? new Semaphore(opts.maxConcurrentPartitions) : undefined;
  const budget = new OpenSegmentBudget(opts.openSegmentBudgetBytes ?? DEFAULT_OPEN_SEGMENT_BUDGET);
  const throttle = BackupThrottle.create(opts.rateLimitRecordsPerSec, opts.rateLimitBytesPerSec, opts.metrics);
  await runPool(
    r.queue,
    opts.continuous ? Number.MAX_SAFE_INTEGER : opts.maxConcurrentPartitions,
    async (job) => {
      // An interrupted snapshot starts no further partition: what was not reached is reported at the end.
      if (!opts.continuous && opts.signal?.aborted) return;
      const w = new PartitionWorker(opts, r.cluster, r.admin, job, gate, budget, r.book, throttle);
      r.workers.push(w);
      await w.run();
    },
    (k) => {
      r.kick = k;
    },
    opts.continuous ? opts.signal : undefined,
  );
}

/** The final manifest (complete, incomplete or stopped) and the run's summary. */
async function finishRun(r: BackupRun, started: number): Promise<BackupSummary> {
  const { opts, manifest, workers } = r;
  r.groups = await maybeSnapshotGroups(opts, r.snapshots, r.admin, r.selector.known, true).catch(() => r.groups);
  // A snapshot is complete only when every partition reached the end offset it was started for;
  // an interrupted one says so, in the manifest and to the caller, and a re-run resumes it.
  const shortfall = opts.continuous ? [] : await snapshotShortfall(opts, manifest, workers);
  manifest.status = opts.continuous ? 'stopped' : shortfall.length ? 'incomplete' : 'complete';
  manifest.completed_at = manifest.status === 'incomplete' ? null : Date.now();
  await r.save();
  const sum = (f: (w: PartitionWorker) => number) => workers.reduce((n, w) => n + f(w), 0);
  return {
    backupId: opts.backupId,
    status: manifest.status,
    topics: r.selector.known.size,
    partitions: workers.length,
    records: sum((w) => w.progress.records),
    rawBytes: sum((w) => w.progress.rawBytes),
    storedBytes: sum((w) => w.progress.storedBytes),
    segments: sum((w) => w.progress.segments),
    durationMs: Date.now() - started,
    groupsSnapshotted: r.groups,
    shortfall,
  };
}

async function runBackupHeld(given: BackupOptions): Promise<BackupSummary> {
  const started = Date.now();
  // backup.circuit_breaker: workers ride through transient failures; when it opens, everything stops as on a signal.
  const breaker = given.circuitBreaker ? new CircuitBreaker('backup', given.circuitBreaker) : undefined;
  const signal = breaker ? (given.signal ? AbortSignal.any([given.signal, breaker.signal]) : breaker.signal) : given.signal;
  const opts: BackupOptions = breaker ? { ...given, breaker, signal } : given;
  const cluster = await KafkaCluster.connect(opts.source);
  const admin = new KafkaAdmin(opts.source);
  try {
    const existing = await readManifest(opts.store, opts.backupId);
    const manifest = openManifest(opts, existing, cluster.clusterId, started);
    const book = new GenerationBook(existing);
    const selector = new TopicSelector(opts, cluster, admin, manifest);
    const firstJobs = await selector.select();
    checkSelection(opts, selector.known, firstJobs);
    const snapshots = new GroupSnapshotter(opts.store, opts.backupId, (opts.groupSnapshotMinIntervalSecs ?? 0) * 1000);
    // Manifest writes never overlap (one sync at a time, awaited before the final write), so the stored generation only grows.
    const save = (): Promise<void> => saveManifest(opts, manifest, book);
    const r: BackupRun = { opts, cluster, admin, manifest, book, selector, snapshots, workers: [], queue: [...firstJobs], kick: () => {}, groups: 0, save };
    await save();
    r.groups = await maybeSnapshotGroups(opts, snapshots, admin, selector.known);
    const sync = startSync(r);
    const progress = opts.onProgress
      ? setInterval(() => opts.onProgress!({ startedAt: started, partitions: r.workers.map((w) => w.progress) }), 1000)
      : undefined;
    try {
      await runWorkers(r);
    } catch (err) {
      // An open breaker's stop: workers that were stopped mid-segment fail too; the breaker's reason is what counts.
      if (!breaker?.openError) throw err;
    } finally {
      if (progress) clearInterval(progress);
      await sync.stop();
    }
    if (breaker?.openError) {
      // The checkpoint is each partition's stored index; the manifest says stopped if storage takes it.
      manifest.status = 'stopped';
      await save().catch((err: unknown) =>
        log.warn({ err: (err as Error).message }, 'could not store the manifest after the circuit breaker opened; the partition indexes hold the checkpoint'),
      );
      throw breaker.openError;
    }
    opts.onProgress?.({ startedAt: started, partitions: r.workers.map((w) => w.progress) });
    return await finishRun(r, started);
  } finally {
    await admin.close();
    await cluster.close();
  }
}

/** Partitions of a snapshot whose backed-up reach (the index's next offset) is short of the manifest's end offset. */
async function snapshotShortfall(opts: BackupOptions, manifest: Manifest, workers: PartitionWorker[]): Promise<PartitionShortfall[]> {
  const reachOf = new Map(workers.map((w) => [`${w.progress.topic}\u0000${w.progress.partition}`, w.progress.position]));
  const out: PartitionShortfall[] = [];
  for (const t of manifest.topics) {
    for (const p of t.partitions) {
      // A partition this run never started (stopped first) may still have been reached by an earlier run.
      const reached = reachOf.get(`${t.name}\u0000${p.partition}`) ?? (await indexReach(opts, t.name, p.partition));
      // Nothing below the log start exists to back up: a partition with no records is never short (as restore judges it).
      if (snapshotPartitionShort(p, reached)) out.push({ topic: t.name, partition: p.partition, reached, target: p.end_offset });
    }
  }
  return out;
}

async function indexReach(opts: BackupOptions, topic: string, partition: number): Promise<number> {
  const index = await readJsonObject(opts.store, keys.partitionIndex(opts.backupId, topic, partition), partitionIndexSchema);
  return index?.next_offset ?? -1;
}

/**
 * Writes the manifest as a new generation, pinning each partition's index at the generation last
 * stored (src/format/generations.ts); the book learns the generation once the write completed.
 */
async function saveManifest(opts: BackupOptions, manifest: Manifest, book: GenerationBook): Promise<void> {
  manifest.updated_at = Date.now();
  manifest.generation = Math.max(manifest.generation ?? 0, book.manifestGeneration) + 1;
  for (const t of manifest.topics) {
    for (const p of t.partitions) {
      const g = book.indexGeneration(t.name, p.partition);
      if (g > 0) p.index_generation = g;
      else delete p.index_generation;
    }
  }
  await writeManifest(opts.store, opts.backupId, manifest);
  book.manifestGeneration = manifest.generation;
}

/**
 * backup.consumer_group_snapshot: false takes none (0 groups); `snapshot-groups` still takes one on demand.
 * Otherwise a snapshot is stored only when the offsets changed (src/backup/group-snapshot-schedule.ts).
 */
async function maybeSnapshotGroups(opts: BackupOptions, snapshots: GroupSnapshotter, admin: KafkaAdmin, topics: Set<string>, final = false): Promise<number> {
  return opts.groupSnapshots === false ? 0 : snapshots.take(admin, topics, final);
}
