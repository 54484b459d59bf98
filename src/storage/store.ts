/**
 * The storage interface every backend implements (modelled on Rust's `object_store`): one small
 * surface, no backend-specific branches in callers. Keys are relative, '/'-separated paths below
 * the store's root (a directory, or a bucket/container plus optional prefix); see `keys.ts`.
 */
export interface ObjectMeta {
  /** Key relative to the store root. */
  key: string;
  size: number;
  lastModified?: Date;
  etag?: string;
}

/** Byte range: `start` inclusive, `end` exclusive; omitted `end` = to the end of the object. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface PutOptions {
  /** Conditional create: throw `AlreadyExistsError` if the key already exists. Racing creators: exactly one wins. */
  ifNotExists?: boolean;
}

/** A whole stored object and its version token, for a compare-and-swap write (`putIfMatch`). */
export interface VersionedObject {
  data: Buffer;
  /** Opaque; changes with every write of the key (S3/Azure ETag, GCS generation, a content hash on a filesystem). */
  version: string;
}

export interface ObjectStore {
  /** Human-readable location, e.g. `s3://bucket/prefix` or `/var/backups/kafka`. Never contains secrets. */
  readonly url: string;
  /** Atomic: readers see either the old object, or the whole new one, never a partial object. */
  put(key: string, data: Uint8Array, opts?: PutOptions): Promise<void>;
  /** For large objects: bounded memory (multipart on object stores), still atomic. */
  putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<{ size: number }>;
  /**
   * Whole object or a byte range. A range is clipped to the object: a start at or past the end
   * gives an empty buffer. Throws `NotFoundError` when the object is missing.
   */
  get(key: string, range?: ByteRange): Promise<Buffer>;
  /** Like `get`, streamed. `NotFoundError` is thrown by this call, not later by the iterator. */
  getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>>;
  /** Metadata, or `undefined` when the object is missing. */
  head(key: string): Promise<ObjectMeta | undefined>;
  exists(key: string): Promise<boolean>;
  /**
   * Every object whose key starts with `prefix` (a plain string prefix; '' = everything),
   * recursively, in lexicographic key order. Keys are relative to the store root.
   */
  list(prefix: string): AsyncIterable<ObjectMeta>;
  /** Whole object and its version token (small objects only), or `undefined` when missing. */
  getVersioned(key: string): Promise<VersionedObject | undefined>;
  /**
   * Compare-and-swap: writes `data` only if the stored object is still at version `expected`
   * (`null`: only if the key does not exist), atomically against every other conditional writer,
   * and returns the new version. Otherwise throws `PreconditionFailedError`. This is what fences a
   * worker that lost a partition: its write names a version another worker has replaced.
   */
  putIfMatch(key: string, data: Uint8Array, expected: string | null): Promise<string>;
  /** Idempotent: deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Release clients/connections. The store must not be used afterwards. */
  close(): Promise<void>;
}
