import { resetAsked, resetTechnique } from '../config/consumer-groups.js';
import type { ResetRequest } from '../recovery/reset-request.js';
import type { BackupOptions } from '../backup/options.js';
import { loadConfig } from '../config/load.js';
import type { CircuitBreakerConfig, KafkaClusterConfig, KafkaBackupConfig, WorkersConfig } from '../config/types.js';
import type { StorageSpec } from '../storage/spec.js';
import { logger } from '../util/logger.js';
import type { CircuitBreakerSettings } from '../util/circuit-breaker.js';
import type { KafkaConnectionSettings } from '../kafka/security.js';
import type { RestoreOptions } from '../restore/options.js';
import type { ObjectStore } from '../storage/store.js';
import { ConfigError, UserError } from '../util/errors.js';

/** Per Fetch request; with one request prefetched per partition, two responses per partition in flight. */
export const DEFAULT_FETCH_MAX_BYTES = 1024 * 1024;

export function connectionSettings(c: KafkaClusterConfig, clientId: string, minRequestTimeoutMs = 0): KafkaConnectionSettings {
  const k = c.connection;
  return {
    bootstrapServers: c.bootstrap_servers,
    security: c.security,
    clientId,
    requestTimeoutMs: Math.max(k.request_timeout_ms, minRequestTimeoutMs),
    socket: { noDelay: k.tcp_nodelay, keepAlive: k.tcp_keepalive, keepAliveDelayMs: k.keepalive_time_secs * 1000 },
    connectionsPerBroker: k.connections_per_broker,
  };
}

/** The YAML's `backup:` and `source:` sections as the backup engine's options. */
export function backupOptions(cfg: KafkaBackupConfig, store: ObjectStore): BackupOptions {
  if (!cfg.source) throw new UserError('CONFIG', 'source: required for mode: backup (source.bootstrap_servers)');
  const b = cfg.backup;
  const so = b.start_offset;
  return {
    backupId: cfg.backup_id,
    source: connectionSettings(cfg.source, 'kafka-backup'),
    store,
    topics: cfg.source.topics,
    includeInternalTopics: b.include_internal_topics,
    internalTopics: b.internal_topics,
    compression: b.compression,
    compressionLevel: b.compression_level,
    segmentDigest: b.segment_digest,
    startOffset: so.kind === 'earliest' || so.kind === 'latest' ? so.kind : so.kind === 'offset' ? so.offset : so.offsets,
    segmentMaxBytes: b.segment_max_bytes,
    segmentMaxIntervalMs: b.segment_max_interval_ms,
    segmentMaxRecords: b.segment_max_records,
    continuous: b.continuous,
    pollIntervalMs: b.poll_interval_ms,
    maxConcurrentPartitions: b.max_concurrent_partitions,
    fetchMaxBytes: Math.max(1, Math.min(b.fetch_max_bytes ?? Math.min(b.segment_max_bytes, DEFAULT_FETCH_MAX_BYTES), 2_147_483_647)),
    syncIntervalSecs: b.sync_interval_secs,
    checkpointIntervalSecs: b.checkpoint_interval_secs,
    includeOffsetHeaders: b.include_offset_headers,
    sourceClusterId: b.source_cluster_id,
    requireTopicConfigs: b.require_topic_configs,
    captureTopicConfigs: b.capture_topic_configs,
    groupSnapshots: b.consumer_group_snapshot,
    isolationLevel: b.isolation_level,
    rateLimitRecordsPerSec: b.rate_limit_records_per_sec,
    rateLimitBytesPerSec: b.rate_limit_bytes_per_sec,
    onMissingTopic: b.on_missing_topic,
    ...(b.continuous && (b.retention.max_age !== undefined || b.retention.max_total_bytes !== undefined)
      ? { retention: { maxAgeMs: b.retention.max_age, maxTotalBytes: b.retention.max_total_bytes, keepSegments: b.retention.keep_segments } }
      : {}),
    groupSnapshotMinIntervalSecs: b.consumer_group_snapshot_min_interval_secs,
    emptyFetchRetrySecs: b.empty_fetch_retry_secs,
    ...(cfg.source.connection.fetch_max_wait_ms !== undefined ? { fetchMaxWaitMs: cfg.source.connection.fetch_max_wait_ms } : {}),
    ...breakerSettings(b.circuit_breaker),
    ...workersOption(b.workers, b.retention.max_age !== undefined || b.retention.max_total_bytes !== undefined),
  };
}

