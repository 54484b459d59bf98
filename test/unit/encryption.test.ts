import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  EncryptedStore,
  EncryptionKeyError,
  PlaintextGuardStore,
  ENCRYPTION_HEADER_BYTES,
  encryptedSize,
  loadEncryptionKey,
  parseKey,
  plaintextSize,
} from '../../src/storage/encrypted.js';
import { FsStore } from '../../src/storage/fs.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { openStore } from '../../src/storage/index.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { CorruptDataError, UserError } from '../../src/util/errors.js';
import { parseConfigText } from '../../src/config/load.js';
import { runStorageContract } from '../helpers/storage-contract.js';

const KEY = Buffer.alloc(32, 7);
const OTHER = Buffer.alloc(32, 9);

function data(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

async function* chunks(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, Math.min(b.length, i + size));
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** A store delegating to `inner`, with some methods replaced. */
function spyOn(inner: ObjectStore, over: Partial<ObjectStore>): ObjectStore {
  return {
    url: inner.url,
    put: (k, d, o) => inner.put(k, d, o),
    putStream: (k, b, o) => inner.putStream(k, b, o),
    get: (k, r) => inner.get(k, r),
    getStream: (k, r) => inner.getStream(k, r),
    head: (k) => inner.head(k),
    getVersioned: (k) => inner.getVersioned(k),
    putIfMatch: (k, d, e) => inner.putIfMatch(k, d, e),
    exists: (k) => inner.exists(k),
    list: (p) => inner.list(p),
    delete: (k) => inner.delete(k),
    close: () => inner.close(),
    ...over,
  };
}

const isCorrupt = (key: string) => (e: unknown) => e instanceof CorruptDataError && e.message.includes(key);

let dir = '';
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'kb-enc-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

runStorageContract('encrypted over memory', async () => new EncryptedStore(new MemoryStore(), KEY, { keyId: 'contract' }));
runStorageContract(
  'encrypted over filesystem (small chunks)',
  async () => new EncryptedStore(new FsStore(path.join(dir, 'contract')), KEY, { chunkSize: 1000 }),
);

describe('encrypted store: round trips and sizes', () => {
  const C = 64;
  const sizes = [0, 1, C - 1, C, C + 1, 2 * C, 2 * C + 5, 10 * C, 10 * C + 63];

  it('put/get, putStream/get, getStream, head and list agree on plaintext sizes', async () => {
    const inner = new MemoryStore();
    const s = new EncryptedStore(inner, KEY, { chunkSize: C, keyId: 'ops-2026-01' });
    for (const n of sizes) {
      const d = data(n, n + 1);
      await s.put(`p/${n}`, d);
      const r = await s.putStream(`s/${n}`, chunks(d, 7));
      assert.equal(r.size, n);
      for (const k of [`p/${n}`, `s/${n}`]) {
        assert.deepEqual(await s.get(k), d, `${k} get`);
        assert.deepEqual(await collect(await s.getStream(k)), d, `${k} getStream`);
        assert.equal((await s.head(k))?.size, n);
        assert.equal((await inner.head(k))?.size, encryptedSize(n, C));
      }
    }
    const listed = new Map<string, number>();
    for await (const m of s.list('s/')) listed.set(m.key, m.size);
    for (const n of sizes) assert.equal(listed.get(`s/${n}`), n);
  });

  it('plaintextSize inverts encryptedSize and refuses impossible sizes', () => {
    for (const C2 of [1, 16, 64, 65536]) {
      for (let p = 0; p < 300; p++) assert.equal(plaintextSize(encryptedSize(p, C2), C2), p);
    }
    assert.equal(plaintextSize(ENCRYPTION_HEADER_BYTES, 64), undefined);
    assert.equal(plaintextSize(ENCRYPTION_HEADER_BYTES + 16 + 64 + 5, 64), undefined);
  });

  it('ranged reads at and around chunk boundaries return the same bytes as a plaintext slice', async () => {
    const s = new EncryptedStore(new MemoryStore(), KEY, { chunkSize: C });
    const n = 5 * C + 17;
    const d = data(n, 3);
    await s.putStream('obj', chunks(d, 50));
    const points = [0, 1, C - 1, C, C + 1, 2 * C, 3 * C - 1, 5 * C, 5 * C + 16, 5 * C + 17, 5 * C + 18, 6 * C, 1000];
    for (const a of points) {
      assert.deepEqual(await s.get('obj', { start: a }), d.subarray(Math.min(a, n)), `[${a},)`);
      for (const b of points) {
        if (b < a) continue;
        const want = d.subarray(Math.min(a, n), Math.min(b, n));
        assert.deepEqual(await s.get('obj', { start: a, end: b }), want, `[${a},${b})`);
        assert.deepEqual(await collect(await s.getStream('obj', { start: a, end: b })), want, `stream [${a},${b})`);
      }
    }
  });

  it('a ranged read fetches only the covering chunks (and the header once)', async () => {
    const inner = new MemoryStore();
    const reads: string[] = [];
    const spy: ObjectStore = spyOn(inner, {
      get: (k: string, r?: { start: number; end?: number }) => {
        reads.push(`${r?.start ?? 0}-${r?.end ?? ''}`);
        return inner.get(k, r);
      },
      getStream: async (k: string, r?: { start: number; end?: number }) => {
        reads.push(`${r?.start ?? 0}-${r?.end ?? ''}`);
        return inner.getStream(k, r);
      },
    });
    const s = new EncryptedStore(spy, KEY, { chunkSize: 1024 });
    await s.put('big', data(100 * 1024));
    const got = await s.get('big', { start: 50 * 1024 + 10, end: 50 * 1024 + 20 });
    assert.deepEqual(got, data(100 * 1024).subarray(50 * 1024 + 10, 50 * 1024 + 20));
    await s.get('big', { start: 60 * 1024, end: 61 * 1024 + 1 });
    const S = 1024 + 16;
    assert.deepEqual(reads, [`0-${ENCRYPTION_HEADER_BYTES}`, `${128 + 50 * S}-${128 + 51 * S + 1}`, `${128 + 60 * S}-${128 + 62 * S + 1}`]);
  });

  it('putStream holds at most about two chunks (bounded memory)', async () => {
    let maxChunk = 0;
    const inner = new MemoryStore();
    const spy: ObjectStore = spyOn(inner, {
      putStream: async (k: string, body: AsyncIterable<Uint8Array>) => {
        const parts: Buffer[] = [];
        for await (const c of body) {
          maxChunk = Math.max(maxChunk, c.byteLength);
          parts.push(Buffer.from(c));
        }
        await inner.put(k, Buffer.concat(parts));
        return { size: 0 };
      },
    });
    const s = new EncryptedStore(spy, KEY);
    const d = data(3 * 1024 * 1024 + 5);
    await s.putStream('x', chunks(d, 1024 * 1024));
    assert.ok(maxChunk <= 64 * 1024 + 16, `pieces handed on are chunk-sized (${maxChunk})`);
    assert.deepEqual(await s.get('x'), d);
  });

  it('ifNotExists passes through: racing creators, exactly one wins', async () => {
    const s = new EncryptedStore(new MemoryStore(), KEY);
    const res = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => s.put('lock', Buffer.from(`w${i}`), { ifNotExists: true })));
    assert.equal(res.filter((r) => r.status === 'fulfilled').length, 1);
  });

  it('stored bytes hold no plaintext', async () => {
    const inner = new MemoryStore();
    const s = new EncryptedStore(inner, KEY);
    const secret = Buffer.from('card-number-4111111111111111 '.repeat(100));
    await s.put('a', secret);
    await s.putStream('b', chunks(secret, 100));
    for (const k of ['a', 'b']) assert.equal((await inner.get(k)).indexOf('4111111111111111'), -1);
  });
});

