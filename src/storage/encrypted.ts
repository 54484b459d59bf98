/**
 * Client-side encryption of stored objects (AES-256-GCM), as an `ObjectStore` decorator: the
 * engines read and write plaintext through it and never know. Layout of one stored object
 * (all integers big-endian; see docs/security.md):
 *
 *   +--------------------+---------+---------+-----+------------+
 *   | header (128 bytes) | chunk 0 | chunk 1 | ... | chunk n-1  |
 *   +--------------------+---------+---------+-----+------------+
 *
 *   Header =>
 *     magic            u8[8]  @0    ASCII "KBENCRPT"
 *     version          u16    @8    = 1
 *     algorithm        u8     @10   = 1: AES-256-GCM, per-object key HKDF-SHA256(master key, salt)
 *     keyIdLength      u8     @11   1..64
 *     chunkSize        u32    @12   plaintext bytes per chunk (the last chunk may be shorter)
 *     salt             u8[32] @16   random per object
 *     keyFingerprint   u8[8]  @48   HMAC-SHA256(master key, "kafka-backup key fingerprint v1")[0..8]
 *     keyId            u8[64] @56   UTF-8, zero-padded
 *     reserved         u8[8]  @120  = 0
 *
 *   Chunk i => AES-256-GCM(objectKey, nonce = 4 zero bytes || u64 i, aad = header || u8 final || object key)
 *              ciphertext (chunkSize bytes, the last one 0..chunkSize) || tag (16 bytes)
 *
 * Every object has at least one chunk (an empty object has one empty chunk), and only its last
 * chunk is written with `final = 1`. So: a flipped byte fails that chunk's tag; a chunk moved to
 * another position fails (the index is in the nonce); truncation at a chunk boundary fails
 * (the new last chunk was written with final = 0); an object copied over another key fails (the
 * key is in the AAD); an altered header fails every chunk (the header is in the AAD). Failures
 * are `CorruptDataError`s naming the object. A reader holding another key gets an
 * `EncryptionKeyError` naming both key ids.
 *
 * Sizes: plaintext size P stores as 128 + P + 16 × max(1, ceil(P / chunkSize)) bytes; `head`,
 * `list` and `putStream` report P, so the sizes the engines compare with the index are the
 * sizes `get` returns. Ranged reads fetch only the covering chunks (plus the header, cached).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CorruptDataError, UserError } from '../util/errors.js';
import { ForwardingStore } from './forwarding.js';
import { checkRange, validateKey } from './keys.js';
import type { ByteRange, ObjectMeta, ObjectStore, PutOptions, VersionedObject } from './store.js';
import { collect } from './util.js';

export const ENCRYPTION_MAGIC = Buffer.from('KBENCRPT', 'ascii');
export const ENCRYPTION_HEADER_BYTES = 128;
export const ENCRYPTION_VERSION = 1;
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
const TAG = 16;
const ALG_AES256GCM_HKDF = 1;
const MAX_KEY_ID = 64;
const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
const KEY_ID_RE = /^[A-Za-z0-9._:@/+=-]{1,64}$/;

/** Where the key comes from (`encryption:` in the YAML, or the CLI's --encryption-key-* options). */
export interface EncryptionSpec {
  /** A file holding the key: 32 raw bytes, 64 hex characters, or base64 of 32 bytes. */
  keyFile?: string;
  /** An environment variable holding the key: 64 hex characters or base64 of 32 bytes. */
  keyEnv?: string;
  /** Recorded in every object; default `key-` + the key's fingerprint (16 hex digits). */
  keyId?: string;
  /** Plaintext bytes per chunk (default 64 KiB). Only for tests and tuning. */
  chunkSize?: number;
}

/** The reader's key is not the one the object was encrypted with (or none was configured). */
export class EncryptionKeyError extends UserError {
  constructor(
    message: string,
    readonly object: string,
    context: Record<string, unknown> = {},
  ) {
    super('ENCRYPTION_KEY', message, { ...context, object });
  }
}

