import type { BackupOptions } from '../../src/backup/options.js';
import type { RestoreOptions } from '../../src/restore/options.js';
import type { ObjectStore } from '../../src/storage/store.js';

/** Engine options with the config defaults, for tests that call the engines directly. */
export function testBackupOptions(
  bootstrap: string,
  store: ObjectStore,
  backupId: string,
  topics: string[],
  extra: Partial<BackupOptions> = {},
): BackupOptions {
  return {
    backupId,
    source: { bootstrapServers: [bootstrap] },
    store,
    topics: { include: topics, exclude: [] },
    includeInternalTopics: false,
    internalTopics: [],
    compression: 'zstd',
    compressionLevel: 3,
    startOffset: 'earliest',
    segmentMaxBytes: 64 * 1024,
    segmentMaxIntervalMs: 60_000,
    continuous: false,
    pollIntervalMs: 100,
    maxConcurrentPartitions: 4,
    fetchMaxBytes: 64 * 1024,
    syncIntervalSecs: 30,
    checkpointIntervalSecs: 5,
    includeOffsetHeaders: true,
    ...extra,
  };
}

export function testRestoreOptions(bootstrap: string, store: ObjectStore, backupId: string, extra: Partial<RestoreOptions> = {}): RestoreOptions {
  return {
    backupId,
    store,
    target: { bootstrapServers: [bootstrap] },
    topics: { include: [], exclude: [] },
    topicMapping: {},
    partitionMapping: {},
    includeOriginalOffsetHeader: false,
    stripOffsetHeaders: false,
    createTopics: true,
    defaultReplicationFactor: -1,
    allowNonEmptyTarget: false,
    dryRun: false,
    maxConcurrentPartitions: 4,
    produceBatchSize: 1000,
    produceAcks: -1,
    produceTimeoutMs: 30_000,
    checkpointIntervalSecs: 1,
    ...extra,
  };
}
