import { ClientSecretCredential, DefaultAzureCredential, WorkloadIdentityCredential, type TokenCredential } from '@azure/identity';
import { AnonymousCredential, ContainerClient, StorageSharedKeyCredential, type BlockBlobClient } from '@azure/storage-blob';
import { Readable } from 'node:stream';
import { AlreadyExistsError, NotFoundError, PreconditionFailedError, StorageError, UserError } from '../util/errors.js';
import { checkRange, validateKey, validatePrefix } from './keys.js';
import type { StorageSpec } from './spec.js';
import type { ByteRange, ObjectMeta, ObjectStore, PutOptions, VersionedObject } from './store.js';
import { checkEndpointScheme, counting, existsViaHead } from './util.js';

export type AzureSpec = Extract<StorageSpec, { backend: 'azure' }>;
export const AZURE_BLOCK_SIZE = 8 * 1024 * 1024;
export const AZURE_CONCURRENCY = 4;

interface RestErrorShape {
  statusCode?: number;
  code?: string;
  message?: string;
}
function shape(e: unknown): RestErrorShape {
  return typeof e === 'object' && e !== null ? (e as RestErrorShape) : {};
}

/**
 * Azure Blob Storage (block blobs) via @azure/storage-blob, container root. Credentials: account key,
 * SAS token, service principal (client id/secret/tenant), workload identity, else DefaultAzureCredential
 * (env, workload identity, managed identity, Azure CLI). The SDK retries 5xx/throttling (exponential, 4 tries).
 */
export class AzureStore implements ObjectStore {
  readonly url: string;
  readonly container: ContainerClient;

  constructor(spec: AzureSpec) {
    this.url = `azure://${spec.accountName}/${spec.container}`;
    checkEndpointScheme('azure', spec.endpoint, spec.allowHttp);
    const base = (spec.endpoint ?? `https://${spec.accountName}.blob.core.windows.net`).replace(/\/+$/, '');
    let containerUrl = `${base}/${encodeURIComponent(spec.container)}`;
    const accountKey = spec.accountKey ?? process.env.AZURE_STORAGE_KEY ?? process.env.AZURE_STORAGE_ACCOUNT_KEY;
    const sas = spec.sasToken ?? process.env.AZURE_STORAGE_SAS_TOKEN;
    let cred: StorageSharedKeyCredential | AnonymousCredential | TokenCredential;
    if (accountKey) cred = new StorageSharedKeyCredential(spec.accountName, accountKey);
    else if (sas) {
      containerUrl += `?${sas.replace(/^\?/, '')}`;
      cred = new AnonymousCredential();
    } else if (spec.clientId || spec.clientSecret || spec.tenantId) {
      if (!spec.clientId || !spec.clientSecret || !spec.tenantId)
        throw new UserError('BAD_STORAGE_CONFIG', 'azure client_id, client_secret and tenant_id must be given together');
      cred = new ClientSecretCredential(spec.tenantId, spec.clientId, spec.clientSecret);
    } else if (spec.useWorkloadIdentity) cred = new WorkloadIdentityCredential(spec.clientId ? { clientId: spec.clientId } : {});
    else cred = new DefaultAzureCredential();
    this.container = new ContainerClient(containerUrl, cred, { retryOptions: { maxTries: 4 } });
  }