// ---------------------------------------------------------------------------------------------
// Keys

/** Parses a 256-bit key: 32 raw bytes (files only), 64 hex characters, or base64 of 32 bytes. Never echoes the key. */
export function parseKey(raw: Buffer, where: string, allowRaw: boolean): Buffer {
  if (allowRaw && raw.length === 32) return Buffer.from(raw);
  const text = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(text) || /^[A-Za-z0-9_-]{43}$/.test(text)) {
    const b = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (b.length === 32) return b;
  }
  const forms = allowRaw ? '32 raw bytes, 64 hex characters, or base64 of 32 bytes' : '64 hex characters or base64 of 32 bytes';
  throw new UserError(
    'BAD_ENCRYPTION_KEY',
    `${where}: not a 256-bit key (expected ${forms}; found ${allowRaw ? `${raw.length} bytes` : `${text.length} characters`}; value not shown). Generate one with: openssl rand -hex 32`,
  );
}

/** Loads the key a spec names. UserErrors name the file or variable, never the key. */
export async function loadEncryptionKey(spec: EncryptionSpec, env: NodeJS.ProcessEnv = process.env): Promise<Buffer> {
  if ((spec.keyFile === undefined) === (spec.keyEnv === undefined)) {
    throw new UserError('BAD_ENCRYPTION_CONFIG', 'encryption needs exactly one of key_file or key_env');
  }
  if (spec.keyFile !== undefined) {
    let raw: Buffer;
    try {
      raw = await readFile(spec.keyFile);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new UserError(
        'BAD_ENCRYPTION_KEY',
        `encryption.key_file ${spec.keyFile}: cannot read (${code === 'ENOENT' ? 'no such file' : String(code ?? 'unreadable')})`,
      );
    }
    return parseKey(raw, `encryption.key_file ${spec.keyFile}`, true);
  }
  const name = spec.keyEnv!;
  const v = env[name];
  if (v === undefined || v === '') throw new UserError('BAD_ENCRYPTION_KEY', `encryption.key_env: environment variable ${name} is not set`);
  return parseKey(Buffer.from(v, 'utf8'), `encryption.key_env ${name}`, false);
}

export function keyFingerprint(key: Buffer): Buffer {
  return createHmac('sha256', key).update('kafka-backup key fingerprint v1').digest().subarray(0, 8);
}

export function checkKeyId(id: string): string {
  if (!KEY_ID_RE.test(id) || Buffer.byteLength(id) > MAX_KEY_ID) {
    throw new UserError('BAD_ENCRYPTION_CONFIG', `encryption.key_id ${JSON.stringify(id)}: 1 to 64 characters of A-Z a-z 0-9 . _ : @ / + = -`);
  }
  return id;
}

// ---------------------------------------------------------------------------------------------
// Sizes

/** Stored size of a plaintext of `plain` bytes. */
export function encryptedSize(plain: number, chunkSize = DEFAULT_CHUNK_SIZE): number {
  return ENCRYPTION_HEADER_BYTES + plain + TAG * Math.max(1, Math.ceil(plain / chunkSize));
}

/** Plaintext size of a stored object of `stored` bytes, or undefined when no plaintext size maps to it. */
export function plaintextSize(stored: number, chunkSize = DEFAULT_CHUNK_SIZE): number | undefined {
  const body = stored - ENCRYPTION_HEADER_BYTES;
  if (body < TAG) return undefined;
  const n = Math.ceil(body / (chunkSize + TAG));
  const p = body - TAG * n;
  return p >= 0 && encryptedSize(p, chunkSize) === stored ? p : undefined;
}

// ---------------------------------------------------------------------------------------------
// Header

interface Header {
  bytes: Buffer;
  chunkSize: number;
  keyId: string;
  fingerprint: Buffer;
  salt: Buffer;
}

function corrupt(key: string, why: string): CorruptDataError {
  return new CorruptDataError(`${key}: ${why}`, key);
}

