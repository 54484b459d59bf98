/**
 * Which source topics and partitions a backup covers: the selection (include/exclude, internal
 * topics) matched against the cluster's metadata, each partition's start offset and, for a
 * snapshot, its end offset. Called again at every sync of a continuous backup: topics created and
 * partitions added since are picked up (from their earliest offset) and listed in the manifest.
 */
import { matchesFilter } from '../config/topic-selection.js';
import type { Manifest, ManifestTopic } from '../format/manifest.js';
import { EARLIEST, type KafkaAdmin, LATEST } from '../kafka/admin.js';
import type { KafkaCluster } from '../kafka/cluster.js';
import { UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import type { BackupOptions, StartOffset } from './options.js';
import type { PartitionJob } from './partition-worker.js';

const log = logger('backup');

export function startFor(start: StartOffset, topic: string, partition: number, logStart: number, end: number): number {
  if (start === 'earliest') return logStart;
  if (start === 'latest') return end;
  if (typeof start === 'number') return Math.min(Math.max(start, logStart), end);
  const specific = start[topic]?.[partition];
  return specific === undefined ? logStart : Math.min(Math.max(specific, logStart), end);
}

export class TopicSelector {
  /** Topics handed to workers so far. */
  readonly known = new Set<string>();
  /** Partitions already handed to a worker, per topic: a topic that grows gets workers for the new ones. */
  readonly #knownParts = new Map<string, Set<number>>();
  #first = true;

  constructor(
    private readonly opts: BackupOptions,
    private readonly cluster: KafkaCluster,
    private readonly admin: KafkaAdmin,
    private readonly manifest: Manifest,
  ) {}

  /** The partitions not handed out yet, as jobs; the manifest lists them (and their topics) on return. */
  async select(): Promise<PartitionJob[]> {
    const { opts } = this;
    const meta = await this.cluster.refresh();
    const names = [...meta.topics.values()]
      .filter((t) => !t.isInternal || (opts.includeInternalTopics && (opts.internalTopics.length === 0 || opts.internalTopics.includes(t.name))))
      .map((t) => t.name)
      .filter((n) => matchesFilter(n, opts.topics))
      .sort();
    const fresh = names.filter((n) => !this.known.has(n));
    const configs =
      fresh.length && opts.captureTopicConfigs !== false
        ? await this.admin.topicConfigs(fresh).catch((err: unknown) => topicConfigsRefused(opts, err))
        : new Map<string, Record<string, string>>();
    // Whatever appears after the backup started (a topic, or partitions added to one) is new: all of it is backed up.
    const start: StartOffset = this.#first ? opts.startOffset : 'earliest';
    const jobs: PartitionJob[] = [];
    for (const name of names) {
      const info = meta.topics.get(name)!;
      jobs.push(...(await this.#addTopic(name, info.partitions, configs.get(name) ?? {}, start)));
    }
    this.#first = false;
    this.manifest.topics.sort((a, b) => a.name.localeCompare(b.name));
    return jobs;
  }

  async #addTopic(
    name: string,
    partitions: readonly { partition: number; replicas: number[] }[],
    configs: Record<string, string>,
    start: StartOffset,
  ): Promise<PartitionJob[]> {
    const seen = this.#knownParts.get(name) ?? new Set<number>();
    const parts = partitions
      .map((p) => p.partition)
      .filter((p) => !seen.has(p))
      .sort((a, b) => a - b);
    if (parts.length === 0) return [];
    this.known.add(name);
    this.#knownParts.set(name, new Set([...seen, ...parts]));
    const starts = await this.admin.listOffsets(name, parts, EARLIEST);
    // Read-committed end = last stable offset: a snapshot never waits for open transactions to finish.
    const ends = await this.admin.listOffsets(name, parts, LATEST, true);
    const added = parts.map((p) => ({ partition: p, log_start_offset: Number(starts.get(p) ?? 0n), end_offset: Number(ends.get(p) ?? 0n) }));
    const topics = this.manifest.topics;
    const i = topics.findIndex((t) => t.name === name);
    const mt: ManifestTopic =
      seen.size === 0 || i < 0
        ? { name, partition_count: partitions.length, configs, ...replicationFactorOf(partitions), partitions: added }
        : { ...topics[i]!, partition_count: partitions.length, partitions: [...topics[i]!.partitions, ...added].sort((a, b) => a.partition - b.partition) };
    if (i >= 0) topics[i] = mt;
    else topics.push(mt);
    if (seen.size > 0) log.info({ topic: name, partitions: parts, partitionCount: mt.partition_count }, 'partitions added to a backed-up topic: picked up');
    return added.map((p) => ({
      topic: name,
      partition: p.partition,
      startAt: startFor(start, name, p.partition, p.log_start_offset, p.end_offset),
      target: this.opts.continuous ? null : p.end_offset,
    }));
  }
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
