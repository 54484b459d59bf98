/**
 * Topic configs and replication factor of target topics (issue 19 item 2):
 *  - a target topic that already exists may hold other values for the configs a created topic would
 *    get (PlannedTopic.configs: the backup's allowed configs and restore.topic_configs): that drift is
 *    reported (validate-restore, restore's warnings) and `restore.existing_topic_config_policy`
 *    decides: `keep` it (default), `overwrite` it with the restore's values (IncrementalAlterConfigs
 *    SET, only those configs), or `fail` before anything is written;
 *  - a created topic gets the backup's replication factor unless restore.default_replication_factor
 *    is set; a factor larger than the target's broker count is refused with a message.
 */
import type { KafkaAdmin } from '../kafka/admin.js';
import type { PlannedTopic } from './plan.js';
import { TIMESTAMP_TYPE } from './plan.js';

export type ExistingTopicConfigPolicy = 'keep' | 'overwrite' | 'fail';
export const EXISTING_TOPIC_CONFIG_POLICIES = ['keep', 'overwrite', 'fail'] as const satisfies readonly ExistingTopicConfigPolicy[];

/** One config whose value on the existing target differs from the restore's. */
export interface ConfigDrift {
  name: string;
  /** What the restore would give a created topic (the backup's value, or restore.topic_configs'). */
  restore: string;
  /** The target topic's effective value (null: unset, no default). */
  target: string | null;
}

/**
 * The configs the restore would set that the existing target topic holds with other values.
 * message.timestamp.type is left out: it has its own rule (restore.keep_log_append_time).
 */
export async function topicConfigDrift(admin: KafkaAdmin, t: PlannedTopic): Promise<ConfigDrift[]> {
  const names = Object.keys(t.configs)
    .filter((n) => n !== TIMESTAMP_TYPE)
    .sort();
  if (names.length === 0) return [];
  const current = await admin.topicConfig(t.targetTopic, names);
  return names.filter((n) => current[n] !== t.configs[n]).map((n) => ({ name: n, restore: t.configs[n]!, target: current[n] ?? null }));
}

/** `retention.ms: backup 86400000, target 604800000; max.message.bytes: ...` */
export function driftText(drift: readonly ConfigDrift[]): string {
  return drift.map((d) => `${d.name}: restore ${d.restore}, target ${d.target ?? '(unset)'}`).join('; ');
}

/** The drift line validate-restore and restore report for one topic under the policy; `error` under `fail`. */
export function driftMessage(topic: string, drift: readonly ConfigDrift[], policy: ExistingTopicConfigPolicy): { error?: string; warning?: string } {
  if (drift.length === 0) return {};
  const what = `existing target topic ${topic} has other configs than the backup's: ${driftText(drift)}`;
  if (policy === 'fail')
    return { error: `${what} (restore.existing_topic_config_policy: fail; set it to keep or overwrite, or restore into a new topic with topic_mapping)` };
  if (policy === 'overwrite') return { warning: `${what}; restore.existing_topic_config_policy: overwrite sets the restore's values` };
  return { warning: `${what}; left as they are (restore.existing_topic_config_policy: keep)` };
}

/** Sets the drifting configs to the restore's values (the others of the topic are not touched). */
export async function overwriteDrift(admin: KafkaAdmin, topic: string, drift: readonly ConfigDrift[]): Promise<void> {
  if (drift.length === 0) return;
  await admin.setTopicConfigs(topic, Object.fromEntries(drift.map((d) => [d.name, d.restore])));
}

/**
 * The replication factor a created topic gets: restore.default_replication_factor when set, else
 * the backup's (absent in backups made before it was recorded: the broker's default, -1). A factor
 * above the target's broker count is an error naming both.
 */
export function replicationFactorFor(t: PlannedTopic, configured: number | undefined, brokers: number): { rf: number; error?: string } {
  const rf = configured ?? t.replicationFactor ?? -1;
  if (rf > brokers) {
    const from =
      configured !== undefined ? `restore.default_replication_factor ${rf}` : `the backup's replication factor ${rf} (of source topic ${t.sourceTopic})`;
    return {
      rf,
      error: `target topic ${t.targetTopic}: ${from} is larger than the target cluster's ${brokers} broker${brokers === 1 ? '' : 's'}; set restore.default_replication_factor to at most ${brokers} (or -1 for the broker's default)`,
    };
  }
  return { rf };
}
