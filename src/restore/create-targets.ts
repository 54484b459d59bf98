import type { KafkaCluster } from '../kafka/cluster.js';
import { createTopics } from '../kafka/create-topics.js';
import { logger } from '../util/logger.js';
import { replicationFactorFor } from './existing-topics.js';
import { waitForLeaders } from './leaders.js';
import type { RestoreOptions } from './options.js';
import type { PlannedTopic, RestorePlan } from './plan.js';

const log = logger('restore');

/**
 * Creates every missing target topic of the plan at once, in one CreateTopics request, then awaits
 * the leaders of all of them together. One topic after another, each new topic's leader election
 * (about 0.5 s on the bench's broker) was paid in turn, most of a small restore's time; one request
 * per topic, even all in flight together, cost about 30 ms per topic (docs/performance.md, issue 18).
 *
 * Returns the planned topics it created (the first planned topic of each name; a later one with the
 * same target is then an existing topic, as before). A missing topic it may not create
 * (`create_topics: false`, a replication factor above the broker count) gets its problem in `problems`.
 */
export async function createMissingTargets(
  opts: RestoreOptions,
  plan: RestorePlan,
  cluster: KafkaCluster,
  brokers: number,
  problems: string[],
  warnings: string[],
): Promise<Set<PlannedTopic>> {
  const create: { t: PlannedTopic; rf: number }[] = [];
  const seen = new Set<string>();
  for (const t of plan.topics) {
    if (seen.has(t.targetTopic)) continue;
    seen.add(t.targetTopic);
    if (await cluster.topic(t.targetTopic)) continue;
    if (!opts.createTopics) {
      problems.push(`target topic ${t.targetTopic} does not exist; create it or set restore.create_topics: true`);
      continue;
    }
    const rf = replicationFactorFor(t, opts.replicationFactorFromBackup ? undefined : opts.defaultReplicationFactor, brokers);
    if (rf.error) {
      problems.push(rf.error);
      continue;
    }
    create.push({ t, rf: rf.rf });
  }
  for (const { t, rf } of create) {
    log.info({ topic: t.targetTopic, partitions: t.requiredTargetPartitions, replicationFactor: rf, configs: t.configs }, 'creating target topic');
  }
  // One request for all of them: the controller commits them together (kafka/create-topics.ts).
  if (create.length > 0) {
    await createTopics(
      cluster,
      create.map(({ t, rf }) => ({ name: t.targetTopic, partitions: t.requiredTargetPartitions, replicationFactor: rf, configs: t.configs })),
    );
  }
  for (const { t } of create) {
    const skipped = Object.entries(t.configsSkipped).map(([k, v]) => `${k}=${v}`);
    if (skipped.length > 0)
      warnings.push(
        `target topic ${t.targetTopic} created without these configs of the backup: ${skipped.join(', ')} (see validate-restore's "Topic configs")`,
      );
  }
  // Every new partition has a leader before anything is produced to it.
  await Promise.all(create.map(({ t }) => waitForLeaders(cluster, t.targetTopic, t.requiredTargetPartitions, opts.produceTimeoutMs, opts.signal)));
  return new Set(create.map(({ t }) => t));
}
