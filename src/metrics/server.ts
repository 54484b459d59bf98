import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { logger } from '../util/logger.js';
import { TOOL_VERSION } from '../util/version.js';
import type { KafkaBackupMetrics } from './registry.js';

const log = logger('metrics');

export interface MetricsServerOptions {
  port: number;
  bindAddress: string;
  /** Prometheus path; `/metrics` is served too. */
  path: string;
}

export interface HealthReport {
  status: 'healthy' | 'unhealthy';
  mode: 'backup' | 'restore';
  backup_id: string;
  state: 'running' | 'finished' | 'failed';
  version: string;
  uptime_seconds: number;
  last_activity_at: string;
  consecutive_storage_errors: number;
  /** Only the failure's class and code (errorClass): the endpoint has no authentication. */
  error?: string;
}

export function healthReport(m: KafkaBackupMetrics): HealthReport {
  return {
    status: m.healthy() ? 'healthy' : 'unhealthy',
    mode: m.info.mode,
    backup_id: m.info.backupId,
    state: m.outcome,
    version: TOOL_VERSION,
    uptime_seconds: Math.round((Date.now() - m.startedAt) / 1000),
    last_activity_at: new Date(m.lastActivityAt).toISOString(),
    consecutive_storage_errors: m.consecutiveStorageErrors,
    ...(m.failure ? { error: m.failure } : {}),
  };
}

/**
 * The HTTP server of `metrics:`: Prometheus text at `path` and `/metrics`, JSON health at `/health`
 * and `/healthz` (503 when unhealthy), a small HTML index at `/`. GET (and HEAD) only.
 * Rendering is on demand (a scrape reads counters the engines already keep), so the server adds no
 * work to the data path between scrapes.
 */
export class MetricsServer {
  readonly #server: Server;
  readonly #metrics: KafkaBackupMetrics;
  readonly #opts: MetricsServerOptions;

  private constructor(server: Server, metrics: KafkaBackupMetrics, opts: MetricsServerOptions) {
    this.#server = server;
    this.#metrics = metrics;
    this.#opts = opts;
  }

  /** Starts listening; when that fails (port taken, address not local) logs a warning and returns undefined. */
  static async start(metrics: KafkaBackupMetrics, opts: MetricsServerOptions): Promise<MetricsServer | undefined> {
    let self: MetricsServer | undefined;
    const server = createServer((req, res) => {
      if (self) self.#handle(req, res);
      else res.writeHead(503).end();
    });
    server.keepAliveTimeout = 5_000;
    server.requestTimeout = 10_000;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts.port, opts.bindAddress, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      log.warn(
        { address: `${opts.bindAddress}:${opts.port}`, code: e.code },
        `metrics server not started (${e.code === 'EADDRINUSE' ? `port ${opts.port} is already in use` : e.message}); continuing without metrics (set metrics.port, or metrics.enabled: false)`,
      );
      server.close();
      return undefined;
    }
    server.on('error', (err) => log.warn({ err: err.message }, 'metrics server error'));
    self = new MetricsServer(server, metrics, opts);
    log.info({ url: self.url }, 'metrics server listening');
    return self;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** http://host:port of the listener (0.0.0.0 / :: shown as 127.0.0.1). */
  get url(): string {
    const a = this.#server.address() as AddressInfo;
    const host = a.address === '0.0.0.0' || a.address === '::' ? '127.0.0.1' : a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const reg = this.#metrics.registry;
    if (path === this.#opts.path || path === '/metrics') {
      reg.metrics().then(
        (text) => res.writeHead(200, { 'content-type': reg.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (err: unknown) => {
          log.warn({ err: (err as Error).message }, 'metrics collection failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed (see the log)\n');
        },
      );
      return;
    }
    if (path === '/health' || path === '/healthz') {
      const h = healthReport(this.#metrics);
      res.writeHead(h.status === 'healthy' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h) + '\n');
      return;
    }
    if (path === '/ready' || path === '/readyz') {
      // Readiness (a kubelet's readinessProbe): the run is under way and healthy; a finished run (keep_alive_seconds) is not ready.
      const h = healthReport(this.#metrics);
      const ready = h.status === 'healthy' && h.state === 'running';
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready, state: h.state, status: h.status }) + '\n');
      return;
    }
    if (path === '/') {
      const links = [...new Set([this.#opts.path, '/metrics'])].map((p) => `<li><a href="${p}">${p}</a> Prometheus metrics</li>`).join('');
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(
          `<!doctype html><html><head><title>kafka-backup</title></head><body><h1>kafka-backup ${TOOL_VERSION}</h1><p>${this.#metrics.info.mode} of ${escapeHtml(this.#metrics.info.backupId)}</p><ul>${links}<li><a href="/health">/health</a> health (JSON)</li></ul></body></html>\n`,
        );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}