describe('encrypted store: tampering is detected and names the object', () => {
  const C = 64;
  async function setup(): Promise<{ inner: MemoryStore; s: EncryptedStore; d: Buffer }> {
    const inner = new MemoryStore();
    const s = new EncryptedStore(inner, KEY, { chunkSize: C, keyId: 'k1' });
    const d = data(4 * C + 10, 5);
    await s.put('t/obj', d);
    await s.put('t/other', data(4 * C + 10, 6));
    return { inner, s, d };
  }

  it('a flipped byte anywhere (header, ciphertext, tag) fails, whole and ranged', async () => {
    const { inner } = await setup();
    const raw = await inner.get('t/obj');
    for (const pos of [20, 60, 130, 128 + C + 3, 128 + C + 16 - 1, raw.length - 1]) {
      const bad = Buffer.from(raw);
      bad[pos]! ^= 0x01;
      await inner.put('t/obj', bad);
      const fresh = new EncryptedStore(inner, KEY, { chunkSize: C, keyId: 'k1' });
      await assert.rejects(
        fresh.get('t/obj'),
        (e: unknown) => (e instanceof CorruptDataError || e instanceof EncryptionKeyError) && (e as Error).message.includes('t/obj'),
        `byte ${pos}`,
      );
      if (pos >= 128) {
        const chunk = Math.floor((pos - 128) / (C + 16));
        await assert.rejects(fresh.get('t/obj', { start: chunk * C, end: chunk * C + 1 }), isCorrupt('t/obj'), `range over byte ${pos}`);
      }
    }
  });

  it('truncation (inside a chunk, at a chunk boundary, to the header) fails', async () => {
    const { inner, s } = await setup();
    const raw = await inner.get('t/obj');
    for (const len of [raw.length - 1, raw.length - 20, 128 + 2 * (C + 16), 128 + (C + 16), 128, 100, 3]) {
      await inner.put('t/obj', raw.subarray(0, len));
      await assert.rejects(new EncryptedStore(inner, KEY, { chunkSize: C }).get('t/obj'), isCorrupt('t/obj'), `length ${len}`);
    }
    // Ranged read of the (new) last chunk after truncation at a boundary.
    await inner.put('t/obj', raw.subarray(0, 128 + 2 * (C + 16)));
    await assert.rejects(s.get('t/obj', { start: C, end: 2 * C }), isCorrupt('t/obj'));
    await assert.rejects(new EncryptedStore(inner, KEY, { chunkSize: C }).get('t/obj', { start: 2 * C - 5 }), isCorrupt('t/obj'));
  });

  it('chunks swapped or reordered, and objects swapped, fail', async () => {
    const { inner, s } = await setup();
    const raw = await inner.get('t/obj');
    const S = C + 16;
    const c0 = raw.subarray(128, 128 + S);
    const c1 = raw.subarray(128 + S, 128 + 2 * S);
    const swapped = Buffer.concat([raw.subarray(0, 128), c1, c0, raw.subarray(128 + 2 * S)]);
    await inner.put('t/obj', swapped);
    await assert.rejects(new EncryptedStore(inner, KEY, { chunkSize: C }).get('t/obj'), isCorrupt('t/obj'));
    await assert.rejects(new EncryptedStore(inner, KEY, { chunkSize: C }).get('t/obj', { start: 0, end: 10 }), isCorrupt('t/obj'));
    // A chunk duplicated in place of another.
    await inner.put('t/obj', Buffer.concat([raw.subarray(0, 128), c0, c0, raw.subarray(128 + 2 * S)]));
    await assert.rejects(new EncryptedStore(inner, KEY, { chunkSize: C }).get('t/obj', { start: C, end: C + 1 }), isCorrupt('t/obj'));
    // Another object's bytes (same key, same writer) under this key.
    await inner.put('t/obj', await inner.get('t/other'));
    await assert.rejects(new EncryptedStore(inner, KEY, { chunkSize: C }).get('t/obj'), isCorrupt('t/obj'));
    // The same object's chunk spliced from another object at the same position.
    const other = await inner.get('t/other');
    await inner.put('t/obj', Buffer.concat([raw.subarray(0, 128 + S), other.subarray(128 + S, 128 + 2 * S), raw.subarray(128 + 2 * S)]));
    await assert.rejects(s.get('t/obj'), isCorrupt('t/obj'));
  });

  it('a stale cached header after a rewrite is re-read, not reported as tampering', async () => {
    const { s } = await setup();
    await s.get('t/obj', { start: 5, end: 9 });
    const d2 = data(4 * C + 10, 42);
    await new EncryptedStore((s as unknown as { inner: ObjectStore }).inner, KEY, { chunkSize: C }).put('t/obj', d2);
    assert.deepEqual(await s.get('t/obj', { start: 5, end: 9 }), d2.subarray(5, 9));
  });
});

