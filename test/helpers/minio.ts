/**
 * S3 (MinIO) for integration tests.
 *
 * Under `npm test`, scripts/run-tests.ts starts one MinIO and exports KB_TEST_S3_*;
 * getTestS3() reads them. Run alone, the first call starts a MinIO for this process
 * (stopped at exit; a watchdog cleans up if the process is killed).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startMinio, minioInstalled, createBucket, type RunningMinio, type S3Conn } from '../../scripts/minio.js';
import { ROOT } from '../../scripts/proc.js';
import type { StorageSpec } from '../../src/storage/index.js';

export { createBucket, bucketExists, listObjectKeys, s3Request } from '../../scripts/minio.js';
export type { S3Conn } from '../../scripts/minio.js';

export interface TestS3 extends S3Conn {
  /** Creates a new, empty bucket with a unique name and returns the name. */
  freshBucket(prefix?: string): Promise<string>;
}

export function minioEnv(m: S3Conn): Record<string, string> {
  return {
    KB_TEST_S3_ENDPOINT: m.endpoint,
    KB_TEST_S3_ACCESS_KEY: m.accessKey,
    KB_TEST_S3_SECRET_KEY: m.secretKey,
    KB_TEST_S3_REGION: m.region,
  };
}

/** The storage spec of a bucket (and prefix) on the test MinIO, as a user would write it: path-style, plain HTTP. */
export function s3Spec(conn: S3Conn, bucket: string, prefix?: string): StorageSpec {
  return {
    backend: 's3',
    bucket,
    ...(prefix !== undefined ? { prefix } : {}),
    endpoint: conn.endpoint,
    region: conn.region,
    accessKey: conn.accessKey,
    secretKey: conn.secretKey,
    allowHttp: true,
    pathStyle: true,
  };
}

let own: Promise<RunningMinio> | undefined;

/** Unique valid bucket name: lower-case, 3..63 chars. */
export function uniqueBucket(prefix = 'kb-test'): string {
  const clean =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'kb';
  return `${clean}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export async function getTestS3(): Promise<TestS3> {
  const env = process.env;
  let conn: S3Conn;
  if (env.KB_TEST_S3_ENDPOINT && env.KB_TEST_S3_ACCESS_KEY && env.KB_TEST_S3_SECRET_KEY) {
    conn = {
      endpoint: env.KB_TEST_S3_ENDPOINT,
      accessKey: env.KB_TEST_S3_ACCESS_KEY,
      secretKey: env.KB_TEST_S3_SECRET_KEY,
      region: env.KB_TEST_S3_REGION ?? 'us-east-1',
    };
  } else {
    own ??= (async () => {
      if (!minioInstalled()) execFileSync('bash', [join(ROOT, 'scripts', 'install-minio.sh')], { stdio: 'inherit' });
      return startMinio();
    })();
    const m = await own;
    conn = { endpoint: m.endpoint, accessKey: m.accessKey, secretKey: m.secretKey, region: m.region };
  }
  return {
    ...conn,
    freshBucket: async (prefix?: string) => {
      const name = uniqueBucket(prefix);
      await createBucket(conn, name);
      return name;
    },
  };
}

/** Stops the MinIO this process started, if any (optional: it also stops at exit). */
export async function stopTestS3(): Promise<void> {
  const p = own;
  own = undefined;
  if (p) await (await p).stop();
}
