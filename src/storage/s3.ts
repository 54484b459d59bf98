import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { AlreadyExistsError, NotFoundError, PreconditionFailedError, StorageError, UserError } from '../util/errors.js';
import { checkRange, validateKey, validatePrefix } from './keys.js';
import type { StorageSpec } from './spec.js';
import type { ByteRange, ObjectMeta, ObjectStore, PutOptions, VersionedObject } from './store.js';
import { PartPool } from './part-pool.js';
import { uploadStream } from './s3-multipart.js';
import { checkEndpointScheme, existsViaHead } from './util.js';

export type S3Spec = Extract<StorageSpec, { backend: 's3' }>;

/**
 * Multipart part size: S3's minimum. A backup streams one upload per partition in flight; each
 * holds up to one part of its stream's own chunks (by reference) until the part is sent.
 */
export const S3_PART_SIZE = 5 * 1024 * 1024;
/**
 * SDK "standard" retry mode: exponential backoff with full jitter on 5xx, throttling and transient
 * network errors (base 100 ms, 500 ms when throttled, each delay capped at 20 s). 10 attempts ride
 * out a throttling or 5xx spell of several seconds (5 gave up after at most 1.5 s of 500s, tested
 * in test/integration/faults-storage.test.ts); a permanent failure still ends within about a minute.
 */
export const S3_MAX_ATTEMPTS = 10;

/**
 * Parts in flight for the whole process, all uploads together (each holds one pooled part while
 * its request runs). 4 measured as fast as 8 and faster than 2 against MinIO on this machine,
 * with less memory than AWS lib-storage's 2 per upload, which this replaces (docs/performance.md).
 */
export const S3_PARTS_IN_FLIGHT = 4;

/**
 * A request whose socket is silent this long fails (and is retried like any transient error): the SDK
 * sets no timeout, and a hung request would otherwise hold one of the process's S3_PARTS_IN_FLIGHT
 * send slots, stopping every upload behind it. Idle time, not duration: a slow but moving part is fine.
 */
export const S3_SOCKET_TIMEOUT_MS = 120_000;
const S3_CONNECTION_TIMEOUT_MS = 10_000;

/** Knobs tests turn down; not configuration. */
export interface S3Tuning {
  socketTimeoutMs?: number;
}

/** The part buffers and send slots every S3 upload of the process shares (src/storage/part-pool.ts). */
export const S3_PART_POOL = new PartPool({ partSize: S3_PART_SIZE, maxInFlight: S3_PARTS_IN_FLIGHT, maxIdle: S3_PARTS_IN_FLIGHT });

interface AwsErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function shape(e: unknown): AwsErrorShape {
  return typeof e === 'object' && e !== null ? (e as AwsErrorShape) : {};
}
function status(e: unknown): number | undefined {
  return shape(e).$metadata?.httpStatusCode;
}
function errName(e: unknown): string {
  const s = shape(e);
  return s.name ?? s.Code ?? 'Error';
}

/** The uploads whose bodies are the backup's data (segments, parts). */
const DATA_UPLOADS = new Set(['PutObjectCommand', 'UploadPartCommand']);

/**
 * Over TLS, uploads are signed without hashing their body (`x-amz-content-sha256: UNSIGNED-PAYLOAD`,
 * as the AWS CLI does over https): SigV4 otherwise runs SHA-256 over every byte on the JavaScript
 * thread (measured 4.5 % of an S3 backup's CPU). TLS protects the body in transit, and the
 * SDK's CRC-32 checksum header, which is signed, is checked by the server against the bytes it
 * stored. Over plain http the body stays signed: there the signature is its only protection.
 */
function unsignedUploadPayloads(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const req = args.request as { headers?: Record<string, string> };
      if (DATA_UPLOADS.has(context.commandName ?? '') && req.headers) req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'kafkaBackupUnsignedPayload' },
  );
}