describe('encryption keys', () => {
  it('a reader with the wrong key gets an error naming both key ids; the same id with another key is named too', async () => {
    const inner = new MemoryStore();
    await new EncryptedStore(inner, KEY, { keyId: 'ops-2026-01' }).put('b/manifest.json', Buffer.from('{}'));
    await assert.rejects(
      new EncryptedStore(inner, OTHER, { keyId: 'ops-2026-02' }).get('b/manifest.json'),
      (e: unknown) =>
        e instanceof EncryptionKeyError && /ops-2026-01/.test(e.message) && /ops-2026-02/.test(e.message) && e.message.includes('b/manifest.json'),
    );
    await assert.rejects(
      new EncryptedStore(inner, OTHER, { keyId: 'ops-2026-01' }).get('b/manifest.json', { start: 0, end: 1 }),
      (e: unknown) => e instanceof EncryptionKeyError && /ops-2026-01/.test(e.message) && /different key/.test(e.message),
    );
    // The right key under another label still reads.
    assert.equal((await new EncryptedStore(inner, KEY, { keyId: 'renamed' }).get('b/manifest.json')).toString(), '{}');
  });

  it('without a key, an encrypted object is reported as encrypted (with its key id); with a key, a plaintext object is reported as not encrypted', async () => {
    const inner = new MemoryStore();
    await new EncryptedStore(inner, KEY, { keyId: 'ops-2026-01' }).put('b/manifest.json', Buffer.from('{}'));
    const guard = new PlaintextGuardStore(inner);
    await assert.rejects(
      guard.get('b/manifest.json'),
      (e: unknown) => e instanceof EncryptionKeyError && /encrypted with key id "ops-2026-01"/.test(e.message) && /key_file/.test(e.message),
    );
    await assert.rejects(
      async () => collect(await guard.getStream('b/manifest.json')),
      (e: unknown) => e instanceof EncryptionKeyError,
    );
    await inner.put('plain.json', Buffer.from('{"a":1}'));
    assert.equal((await guard.get('plain.json')).toString(), '{"a":1}');
    await assert.rejects(
      new EncryptedStore(inner, KEY).get('plain.json'),
      (e: unknown) => e instanceof EncryptionKeyError && /not encrypted/.test(e.message) && e.message.includes('plain.json'),
    );
  });

  it('keys: raw 32 bytes (files), 64 hex, base64; anything else refused without echoing it', async () => {
    const k = randomBytes(32);
    assert.deepEqual(parseKey(k, 'f', true), k);
    assert.deepEqual(parseKey(Buffer.from(k.toString('hex') + '\n'), 'f', true), k);
    assert.deepEqual(parseKey(Buffer.from(k.toString('base64')), 'f', false), k);
    assert.deepEqual(parseKey(Buffer.from(k.toString('base64url')), 'f', false), k);
    for (const bad of ['short', 'a'.repeat(63), 'z'.repeat(64), Buffer.alloc(31, 1).toString('base64'), randomBytes(33).toString('hex')]) {
      assert.throws(
        () => parseKey(Buffer.from(bad), 'encryption.key_env K', false),
        (e: unknown) => e instanceof UserError && /not a 256-bit key/.test(e.message) && !e.message.includes(bad),
      );
    }
    assert.throws(() => parseKey(Buffer.alloc(32, 65), 'env', false), UserError, '32 raw characters are not accepted from a variable');
    assert.throws(() => new EncryptedStore(new MemoryStore(), Buffer.alloc(16)), UserError);
  });

  it('loadEncryptionKey: file, env, missing file, unset variable, both or neither', async () => {
    const k = randomBytes(32);
    const f = path.join(dir, 'key.bin');
    await writeFile(f, k);
    assert.deepEqual(await loadEncryptionKey({ keyFile: f }), k);
    const h = path.join(dir, 'key.hex');
    await writeFile(h, k.toString('hex') + '\n');
    assert.deepEqual(await loadEncryptionKey({ keyFile: h }), k);
    assert.deepEqual(await loadEncryptionKey({ keyEnv: 'KB_K' }, { KB_K: k.toString('base64') }), k);
    await assert.rejects(loadEncryptionKey({ keyFile: path.join(dir, 'nope') }), (e: unknown) => e instanceof UserError && /no such file/.test(e.message));
    await assert.rejects(
      loadEncryptionKey({ keyEnv: 'KB_UNSET_VAR' }, {}),
      (e: unknown) => e instanceof UserError && /KB_UNSET_VAR is not set/.test(e.message),
    );
    await assert.rejects(loadEncryptionKey({ keyEnv: 'A', keyFile: f }), UserError);
    await assert.rejects(loadEncryptionKey({}), UserError);
  });

  it('openStore with spec.encryption encrypts on disk; without it, reads of encrypted objects are refused clearly', async () => {
    const root = path.join(dir, 'open');
    const f = path.join(dir, 'open.key');
    await writeFile(f, randomBytes(32).toString('hex'));
    const s = await openStore({ backend: 'filesystem', path: root, encryption: { keyFile: f, keyId: 'disk-1' } });
    await s.put('bk/manifest.json', Buffer.from('{"secret":"swordfish"}'));
    assert.equal((await s.get('bk/manifest.json')).toString(), '{"secret":"swordfish"}');
    assert.ok(!(await readFile(path.join(root, 'bk/manifest.json'))).includes('swordfish'));
    const plain = await openStore({ backend: 'filesystem', path: root });
    await assert.rejects(plain.get('bk/manifest.json'), (e: unknown) => e instanceof EncryptionKeyError && /disk-1/.test(e.message));
  });
});

