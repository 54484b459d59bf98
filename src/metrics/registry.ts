import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TOOL_VERSION } from '../util/version.js';
import type { BackupMetricsSink, RestoreMetricsSink } from './sink.js';

/** Label value used for every partition beyond `max_partition_labels`. */
export const OVERFLOW_LABEL = '_other';

/**
 * Caps the number of distinct topic/partition label sets: the first `max` partitions seen keep
 * their own labels, later ones are summed under topic="_other", partition="_other" (0 = no cap).
 */
export class PartitionLabels {
  readonly #max: number;
  readonly #seen = new Set<string>();
  constructor(max: number) {
    this.#max = max;
  }
  labels(topic: string, partition: number): { topic: string; partition: string } {
    const k = `${topic}\u0000${partition}`;
    if (this.#seen.has(k)) return { topic, partition: String(partition) };
    if (this.#max === 0 || this.#seen.size < this.#max) {
      this.#seen.add(k);
      return { topic, partition: String(partition) };
    }
    return { topic: OVERFLOW_LABEL, partition: OVERFLOW_LABEL };
  }
}

export interface MetricsInfo {
  mode: 'backup' | 'restore';
  backupId: string;
  maxPartitionLabels: number;
  /** Also export the process metrics (memory, CPU, event-loop lag) as kafka_backup_process_* / kafka_backup_nodejs_*. */
  processMetrics?: boolean;
  /** `metrics.update_interval_ms`: how often the throughput gauges are recomputed (default 500). */
  updateIntervalMs?: number;
}

const PL = ['topic', 'partition'] as const;
const THROUGHPUT_WINDOW_MS = 10_000;

/**
 * The `kafka_backup_*` metrics of one run, in their own registry. Implements both engine sinks.
 * Throughput is the rate over the last 10 seconds, recomputed every `updateIntervalMs`
 * (`metrics.update_interval_ms`) by an unref'd timer; a scrape reads the last computed value.
 */
export class KafkaBackupMetrics implements BackupMetricsSink, RestoreMetricsSink {
  readonly registry = new Registry();
  readonly info: MetricsInfo;
  readonly startedAt = Date.now();
  /** Last time an engine reported anything (ms). */
  lastActivityAt = Date.now();
  /** Storage operations failed in a row (reset by a success); the health check looks at it. */
  consecutiveStorageErrors = 0;
  /** Set when the run ended: `failed` makes /health answer 503. */
  outcome: 'running' | 'finished' | 'failed' = 'running';
  /** The failure's class and code only (errorClass): /health shows it to anyone who can connect. */
  failure: string | undefined;

  readonly #labels: PartitionLabels;
  readonly #records: Counter<'topic' | 'partition'>;
  readonly #kafkaBytes: Counter<'topic' | 'partition'>;
  readonly #storedBytes: Counter<'topic' | 'partition'>;
  readonly #segments: Counter<'topic' | 'partition'>;
  readonly #lag: Gauge<'topic' | 'partition'>;
  readonly #position: Gauge<'topic' | 'partition'>;
  readonly #errors: Counter<'operation'>;
  readonly #retries: Counter<'operation'>;
  readonly #restoredRecords: Counter<'topic' | 'partition'>;
  readonly #restoredBytes: Counter<'topic' | 'partition'>;
  readonly #partitionsDone: Counter;
  readonly #partitionsPlanned: Gauge;
  #workerGauges: { generation: Gauge; owned: Gauge } | undefined;
  readonly storageBytes: Counter<'direction'>;
  readonly storageOps: Histogram<'operation'>;
  readonly storageErrors: Counter<'operation'>;
  readonly #throttleWait: Counter;
  readonly #rateLimit: Gauge<'unit'>;
  /** Lag per label set; the overflow label holds the sum of the partitions it stands for. */
  readonly #lagBy = new Map<string, Map<string, number>>();
  #totalRecords = 0;
  #totalBytes = 0;
  readonly #samples: { t: number; records: number; bytes: number }[] = [];
  readonly #sampler: NodeJS.Timeout;
  #throughput = { records: 0, bytes: 0 };

