import { ForwardingStore } from '../storage/forwarding.js';
import type { ByteRange, ObjectMeta, ObjectStore, PutOptions, VersionedObject } from '../storage/store.js';
import { AlreadyExistsError, NotFoundError, PreconditionFailedError } from '../util/errors.js';
import type { KafkaBackupMetrics } from './registry.js';

/**
 * An ObjectStore decorator that counts bytes written and read, times each request and counts
 * failures, for the `kafka_backup_storage_*` metrics. The backends stay untouched.
 * Streams are timed from the call to the end of the stream (the whole transfer).
 */
export class InstrumentedStore extends ForwardingStore {
  readonly #m: KafkaBackupMetrics;

  constructor(inner: ObjectStore, metrics: KafkaBackupMetrics) {
    super(inner);
    this.#m = metrics;
  }

  async #timed<T>(operation: string, f: () => Promise<T>): Promise<T> {
    const end = this.#m.storageOps.startTimer({ operation });
    try {
      const r = await f();
      end();
      this.#m.consecutiveStorageErrors = 0;
      return r;
    } catch (err) {
      // A missing object is an answer, not a storage failure.
      if (!(err instanceof NotFoundError) && !(err instanceof AlreadyExistsError) && !(err instanceof PreconditionFailedError)) this.#failed(operation);
      throw err;
    }
  }

  #failed(operation: string): void {
    this.#m.storageErrors.inc({ operation });
    this.#m.error(`storage_${operation}`);
    this.#m.consecutiveStorageErrors++;
  }

  override put(key: string, data: Uint8Array, opts?: PutOptions): Promise<void> {
    return this.#timed('put', async () => {
      await this.inner.put(key, data, opts);
      this.#m.storageBytes.inc({ direction: 'write' }, data.byteLength);
    });
  }

  override putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<{ size: number }> {
    return this.#timed('put_stream', async () => {
      const r = await this.inner.putStream(key, body, opts);
      this.#m.storageBytes.inc({ direction: 'write' }, r.size);
      return r;
    });
  }

  override get(key: string, range?: ByteRange): Promise<Buffer> {
    return this.#timed('get', async () => {
      const b = await this.inner.get(key, range);
      this.#m.storageBytes.inc({ direction: 'read' }, b.length);
      return b;
    });
  }

  override async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    const end = this.#m.storageOps.startTimer({ operation: 'get_stream' });
    let inner: AsyncIterable<Buffer>;
    try {
      inner = await this.inner.getStream(key, range);
    } catch (err) {
      if (!(err instanceof NotFoundError)) this.#failed('get_stream');
      throw err;
    }
    const m = this.#m;
    const failed = (): void => this.#failed('get_stream');
    return {
      async *[Symbol.asyncIterator]() {
        try {
          for await (const chunk of inner) {
            m.storageBytes.inc({ direction: 'read' }, chunk.length);
            yield chunk;
          }
          end();
          m.consecutiveStorageErrors = 0;
        } catch (err) {
          failed();
          throw err;
        }
      },
    };
  }

  override head(key: string): Promise<ObjectMeta | undefined> {
    return this.#timed('head', () => this.inner.head(key));
  }

  override exists(key: string): Promise<boolean> {
    return this.#timed('head', () => this.inner.exists(key));
  }

  override async *list(prefix: string): AsyncIterable<ObjectMeta> {
    const end = this.#m.storageOps.startTimer({ operation: 'list' });
    try {
      yield* this.inner.list(prefix);
      end();
    } catch (err) {
      this.#failed('list');
      throw err;
    }
  }

  override getVersioned(key: string): Promise<VersionedObject | undefined> {
    return this.#timed('get', async () => {
      const v = await this.inner.getVersioned(key);
      if (v) this.#m.storageBytes.inc({ direction: 'read' }, v.data.length);
      return v;
    });
  }

  override putIfMatch(key: string, data: Uint8Array, expected: string | null): Promise<string> {
    return this.#timed('put', async () => {
      const v = await this.inner.putIfMatch(key, data, expected);
      this.#m.storageBytes.inc({ direction: 'write' }, data.byteLength);
      return v;
    });
  }

  override delete(key: string): Promise<void> {
    return this.#timed('delete', () => this.inner.delete(key));
  }
}
