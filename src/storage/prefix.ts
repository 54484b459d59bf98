import { ForwardingStore } from './forwarding.js';
import { joinKey, normalizeRootPrefix, validateKey, validatePrefix } from './keys.js';
import type { ByteRange, ObjectMeta, ObjectStore, PutOptions, VersionedObject } from './store.js';

/**
 * A view of `inner` below `prefix` (like object_store's PrefixStore): key `k` maps to
 * `{prefix}/{k}`, and since keys are validated (no '..', no absolute paths) nothing outside the
 * prefix can be reached. Listing strips the prefix again. Used by every remote backend.
 */
export class PrefixStore extends ForwardingStore {
  readonly #url: string;
  readonly prefix: string;

  constructor(inner: ObjectStore, prefix: string) {
    super(inner);
    this.prefix = normalizeRootPrefix(prefix);
    this.#url = this.prefix === '' ? inner.url : `${inner.url.replace(/\/+$/, '')}/${this.prefix}`;
  }

  override get url(): string {
    return this.#url;
  }

  #k(key: string): string {
    return joinKey(this.prefix, validateKey(key));
  }

  override async put(key: string, data: Uint8Array, opts?: PutOptions): Promise<void> {
    return this.inner.put(this.#k(key), data, opts);
  }
  override async putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<{ size: number }> {
    return this.inner.putStream(this.#k(key), body, opts);
  }
  override async get(key: string, range?: ByteRange): Promise<Buffer> {
    return this.inner.get(this.#k(key), range);
  }
  override async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    return this.inner.getStream(this.#k(key), range);
  }
  override async head(key: string): Promise<ObjectMeta | undefined> {
    const m = await this.inner.head(this.#k(key));
    return m && { ...m, key };
  }
  override async exists(key: string): Promise<boolean> {
    return this.inner.exists(this.#k(key));
  }
  override async *list(prefix: string): AsyncIterable<ObjectMeta> {
    validatePrefix(prefix);
    const strip = this.prefix === '' ? 0 : this.prefix.length + 1;
    for await (const m of this.inner.list(this.prefix === '' ? prefix : `${this.prefix}/${prefix}`)) {
      yield { ...m, key: m.key.slice(strip) };
    }
  }
  override async getVersioned(key: string): Promise<VersionedObject | undefined> {
    return this.inner.getVersioned(this.#k(key));
  }
  override async putIfMatch(key: string, data: Uint8Array, expected: string | null): Promise<string> {
    return this.inner.putIfMatch(this.#k(key), data, expected);
  }
  override async delete(key: string): Promise<void> {
    return this.inner.delete(this.#k(key));
  }
}