  constructor(info: MetricsInfo) {
    this.info = info;
    this.#labels = new PartitionLabels(info.maxPartitionLabels);
    const registers = [this.registry];
    if (info.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'kafka_backup_' });
    new Gauge({ name: 'kafka_backup_info', help: 'Run information (always 1)', labelNames: ['mode', 'backup_id', 'version'], registers }).set(
      { mode: info.mode, backup_id: info.backupId, version: TOOL_VERSION },
      1,
    );
    new Gauge({ name: 'kafka_backup_start_time_seconds', help: 'When this run started (Unix time)', registers }).set(this.startedAt / 1000);
    const self = this;
    new Gauge({
      name: 'kafka_backup_last_activity_timestamp_seconds',
      help: 'Last time the engine reported progress (Unix time)',
      registers,
      collect() {
        this.set(self.lastActivityAt / 1000);
      },
    });
    new Gauge({
      name: 'kafka_backup_up',
      help: '1 while the run is healthy, 0 once it failed',
      registers,
      collect() {
        this.set(self.healthy() ? 1 : 0);
      },
    });
    this.#records = new Counter({
      name: 'kafka_backup_records_total',
      help: 'Records read from Kafka and added to segments (control records excluded)',
      labelNames: PL,
      registers,
    });
    this.#kafkaBytes = new Counter({
      name: 'kafka_backup_kafka_bytes_total',
      help: 'Bytes of the Kafka record batches backed up (as the broker sent them, before segment compression)',
      labelNames: PL,
      registers,
    });
    this.#storedBytes = new Counter({
      name: 'kafka_backup_stored_bytes_total',
      help: 'Bytes of the segments stored (after segment compression)',
      labelNames: PL,
      registers,
    });
    this.#segments = new Counter({
      name: 'kafka_backup_segments_written_total',
      help: 'Segments stored and named by the partition index',
      labelNames: PL,
      registers,
    });
    this.#lag = new Gauge({
      name: 'kafka_backup_lag_records',
      help: 'Records behind: end offset (high watermark of the last fetch) minus the next offset to back up',
      labelNames: PL,
      registers,
    });
    this.#position = new Gauge({
      name: 'kafka_backup_partition_offset',
      help: 'Next offset to back up (not exported for the partitions beyond max_partition_labels)',
      labelNames: PL,
      registers,
    });
    this.#errors = new Counter({ name: 'kafka_backup_errors_total', help: 'Errors, by operation', labelNames: ['operation'], registers });
    this.#retries = new Counter({ name: 'kafka_backup_retries_total', help: 'Retried requests, by operation', labelNames: ['operation'], registers });
    this.#restoredRecords = new Counter({
      name: 'kafka_backup_restore_records_total',
      help: 'Records restored (acknowledged by the target), by target partition',
      labelNames: PL,
      registers,
    });
    this.#restoredBytes = new Counter({
      name: 'kafka_backup_restore_bytes_total',
      help: 'Bytes of the record batches produced to the target',
      labelNames: PL,
      registers,
    });
    this.#partitionsDone = new Counter({
      name: 'kafka_backup_restore_partitions_completed_total',
      help: 'Target partitions whose restore finished',
      registers,
    });
    this.#partitionsPlanned = new Gauge({ name: 'kafka_backup_restore_partitions', help: 'Target partitions this restore writes', registers });
    this.storageBytes = new Counter({
      name: 'kafka_backup_storage_bytes_total',
      help: 'Bytes written to / read from the object store',
      labelNames: ['direction'],
      registers,
    });
    this.storageOps = new Histogram({
      name: 'kafka_backup_storage_operation_duration_seconds',
      help: 'Object-store request latency, by operation (put, put_stream, get, get_stream, head, list, delete)',
      labelNames: ['operation'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.storageErrors = new Counter({
      name: 'kafka_backup_storage_errors_total',
      help: 'Failed object-store requests, by operation',
      labelNames: ['operation'],
      registers,
    });
    this.#throttleWait = new Counter({
      name: 'kafka_backup_rate_limit_wait_seconds_total',
      help: 'Time fetches were held back by backup.rate_limit_records_per_sec / rate_limit_bytes_per_sec (summed over partitions)',
      registers,
    });
    this.#rateLimit = new Gauge({
      name: 'kafka_backup_rate_limit',
      help: 'Configured backup rate limit per second, by unit (records, bytes); absent = unlimited',
      labelNames: ['unit'],
      registers,
    });
    new Gauge({
      name: 'kafka_backup_throughput_records_per_second',
      help: 'Records per second over the last 10 seconds (backed up, or restored in restore mode)',
      registers,
      collect() {
        this.set(self.#throughput.records);
      },
    });
    new Gauge({
      name: 'kafka_backup_throughput_bytes_per_second',
      help: 'Kafka bytes per second over the last 10 seconds (backed up, or restored in restore mode)',
      registers,
      collect() {
        this.set(self.#throughput.bytes);
      },
    });
    this.#update();
    this.#sampler = setInterval(() => this.#update(), info.updateIntervalMs ?? 500);
    this.#sampler.unref();
  }

  /** Takes a sample and recomputes the throughput over the last THROUGHPUT_WINDOW_MS. */
  #update(): void {
    const now = Date.now();
    this.#samples.push({ t: now, records: this.#totalRecords, bytes: this.#totalBytes });
    // Keep the newest sample at least a window old, so the rate spans the whole window.
    while (this.#samples.length > 2 && this.#samples[1]!.t <= now - THROUGHPUT_WINDOW_MS) this.#samples.shift();
    const first = this.#samples[0]!;
    const dt = (now - first.t) / 1000;
    this.#throughput = dt > 0 ? { records: (this.#totalRecords - first.records) / dt, bytes: (this.#totalBytes - first.bytes) / dt } : { records: 0, bytes: 0 };
  }

  healthy(): boolean {
    return this.outcome !== 'failed' && this.consecutiveStorageErrors < 5;
  }

  /** Stops the sampler timer (the registry can still be scraped). */
  close(): void {
    clearInterval(this.#sampler);
  }

  // BackupMetricsSink

  recordsRead(topic: string, partition: number, records: number, kafkaBytes: number): void {
    const l = this.#labels.labels(topic, partition);
    if (records > 0) this.#records.inc(l, records);
    this.#kafkaBytes.inc(l, kafkaBytes);
    this.#totalRecords += records;
    this.#totalBytes += kafkaBytes;
    this.lastActivityAt = Date.now();
  }

  position(topic: string, partition: number, position: number, endOffset: number): void {
    const l = this.#labels.labels(topic, partition);
    const key = `${l.topic}\u0000${l.partition}`;
    let per = this.#lagBy.get(key);
    if (!per) {
      per = new Map();
      this.#lagBy.set(key, per);
    }
    per.set(`${topic}\u0000${partition}`, Math.max(0, endOffset - position));
    let sum = 0;
    for (const v of per.values()) sum += v;
    this.#lag.set(l, sum);
    if (per.size === 1) this.#position.set(l, position);
    this.lastActivityAt = Date.now();
  }

  segmentWritten(topic: string, partition: number, storedBytes: number): void {
    const l = this.#labels.labels(topic, partition);
    this.#segments.inc(l);
    this.#storedBytes.inc(l, storedBytes);
    this.lastActivityAt = Date.now();
  }

  error(operation: string): void {
    this.#errors.inc({ operation });
  }

  /** Registered on first use: only a distributed backup's or restore's endpoint shows the worker gauges. */
  workerGroup(generation: number, partitionsOwned: number): void {
    this.#workerGauges ??= {
      generation: new Gauge({
        name: 'kafka_backup_worker_group_generation',
        help: 'Distributed backup or restore: the group generation this worker last joined',
        registers: [this.registry],
      }),
      owned: new Gauge({
        name: 'kafka_backup_worker_partitions_owned',
        help: 'Distributed backup or restore: partitions this worker owns',
        registers: [this.registry],
      }),
    };
    this.#workerGauges.generation.set(generation);
    this.#workerGauges.owned.set(partitionsOwned);
  }

  retry(operation: string): void {
    this.#retries.inc({ operation });
  }

  rateLimits(recordsPerSec: number | undefined, bytesPerSec: number | undefined): void {
    if (recordsPerSec) this.#rateLimit.set({ unit: 'records' }, recordsPerSec);
    if (bytesPerSec) this.#rateLimit.set({ unit: 'bytes' }, bytesPerSec);
  }

  throttled(waitedMs: number): void {
    this.#throttleWait.inc(waitedMs / 1000);
  }

  // RestoreMetricsSink

  partitionsPlanned(count: number): void {
    this.#partitionsPlanned.set(count);
  }

  restored(topic: string, partition: number, records: number, bytes: number): void {
    const l = this.#labels.labels(topic, partition);
    this.#restoredRecords.inc(l, records);
    this.#restoredBytes.inc(l, bytes);
    this.#totalRecords += records;
    this.#totalBytes += bytes;
    this.lastActivityAt = Date.now();
  }

  partitionDone(_topic: string, _partition: number): void {
    this.#partitionsDone.inc();
    this.lastActivityAt = Date.now();
  }
}
