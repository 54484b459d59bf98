/**
 * Start a throw-away fake-gcs-server (a Google Cloud Storage emulator, github.com/fsouza/fake-gcs-server)
 * for tests. Needs `bash scripts/install-fake-gcs.sh` first (binary in .cache/bin/fake-gcs-server).
 *
 *   const gcs = await startFakeGcs();
 *   await createGcsBucket(gcs.endpoint, 'my-bucket');
 *   await gcs.stop();
 *
 * The server runs under the same watchdog as MinIO and Kafka (scripts/proc.ts): it dies with the
 * process that started it. It speaks plain HTTP and accepts any (or no) credentials.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CACHE_DIR, RUN_DIR, freePort, supervise, tail, waitFor } from './proc.js';

export const FAKE_GCS_BIN = process.env.KB_FAKE_GCS_BIN ? resolve(process.env.KB_FAKE_GCS_BIN) : join(CACHE_DIR, 'bin', 'fake-gcs-server');

export interface RunningFakeGcs {
  /** http://127.0.0.1:PORT, the value for the client's apiEndpoint. */
  endpoint: string;
  port: number;
  dir: string;
  logFile: string;
  pid: number;
  stop(): Promise<void>;
}

export function fakeGcsInstalled(): boolean {
  return existsSync(FAKE_GCS_BIN);
}

async function listening(endpoint: string): Promise<boolean> {
  const res = await fetch(`${endpoint}/storage/v1/b`, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.ok;
}

async function startOnce(timeoutMs: number): Promise<RunningFakeGcs> {
  if (!fakeGcsInstalled()) throw new Error(`fake-gcs-server not found at ${FAKE_GCS_BIN}: run bash scripts/install-fake-gcs.sh`);
  mkdirSync(RUN_DIR, { recursive: true });
  const dir = mkdtempSync(join(RUN_DIR, 'fake-gcs-'));
  const keep = process.env.KB_KEEP_RUN === '1';
  const logFile = join(dir, 'fake-gcs.log');
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const proc = supervise(
    FAKE_GCS_BIN,
    // filesystem backend: objects on disk like MinIO's, not in the server's memory.
    // -external-url: resumable uploads continue at the Location the server returns.
    [
      '-scheme',
      'http',
      '-host',
      '127.0.0.1',
      '-port',
      String(port),
      '-backend',
      'filesystem',
      '-filesystem-root',
      join(dir, 'data'),
      '-external-url',
      endpoint,
      '-public-host',
      `127.0.0.1:${port}`,
      '-log-level',
      'warn',
    ],
    { cwd: dir, logFile, dir: keep ? undefined : dir },
  );
  const cleanup = (): void => {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(`fake-gcs-server ${endpoint}`, () => listening(endpoint), {
      timeoutMs,
      intervalMs: 100,
      abort: () => (proc.isRunning() ? undefined : 'fake-gcs-server exited'),
    });
  } catch (err) {
    const logTail = tail(logFile, 60);
    await proc.stop(5000);
    cleanup();
    const e = new Error(`${(err as Error).message}\n--- tail of ${logFile} ---\n${logTail}`) as Error & { serverLog?: string };
    e.serverLog = logTail;
    throw e;
  }
  return {
    endpoint,
    port,
    dir,
    logFile,
    pid: proc.pid,
    stop: async () => {
      await proc.stop(5000);
      cleanup();
    },
  };
}

/** Starts fake-gcs-server; retries with a new port if the port raced away. */
export async function startFakeGcs(timeoutMs = 30_000): Promise<RunningFakeGcs> {
  let lastErr: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(timeoutMs);
    } catch (err) {
      lastErr = err;
      if (!/address already in use|bind/i.test((err as { serverLog?: string }).serverLog ?? '')) throw err;
    }
  }
  throw lastErr;
}

/** Creates a bucket through the JSON API (no client library needed). */
export async function createGcsBucket(endpoint: string, name: string): Promise<void> {
  const res = await fetch(`${endpoint}/storage/v1/b?project=kb-test`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`create bucket ${name}: HTTP ${res.status} ${text}`);
}
