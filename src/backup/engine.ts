import { EARLIEST, KafkaAdmin, LATEST } from '../kafka/admin.js';
import { KafkaCluster } from '../kafka/cluster.js';
import { readJsonObject } from '../format/json-object.js';
import { checkBackupId, keys } from '../format/layout.js';
import { FORMAT_VERSION, readManifest, writeManifest, type Manifest, type ManifestTopic } from '../format/manifest.js';
import { UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { TOOL_VERSION } from '../util/version.js';
import type { BackupOptions, BackupSummary, PartitionShortfall, StartOffset } from './options.js';
import { partitionIndexSchema } from '../format/partition-index.js';
import { OpenSegmentBudget } from './open-segment-budget.js';
import { PartitionWorker, type PartitionJob } from './partition-worker.js';
import { matchesFilter, missingLiterals } from '../config/topic-selection.js';
import { runPool } from '../util/pool.js';
import { Semaphore } from '../util/semaphore.js';
import { BackupLease, type LeaseOptions } from './lease.js';
import { GenerationBook } from './generation-book.js';
import { GroupSnapshotter } from './group-snapshot-schedule.js';
import { CircuitBreaker } from '../util/circuit-breaker.js';
import { BackupThrottle } from './throttle.js';
import { applyBackupRetention, retentionHandles } from './retention/retention-run.js';

/** Bytes all open segment uploads may hold together before the largest roll early. */
const DEFAULT_OPEN_SEGMENT_BUDGET = 128 * 1024 * 1024;

const log = logger('backup');

export function startFor(start: StartOffset, topic: string, partition: number, logStart: number, end: number): number {
  if (start === 'earliest') return logStart;
  if (start === 'latest') return end;
  if (typeof start === 'number') return Math.min(Math.max(start, logStart), end);
  const specific = start[topic]?.[partition];
  return specific === undefined ? logStart : Math.min(Math.max(specific, logStart), end);
}

/**
 * Runs a snapshot or continuous backup; resumes a backup id that already has data. Holds the
 * backup id's lease ({backup_id}/lease.json, src/backup/lease.ts) while it runs: a second writer
 * is refused; losing the lease stops the run and fences its writes. `lease: false` skips it.
 */
export async function runBackup(opts: BackupOptions & { lease?: LeaseOptions | false }): Promise<BackupSummary> {
  checkBackupId(opts.backupId);
  // Several workers: per-partition fenced ownership instead of the single-writer lease.
  // Loaded on demand: it imports startFor from this module, and single-process runs never need it.
  if (opts.workers) return (await import('./workers/distributed.js')).runDistributedBackup({ ...opts, workers: opts.workers });
  if (opts.lease === false) return runBackupHeld(opts);
  const lease = await BackupLease.acquire(opts.store, opts.backupId, opts.lease);
  return lease.run(opts.store, opts.signal, (store, signal) => runBackupHeld({ ...opts, store, signal }));
}

async function runBackupHeld(given: BackupOptions): Promise<BackupSummary> {
  const started = Date.now();
  // backup.circuit_breaker: workers ride through transient failures; when it opens, everything stops as on a signal.
  const breaker = given.circuitBreaker ? new CircuitBreaker('backup', given.circuitBreaker) : undefined;
  const opts: BackupOptions = breaker ? { ...given, breaker, signal: given.signal ? AbortSignal.any([given.signal, breaker.signal]) : breaker.signal } : given;
  const cluster = await KafkaCluster.connect(opts.source);
  const admin = new KafkaAdmin(opts.source);
  try {
    const existing = await readManifest(opts.store, opts.backupId);
    const manifest: Manifest = existing ?? {
      format_version: FORMAT_VERSION,
      generation: 0,
      tool_version: TOOL_VERSION,
      backup_id: opts.backupId,
      status: 'running',
      mode: opts.continuous ? 'continuous' : 'snapshot',
      source_cluster_id: opts.sourceClusterId ?? cluster.clusterId,
      source_bootstrap_servers: opts.source.bootstrapServers,
      compression: opts.compression,
      include_offset_headers: opts.includeOffsetHeaders,
      created_at: started,
      updated_at: started,
      completed_at: null,
      topics: [],
    };
    if (existing) {
      log.info({ backupId: opts.backupId, status: existing.status }, 'resuming existing backup');
      manifest.status = 'running';
      manifest.completed_at = null;
    }
    const book = new GenerationBook(existing);
    // Manifest writes never overlap (one sync at a time, awaited before the final write), so the
    // stored generation only grows.
    const save = (): Promise<void> => saveManifest(opts, manifest, book);

    const workers: PartitionWorker[] = [];
    const known = new Set<string>();
    /** Partitions already handed to a worker, per topic: a topic that grows gets workers for the new ones. */
    const knownParts = new Map<string, Set<number>>();
    let firstSelection = true;
    const select = async (): Promise<PartitionJob[]> => {
      const meta = await cluster.refresh();
      const names = [...meta.topics.values()]
        .filter((t) => !t.isInternal || (opts.includeInternalTopics && (opts.internalTopics.length === 0 || opts.internalTopics.includes(t.name))))
        .map((t) => t.name)
        .filter((n) => matchesFilter(n, opts.topics))
        .sort();
      const fresh = names.filter((n) => !known.has(n));
      const jobs: PartitionJob[] = [];
      const configs =
        fresh.length && opts.captureTopicConfigs !== false
          ? await admin.topicConfigs(fresh).catch((err: unknown) => topicConfigsRefused(opts, err))
          : new Map<string, Record<string, string>>();
      // Whatever appears after the backup started (a topic, or partitions added to one) is new: all of it is backed up.
      const start: StartOffset = firstSelection ? opts.startOffset : 'earliest';
      for (const name of names) {
        const info = meta.topics.get(name)!;
        const seen = knownParts.get(name) ?? new Set<number>();
        const parts = info.partitions
          .map((p) => p.partition)
          .filter((p) => !seen.has(p))
          .sort((a, b) => a - b);
        if (parts.length === 0) continue;
        known.add(name);
        knownParts.set(name, new Set([...seen, ...parts]));
        const starts = await admin.listOffsets(name, parts, EARLIEST);
        // Read-committed end = last stable offset: a snapshot never waits for open transactions to finish.
        const ends = await admin.listOffsets(name, parts, LATEST, true);
        const added = parts.map((p) => ({ partition: p, log_start_offset: Number(starts.get(p) ?? 0n), end_offset: Number(ends.get(p) ?? 0n) }));
        const i = manifest.topics.findIndex((t) => t.name === name);
        const mt: ManifestTopic =
          seen.size === 0 || i < 0
            ? { name, partition_count: info.partitions.length, configs: configs.get(name) ?? {}, ...replicationFactorOf(info.partitions), partitions: added }
            : {
                ...manifest.topics[i]!,
                partition_count: info.partitions.length,
                partitions: [...manifest.topics[i]!.partitions, ...added].sort((a, b) => a.partition - b.partition),
              };
        if (i >= 0) manifest.topics[i] = mt;
        else manifest.topics.push(mt);
        if (seen.size > 0) log.info({ topic: name, partitions: parts, partitionCount: mt.partition_count }, 'partitions added to a backed-up topic: picked up');
        for (const p of added) {
          jobs.push({
            topic: name,
            partition: p.partition,
            startAt: startFor(start, name, p.partition, p.log_start_offset, p.end_offset),
            target: opts.continuous ? null : p.end_offset,
          });
        }
      }
      firstSelection = false;
      manifest.topics.sort((a, b) => a.name.localeCompare(b.name));
      return jobs;
    };

    const firstJobs = await select();
    const missing = missingLiterals(opts.topics, known);
    if (missing.length && opts.onMissingTopic === 'warn') {
      log.warn(
        { topics: missing },
        `source.topics.include names topics that do not exist on the source cluster: ${missing.join(', ')}; backing up the others (backup.on_missing_topic: warn)`,
      );
    } else if (missing.length) {
      throw new UserError(
        'TOPIC_NOT_FOUND',
        `source.topics.include names topics that do not exist on the source cluster: ${missing.join(', ')} (backup.on_missing_topic: warn backs up the others)`,
      );
    }
    if (firstJobs.length === 0) {
      throw new UserError(
        'NO_TOPICS',
        `no topic on the source cluster matches source.topics (include: [${opts.topics.include.join(', ')}], exclude: [${opts.topics.exclude.join(', ')}])`,
      );
    }
    await save();
    const snapshots = new GroupSnapshotter(opts.store, opts.backupId, (opts.groupSnapshotMinIntervalSecs ?? 0) * 1000);
    let groups = await maybeSnapshotGroups(opts, snapshots, admin, known);

    // One sync at a time, and the last one awaited before the final manifest: a sync's write landing
    // after it would put `running` back over `complete`, `incomplete` or `stopped`.
    let syncing: Promise<void> | undefined;
    const syncTimer = setInterval(() => {
      if (syncing) return;
      syncing = (async () => {
        try {
          if (opts.continuous) {
            const more = await select();
            if (more.length) {
              // Listed in the manifest before their workers write an index (which names the manifest generation).
              await save();
              log.info({ topics: [...new Set(more.map((j) => j.topic))], partitions: more.length }, 'new topics or partitions picked up');
              queue.push(...more);
              kick();
            }
            groups = await maybeSnapshotGroups(opts, snapshots, admin, known);
            // backup.retention: under this run's lease; the save below pins the rewritten indexes.
            if (opts.retention) {
              await applyBackupRetention(opts.store, opts.backupId, opts.retention, retentionHandles(workers)).catch((err: unknown) => {
                // The next sync retries; what was recorded but not finished is finished then (prune-apply.ts).
                log.warn({ err: (err as Error).message }, 'backup.retention pass failed; will retry');
                opts.metrics?.error('retention');
              });
            }
          }
          await save();
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'periodic sync failed; will retry');
          opts.metrics?.error('sync');
        }
      })().finally(() => (syncing = undefined));
    }, Math.max(1, opts.syncIntervalSecs) * 1000);
    const progressTimer = opts.onProgress
      ? setInterval(() => opts.onProgress!({ startedAt: started, partitions: workers.map((w) => w.progress) }), 1000)
      : undefined;

    const queue: PartitionJob[] = [...firstJobs];
    let kick: () => void = () => {};
    try {
      // A snapshot runs max_concurrent_partitions workers, each to its end offset. A continuous
      // worker never ends, so every partition gets one and the gate bounds concurrent fetches instead.
      const gate = opts.continuous ? new Semaphore(opts.maxConcurrentPartitions) : undefined;
      const budget = new OpenSegmentBudget(opts.openSegmentBudgetBytes ?? DEFAULT_OPEN_SEGMENT_BUDGET);
      const throttle = BackupThrottle.create(opts.rateLimitRecordsPerSec, opts.rateLimitBytesPerSec, opts.metrics);
      await runPool(
        queue,
        opts.continuous ? Number.MAX_SAFE_INTEGER : opts.maxConcurrentPartitions,
        async (job) => {
          // An interrupted snapshot starts no further partition: what was not reached is reported below.
          if (!opts.continuous && opts.signal?.aborted) return;
          const w = new PartitionWorker(opts, cluster, admin, job, gate, budget, book, throttle);
          workers.push(w);
          await w.run();
        },
        (k) => (kick = k),
        opts.continuous ? opts.signal : undefined,
      );
    } catch (err) {
      // An open breaker's stop: workers that were stopped mid-segment fail too; the breaker's reason is what counts.
      if (!breaker?.openError) throw err;
    } finally {
      clearInterval(syncTimer);
      if (progressTimer) clearInterval(progressTimer);
      await syncing;
    }
    if (breaker?.openError) {
      // The checkpoint is each partition's stored index; the manifest says stopped if storage takes it.
      manifest.status = 'stopped';
      await save().catch((err: unknown) =>
        log.warn({ err: (err as Error).message }, 'could not store the manifest after the circuit breaker opened; the partition indexes hold the checkpoint'),
      );
      throw breaker.openError;
    }
    opts.onProgress?.({ startedAt: started, partitions: workers.map((w) => w.progress) });
    groups = await maybeSnapshotGroups(opts, snapshots, admin, known, true).catch(() => groups);
    // A snapshot is complete only when every partition reached the end offset it was started for;
    // an interrupted one says so, in the manifest and to the caller, and a re-run resumes it.
    const shortfall = opts.continuous ? [] : await snapshotShortfall(opts, manifest, workers);
    manifest.status = opts.continuous ? 'stopped' : shortfall.length ? 'incomplete' : 'complete';
    manifest.completed_at = manifest.status === 'incomplete' ? null : Date.now();
    await save();
    const sum = (f: (w: PartitionWorker) => number) => workers.reduce((n, w) => n + f(w), 0);
    return {
      backupId: opts.backupId,
      status: manifest.status,
      topics: known.size,
      partitions: workers.length,
      records: sum((w) => w.progress.records),
      rawBytes: sum((w) => w.progress.rawBytes),
      storedBytes: sum((w) => w.progress.storedBytes),
      segments: sum((w) => w.progress.segments),
      durationMs: Date.now() - started,
      groupsSnapshotted: groups,
      shortfall,
    };
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
      if (Math.max(reached, p.log_start_offset) < p.end_offset) out.push({ topic: t.name, partition: p.partition, reached, target: p.end_offset });
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

/** backup.require_topic_configs: DescribeConfigs refused (ACLs) fails the backup, or is a warning and no configs. */
function topicConfigsRefused(opts: BackupOptions, err: unknown): Map<string, Record<string, string>> {
  if (opts.requireTopicConfigs)
    throw new UserError('TOPIC_CONFIGS', `backup.require_topic_configs: cannot read the topic configs (DescribeConfigs): ${(err as Error).message}`);
  log.warn(
    { err: (err as Error).message },
    'cannot read topic configs (DescribeConfigs refused?); the manifest records none (set backup.require_topic_configs: true to fail instead)',
  );
  opts.metrics?.error('describe_configs');
  return new Map();
}

/** The source topic's replication factor (the most replicas of any partition), for restore to create it alike. */
function replicationFactorOf(partitions: readonly { replicas: number[] }[]): { replication_factor?: number } {
  const rf = Math.max(0, ...partitions.map((p) => p.replicas.length));
  return rf > 0 ? { replication_factor: rf } : {};
}