function buildHeader(keyId: string, fingerprint: Buffer, chunkSize: number): Header {
  const h = Buffer.alloc(ENCRYPTION_HEADER_BYTES);
  ENCRYPTION_MAGIC.copy(h, 0);
  h.writeUInt16BE(ENCRYPTION_VERSION, 8);
  h.writeUInt8(ALG_AES256GCM_HKDF, 10);
  const id = Buffer.from(keyId, 'utf8');
  h.writeUInt8(id.length, 11);
  h.writeUInt32BE(chunkSize, 12);
  const salt = randomBytes(32);
  salt.copy(h, 16);
  fingerprint.copy(h, 48);
  id.copy(h, 56);
  return { bytes: h, chunkSize, keyId, fingerprint, salt };
}

export function isEncryptedObject(prefix: Buffer): boolean {
  return prefix.length >= ENCRYPTION_MAGIC.length && prefix.subarray(0, ENCRYPTION_MAGIC.length).equals(ENCRYPTION_MAGIC);
}

/** Key id recorded in an encrypted object's header (for messages); undefined if not readable. */
export function headerKeyId(bytes: Buffer): string | undefined {
  if (bytes.length < ENCRYPTION_HEADER_BYTES || !isEncryptedObject(bytes)) return undefined;
  const n = bytes.readUInt8(11);
  return n >= 1 && n <= MAX_KEY_ID ? bytes.subarray(56, 56 + n).toString('utf8') : undefined;
}

function parseHeader(key: string, b: Buffer): Header {
  const magicPrefix = b.length < ENCRYPTION_MAGIC.length && ENCRYPTION_MAGIC.subarray(0, b.length).equals(b);
  if (b.length < ENCRYPTION_HEADER_BYTES && (magicPrefix || isEncryptedObject(b))) {
    throw corrupt(key, `encrypted object is truncated (${b.length} bytes, shorter than its ${ENCRYPTION_HEADER_BYTES}-byte header)`);
  }
  if (!isEncryptedObject(b)) {
    throw new EncryptionKeyError(
      `${key} is not encrypted (no KBENCRPT header), but encryption is configured: it was written without encryption, or is not a kafka-backup object; read it without the encryption settings`,
      key,
    );
  }
  const version = b.readUInt16BE(8);
  if (version !== ENCRYPTION_VERSION)
    throw corrupt(key, `encryption format version ${version} is not supported (this tool reads version ${ENCRYPTION_VERSION})`);
  const alg = b.readUInt8(10);
  if (alg !== ALG_AES256GCM_HKDF) throw corrupt(key, `unknown encryption algorithm ${alg}`);
  const idLen = b.readUInt8(11);
  const chunkSize = b.readUInt32BE(12);
  if (idLen < 1 || idLen > MAX_KEY_ID) throw corrupt(key, `encryption header has an invalid key id length ${idLen}`);
  if (chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) throw corrupt(key, `encryption header has an invalid chunk size ${chunkSize}`);
  const hdr = Buffer.from(b.subarray(0, ENCRYPTION_HEADER_BYTES));
  if (hdr.subarray(56 + idLen, ENCRYPTION_HEADER_BYTES).some((x) => x !== 0)) throw corrupt(key, 'encryption header: non-zero padding or reserved bytes');
  return { bytes: hdr, chunkSize, keyId: hdr.subarray(56, 56 + idLen).toString('utf8'), fingerprint: hdr.subarray(48, 56), salt: hdr.subarray(16, 48) };
}

// ---------------------------------------------------------------------------------------------
// The decorator

export interface EncryptedStoreOptions {
  keyId?: string;
  chunkSize?: number;
}

/**
 * Encrypts everything written through it and decrypts (and authenticates) everything read.
 * Wrap the outermost store (after PrefixStore), so keys in the AAD are relative to the backup root
 * and a backup can be moved to another bucket or prefix as a whole.
 */
export class EncryptedStore extends ForwardingStore {
  readonly keyId: string;
  readonly chunkSize: number;
  readonly #key: Buffer;
  readonly #fingerprint: Buffer;
  /** Headers of recently range-read objects: a ranged read then needs one GET, not two. */
  readonly #headers = new Map<string, Header>();

