/**
 * Start a throw-away MinIO (S3-compatible) server for tests. Needs
 * `bash scripts/install-minio.sh` first (binary in .cache/bin/minio).
 *
 *   const s3 = await startMinio();
 *   await createBucket(s3, 'my-bucket');
 *   await s3.stop();
 *
 * Also exports a minimal AWS SigV4 signer (`s3Request`) so tests can talk to S3
 * without pulling in the AWS SDK.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CACHE_DIR, RUN_DIR, freePorts, supervise, tail, waitFor } from './proc.js';

export const MINIO_BIN = process.env.KB_MINIO_BIN ? resolve(process.env.KB_MINIO_BIN) : join(CACHE_DIR, 'bin', 'minio');

/** Connection settings for an S3-compatible endpoint (path-style addressing). */
export interface S3Conn {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
}

export interface RunningMinio extends S3Conn {
  port: number;
  consolePort: number;
  dir: string;
  logFile: string;
  pid: number;
  stop(): Promise<void>;
}

export interface StartMinioOptions {
  accessKey?: string;
  secretKey?: string;
  timeoutMs?: number;
  keepDir?: boolean;
  /** The server outlives this node process (used by minio:start --detach). */
  detached?: boolean;
}

export function minioInstalled(): boolean {
  return existsSync(MINIO_BIN);
}

export async function minioLive(endpoint: string): Promise<boolean> {
  const res = await fetch(`${endpoint}/minio/health/live`, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.ok;
}

async function minioReady(endpoint: string): Promise<boolean> {
  const res = await fetch(`${endpoint}/minio/health/ready`, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.ok;
}

async function startOnce(opts: StartMinioOptions): Promise<RunningMinio> {
  if (!minioInstalled()) throw new Error(`MinIO binary not found at ${MINIO_BIN}: run bash scripts/install-minio.sh`);
  mkdirSync(RUN_DIR, { recursive: true });
  const dir = mkdtempSync(join(RUN_DIR, 'minio-'));
  const keep = opts.keepDir || process.env.KB_KEEP_RUN === '1';
  const logFile = join(dir, 'minio.log');
  const [port, consolePort] = (await freePorts(2)) as [number, number];
  const accessKey = opts.accessKey ?? 'kbtestadmin';
  const secretKey = opts.secretKey ?? `kbtest-${randomBytes(8).toString('hex')}`;
  const endpoint = `http://127.0.0.1:${port}`;
  const proc = supervise(
    MINIO_BIN,
    ['server', join(dir, 'data'), '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'],
    {
      cwd: dir,
      logFile,
      dir: keep ? undefined : dir,
      ownedByThisProcess: !opts.detached,
      env: {
        ...process.env,
        MINIO_ROOT_USER: accessKey,
        MINIO_ROOT_PASSWORD: secretKey,
        MINIO_REGION: 'us-east-1',
        MINIO_UPDATE: 'off',
        MINIO_BROWSER: 'off',
        MINIO_CI_CD: '1',
        HOME: dir,
      },
    },
  );
  const cleanup = () => {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const abort = () => (proc.isRunning() ? undefined : 'minio process exited');
    await waitFor(`minio ${endpoint}/minio/health/live`, () => minioLive(endpoint), { timeoutMs, intervalMs: 100, abort });
    await waitFor(`minio ${endpoint}/minio/health/ready`, () => minioReady(endpoint), { timeoutMs, intervalMs: 100, abort });
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
    accessKey,
    secretKey,
    region: 'us-east-1',
    port,
    consolePort,
    dir,
    logFile,
    pid: proc.pid,
    stop: async () => {
      await proc.stop(10_000);
      cleanup();
    },
  };
}

/** Starts MinIO; retries with new ports if a port raced away. */
export async function startMinio(opts: StartMinioOptions = {}): Promise<RunningMinio> {
  let lastErr: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastErr = err;
      if (!/address already in use|bind/i.test((err as { serverLog?: string }).serverLog ?? '')) throw err;
    }
  }
  throw lastErr;
}

// ---------------------------------------------------------------------------
// Minimal AWS Signature Version 4 for S3 (path-style), enough for test fixtures.

