import { Storage, type Bucket, type File, type StorageOptions } from '@google-cloud/storage';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AlreadyExistsError, NotFoundError, PreconditionFailedError, StorageError, UserError } from '../util/errors.js';
import { checkRange, validateKey, validatePrefix } from './keys.js';
import type { StorageSpec } from './spec.js';
import type { ByteRange, ObjectMeta, ObjectStore, PutOptions, VersionedObject } from './store.js';
import { checkEndpointScheme, counting, existsViaHead } from './util.js';

export type GcsSpec = Extract<StorageSpec, { backend: 'gcs' }>;
/** Resumable-upload chunk size: putStream buffers at most this much. */
export const GCS_CHUNK_SIZE = 8 * 1024 * 1024;

interface GcsErrorShape {
  code?: number | string;
  message?: string;
}
function shape(e: unknown): GcsErrorShape {
  return typeof e === 'object' && e !== null ? (e as GcsErrorShape) : {};
}
function httpCode(e: unknown): number | undefined {
  const c = shape(e).code;
  return typeof c === 'number' ? c : undefined;
}

/**
 * Google Cloud Storage via @google-cloud/storage, bucket root. Credentials: service account JSON
 * (path or inline), else Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud,
 * workload identity, metadata server). Conditional create = `ifGenerationMatch: 0`.
 * Retries: the library's default (exponential backoff on 408/429/5xx, idempotent ops; with a
 * precondition set, conditional writes are retried too).
 */
export class GcsStore implements ObjectStore {
  readonly url: string;
  readonly storage: Storage;
  readonly bucket: Bucket;

  constructor(spec: GcsSpec) {
    this.url = `gs://${spec.bucket}`;
    const opts: StorageOptions = {};
    checkEndpointScheme('gcs', spec.endpoint, spec.allowHttp);
    if (spec.endpoint) opts.apiEndpoint = spec.endpoint;
    if (spec.serviceAccountPath) opts.keyFilename = spec.serviceAccountPath;
    if (spec.serviceAccountJson) {
      try {
        opts.credentials = JSON.parse(spec.serviceAccountJson) as StorageOptions['credentials'];
      } catch {
        throw new UserError('BAD_STORAGE_CONFIG', 'gcs service_account_json is not valid JSON');
      }
    }
    this.storage = new Storage(opts);
    this.bucket = this.storage.bucket(spec.bucket);
  }

