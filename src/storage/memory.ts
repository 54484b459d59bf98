import { AlreadyExistsError, NotFoundError, PreconditionFailedError } from '../util/errors.js';
import { checkRange, compareKeys, validateKey, validatePrefix } from './keys.js';
import type { ByteRange, ObjectMeta, ObjectStore, PutOptions, VersionedObject } from './store.js';
import { bufferChunks, collect, sliceRange } from './util.js';

interface Entry {
  data: Buffer;
  lastModified: Date;
  etag: string;
}

/** In-process store for tests and dry runs. Each instance starts empty. */
export class MemoryStore implements ObjectStore {
  readonly url = 'memory://';
  readonly #objects = new Map<string, Entry>();
  #version = 0;

  async put(key: string, data: Uint8Array, opts?: PutOptions): Promise<void> {
    validateKey(key);
    this.#set(key, Buffer.from(data), opts);
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<{ size: number }> {
    validateKey(key);
    const data = await collect(body);
    this.#set(key, data, opts);
    return { size: data.length };
  }

  #set(key: string, data: Buffer, opts?: PutOptions): void {
    // Check-and-set in one synchronous step: racing creators cannot both win.
    if (opts?.ifNotExists && this.#objects.has(key)) throw new AlreadyExistsError(key);
    this.#objects.set(key, { data, lastModified: new Date(), etag: `"${++this.#version}"` });
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    validateKey(key);
    const e = this.#objects.get(key);
    return e && { data: Buffer.from(e.data), version: e.etag };
  }

  async putIfMatch(key: string, data: Uint8Array, expected: string | null): Promise<string> {
    validateKey(key);
    // Compare and set in one synchronous step.
    if ((this.#objects.get(key)?.etag ?? null) !== expected) throw new PreconditionFailedError(key, expected);
    this.#set(key, Buffer.from(data));
    return this.#objects.get(key)!.etag;
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    validateKey(key);
    const [start, end] = checkRange(key, range);
    const e = this.#objects.get(key);
    if (!e) throw new NotFoundError(key);
    return Buffer.from(sliceRange(e.data, start, end));
  }

  async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    return bufferChunks(await this.get(key, range));
  }

  async head(key: string): Promise<ObjectMeta | undefined> {
    validateKey(key);
    const e = this.#objects.get(key);
    return e && { key, size: e.data.length, lastModified: e.lastModified, etag: e.etag };
  }

  async exists(key: string): Promise<boolean> {
    validateKey(key);
    return this.#objects.has(key);
  }

  async *list(prefix: string): AsyncIterable<ObjectMeta> {
    validatePrefix(prefix);
    const keys = [...this.#objects.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys);
    for (const key of keys) {
      const e = this.#objects.get(key);
      if (e) yield { key, size: e.data.length, lastModified: e.lastModified, etag: e.etag };
    }
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    this.#objects.delete(key);
  }

  async close(): Promise<void> {}
}
