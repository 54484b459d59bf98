/**
 * The typed, normalised configuration produced by `loadConfig` / `parseConfigText`.
 *
 * Key names are the YAML key names (snake_case) so that code, docs and user files use one
 * vocabulary. Every default of docs/configuration.md is filled in; spelling variants are
 * normalised (e.g. `SCRAM-SHA256` -> `SCRAM-SHA-256`); time windows are epoch milliseconds.
 */
import type { SegmentCodec } from '../format/codec.js';
import type { StorageSpec } from '../storage/spec.js';

export type Mode = 'backup' | 'restore';

export type SecurityProtocol = 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
export type SaslMechanism = 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'GSSAPI' | 'OAUTHBEARER';

export interface SecurityConfig {
  security_protocol: SecurityProtocol;
  sasl_mechanism?: SaslMechanism;
  sasl_username?: string;
  sasl_password?: string;
  ssl_ca_location?: string;
  ssl_certificate_location?: string;
  ssl_key_location?: string;
  ssl_key_password?: string;
  sasl_kerberos_service_name?: string;
  sasl_keytab_path?: string;
  sasl_krb5_config_path?: string;
  /** OAUTHBEARER: only `oidc` (client credentials). */
  sasl_oauthbearer_method?: 'oidc';
  sasl_oauthbearer_token_endpoint_url?: string;
  sasl_oauthbearer_client_id?: string;
  sasl_oauthbearer_client_secret?: string;
  sasl_oauthbearer_scope?: string;
}

export interface ConnectionConfig {
  tcp_keepalive: boolean;
  keepalive_time_secs: number;
  keepalive_interval_secs: number;
  tcp_nodelay: boolean;
  /** `0` in the file is normalised to `1`, as the reference tool does. */
  connections_per_broker: number;
  /** Ours: how long one broker request may go unanswered before it is retried (milliseconds). */
  request_timeout_ms: number;
  /** How long the broker may hold a Fetch for data (source only; absent = the engine's defaults). */
  fetch_max_wait_ms?: number;
}

export interface TopicSelection {
  /** Empty = every topic. Globs `*` / `?`; on `target` an entry starting with `~` is a regex. */
  include: string[];
  exclude: string[];
}

/** `source` / `target`: one Kafka cluster. */
export interface KafkaClusterConfig {
  /** Always a list of `host:port`; a comma-separated string in the file is split. */
  bootstrap_servers: string[];
  security: SecurityConfig;
  connection: ConnectionConfig;
  topics: TopicSelection;
}

/** backup.compression: the segment codecs (format/codec.ts). */
export type Compression = SegmentCodec;

/** Where a partition starts when there is no stored progress. */
export type StartOffset =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  /** Our extension: `start_offset: 1234` = this offset for every partition. */
  | { kind: 'offset'; offset: number }
  /** `!specific {topic: {partition: offset}}`; unlisted partitions start at earliest. */
  | { kind: 'specific'; offsets: Record<string, Record<number, number>> };

export interface BackupOptions {
  segment_max_bytes: number;
  segment_max_interval_ms: number;
  segment_max_records?: number;
  compression: Compression;
  compression_level: number;
  segment_digest: 'crc32c' | 'sha256';
  start_offset: StartOffset;
  continuous: boolean;
  stop_at_current_offsets: boolean;
  poll_interval_ms: number;
  max_concurrent_partitions: number;
  fetch_max_bytes?: number;
  include_internal_topics: boolean;
  internal_topics: string[];
  checkpoint_interval_secs: number;
  sync_interval_secs: number;
  include_offset_headers: boolean;
  source_cluster_id?: string;
  consumer_group_snapshot: boolean;
  capture_topic_configs: boolean;
  require_topic_configs: boolean;
  // Seed tool's later releases (issue 19).
  /** read_uncommitted (default): aborted transactions are stored and resolved at restore; read_committed: left out at backup time. */
  isolation_level: IsolationLevel;
  /** Process-wide throttles of what the backup fetches; absent = unlimited. */
  rate_limit_records_per_sec?: number;
  rate_limit_bytes_per_sec?: number;
  /** A literal source.topics.include entry naming no topic: fail (default) or warn and back up the others. */
  on_missing_topic: OnMissingTopic;
  /** Continuous backups: prune the oldest segments as the backup runs (docs/lifecycle.md). */
  retention: RetentionConfig;
  circuit_breaker: CircuitBreakerConfig;
  consumer_group_snapshot_min_interval_secs: number;
  empty_fetch_retry_secs: number;
  /** Several worker processes share the backup (src/backup/workers). */
  workers: WorkersConfig;
}

/** backup.workers: distributed backup; enabled by group_id. */
export interface WorkersConfig {
  group_id?: string;
  session_timeout_ms?: number;
  heartbeat_interval_ms?: number;
  rebalance_timeout_ms?: number;
}

/** backup.circuit_breaker / restore.circuit_breaker. */
export interface CircuitBreakerConfig {
  enabled: boolean;
  failure_threshold: number;
  cool_down_secs: number;
}

export interface RetentionConfig {
  /** Milliseconds (written as a duration: 30d). */
  max_age?: number;
  max_total_bytes?: number;
  keep_segments?: number;
}

export type IsolationLevel = 'read_uncommitted' | 'read_committed';
export type OnMissingTopic = 'fail' | 'warn';

export type RepartitionStrategy = 'murmur2' | 'automatic';

export interface RepartitioningConfig {
  strategy: RepartitionStrategy;
  target_partitions: number;
}

export type ConsumerGroupStrategy = 'skip' | 'header-based' | 'timestamp-based' | 'cluster-scan' | 'manual' | 'exact';

