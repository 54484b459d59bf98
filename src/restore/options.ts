import type { KafkaConnectionSettings } from '../kafka/security.js';
import type { RestoreMetricsSink } from '../metrics/sink.js';
import type { ObjectStore } from '../storage/store.js';
import type { TopicFilter } from '../config/topic-selection.js';
import type { ExistingTopicConfigPolicy } from './existing-topics.js';

/** Everything the restore engine needs, independent of how the user wrote it. */
export interface RestoreOptions {
  backupId: string;
  store: ObjectStore;
  target?: KafkaConnectionSettings;
  /** Inclusive bounds, epoch milliseconds; undefined = open. */
  windowStart?: number;
  windowEnd?: number;
  /** Source topic selection (restore.topics and target.topics.include/exclude). */
  topics: TopicFilter;
  extraTopicFilters?: TopicFilter[];
  topicMapping: Record<string, string>;
  sourcePartitions?: number[];
  partitionMapping: Record<number, number>;
  /** Target topic → re-spread its records over `target_partitions` (wins over partitionMapping). */
  repartitioning?: Record<string, { strategy: 'murmur2' | 'automatic'; target_partitions: number }>;
  /** Empty the target partitions (DeleteRecords) before the first write of a restore. Irreversible. */
  purgeTopics?: boolean;
  includeOriginalOffsetHeader: boolean;
  stripOffsetHeaders: boolean;
  createTopics: boolean;
  defaultReplicationFactor: number;
  /**
   * Created topics get the backup's replication factor instead of `defaultReplicationFactor` (set by
   * the config mapping when restore.default_replication_factor is absent); refused above the broker count.
   */
  replicationFactorFromBackup?: boolean;
  /** restore.existing_topic_config_policy (default keep): what to do with an existing target's other configs. */
  existingTopicConfigPolicy?: ExistingTopicConfigPolicy;
  /** Topic configs of the backup a created topic gets (`*` = all); absent = DEFAULT_TOPIC_CONFIGS_FROM_BACKUP. */
  topicConfigsFromBackup?: string[];
  /** Topic configs every created topic gets, over the backup's. */
  topicConfigs?: Record<string, string>;
  allowNonEmptyTarget: boolean;
  /** Restore from a snapshot that did not reach its end offsets (interrupted): what it holds, reported per partition. */
  allowIncompleteBackup?: boolean;
  /**
   * restore.keep_log_append_time: targets of LogAppendTime source topics are created LogAppendTime
   * and LogAppendTime targets are accepted (the broker stamps restored records with the time of the
   * restore). Default false: such targets are created CreateTime and records keep the append time
   * the source's consumers saw.
   */
  keepLogAppendTime?: boolean;
  dryRun: boolean;
  maxConcurrentPartitions: number;
  rateLimitRecordsPerSec?: number;
  rateLimitBytesPerSec?: number;
  produceBatchSize: number;
  produceAcks: -1 | 0 | 1;
  produceTimeoutMs: number;
  /** Local file mirroring the restore's progress (the state is also kept in the backup storage). */
  checkpointState?: string;
  checkpointIntervalSecs: number;
  /** Local file receiving the offset map (JSON) at the end. */
  offsetReport?: string;
  signal?: AbortSignal;
  onProgress?: (line: string) => void;
  /** Counters for the metrics endpoint (src/metrics); absent = no metrics. */
  metrics?: RestoreMetricsSink;
  // Seed tool's later releases (issue 19): Schema Registry ids (src/restore/schema-ids.ts).
  rewriteSchemaIds?: boolean;
  /** Source schema id (as text) -> target schema id; wins over the registries. */
  schemaIdMapping?: Record<string, number>;
  sourceSchemaRegistryUrl?: string;
  targetSchemaRegistryUrl?: string;
}