  #file(key: string): File {
    return this.bucket.file(validateKey(key));
  }

  /** Set once the bucket is known to exist (it is not deleted under a running tool). */
  #bucketSeen = false;

  /**
   * The error for a failed call. A 404 on an object read may mean the object or the bucket: GCS
   * says which in the message ("No such object" / "The specified bucket does not exist"), other
   * servers (fake-gcs-server: "Not Found") do not, so the bucket is asked once. An upload or a
   * listing has no object to miss: its 404 is always the bucket.
   */
  async #fail(op: 'put' | 'putStream' | 'list' | 'get' | 'getStream' | 'head' | 'delete', key: string, e: unknown): Promise<StorageError> {
    if (e instanceof StorageError) return e;
    const code = httpCode(e);
    const msg = (shape(e).message ?? String(e)).split('\n')[0] ?? '';
    const objectOp = op !== 'put' && op !== 'putStream' && op !== 'list';
    if (code === 404 && objectOp && !/bucket/i.test(msg) && (/no such object/i.test(msg) || (await this.#bucketExists())))
      return new NotFoundError(key, { cause: e });
    const c = code === 403 || code === 401 ? 'ACCESS_DENIED' : code === 404 ? 'NO_SUCH_BUCKET' : 'GCS';
    const what = c === 'NO_SUCH_BUCKET' ? `bucket ${this.bucket.name} does not exist (${msg})` : msg;
    return new StorageError(c, `gcs ${op} ${this.url}/${key} failed${code ? ` (HTTP ${code})` : ''}: ${what}`, key, { cause: e });
  }

  async #bucketExists(): Promise<boolean> {
    if (this.#bucketSeen) return true;
    try {
      [this.#bucketSeen] = await this.bucket.exists();
    } catch {
      return true; // cannot tell (no storage.buckets.get permission): keep the object's 404
    }
    return this.#bucketSeen;
  }

  async put(key: string, data: Uint8Array, opts?: PutOptions): Promise<void> {
    const file = this.#file(key);
    try {
      await file.save(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
        resumable: false,
        ...(opts?.ifNotExists ? { preconditionOpts: { ifGenerationMatch: 0 } } : {}),
      });
    } catch (e) {
      if (opts?.ifNotExists && httpCode(e) === 412) throw new AlreadyExistsError(key, { cause: e });
      throw await this.#fail('put', key, e);
    }
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<{ size: number }> {
    const file = this.#file(key);
    const src = counting(body);
    try {
      // Resumable upload: the object becomes visible only when the final chunk is committed.
      await pipeline(
        Readable.from(src.iterable),
        file.createWriteStream({ resumable: true, chunkSize: GCS_CHUNK_SIZE, ...(opts?.ifNotExists ? { preconditionOpts: { ifGenerationMatch: 0 } } : {}) }),
      );
    } catch (e) {
      if (opts?.ifNotExists && httpCode(e) === 412) throw new AlreadyExistsError(key, { cause: e });
      throw await this.#fail('putStream', key, e);
    }
    return { size: src.size() };
  }

  async #range(key: string, range?: ByteRange): Promise<{ file: File; start: number; end?: number } | undefined> {
    const file = this.#file(key);
    const [start, endReq] = checkRange(key, range);
    const meta = await this.head(key);
    if (!meta) throw new NotFoundError(key);
    const end = Math.min(endReq ?? meta.size, meta.size);
    if (start >= end) return undefined;
    return { file, start, end };
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    const r = await this.#range(key, range);
    if (!r) return Buffer.alloc(0);
    try {
      // The library's `end` is inclusive.
      const [buf] = await r.file.download({ start: r.start, ...(r.end !== undefined ? { end: r.end - 1 } : {}) });
      return buf;
    } catch (e) {
      throw await this.#fail('get', key, e);
    }
  }

  async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    const r = await this.#range(key, range);
    if (!r) return (async function* () {})();
    const stream = r.file.createReadStream({ start: r.start, ...(r.end !== undefined ? { end: r.end - 1 } : {}) }) as AsyncIterable<Buffer>;
    // Errors surface while reading: give them the same typed form as get's.
    const fail = (e: unknown): Promise<StorageError> => this.#fail('getStream', key, e);
    return (async function* () {
      try {
        yield* stream;
      } catch (e) {
        throw await fail(e);
      }
    })();
  }

  /** The generation read first, then that exact generation's bytes (a newer write in between: read again). */
  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    for (let attempt = 0; ; attempt++) {
      let generation: string;
      try {
        const [m] = await this.#file(key).getMetadata();
        generation = String(m.generation);
      } catch (e) {
        const err = await this.#fail('head', key, e);
        if (err instanceof NotFoundError) return undefined;
        throw err;
      }
      try {
        const [data] = await this.bucket.file(validateKey(key), { generation }).download();
        return { data, version: generation };
      } catch (e) {
        const err = await this.#fail('get', key, e);
        if (!(err instanceof NotFoundError) || attempt >= 5) throw err;
      }
    }
  }

  /** A save with ifGenerationMatch (0 for a create); the new generation comes back in the file's metadata. */
  async putIfMatch(key: string, data: Uint8Array, expected: string | null): Promise<string> {
    const file = this.#file(key);
    // Not a generation: no object has it (and a NaN precondition would be dropped, making the write unconditional).
    if (expected !== null && !/^[1-9]\d*$/.test(expected)) throw new PreconditionFailedError(key, expected);
    try {
      await file.save(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
        resumable: false,
        preconditionOpts: { ifGenerationMatch: expected === null ? 0 : Number(expected) },
      });
    } catch (e) {
      if (httpCode(e) === 412) throw new PreconditionFailedError(key, expected, { cause: e });
      throw await this.#fail('put', key, e);
    }
    const g = file.metadata.generation;
    if (g === undefined) throw new StorageError('GCS', `gcs put ${this.url}/${key}: no generation returned, needed for conditional writes`, key);
    return String(g);
  }

  async head(key: string): Promise<ObjectMeta | undefined> {
    const file = this.#file(key);
    try {
      const [m] = await file.getMetadata();
      return { key, size: Number(m.size ?? 0), ...(m.updated ? { lastModified: new Date(m.updated) } : {}), ...(m.etag ? { etag: m.etag } : {}) };
    } catch (e) {
      const err = await this.#fail('head', key, e);
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    return existsViaHead(this, key);
  }

  async *list(prefix: string): AsyncIterable<ObjectMeta> {
    validatePrefix(prefix);
    let pageToken: string | undefined;
    do {
      let files: File[];
      let next: { pageToken?: string } | null | undefined;
      try {
        [files, next] = await this.bucket.getFiles({
          ...(prefix ? { prefix } : {}),
          autoPaginate: false,
          maxResults: 1000,
          ...(pageToken ? { pageToken } : {}),
        });
      } catch (e) {
        throw await this.#fail('list', prefix, e);
      }
      for (const f of files) {
        const m = f.metadata;
        yield { key: f.name, size: Number(m.size ?? 0), ...(m.updated ? { lastModified: new Date(m.updated) } : {}), ...(m.etag ? { etag: m.etag } : {}) };
      }
      pageToken = next?.pageToken;
    } while (pageToken);
  }

  async delete(key: string): Promise<void> {
    const file = this.#file(key);
    try {
      // Not ignoreNotFound: it would also hide a missing bucket.
      await file.delete();
    } catch (e) {
      const err = await this.#fail('delete', key, e);
      if (!(err instanceof NotFoundError)) throw err;
    }
  }

  async close(): Promise<void> {}
}
