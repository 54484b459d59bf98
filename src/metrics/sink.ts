/**
 * What the engines report to the metrics (src/metrics/registry.ts implements it). The engines take
 * an optional sink in their options and call it at a few points; they know nothing of Prometheus.
 * Every method is cheap and synchronous (counter increments), so it never slows the data path.
 */
export interface BackupMetricsSink {
  /** A batch read from Kafka and added to a segment: its records (0 for control batches) and its Kafka bytes. */
  recordsRead(topic: string, partition: number, records: number, kafkaBytes: number): void;
  /** After each fetch: the partition's next offset to back up and its end offset (high watermark) in that response. */
  position(topic: string, partition: number, position: number, endOffset: number): void;
  /** A segment stored and named by the index: its stored (compressed) size. */
  segmentWritten(topic: string, partition: number, storedBytes: number): void;
  /** A failure (`operation` says where: `partition`, `sync`, ...). */
  error(operation: string): void;
  /** A retried request (`fetch`, ...). */
  retry(operation: string): void;
  /** backup.rate_limit_*: the configured limits (undefined = unlimited), once at start. */
  rateLimits?(recordsPerSec: number | undefined, bytesPerSec: number | undefined): void;
  /** A fetch held back by backup.rate_limit_*: how long it waited. */
  throttled?(waitedMs: number): void;
  /** Distributed backup (backup.workers), every sync: the group generation this worker is in and how many partitions it owns. */
  workerGroup?(generation: number, partitionsOwned: number): void;
}

export interface RestoreMetricsSink {
  /** Number of target partitions (jobs) the restore will write. */
  partitionsPlanned(count: number): void;
  /** The plan's record count (exact, or its estimate when a window cuts segments): what a progress display's ETA needs. */
  recordsPlanned?(records: number, exact: boolean): void;
  /** Records acknowledged by the target: count and the produced batch bytes. */
  restored(topic: string, partition: number, records: number, bytes: number): void;
  /** A target partition finished. */
  partitionDone(topic: string, partition: number): void;
  error(operation: string): void;
  /** Distributed restore (restore.workers), every report: the group generation and the target partitions this worker owns. */
  workerGroup?(generation: number, partitionsOwned: number): void;
}