export type ProduceAcks = -1 | 0 | 1;

export interface RestoreOptions {
  /** Epoch milliseconds (ISO strings in the file are converted). Absent = open. */
  time_window_start?: number;
  /** Epoch milliseconds, inclusive. Absent = open. */
  time_window_end?: number;
  /** Our addition: source topic names (globs) to restore; absent = all. */
  topics?: string[];
  source_partitions?: number[];
  partition_mapping: Record<number, number>;
  topic_mapping: Record<string, string>;
  repartitioning: Record<string, RepartitioningConfig>;
  consumer_group_strategy: ConsumerGroupStrategy;
  dry_run: boolean;
  include_original_offset_header: boolean;
  strip_offset_headers: boolean;
  rate_limit_records_per_sec?: number;
  rate_limit_bytes_per_sec?: number;
  max_concurrent_partitions: number;
  produce_batch_size: number;
  produce_acks: ProduceAcks;
  produce_timeout_ms: number;
  checkpoint_state?: string;
  checkpoint_interval_secs: number;
  consumer_groups: string[];
  reset_consumer_offsets: boolean;
  auto_consumer_groups: boolean;
  offset_report?: string;
  create_topics: boolean;
  default_replication_factor?: number;
  /** Our addition: topic configs of the backup a created topic gets (`*` = all); absent = the default allowlist. */
  topic_configs_from_backup?: string[];
  /** Our addition: topic configs every created topic gets, over the backup's. */
  topic_configs: Record<string, string>;
  purge_topics: boolean;
  /** Our addition: allow writing into target partitions that already hold records. */
  allow_non_empty_target: boolean;
  allow_incomplete_backup: boolean;
  /** Our addition: keep message.timestamp.type=LogAppendTime on targets (records get the restore's time). */
  keep_log_append_time: boolean;
  /** Our addition (consumer_group_strategy: manual): group -> source topic -> source partition -> committed source offset. */
  manual_offsets: Record<string, Record<string, Record<number, number>>>;
  // Seed tool's later releases (issue 19): Schema Registry ids in keys and values (Confluent wire format).
  rewrite_schema_ids: boolean;
  /** Source schema id -> target schema id (keys are the ids as text). */
  schema_id_mapping: Record<string, number>;
  /** Ours: fill the mapping from the two registries (same subject, same schema). */
  source_schema_registry_url?: string;
  target_schema_registry_url?: string;
  circuit_breaker: CircuitBreakerConfig;
  existing_topic_config_policy: 'keep' | 'overwrite' | 'fail';
  /** Several worker processes share the restore through a group on the target cluster (src/restore/workers). */
  workers: WorkersConfig;
}

export interface OffsetStorageConfig {
  backend: 'sqlite' | 'memory';
  db_path: string;
  s3_key?: string;
  sync_interval_secs: number;
}

export interface MetricsConfig {
  enabled: boolean;
  port: number;
  bind_address: string;
  path: string;
  update_interval_ms: number;
  keep_alive_seconds: number;
  max_partition_labels: number;
}

/** Our `encryption:` section: exactly one of key_file / key_env (checked by load.ts). */
export interface EncryptionConfig {
  key_file?: string;
  key_env?: string;
  key_id?: string;
}

/** The `storage:` section as written (variants normalised), before conversion to a StorageSpec. */
export type StorageConfig =
  | { backend: 'filesystem'; path: string }
  | { backend: 'memory' }
  | {
      backend: 's3';
      bucket: string;
      region?: string;
      endpoint?: string;
      /** Also spelt `access_key_id` in published docs. */
      access_key?: string;
      /** Also spelt `secret_access_key` in published docs. */
      secret_key?: string;
      prefix?: string;
      /** Absent: path-style when `endpoint` is set, else virtual-hosted. */
      path_style?: boolean;
      allow_http: boolean;
    }
  | {
      backend: 'azure';
      account_name: string;
      /** Also spelt `container`. */
      container_name: string;
      account_key?: string;
      prefix?: string;
      endpoint?: string;
      use_workload_identity: boolean;
      client_id?: string;
      tenant_id?: string;
      client_secret?: string;
      /** A leading `?` is removed. */
      sas_token?: string;
      /** Allow a plain http:// endpoint (Azurite). */
      allow_http: boolean;
    }
  | {
      backend: 'gcs';
      bucket: string;
      service_account_path?: string;
      /** Inline service-account JSON (from `service_account_json` when it holds JSON). */
      service_account_json?: string;
      prefix?: string;
      endpoint?: string;
      allow_http: boolean;
    };

export interface KafkaBackupConfig {
  mode: Mode;
  backup_id: string;
  source?: KafkaClusterConfig;
  target?: KafkaClusterConfig;
  /** The `storage:` section converted to the shape the storage backends consume (with `encryption:` as storage.encryption). */
  storage: StorageSpec;
  backup: BackupOptions;
  restore: RestoreOptions;
  /** Present only when the file has an `offset_storage` section (presence switches the store on). */
  offset_storage?: OffsetStorageConfig;
  metrics: MetricsConfig;
}

export interface LoadConfigOptions {
  /** Environment for `${VAR}` substitution; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** The command being run; the file's `mode` must match it. */
  expectMode?: Mode;
  /** Receives non-fatal notices (keys accepted for compatibility that have no effect, etc.). */
  onWarning?: (message: string) => void;
  /** Base directory for relative `${file:...}` paths; default: the config file's directory. */
  baseDir?: string;
  /** Reads `${file:...}` references; default `fs.readFileSync(path, 'utf8')`. */
  readFile?: (path: string) => string;
}
