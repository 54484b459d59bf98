import type { MetricsConfig } from '../config/types.js';
import type { ObjectStore } from '../storage/store.js';
import { errorClass } from './util.js';
import { logger } from '../util/logger.js';
import { InstrumentedStore } from './instrumented-store.js';
import { KafkaBackupMetrics } from './registry.js';
import { MetricsServer } from './server.js';
import { sleep } from '../util/time.js';

export { KafkaBackupMetrics, PartitionLabels, OVERFLOW_LABEL } from './registry.js';
export { InstrumentedStore } from './instrumented-store.js';
export { MetricsServer, healthReport, type HealthReport } from './server.js';
export type { BackupMetricsSink, RestoreMetricsSink } from './sink.js';

const log = logger('metrics');

export interface MetricsRun {
  /** The store to give the engine: instrumented when metrics are on. */
  store: ObjectStore;
  /** The engine's metrics sink; undefined when metrics are off or the server did not start. */
  metrics: KafkaBackupMetrics | undefined;
  /** The listening server (tests read its port). */
  server: MetricsServer | undefined;
}

/**
 * Runs `run` with the `metrics:` section applied: starts the HTTP server (a taken port is a warning,
 * never a failure), wraps the store, and after the run keeps serving `keep_alive_seconds` (cut short
 * by `signal`) before closing the server.
 */
export async function withMetrics<T>(
  cfg: MetricsConfig,
  info: { mode: 'backup' | 'restore'; backupId: string },
  store: ObjectStore,
  signal: AbortSignal | undefined,
  run: (m: MetricsRun) => Promise<T>,
): Promise<T> {
  if (!cfg.enabled) return run({ store, metrics: undefined, server: undefined });
  const metrics = new KafkaBackupMetrics({
    ...info,
    maxPartitionLabels: cfg.max_partition_labels,
    processMetrics: true,
    updateIntervalMs: cfg.update_interval_ms,
  });
  const server = await MetricsServer.start(metrics, { port: cfg.port, bindAddress: cfg.bind_address, path: cfg.path });
  if (!server) {
    metrics.close();
    return run({ store, metrics: undefined, server: undefined });
  }
  try {
    const r = await run({ store: new InstrumentedStore(store, metrics), metrics, server });
    metrics.outcome = 'finished';
    return r;
  } catch (err) {
    metrics.outcome = 'failed';
    metrics.failure = errorClass(err);
    metrics.error('run');
    throw err;
  } finally {
    metrics.lastActivityAt = Date.now();
    if (cfg.keep_alive_seconds > 0 && !signal?.aborted) {
      log.info({ seconds: cfg.keep_alive_seconds, url: server.url }, 'run ended; metrics server stays up (metrics.keep_alive_seconds)');
      await sleep(cfg.keep_alive_seconds * 1000, signal);
    }
    metrics.close();
    await server.close();
  }
}