/** S3 and S3-compatible stores (MinIO, Ceph, R2, ...) via the official AWS SDK v3, bucket root. */
export class S3Store implements ObjectStore {
  readonly url: string;
  readonly client: S3Client;
  readonly bucket: string;

  constructor(spec: S3Spec, tuning: S3Tuning = {}) {
    this.bucket = spec.bucket;
    this.url = `s3://${spec.bucket}`;
    const config: S3ClientConfig = {
      maxAttempts: S3_MAX_ATTEMPTS,
      retryMode: 'standard',
      requestHandler: { connectionTimeout: S3_CONNECTION_TIMEOUT_MS, socketTimeout: tuning.socketTimeoutMs ?? S3_SOCKET_TIMEOUT_MS },
    };
    const region = spec.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    if (region) config.region = region;
    else if (spec.endpoint) config.region = 'us-east-1'; // S3-compatible servers mostly ignore it
    if (spec.endpoint) {
      checkEndpointScheme('s3', spec.endpoint, spec.allowHttp);
      config.endpoint = spec.endpoint;
    }
    // Path-style (http://host/bucket/key) is what MinIO and most self-hosted servers expect.
    config.forcePathStyle = spec.pathStyle ?? Boolean(spec.endpoint);
    if (spec.accessKey !== undefined || spec.secretKey !== undefined) {
      if (!spec.accessKey || !spec.secretKey) throw new UserError('BAD_STORAGE_CONFIG', 'S3 access_key and secret_key must be given together');
      config.credentials = { accessKeyId: spec.accessKey, secretAccessKey: spec.secretKey, ...(spec.sessionToken ? { sessionToken: spec.sessionToken } : {}) };
    }
    // Otherwise the SDK's default chain: env vars, SSO, shared config/credentials profile (AWS_PROFILE),
    // credential_process, web identity token (EKS IRSA), ECS container credentials, EC2 instance metadata.
    this.client = new S3Client(config);
    if (spec.endpoint === undefined || spec.endpoint.startsWith('https:')) unsignedUploadPayloads(this.client);
  }