  constructor(inner: ObjectStore, key: Uint8Array, opts: EncryptedStoreOptions = {}) {
    // Over a store from openStore (which guards against reading encrypted objects without a key): use what it guards.
    super(inner instanceof PlaintextGuardStore ? inner.inner : inner);
    if (key.length !== 32) throw new UserError('BAD_ENCRYPTION_KEY', `encryption key must be 32 bytes (256 bits), got ${key.length}`);
    this.#key = Buffer.from(key);
    this.#fingerprint = keyFingerprint(this.#key);
    this.keyId = checkKeyId(opts.keyId ?? `key-${this.#fingerprint.toString('hex')}`);
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1 || this.chunkSize > MAX_CHUNK_SIZE)
      throw new UserError('BAD_ENCRYPTION_CONFIG', `encryption chunk size must be 1..${MAX_CHUNK_SIZE}`);
  }

  /** Opens the key a spec names and wraps `inner`. */
  static async open(inner: ObjectStore, spec: EncryptionSpec, env?: NodeJS.ProcessEnv): Promise<EncryptedStore> {
    const key = await loadEncryptionKey(spec, env);
    return new EncryptedStore(inner, key, { keyId: spec.keyId, chunkSize: spec.chunkSize });
  }

  #objectKey(salt: Buffer): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, salt, 'kafka-backup object key v1', 32));
  }

  #checkKey(key: string, h: Header): void {
    const sameKey = h.fingerprint.equals(this.#fingerprint);
    if (sameKey && h.keyId === this.keyId) return;
    if (sameKey) return; // the same key under another id: it decrypts (the id is only a label)
    if (h.keyId === this.keyId) {
      throw new EncryptionKeyError(
        `${key} was encrypted with key id "${h.keyId}", the id configured here, but with a different key (fingerprint ${h.fingerprint.toString('hex')}, configured key ${this.#fingerprint.toString('hex')}): the key file or variable holds the wrong key`,
        key,
        { keyId: h.keyId },
      );
    }
    throw new EncryptionKeyError(
      `${key} was encrypted with key id "${h.keyId}" (fingerprint ${h.fingerprint.toString('hex')}), but the configured key is "${this.keyId}" (fingerprint ${this.#fingerprint.toString('hex')}): configure the key "${h.keyId}"`,
      key,
      { keyId: h.keyId },
    );
  }

  static #nonce(index: number): Buffer {
    const n = Buffer.alloc(12);
    n.writeBigUInt64BE(BigInt(index), 4);
    return n;
  }

  static #aad(h: Header, final: boolean, key: string): Buffer {
    return Buffer.concat([h.bytes, Buffer.from([final ? 1 : 0]), Buffer.from(key, 'utf8')]);
  }

  #encryptChunk(objKey: Buffer, h: Header, key: string, index: number, plain: Buffer, final: boolean): Buffer {
    const c = createCipheriv('aes-256-gcm', objKey, EncryptedStore.#nonce(index), { authTagLength: TAG });
    c.setAAD(EncryptedStore.#aad(h, final, key));
    const out = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
    return out;
  }

  #decryptChunk(objKey: Buffer, h: Header, key: string, index: number, sealed: Buffer, final: boolean): Buffer {
    if (sealed.length < TAG || sealed.length > h.chunkSize + TAG)
      throw corrupt(key, `encrypted chunk ${index} has an impossible length ${sealed.length} (truncated or damaged object)`);
    const d = createDecipheriv('aes-256-gcm', objKey, EncryptedStore.#nonce(index), { authTagLength: TAG });
    d.setAAD(EncryptedStore.#aad(h, final, key));
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    try {
      return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG)), d.final()]);
    } catch {
      throw corrupt(
        key,
        `encrypted chunk ${index} failed authentication: the object was altered, truncated, reordered or replaced by another object (or its header was changed)`,
      );
    }
  }

  #newHeader(): { h: Header; objKey: Buffer } {
    const h = buildHeader(this.keyId, this.#fingerprint, this.chunkSize);
    return { h, objKey: this.#objectKey(h.salt) };
  }

  /** Encrypts a whole plaintext (for `put`). */
  seal(key: string, data: Uint8Array): Buffer {
    const { h, objKey } = this.#newHeader();
    const plain = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const parts: Buffer[] = [h.bytes];
    const C = this.chunkSize;
    const n = Math.max(1, Math.ceil(plain.length / C));
    for (let i = 0; i < n; i++) parts.push(this.#encryptChunk(objKey, h, key, i, plain.subarray(i * C, Math.min(plain.length, (i + 1) * C)), i === n - 1));
    return Buffer.concat(parts);
  }

  /** Decrypts a whole stored object (for `get` without a range). */
  open(key: string, stored: Buffer): Buffer {
    const h = parseHeader(key, stored);
    this.#checkKey(key, h);
    const objKey = this.#objectKey(h.salt);
    const body = stored.subarray(ENCRYPTION_HEADER_BYTES);
    if (plaintextSize(stored.length, h.chunkSize) === undefined)
      throw corrupt(key, `encrypted object has an impossible size ${stored.length} (truncated or damaged)`);
    const S = h.chunkSize + TAG;
    const n = Math.ceil(body.length / S);
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) out.push(this.#decryptChunk(objKey, h, key, i, body.subarray(i * S, Math.min(body.length, (i + 1) * S)), i === n - 1));
    return Buffer.concat(out);
  }

  override async put(key: string, data: Uint8Array, opts?: PutOptions): Promise<void> {
    validateKey(key);
    this.#headers.delete(key);
    return this.inner.put(key, this.seal(key, data), opts);
  }

  /** The version is the stored ciphertext's: a swap compares what is stored, not the plaintext. */
  override async getVersioned(key: string): Promise<VersionedObject | undefined> {
    validateKey(key);
    const v = await this.inner.getVersioned(key);
    return v && { data: this.open(key, v.data), version: v.version };
  }

  override async putIfMatch(key: string, data: Uint8Array, expected: string | null): Promise<string> {
    validateKey(key);
    this.#headers.delete(key);
    return this.inner.putIfMatch(key, this.seal(key, data), expected);
  }

  /** Bounded memory: at most one chunk held back (to know which one is last) plus the one being filled. */
  override async putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<{ size: number }> {
    validateKey(key);
    this.#headers.delete(key);
    const { h, objKey } = this.#newHeader();
    const C = this.chunkSize;
    let plain = 0;
    const self = this;
    async function* sealed(): AsyncGenerator<Buffer> {
      yield h.bytes;
      let parts: Buffer[] = [];
      let held = 0;
      let index = 0;
      for await (const c of body) {
        if (c.byteLength === 0) continue;
        plain += c.byteLength;
        parts.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
        held += c.byteLength;
        if (held <= C) continue;
        let buf = Buffer.concat(parts);
        let off = 0;
        // Strictly more than one chunk held: the first one cannot be the last of the object.
        while (held - off > C) {
          yield self.#encryptChunk(objKey, h, key, index++, buf.subarray(off, off + C), false);
          off += C;
        }
        buf = Buffer.from(buf.subarray(off));
        parts = [buf];
        held = buf.length;
      }
      yield self.#encryptChunk(objKey, h, key, index, Buffer.concat(parts), true);
    }
    await this.inner.putStream(key, sealed(), opts);
    return { size: plain };
  }

  async #header(key: string, fresh: boolean): Promise<Header> {
    const cached = fresh ? undefined : this.#headers.get(key);
    if (cached) return cached;
    const b = await this.inner.get(key, { start: 0, end: ENCRYPTION_HEADER_BYTES });
    const h = parseHeader(key, b);
    this.#checkKey(key, h);
    if (this.#headers.size >= 1024) this.#headers.delete(this.#headers.keys().next().value as string);
    this.#headers.set(key, h);
    return h;
  }

  override async get(key: string, range?: ByteRange): Promise<Buffer> {
    validateKey(key);
    const [start, end] = checkRange(key, range);
    if (!range || (start === 0 && end === undefined)) return this.open(key, await this.inner.get(key));
    try {
      return await collect(await this.#rangeStream(key, start, end, false));
    } catch (err) {
      // A cached header from an object since rewritten: read it again once.
      if (!(err instanceof CorruptDataError) || !this.#headers.has(key)) throw err;
      this.#headers.delete(key);
      return collect(await this.#rangeStream(key, start, end, true));
    }
  }

  override async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    validateKey(key);
    const [start, end] = checkRange(key, range);
    if (start === 0 && end === undefined) return this.#wholeStream(key, await this.inner.getStream(key));
    return this.#rangeStream(key, start, end, false);
  }

  /** Whole object, streamed: header from the first bytes, then chunk by chunk. */
  async *#wholeStream(key: string, src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    let pre: Buffer[] = [];
    let preLen = 0;
    const it = src[Symbol.asyncIterator]();
    let h: Header | undefined;
    let rest: Buffer = Buffer.alloc(0);
    while (!h) {
      const r = await it.next();
      if (r.done) {
        h = parseHeader(key, Buffer.concat(pre)); // throws: too short
        break;
      }
      pre.push(r.value);
      preLen += r.value.length;
      if (preLen >= ENCRYPTION_HEADER_BYTES) {
        const all = Buffer.concat(pre);
        h = parseHeader(key, all);
        rest = all.subarray(ENCRYPTION_HEADER_BYTES);
        pre = [];
      }
    }
    this.#checkKey(key, h);
    const remaining: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => it,
    };
    yield* this.#decryptChunks(key, h, 0, prepend(rest, remaining), undefined, 0, undefined);
  }

  /** A plaintext range: the header (cached), then one GET of the covering chunks. */
  async #rangeStream(key: string, start: number, end: number | undefined, fresh: boolean): Promise<AsyncGenerator<Buffer>> {
    const h = await this.#header(key, fresh);
    const C = h.chunkSize;
    const S = C + TAG;
    const first = Math.floor(start / C);
    const cStart = ENCRYPTION_HEADER_BYTES + first * S;
    let cEnd: number | undefined;
    let lastWanted: number | undefined;
    if (end !== undefined) {
      lastWanted = Math.max(first, Math.floor((Math.max(end, start + 1) - 1) / C));
      // One byte more than the covering chunks: if it arrives, the last covering chunk is not the object's last.
      cEnd = ENCRYPTION_HEADER_BYTES + (lastWanted + 1) * S + 1;
    }
    const src = await this.inner.getStream(key, { start: cStart, end: cEnd });
    return this.#decryptChunks(key, h, first, src, lastWanted, start - first * C, end === undefined ? undefined : Math.max(0, end - start));
  }

  /**
   * Decrypts consecutive chunks from `first` on. A chunk followed by more bytes is not the last
   * (final = 0); what remains when the source ends is the object's last chunk (final = 1), except
   * the one probe byte past `lastWanted` on bounded reads.
   */
  async *#decryptChunks(
    key: string,
    h: Header,
    first: number,
    src: AsyncIterable<Buffer>,
    lastWanted: number | undefined,
    skip: number,
    limit: number | undefined,
  ): AsyncGenerator<Buffer> {
    const objKey = this.#objectKey(h.salt);
    const S = h.chunkSize + TAG;
    let index = first;
    let buf: Buffer = Buffer.alloc(0);
    let toSkip = skip;
    let left = limit ?? Number.POSITIVE_INFINITY;
    let decrypted = 0;
    const emit = function* (plain: Buffer): Generator<Buffer> {
      let p = plain;
      if (toSkip > 0) {
        const n = Math.min(toSkip, p.length);
        p = p.subarray(n);
        toSkip -= n;
      }
      if (p.length > left) p = p.subarray(0, left);
      left -= p.length;
      if (p.length > 0) yield p;
    };
    for await (const c of src) {
      buf = buf.length === 0 ? c : Buffer.concat([buf, c]);
      while (buf.length > S) {
        if (lastWanted !== undefined && index > lastWanted) break;
        yield* emit(this.#decryptChunk(objKey, h, key, index++, buf.subarray(0, S), false));
        decrypted++;
        buf = buf.subarray(S);
      }
    }
    if (lastWanted !== undefined && index > lastWanted) {
      // Every wanted chunk came with more bytes after it: `buf` is the probe byte.
      return;
    }
    if (buf.length === 0) {
      if (decrypted === 0 && first === 0) throw corrupt(key, 'encrypted object has no chunk after its header (truncated)');
      if (decrypted === 0) return; // a range starting past the end: nothing, as for plaintext stores
      throw corrupt(key, 'encrypted object ends inside a chunk sequence (truncated)');
    }
    yield* emit(this.#decryptChunk(objKey, h, key, index, buf, true));
  }

  override async head(key: string): Promise<ObjectMeta | undefined> {
    const m = await this.inner.head(key);
    return m && { ...m, size: plaintextSize(m.size, this.chunkSize) ?? m.size };
  }

  override async *list(prefix: string): AsyncIterable<ObjectMeta> {
    for await (const m of this.inner.list(prefix)) yield { ...m, size: plaintextSize(m.size, this.chunkSize) ?? m.size };
  }

  override async delete(key: string): Promise<void> {
    this.#headers.delete(key);
    return this.inner.delete(key);
  }
}

async function* prepend(first: Buffer, rest: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  if (first.length > 0) yield first;
  yield* rest;
}

/**
 * Without encryption configured: reads that start at byte 0 of an encrypted object fail with a
 * clear `EncryptionKeyError` naming its key id, instead of a JSON or segment parse error.
 */
export class PlaintextGuardStore extends ForwardingStore {
  #check(key: string, b: Buffer): void {
    if (!isEncryptedObject(b)) return;
    const id = headerKeyId(b);
    throw new EncryptionKeyError(
      `${key} is encrypted${id ? ` with key id "${id}"` : ''}; configure the key: encryption: { key_file: … | key_env: … } in the config file, or --encryption-key-file / --encryption-key-env`,
      key,
      { keyId: id },
    );
  }
  override async get(key: string, range?: ByteRange): Promise<Buffer> {
    const b = await this.inner.get(key, range);
    if (!range || range.start === 0) this.#check(key, b);
    return b;
  }
  override async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    const src = await this.inner.getStream(key, range);
    if (range && range.start !== 0) return src;
    const self = this;
    return (async function* () {
      let first = true;
      let pre: Buffer = Buffer.alloc(0);
      for await (const c of src) {
        if (first) {
          pre = Buffer.concat([pre, c]);
          if (pre.length < ENCRYPTION_HEADER_BYTES) continue;
          self.#check(key, pre);
          first = false;
          yield pre;
          continue;
        }
        yield c;
      }
      if (first && pre.length > 0) {
        self.#check(key, pre);
        yield pre;
      }
    })();
  }
  override async getVersioned(key: string): Promise<VersionedObject | undefined> {
    const v = await this.inner.getVersioned(key);
    if (v) this.#check(key, v.data);
    return v;
  }
}

let defaultEncryption: EncryptionSpec | undefined;

/** The CLI's --encryption-key-* options: used by `openStore` for specs without their own `encryption`. */
export function setDefaultEncryption(spec: EncryptionSpec | undefined): void {
  defaultEncryption = spec;
}

/** Wraps a freshly opened store: encryption when configured, else the plaintext guard. */
export async function withEncryption(store: ObjectStore, spec: EncryptionSpec | undefined): Promise<ObjectStore> {
  const s = spec ?? defaultEncryption;
  if (!s) return new PlaintextGuardStore(store);
  try {
    return await EncryptedStore.open(store, s);
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
}