const sha256Hex = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface S3RequestOptions {
  method?: string;
  /** Bucket (and optional key): 'bucket' or 'bucket/some/key'. Leading '/' optional. */
  path?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

/** Builds the signed headers for a request (exported for tests of the signer). */
export function signV4(
  conn: Pick<S3Conn, 'accessKey' | 'secretKey' | 'region'>,
  req: { method: string; url: URL; headers: Record<string, string>; payloadHash: string; service?: string; now?: Date },
): Record<string, string> {
  const now = req.now ?? new Date();
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const service = req.service ?? 's3';
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = String(v).trim().replace(/\s+/g, ' ');
  headers.host = req.url.host;
  headers['x-amz-date'] = amzDate;
  headers['x-amz-content-sha256'] = req.payloadHash;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${headers[n]}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalUri =
    req.url.pathname
      .split('/')
      .map((seg) => rfc3986(decodeURIComponent(seg)))
      .join('/') || '/';
  const canonicalQuery = [...req.url.searchParams.entries()]
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalRequest = [req.method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaders, req.payloadHash].join('\n');
  const scope = `${date}/${conn.region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${conn.secretKey}`, date), conn.region), service), 'aws4_request');
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  delete headers.host; // fetch sets it itself
  return {
    ...headers,
    authorization: `AWS4-HMAC-SHA256 Credential=${conn.accessKey}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}

/** Sends a SigV4-signed request to an S3 endpoint (path-style). */
export async function s3Request(conn: S3Conn, opts: S3RequestOptions = {}): Promise<Response> {
  const method = (opts.method ?? 'GET').toUpperCase();
  const path = (opts.path ?? '').replace(/^\/+/, '');
  const url = new URL(`${conn.endpoint.replace(/\/+$/, '')}/${path.split('/').map(rfc3986).join('/')}`);
  // Build the query by hand: URLSearchParams would encode spaces as '+'.
  const q = Object.entries(opts.query ?? {}).map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`);
  if (q.length) url.search = `?${q.join('&')}`;
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
  const headers = signV4(conn, { method, url, headers: opts.headers ?? {}, payloadHash: sha256Hex(body ?? '') });
  return fetch(url, { method, headers, body, signal: AbortSignal.timeout(30_000) });
}

/** Creates a bucket; ok if it already exists and is ours. */
export async function createBucket(conn: S3Conn, name: string): Promise<void> {
  const body =
    conn.region && conn.region !== 'us-east-1'
      ? `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>${conn.region}</LocationConstraint></CreateBucketConfiguration>`
      : undefined;
  const res = await s3Request(conn, { method: 'PUT', path: name, ...(body ? { body } : {}) });
  const text = await res.text();
  if (res.ok || (res.status === 409 && text.includes('BucketAlreadyOwnedByYou'))) return;
  throw new Error(`create bucket ${name}: HTTP ${res.status} ${text}`);
}

/** True when the bucket exists (HEAD bucket). */
export async function bucketExists(conn: S3Conn, name: string): Promise<boolean> {
  const res = await s3Request(conn, { method: 'HEAD', path: name });
  await res.arrayBuffer();
  if (res.status === 404) return false;
  if (res.ok) return true;
  throw new Error(`head bucket ${name}: HTTP ${res.status}`);
}

/** Keys of the objects in a bucket (ListObjectsV2, follows continuation tokens). */
export async function listObjectKeys(conn: S3Conn, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const query: Record<string, string> = { 'list-type': '2', prefix };
    if (token) query['continuation-token'] = token;
    const res = await s3Request(conn, { path: bucket, query });
    const xml = await res.text();
    if (!res.ok) throw new Error(`list ${bucket}: HTTP ${res.status} ${xml}`);
    for (const m of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(decodeXml(m[1] ?? ''));
    token = /<IsTruncated>true<\/IsTruncated>/.test(xml) ? decodeXml(/<NextContinuationToken>([^<]*)</.exec(xml)?.[1] ?? '') : undefined;
  } while (token);
  return keys;
}

function decodeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}
