import { EARLIEST, KafkaAdmin, LATEST } from '../kafka/admin.js';
import { KafkaCluster } from '../kafka/cluster.js';
import { errorMessage } from '../util/errors.js';
import { driftMessage, replicationFactorFor, topicConfigDrift } from './existing-topics.js';
import type { RestoreOptions } from './options.js';
import { LOG_APPEND_TIME, logAppendTimeTargetProblem, targetPartitionsOf, TIMESTAMP_TYPE, type RestorePlan } from './plan.js';

/**
 * The target-side checks of validate-restore: reachable, target topics exist or will be
 * created, enough partitions, empty target partitions (or allowed), timestamp type.
 * Adds to `errors` / `warnings`; changes nothing on the cluster.
 */
export async function checkTarget(opts: RestoreOptions, plan: RestorePlan, errors: string[], warnings: string[]): Promise<void> {
  if (!opts.target) {
    errors.push('target.bootstrap_servers is required to restore');
    return;
  }
  let cluster: KafkaCluster;
  try {
    cluster = await KafkaCluster.connect(opts.target);
  } catch (err) {
    errors.push(`target cluster not reachable: ${errorMessage(err)}`);
    return;
  }
  const admin = new KafkaAdmin(opts.target);
  try {
    const brokers = (await cluster.refresh()).brokers.size;
    for (const t of plan.topics) {
      const info = await cluster.topic(t.targetTopic);
      if (!info) {
        const rf = replicationFactorFor(t, opts.replicationFactorFromBackup ? undefined : opts.defaultReplicationFactor, brokers);
        if (opts.createTopics && rf.error) errors.push(rf.error);
        else if (opts.createTopics)
          warnings.push(
            `target topic ${t.targetTopic} will be created with ${t.requiredTargetPartitions} partitions${Object.keys(t.configs).length ? ` and configs ${JSON.stringify(t.configs)}` : ''}${Object.keys(t.configsSkipped).length ? `, without the backup's ${Object.keys(t.configsSkipped).join(', ')} (see "Topic configs")` : ''}`,
          );
        else errors.push(`target topic ${t.targetTopic} does not exist and restore.create_topics is false`);
        continue;
      }
      if (info.partitions.length < t.requiredTargetPartitions) {
        errors.push(
          `target topic ${t.targetTopic} has ${info.partitions.length} partitions; the restore writes into partition ${t.requiredTargetPartitions - 1}`,
        );
        continue;
      }
      // Drift report: each config the restore would set that the existing target holds with another value.
      const drift = driftMessage(t.targetTopic, await topicConfigDrift(admin, t), opts.existingTopicConfigPolicy ?? 'keep');
      if (drift.error) errors.push(drift.error);
      else if (drift.warning) warnings.push(drift.warning);
      const cfg = await admin.topicConfig(t.targetTopic, [TIMESTAMP_TYPE, 'cleanup.policy']);
      if (cfg[TIMESTAMP_TYPE] === LOG_APPEND_TIME) {
        const { error, warning } = logAppendTimeTargetProblem(t.targetTopic, opts.keepLogAppendTime === true);
        if (error) errors.push(error);
        else warnings.push(warning!);
      }
      const parts = targetPartitionsOf(t);
      const starts = await admin.listOffsets(t.targetTopic, parts, EARLIEST);
      const ends = await admin.listOffsets(t.targetTopic, parts, LATEST);
      for (const p of parts) {
        const n = Number((ends.get(p) ?? 0n) - (starts.get(p) ?? 0n));
        if (n > 0) {
          const msg = `target partition ${t.targetTopic}/${p} already holds ${n} records`;
          if (opts.purgeTopics) warnings.push(`${msg}; restore.purge_topics will delete them before restoring (irreversible)`);
          else if (opts.allowNonEmptyTarget) warnings.push(`${msg}; restored records will be appended after them`);
          else
            errors.push(
              `${msg}; restore into a new topic (topic_mapping) or set restore.allow_non_empty_target: true (an interrupted restore of this same config resumes instead)`,
            );
        }
      }
    }
  } finally {
    await admin.close();
    await cluster.close();
  }
}