  #fail(op: string, key: string, e: unknown): StorageError {
    if (e instanceof StorageError) return e;
    const st = status(e);
    const name = errName(e);
    if (name === 'NoSuchKey' || name === 'NotFound' || (st === 404 && name !== 'NoSuchBucket')) return new NotFoundError(key, { cause: e });
    if (name === 'CredentialsProviderError') {
      return new StorageError(
        'NO_CREDENTIALS',
        `s3 ${op} ${this.url}/${key}: no AWS credentials found (set access_key/secret_key, AWS_* env vars, a profile, or run with an instance/pod role)`,
        key,
        { cause: e },
      );
    }
    const code = st === 403 ? 'ACCESS_DENIED' : name === 'NoSuchBucket' ? 'NO_SUCH_BUCKET' : 'S3';
    // SDK error messages carry the service's error text, never the credentials.
    const msg = shape(e).message ?? String(e);
    return new StorageError(code, `s3 ${op} ${this.url}/${key} failed: ${name}${st ? ` (HTTP ${st})` : ''}: ${msg}`, key, { cause: e });
  }

  async put(key: string, data: Uint8Array, opts?: PutOptions): Promise<void> {
    validateKey(key);
    // AWS answers 409 ConditionalRequestConflict when conditional writes race mid-flight: retry.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: data,
            ContentLength: data.byteLength,
            ...(opts?.ifNotExists ? { IfNoneMatch: '*' } : {}),
          }),
        );
        return;
      } catch (e) {
        if (opts?.ifNotExists && status(e) === 412) throw new AlreadyExistsError(key, { cause: e });
        if (opts?.ifNotExists && status(e) === 409 && attempt < 5) {
          await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
          continue;
        }
        throw this.#fail('put', key, e);
      }
    }
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<{ size: number }> {
    validateKey(key);
    try {
      return await uploadStream({ client: this.client, bucket: this.bucket, key, ifNotExists: opts?.ifNotExists === true, pool: S3_PART_POOL }, body);
    } catch (e) {
      if (opts?.ifNotExists && status(e) === 412) throw new AlreadyExistsError(key, { cause: e });
      throw this.#fail('putStream', key, e);
    }
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    validateKey(key);
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const data = Buffer.from(await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
      if (!r.ETag) throw new StorageError('S3', `s3 get ${this.url}/${key}: the server sent no ETag, needed for conditional writes`, key);
      return { data, version: r.ETag };
    } catch (e) {
      const err = this.#fail('get', key, e);
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** PutObject with If-Match (or If-None-Match: * for a create); 412 is a lost swap. */
  async putIfMatch(key: string, data: Uint8Array, expected: string | null): Promise<string> {
    validateKey(key);
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: data,
            ContentLength: data.byteLength,
            ...(expected === null ? { IfNoneMatch: '*' } : { IfMatch: expected }),
          }),
        );
        if (!r.ETag) throw new StorageError('S3', `s3 put ${this.url}/${key}: the server sent no ETag, needed for conditional writes`, key);
        return r.ETag;
      } catch (e) {
        // 404: If-Match on a key that no longer exists (S3 answers 404 NoSuchKey there).
        if (status(e) === 412 || (expected !== null && status(e) === 404)) throw new PreconditionFailedError(key, expected, { cause: e });
        if (status(e) === 409 && attempt < 5) {
          await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
          continue;
        }
        throw this.#fail('put', key, e);
      }
    }
  }

  #rangeHeader(start: number, end: number | undefined): string | undefined {
    if (start === 0 && end === undefined) return undefined;
    return end === undefined ? `bytes=${start}-` : `bytes=${start}-${end - 1}`;
  }

  async #getObject(key: string, range?: ByteRange): Promise<Readable | undefined> {
    validateKey(key);
    const [start, end] = checkRange(key, range);
    if (end !== undefined && end <= start) {
      if (!(await this.exists(key))) throw new NotFoundError(key);
      return undefined;
    }
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: this.#rangeHeader(start, end) }));
      return r.Body as Readable;
    } catch (e) {
      // 416: the range starts at or past the end of the object: empty, if the object exists.
      if (status(e) === 416 || errName(e) === 'InvalidRange') {
        if (!(await this.exists(key))) throw new NotFoundError(key, { cause: e });
        return undefined;
      }
      throw this.#fail('get', key, e);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    const body = await this.#getObject(key, range);
    if (!body) return Buffer.alloc(0);
    const parts: Buffer[] = [];
    try {
      for await (const c of body) parts.push(c as Buffer);
    } catch (e) {
      throw this.#fail('get', key, e);
    }
    return Buffer.concat(parts);
  }

  async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    const body = await this.#getObject(key, range);
    return body ?? (async function* () {})();
  }

  async head(key: string): Promise<ObjectMeta | undefined> {
    validateKey(key);
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, size: r.ContentLength ?? 0, ...(r.LastModified ? { lastModified: r.LastModified } : {}), ...(r.ETag ? { etag: r.ETag } : {}) };
    } catch (e) {
      const err = this.#fail('head', key, e);
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    return existsViaHead(this, key);
  }

  async *list(prefix: string): AsyncIterable<ObjectMeta> {
    validatePrefix(prefix);
    let token: string | undefined;
    do {
      let r: ListObjectsV2CommandOutput;
      try {
        r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix || undefined, ContinuationToken: token }));
      } catch (e) {
        throw this.#fail('list', prefix, e);
      }
      for (const o of r.Contents ?? []) {
        if (o.Key === undefined) continue;
        yield { key: o.Key, size: o.Size ?? 0, ...(o.LastModified ? { lastModified: o.LastModified } : {}), ...(o.ETag ? { etag: o.ETag } : {}) };
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (e) {
      const err = this.#fail('delete', key, e);
      if (!(err instanceof NotFoundError)) throw err;
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
