/**
 * A MinIO of a test's own that can be killed hard (SIGKILL, no shutdown) and started again on the
 * same port and data directory: a storage outage as a client sees it (connections refused), with
 * the objects stored before it still there afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MINIO_BIN, minioInstalled, minioLive, createBucket, type S3Conn } from '../../scripts/minio.js';
import { RUN_DIR, freePorts, supervise, waitFor, type Supervised } from '../../scripts/proc.js';

export interface RestartableMinio extends S3Conn {
  /** SIGKILL the server (its whole process group); resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory; resolves once it answers. */
  start(): Promise<void>;
  /** Stops it and deletes its directory. */
  stop(): Promise<void>;
  freshBucket(name: string): Promise<string>;
}

export async function startRestartableMinio(): Promise<RestartableMinio> {
  if (!minioInstalled()) throw new Error(`MinIO binary not found at ${MINIO_BIN}: run bash scripts/install-minio.sh`);
  mkdirSync(RUN_DIR, { recursive: true });
  const dir = mkdtempSync(join(RUN_DIR, 'minio-restartable-'));
  const [port, consolePort] = (await freePorts(2)) as [number, number];
  const conn: S3Conn = {
    endpoint: `http://127.0.0.1:${port}`,
    accessKey: 'kbtestadmin',
    secretKey: `kbtest-${randomBytes(8).toString('hex')}`,
    region: 'us-east-1',
  };
  let proc: Supervised | undefined;
  const start = async (): Promise<void> => {
    if (proc?.isRunning()) return;
    proc = supervise(MINIO_BIN, ['server', join(dir, 'data'), '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'], {
      cwd: dir,
      logFile: join(dir, 'minio.log'),
      env: {
        ...process.env,
        MINIO_ROOT_USER: conn.accessKey,
        MINIO_ROOT_PASSWORD: conn.secretKey,
        MINIO_REGION: 'us-east-1',
        MINIO_UPDATE: 'off',
        MINIO_BROWSER: 'off',
        MINIO_CI_CD: '1',
        HOME: dir,
      },
    });
    const p = proc;
    await waitFor(`minio ${conn.endpoint}`, () => minioLive(conn.endpoint), {
      timeoutMs: 30_000,
      intervalMs: 100,
      abort: () => (p.isRunning() ? undefined : 'minio exited'),
    });
  };
  await start();
  return {
    ...conn,
    start,
    kill: async () => {
      const p = proc;
      if (!p?.isRunning()) return;
      process.kill(-p.pid, 'SIGKILL');
      await p.exited;
    },
    stop: async () => {
      await proc?.stop(5000);
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    },
    freshBucket: async (name: string) => {
      await createBucket(conn, name);
      return name;
    },
  };
}