  #blob(key: string): BlockBlobClient {
    return this.container.getBlockBlobClient(validateKey(key));
  }

  #fail(op: string, key: string, e: unknown): StorageError {
    if (e instanceof StorageError) return e;
    const { statusCode, code, message } = shape(e);
    if (statusCode === 404 && code !== 'ContainerNotFound') return new NotFoundError(key, { cause: e });
    const c = statusCode === 403 ? 'ACCESS_DENIED' : code === 'ContainerNotFound' ? 'NO_SUCH_BUCKET' : 'AZURE';
    // First line only: the service's XML body can be long. Never includes the key or SAS.
    const msg = (message ?? String(e)).split('\n')[0] ?? '';
    return new StorageError(c, `azure ${op} ${this.url}/${key} failed: ${code ?? 'Error'}${statusCode ? ` (HTTP ${statusCode})` : ''}: ${msg}`, key, {
      cause: e,
    });
  }

  #conflict(e: unknown): boolean {
    const { statusCode, code } = shape(e);
    return statusCode === 412 || (statusCode === 409 && code === 'BlobAlreadyExists');
  }

  async put(key: string, data: Uint8Array, opts?: PutOptions): Promise<void> {
    const blob = this.#blob(key);
    try {
      await blob.upload(
        Buffer.from(data.buffer, data.byteOffset, data.byteLength),
        data.byteLength,
        opts?.ifNotExists ? { conditions: { ifNoneMatch: '*' } } : {},
      );
    } catch (e) {
      if (opts?.ifNotExists && this.#conflict(e)) throw new AlreadyExistsError(key, { cause: e });
      throw this.#fail('put', key, e);
    }
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<{ size: number }> {
    const blob = this.#blob(key);
    const src = counting(body);
    try {
      // Stages blocks (bounded: AZURE_BLOCK_SIZE * AZURE_CONCURRENCY), then commits the block list
      // atomically; the ifNoneMatch condition applies to that commit.
      await blob.uploadStream(Readable.from(src.iterable), AZURE_BLOCK_SIZE, AZURE_CONCURRENCY, opts?.ifNotExists ? { conditions: { ifNoneMatch: '*' } } : {});
    } catch (e) {
      if (opts?.ifNotExists && this.#conflict(e)) throw new AlreadyExistsError(key, { cause: e });
      throw this.#fail('putStream', key, e);
    }
    return { size: src.size() };
  }

  async #download(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream | undefined> {
    const blob = this.#blob(key);
    const [start, end] = checkRange(key, range);
    if (end !== undefined && end <= start) {
      if (!(await this.exists(key))) throw new NotFoundError(key);
      return undefined;
    }
    try {
      const r = await blob.download(start, end === undefined ? undefined : end - start);
      return r.readableStreamBody;
    } catch (e) {
      if (shape(e).statusCode === 416) {
        if (!(await this.exists(key))) throw new NotFoundError(key, { cause: e });
        return undefined;
      }
      throw this.#fail('get', key, e);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    const body = await this.#download(key, range);
    const parts: Buffer[] = [];
    if (body) for await (const c of body) parts.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
    return Buffer.concat(parts);
  }

  async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    const body = await this.#download(key, range);
    return (body as AsyncIterable<Buffer> | undefined) ?? (async function* () {})();
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    const blob = this.#blob(key);
    try {
      const r = await blob.download();
      const parts: Buffer[] = [];
      if (r.readableStreamBody) for await (const c of r.readableStreamBody) parts.push(Buffer.isBuffer(c) ? c : Buffer.from(c as unknown as Uint8Array));
      if (!r.etag) throw new StorageError('AZURE', `azure get ${this.url}/${key}: no ETag, needed for conditional writes`, key);
      return { data: Buffer.concat(parts), version: r.etag };
    } catch (e) {
      const err = this.#fail('get', key, e);
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** Upload with ifMatch (or ifNoneMatch: * for a create). */
  async putIfMatch(key: string, data: Uint8Array, expected: string | null): Promise<string> {
    const blob = this.#blob(key);
    try {
      const r = await blob.upload(Buffer.from(data.buffer, data.byteOffset, data.byteLength), data.byteLength, {
        conditions: expected === null ? { ifNoneMatch: '*' } : { ifMatch: expected },
      });
      if (!r.etag) throw new StorageError('AZURE', `azure put ${this.url}/${key}: no ETag, needed for conditional writes`, key);
      return r.etag;
    } catch (e) {
      if (this.#conflict(e) || (expected !== null && shape(e).statusCode === 404)) throw new PreconditionFailedError(key, expected, { cause: e });
      throw this.#fail('put', key, e);
    }
  }

  async head(key: string): Promise<ObjectMeta | undefined> {
    const blob = this.#blob(key);
    try {
      const p = await blob.getProperties();
      return { key, size: p.contentLength ?? 0, ...(p.lastModified ? { lastModified: p.lastModified } : {}), ...(p.etag ? { etag: p.etag } : {}) };
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
    try {
      for await (const page of this.container.listBlobsFlat(prefix ? { prefix } : {}).byPage({ maxPageSize: 1000 })) {
        for (const b of page.segment.blobItems) {
          yield {
            key: b.name,
            size: b.properties.contentLength ?? 0,
            lastModified: b.properties.lastModified,
            ...(b.properties.etag ? { etag: b.properties.etag } : {}),
          };
        }
      }
    } catch (e) {
      throw this.#fail('list', prefix, e);
    }
  }

  async delete(key: string): Promise<void> {
    const blob = this.#blob(key);
    try {
      await blob.deleteIfExists();
    } catch (e) {
      throw this.#fail('delete', key, e);
    }
  }

  async close(): Promise<void> {}
}
