import type { SegmentCodec } from '../format/codec.js';
import type { RetentionPolicy } from './retention/retention-policy.js';
import type { KafkaConnectionSettings } from '../kafka/security.js';
import type { BackupMetricsSink } from '../metrics/sink.js';
import type { ObjectStore } from '../storage/store.js';
import type { CircuitBreaker, CircuitBreakerSettings } from '../util/circuit-breaker.js';
import type { TopicFilter } from '../config/topic-selection.js';
import type { SegmentDigestAlgorithm } from '../format/segment-digest.js';
import type { WorkerGroupSettings } from './workers/group.js';

export type StartOffset = 'earliest' | 'latest' | number | { [topic: string]: { [partition: number]: number } };

/** Everything the backup engine needs, independent of how the user wrote it (YAML, flags). */
export interface BackupOptions {
  backupId: string;
  source: KafkaConnectionSettings;
  store: ObjectStore;
  topics: TopicFilter;
  includeInternalTopics: boolean;
  /** Exact names of internal topics allowed; empty = all internal topics (when allowed). */
  internalTopics: string[];
  compression: SegmentCodec;
  compressionLevel: number;
  /** Whole-object digest of each segment in the index (default crc32c; docs/format.md 2.4). */
  segmentDigest?: SegmentDigestAlgorithm;
  startOffset: StartOffset;
  segmentMaxBytes: number;
  segmentMaxIntervalMs: number;
  segmentMaxRecords?: number;
  continuous: boolean;
  pollIntervalMs: number;
  maxConcurrentPartitions: number;
  fetchMaxBytes: number;
  /** How often the manifest and the consumer-group snapshot are refreshed while running. */
  syncIntervalSecs: number;
  /** Longest time a partition's durable position may lag behind what was fetched. */
  checkpointIntervalSecs: number;
  includeOffsetHeaders: boolean;
  sourceClusterId?: string;
  signal?: AbortSignal;
  onProgress?: (p: BackupProgress) => void;
  /**
   * Bytes all open segments together may hold before the largest roll early (default 128 MiB):
   * object-store uploads keep the part being assembled in memory, one per open segment.
   */
  openSegmentBudgetBytes?: number;
  /** Counters for the metrics endpoint (src/metrics); absent = no metrics. */
  metrics?: BackupMetricsSink;
  /** backup.require_topic_configs: fail when DescribeConfigs is refused (else warn and store no configs). */
  requireTopicConfigs?: boolean;
  /** backup.capture_topic_configs (default true): record each topic's own configs in the manifest. */
  captureTopicConfigs?: boolean;
  /** backup.workers: run as one of several processes sharing the backup through a group on the source (src/backup/workers). */
  workers?: WorkerGroupSettings;
  /** backup.consumer_group_snapshot (default true): store the committed offsets of the topics' groups at start, each sync and the end. */
  groupSnapshots?: boolean;
  /** backup.consumer_group_snapshot_min_interval_secs: a changed snapshot waits at least this long after the last one (0 = next sync). */
  groupSnapshotMinIntervalSecs?: number;
  /**
   * backup.circuit_breaker: ride through transient storage and broker failures (workers wait and
   * retry from their stored index) until they last this many rounds; absent = fail at the first one.
   */
  circuitBreaker?: CircuitBreakerSettings;
  /** backup.empty_fetch_retry_secs (default 60): how long a partition may make no progress (empty fetches below the high watermark, no leader) before a warning, and before a snapshot leaves it short. */
  emptyFetchRetrySecs?: number;
  /** source.connection.fetch_max_wait_ms: how long the broker may hold a Fetch for data (default: 500 ms snapshot, 100..1000 ms continuous by poll_interval_ms). */
  fetchMaxWaitMs?: number;
  /** Set by the engine from `circuitBreaker` for its partition workers. */
  breaker?: CircuitBreaker;
  // Seed tool's later releases (issue 19).
  /** backup.isolation_level: read_committed leaves aborted transactions' batches out; default read_uncommitted stores them (restore drops them). */
  isolationLevel?: 'read_uncommitted' | 'read_committed';
  /** backup.rate_limit_*: process-wide limits on what is fetched (src/backup/throttle.ts). */
  rateLimitRecordsPerSec?: number;
  rateLimitBytesPerSec?: number;
  /** backup.on_missing_topic: a literal include entry naming no topic fails the backup (default) or is warned about. */
  onMissingTopic?: 'fail' | 'warn';
  /** backup.retention (continuous backups): prune the oldest segments at every sync (src/backup/retention/retention-run.ts). */
  retention?: RetentionPolicy;
}

export interface PartitionProgress {
  topic: string;
  partition: number;
  position: number;
  target: number | null;
  records: number;
  rawBytes: number;
  storedBytes: number;
  segments: number;
  done: boolean;
}

export interface BackupProgress {
  startedAt: number;
  partitions: PartitionProgress[];
}

/** A snapshot partition the backup did not reach: offsets [reached, target) are not in the backup. */
export interface PartitionShortfall {
  topic: string;
  partition: number;
  /** The index's next offset: everything before it is backed up (-1: the partition was never started). */
  reached: number;
  /** The end offset the snapshot was started for. */
  target: number;
}

export interface BackupSummary {
  backupId: string;
  /** `incomplete`: a snapshot stopped before every partition reached its end offset (see `shortfall`). */
  status: 'complete' | 'incomplete' | 'stopped';
  topics: number;
  partitions: number;
  records: number;
  rawBytes: number;
  storedBytes: number;
  segments: number;
  durationMs: number;
  groupsSnapshotted: number;
  /** Snapshot partitions short of their end offset; empty when complete (and for continuous backups). */
  shortfall: PartitionShortfall[];
}
