import type { ByteRange, ObjectMeta, ObjectStore, PutOptions, VersionedObject } from './store.js';

/**
 * An ObjectStore that passes every call to `inner` unchanged. Store wrappers (prefix, encryption,
 * the plaintext guard, metrics) extend it and override only the methods they change, so a method
 * added to ObjectStore needs one forwarder here, not one in every wrapper.
 */
export class ForwardingStore implements ObjectStore {
  constructor(readonly inner: ObjectStore) {}

  get url(): string {
    return this.inner.url;
  }
  put(key: string, data: Uint8Array, opts?: PutOptions): Promise<void> {
    return this.inner.put(key, data, opts);
  }
  putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<{ size: number }> {
    return this.inner.putStream(key, body, opts);
  }
  get(key: string, range?: ByteRange): Promise<Buffer> {
    return this.inner.get(key, range);
  }
  getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    return this.inner.getStream(key, range);
  }
  head(key: string): Promise<ObjectMeta | undefined> {
    return this.inner.head(key);
  }
  exists(key: string): Promise<boolean> {
    return this.inner.exists(key);
  }
  list(prefix: string): AsyncIterable<ObjectMeta> {
    return this.inner.list(prefix);
  }
  getVersioned(key: string): Promise<VersionedObject | undefined> {
    return this.inner.getVersioned(key);
  }
  putIfMatch(key: string, data: Uint8Array, expected: string | null): Promise<string> {
    return this.inner.putIfMatch(key, data, expected);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