describe('encryption config', () => {
  const base = 'mode: backup\nbackup_id: b1\nsource: { bootstrap_servers: [k:9092] }\nstorage: { backend: filesystem, path: /tmp/x }\n';
  it('encryption: { key_file | key_env, key_id } lands in storage.encryption', () => {
    const c = parseConfigText(base + 'encryption: { key_file: /etc/kb/key, key_id: ops-2026-01 }\n', 'b.yaml');
    assert.deepEqual(c.storage.encryption, { keyFile: '/etc/kb/key', keyId: 'ops-2026-01' });
    const e = parseConfigText(base + 'encryption: { key_env: KB_KEY }\n', 'b.yaml');
    assert.deepEqual(e.storage.encryption, { keyEnv: 'KB_KEY' });
    assert.equal(parseConfigText(base, 'b.yaml').storage.encryption, undefined);
  });
  it('refuses neither/both, unknown keys, a key pasted into key_env, bad key ids', () => {
    assert.throws(() => parseConfigText(base + 'encryption: { key_id: x }\n', 'b.yaml'), /encryption: needs exactly one of key_file/);
    assert.throws(() => parseConfigText(base + 'encryption: { key_file: /k, key_env: K }\n', 'b.yaml'), /exactly one/);
    assert.throws(() => parseConfigText(base + 'encryption: { key_fil: /k }\n', 'b.yaml'), /did you mean encryption.key_file/);
    assert.throws(() => parseConfigText(base + `encryption: { key_env: "${'ab'.repeat(32)}=" }\n`, 'b.yaml'), /name of an environment variable/);
    assert.throws(() => parseConfigText(base + 'encryption: { key_file: /k, key_id: "has space" }\n', 'b.yaml'), /encryption.key_id/);
  });
});