/** `circuit_breaker: {enabled: false}` = fail at the first failure, as before the key. */
export function breakerSettings(c: CircuitBreakerConfig): { circuitBreaker?: CircuitBreakerSettings } {
  return c.enabled ? { circuitBreaker: { failureThreshold: c.failure_threshold, coolDownMs: c.cool_down_secs * 1000 } } : {};
}

/** backup.workers → the group settings; timeouts without group_id are a mistake, not silently ignored. */
function workersOption(w: WorkersConfig, retention: boolean): Pick<BackupOptions, 'workers'> {
  if (w.group_id === undefined) {
    const set = (['session_timeout_ms', 'heartbeat_interval_ms', 'rebalance_timeout_ms'] as const).filter((k) => w[k] !== undefined);
    if (set.length)
      throw new ConfigError(
        `backup.workers.${set[0]} is set but backup.workers.group_id is not: group_id enables distributed backup (the name of the workers' group on the source cluster)`,
        `backup.workers.group_id`,
      );
    return {};
  }
  // Retention rewrites partition indexes under the single-process lease; workers own the indexes instead.
  if (retention)
    throw new ConfigError(
      'backup.retention cannot be combined with backup.workers.group_id (not supported yet: the workers own the partition indexes that retention rewrites)',
      'backup.retention',
    );
  const session = w.session_timeout_ms ?? 30_000;
  const heartbeat = w.heartbeat_interval_ms ?? Math.max(1, Math.floor(session / 10));
  if (heartbeat >= session)
    throw new ConfigError(
      `backup.workers.heartbeat_interval_ms (${heartbeat}) must be below session_timeout_ms (${session})`,
      'backup.workers.heartbeat_interval_ms',
    );
  return { workers: { groupId: w.group_id, sessionTimeoutMs: session, heartbeatIntervalMs: heartbeat, rebalanceTimeoutMs: w.rebalance_timeout_ms ?? 60_000 } };
}

/** The YAML's `restore:` and `target:` sections as the restore engine's options. */
export function restoreOptions(cfg: KafkaBackupConfig, store: ObjectStore): RestoreOptions {
  const r = cfg.restore;
  return {
    backupId: cfg.backup_id,
    store,
    // A produce may wait produce_timeout_ms on the broker (acks=all): the client must wait longer than that.
    target: cfg.target ? connectionSettings(cfg.target, 'kafka-backup-restore', r.produce_timeout_ms + 5000) : undefined,
    windowStart: r.time_window_start,
    windowEnd: r.time_window_end,
    topics: cfg.target?.topics ?? { include: [], exclude: [] },
    extraTopicFilters: r.topics ? [{ include: r.topics, exclude: [] }] : [],
    topicMapping: r.topic_mapping,
    sourcePartitions: r.source_partitions,
    partitionMapping: r.partition_mapping,
    repartitioning: r.repartitioning,
    purgeTopics: r.purge_topics,
    includeOriginalOffsetHeader: r.include_original_offset_header || r.consumer_group_strategy === 'header-based',
    stripOffsetHeaders: r.strip_offset_headers,
    createTopics: r.create_topics,
    defaultReplicationFactor: r.default_replication_factor ?? -1,
    // Absent: created topics get the backup's replication factor (the broker's default for older backups).
    replicationFactorFromBackup: r.default_replication_factor === undefined,
    existingTopicConfigPolicy: r.existing_topic_config_policy,
    ...(r.topic_configs_from_backup !== undefined ? { topicConfigsFromBackup: r.topic_configs_from_backup } : {}),
    topicConfigs: r.topic_configs,
    allowNonEmptyTarget: r.allow_non_empty_target,
    allowIncompleteBackup: r.allow_incomplete_backup,
    keepLogAppendTime: r.keep_log_append_time,
    dryRun: r.dry_run,
    maxConcurrentPartitions: r.max_concurrent_partitions,
    rateLimitRecordsPerSec: r.rate_limit_records_per_sec,
    rateLimitBytesPerSec: r.rate_limit_bytes_per_sec,
    produceBatchSize: r.produce_batch_size,
    produceAcks: r.produce_acks,
    produceTimeoutMs: r.produce_timeout_ms,
    checkpointState: r.checkpoint_state,
    checkpointIntervalSecs: r.checkpoint_interval_secs,
    offsetReport: r.offset_report,
    rewriteSchemaIds: r.rewrite_schema_ids,
    schemaIdMapping: r.schema_id_mapping,
    sourceSchemaRegistryUrl: r.source_schema_registry_url,
    targetSchemaRegistryUrl: r.target_schema_registry_url,
    ...restoreWorkersOption(r.workers),
  };
}

