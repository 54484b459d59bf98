import type { KafkaAdmin } from '../kafka/admin.js';
import type { KafkaCluster, TopicInfo } from '../kafka/cluster.js';
import { logger } from '../util/logger.js';
import { UserError } from '../util/errors.js';
import type { RestorePlan } from './plan.js';

const log = logger('restore');

/** How long created topics may take to appear with a leader for every partition. */
const APPEAR_TIMEOUT_MS = 5_000;
/** First metadata poll after CreateTopics; doubles up to POLL_MAX_MS (a fixed 100 ms sleep per topic was most of a small restore's setup). */
const POLL_FIRST_MS = 5;
const POLL_MAX_MS = 100;

/** A topic `createMissingTopics` creates. */
export interface TopicToCreate {
  name: string;
  partitions: number;
  configs: Record<string, string>;
  /** The backup's configs left out (restore.topic_configs_from_backup). */
  configsSkipped: Record<string, string>;
}

/** The plan's target topics the cluster does not have. */
export async function missingTargetTopics(plan: RestorePlan, cluster: KafkaCluster): Promise<TopicToCreate[]> {
  const out: TopicToCreate[] = [];
  for (const t of plan.topics) {
    const same = out.find((o) => o.name === t.targetTopic);
    if (same) {
      same.partitions = Math.max(same.partitions, t.requiredTargetPartitions);
      continue;
    }
    if (await cluster.topic(t.targetTopic)) continue;
    out.push({ name: t.targetTopic, partitions: t.requiredTargetPartitions, configs: t.configs, configsSkipped: t.configsSkipped });
  }
  return out;
}

/** Every partition of the topic has a leader in the metadata. */
function ready(info: TopicInfo | undefined, partitions: number): boolean {
  return info !== undefined && info.partitions.length >= partitions && info.partitions.every((p) => p.leader >= 0);
}

/**
 * Creates the topics with their CreateTopics requests all in flight at once, then polls the
 * metadata (5 ms, doubling to 100 ms) until each has a leader for every partition; throws a
 * UserError naming a topic that does not appear within 5 s. Warnings for configs left out go to `warnings`.
 */
export async function createMissingTopics(topics: readonly TopicToCreate[], cluster: KafkaCluster, admin: KafkaAdmin, replicationFactor: number, warnings: string[]): Promise<void> {
  if (topics.length === 0) return;
  for (const t of topics) log.info({ topic: t.name, partitions: t.partitions, configs: t.configs }, 'creating target topic');
  await Promise.all(topics.map((t) => admin.createTopic(t.name, t.partitions, replicationFactor, t.configs)));
  for (const t of topics) {
    const skipped = Object.entries(t.configsSkipped).map(([k, v]) => `${k}=${v}`);
    if (skipped.length > 0) warnings.push(`target topic ${t.name} created without these configs of the backup: ${skipped.join(', ')} (see validate-restore's "Topic configs")`);
  }
  const deadline = Date.now() + APPEAR_TIMEOUT_MS;
  let wait = POLL_FIRST_MS;
  for (;;) {
    await cluster.refresh();
    const pending: TopicToCreate[] = [];
    for (const t of topics) if (!ready(await cluster.topic(t.name), t.partitions)) pending.push(t);
    if (pending.length === 0) return;
    if (Date.now() >= deadline) throw new UserError('TOPIC_CREATE', `target topic ${pending[0]!.name} was created but its ${pending[0]!.partitions} partitions do not all have a leader in the metadata after ${APPEAR_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, POLL_MAX_MS);
  }
}