/** restore.workers → the group settings on the target cluster, checked as backup.workers' are. */
function restoreWorkersOption(w: WorkersConfig): Pick<RestoreOptions, 'workers'> {
  if (w.group_id === undefined) {
    const set = (['session_timeout_ms', 'heartbeat_interval_ms', 'rebalance_timeout_ms'] as const).filter((k) => w[k] !== undefined);
    if (set.length)
      throw new ConfigError(
        `restore.workers.${set[0]} is set but restore.workers.group_id is not: group_id enables distributed restore (the name of the workers' group on the target cluster)`,
        'restore.workers.group_id',
      );
    return {};
  }
  const session = w.session_timeout_ms ?? 30_000;
  const heartbeat = w.heartbeat_interval_ms ?? Math.max(1, Math.floor(session / 10));
  if (heartbeat >= session)
    throw new ConfigError(
      `restore.workers.heartbeat_interval_ms (${heartbeat}) must be below session_timeout_ms (${session})`,
      'restore.workers.heartbeat_interval_ms',
    );
  return { workers: { groupId: w.group_id, sessionTimeoutMs: session, heartbeatIntervalMs: heartbeat, rebalanceTimeoutMs: w.rebalance_timeout_ms ?? 60_000 } };
}

/**
 * `describe` / `validate`: the backup to read, from `--path` and `--backup-id`, or from a config
 * file's `storage:` (with its `encryption:`) and `backup_id` (`--config`, either mode; an explicit
 * `--backup-id` names another backup in the same storage).
 */
export async function backupLocation(
  o: { path?: string; backupId?: string; config?: string },
  command: string,
): Promise<{ where: string | StorageSpec; backupId: string }> {
  if (o.config !== undefined) {
    if (o.path !== undefined) throw new UserError('USAGE', `${command}: give either --config (storage and backup id from the file) or --path, not both`);
    const cfg = await loadConfig(o.config, { onWarning: (w) => logger().warn(w) });
    return { where: cfg.storage, backupId: o.backupId ?? cfg.backup_id };
  }
  if (o.path === undefined || o.backupId === undefined) throw new UserError('USAGE', `${command}: needs --path URL and --backup-id ID, or --config FILE`);
  return { where: o.path, backupId: o.backupId };
}

/** The consumer-group part of a restore config (the technique per src/config/consumer-groups.ts). */
export function resetRequest(cfg: KafkaBackupConfig): ResetRequest {
  const r = cfg.restore;
  return { asked: resetAsked(r), strategy: resetTechnique(r), groups: r.consumer_groups, manualOffsets: r.manual_offsets };
}
