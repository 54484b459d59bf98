/**
 * The contract every ObjectStore backend must pass (cf. object_store's integration tests).
 * `makeStore` is called once per test; tests use their own key namespaces, so the stores may
 * share one bucket/directory. Stores are closed after each test.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { AlreadyExistsError, NotFoundError, PreconditionFailedError, StorageError } from '../../src/util/errors.js';
import { PrefixStore } from '../../src/storage/prefix.js';
import type { ObjectStore } from '../../src/storage/store.js';

const MiB = 1024 * 1024;

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const m of store.list(prefix)) out.push(m.key);
  return out;
}

/** Deterministic pseudo-random bytes (fast, reproducible). */
function pattern(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export function runStorageContract(name: string, makeStore: () => Promise<ObjectStore>): void {
  const run = randomBytes(4).toString('hex');
  const ns = (t: string): string => `contract-${run}/${t}`;

  async function withStore(fn: (s: ObjectStore) => Promise<void>): Promise<void> {
    const s = await makeStore();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  }

  describe(`ObjectStore contract: ${name}`, () => {
    it('has a url', () =>
      withStore(async (s) => {
        assert.equal(typeof s.url, 'string');
        assert.ok(s.url.length > 0);
      }));

    it('put/get round trip: empty, all byte values, 5 MiB', () =>
      withStore(async (s) => {
        await s.put(ns('rt/empty'), new Uint8Array(0));
        assert.equal((await s.get(ns('rt/empty'))).length, 0);
        const all = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
        await s.put(ns('rt/bytes'), all);
        assert.deepEqual(await s.get(ns('rt/bytes')), all);
        const big = pattern(5 * MiB, 7);
        await s.put(ns('rt/big'), big);
        assert.ok((await s.get(ns('rt/big'))).equals(big));
        // overwrite without ifNotExists replaces
        await s.put(ns('rt/bytes'), Buffer.from('new'));
        assert.equal((await s.get(ns('rt/bytes'))).toString(), 'new');
        // a Uint8Array view into a larger buffer stores only the view
        const backing = Buffer.from('xxHELLOxx');
        await s.put(ns('rt/view'), new Uint8Array(backing.buffer, backing.byteOffset + 2, 5));
        assert.equal((await s.get(ns('rt/view'))).toString(), 'HELLO');
      }));

    it('ranged get: start only, start+end, beyond end, empty range', () =>
      withStore(async (s) => {
        const data = pattern(1000, 3);
        await s.put(ns('range/obj'), data);
        assert.deepEqual(await s.get(ns('range/obj'), { start: 990 }), data.subarray(990));
        assert.deepEqual(await s.get(ns('range/obj'), { start: 0 }), data);
        assert.deepEqual(await s.get(ns('range/obj'), { start: 10, end: 20 }), data.subarray(10, 20));
        assert.deepEqual(await s.get(ns('range/obj'), { start: 995, end: 5000 }), data.subarray(995));
        assert.equal((await s.get(ns('range/obj'), { start: 1000 })).length, 0);
        assert.equal((await s.get(ns('range/obj'), { start: 5000 })).length, 0);
        assert.equal((await s.get(ns('range/obj'), { start: 5, end: 5 })).length, 0);
        await assert.rejects(s.get(ns('range/obj'), { start: 10, end: 5 }), StorageError);
        await assert.rejects(s.get(ns('range/missing'), { start: 1, end: 2 }), NotFoundError);
        await assert.rejects(s.get(ns('range/missing'), { start: 5, end: 5 }), NotFoundError);
      }));

    it('getStream: whole and ranged', () =>
      withStore(async (s) => {
        const data = pattern(3 * MiB + 17, 11);
        await s.put(ns('gs/obj'), data);
        assert.ok((await collect(await s.getStream(ns('gs/obj')))).equals(data));
        assert.ok((await collect(await s.getStream(ns('gs/obj'), { start: MiB, end: 2 * MiB + 5 }))).equals(data.subarray(MiB, 2 * MiB + 5)));
        assert.equal((await collect(await s.getStream(ns('gs/obj'), { start: 4 * MiB }))).length, 0);
        await assert.rejects(s.getStream(ns('gs/missing')), NotFoundError);
      }));

    it('putStream ~20 MiB from an async generator, and small/empty streams', () =>
      withStore(async (s) => {
        const chunk = (i: number): Buffer => pattern(MiB + 123, i + 1);
        const N = 19;
        async function* gen(): AsyncGenerator<Uint8Array> {
          for (let i = 0; i < N; i++) yield new Uint8Array(chunk(i));
        }
        const { size } = await s.putStream(ns('ps/big'), gen());
        assert.equal(size, N * (MiB + 123));
        const back = await s.get(ns('ps/big'));
        assert.equal(back.length, size);
        assert.ok(back.equals(Buffer.concat(Array.from({ length: N }, (_, i) => chunk(i)))));
        assert.equal((await s.head(ns('ps/big')))?.size, size);

        async function* small(): AsyncGenerator<Uint8Array> {
          yield Buffer.from('ab');
          yield new Uint8Array(0);
          yield Buffer.from('c');
        }
        assert.deepEqual(await s.putStream(ns('ps/small'), small()), { size: 3 });
        assert.equal((await s.get(ns('ps/small'))).toString(), 'abc');
        async function* none(): AsyncGenerator<Uint8Array> {}
        assert.deepEqual(await s.putStream(ns('ps/empty'), none()), { size: 0 });
        assert.equal((await s.get(ns('ps/empty'))).length, 0);
      }));

    it('a failing putStream leaves no object behind', () =>
      withStore(async (s) => {
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield pattern(MiB, 1);
          throw new Error('producer failed');
        }
        await assert.rejects(s.putStream(ns('psfail/x'), failing()));
        assert.equal(await s.exists(ns('psfail/x')), false);
        assert.deepEqual(await keys(s, ns('psfail/')), []);
      }));

    it('head and exists', () =>
      withStore(async (s) => {
        await s.put(ns('head/a'), Buffer.from('12345'));
        const m = await s.head(ns('head/a'));
        assert.ok(m);
        assert.equal(m.key, ns('head/a'));
        assert.equal(m.size, 5);
        if (m.lastModified) assert.ok(Math.abs(m.lastModified.getTime() - Date.now()) < 10 * 60_000);
        assert.equal(await s.head(ns('head/missing')), undefined);
        assert.equal(await s.exists(ns('head/a')), true);
        assert.equal(await s.exists(ns('head/missing')), false);
        // a "directory" is not an object
        await s.put(ns('head/dir/child'), Buffer.from('x'));
        assert.equal(await s.exists(ns('head/dir')), false);
        assert.equal(await s.head(ns('head/dir')), undefined);
      }));

    it('list: lexicographic order, prefix filtering, nested keys, sizes', () =>
      withStore(async (s) => {
        const names = ['b', 'a/2', 'a/1', 'a-c', 'a/sub/deep/x', 'ab', 'a0', 'c/d', 'A'];
        for (const n of names) await s.put(ns(`list/${n}`), Buffer.from(n));
        const all = await keys(s, ns('list/'));
        const expected = names.map((n) => ns(`list/${n}`)).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        assert.deepEqual(all, expected);
        assert.deepEqual(await keys(s, ns('list/a/')), [ns('list/a/1'), ns('list/a/2'), ns('list/a/sub/deep/x')]);
        assert.deepEqual(
          await keys(s, ns('list/a')),
          expected.filter((k) => k.startsWith(ns('list/a'))),
        );
        assert.deepEqual(await keys(s, ns('list/a/sub')), [ns('list/a/sub/deep/x')]);
        assert.deepEqual(await keys(s, ns('list/zzz')), []);
        assert.deepEqual(await keys(s, ns('nonexistent-dir/')), []);
        for await (const m of s.list(ns('list/c/'))) assert.deepEqual({ key: m.key, size: m.size }, { key: ns('list/c/d'), size: 3 });
        // the whole store listing includes them too
        const everything = await keys(s, '');
        for (const k of expected) assert.ok(everything.includes(k), k);
      }));

    it('list pages through more than one page of results', () =>
      withStore(async (s) => {
        const n = 1005;
        const pad = (i: number): string => String(i).padStart(4, '0');
        const batch = 50;
        for (let i = 0; i < n; i += batch) {
          await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => s.put(ns(`page/${pad(i + j)}`), Buffer.from('x'))));
        }
        const got = await keys(s, ns('page/'));
        assert.equal(got.length, n);
        assert.deepEqual(
          got,
          Array.from({ length: n }, (_, i) => ns(`page/${pad(i)}`)),
        );
      }));

    it('delete is idempotent', () =>
      withStore(async (s) => {
        await s.put(ns('del/a'), Buffer.from('x'));
        await s.delete(ns('del/a'));
        assert.equal(await s.exists(ns('del/a')), false);
        await s.delete(ns('del/a'));
        await s.delete(ns('del/never-existed'));
        await assert.rejects(s.get(ns('del/a')), NotFoundError);
      }));

    it('NotFoundError on missing objects carries the key', () =>
      withStore(async (s) => {
        const err = await s.get(ns('nf/missing')).then(
          () => assert.fail('expected NotFoundError'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof NotFoundError);
        assert.ok(err.key?.endsWith(ns('nf/missing')));
        assert.match(err.message, /nf\/missing/);
      }));

    it('ifNotExists: conflict throws AlreadyExistsError and keeps the original', () =>
      withStore(async (s) => {
        await s.put(ns('cond/a'), Buffer.from('first'), { ifNotExists: true });
        await assert.rejects(
          s.put(ns('cond/a'), Buffer.from('second'), { ifNotExists: true }),
          (e: unknown) => e instanceof AlreadyExistsError && (e.key ?? '').endsWith(ns('cond/a')),
        );
        assert.equal((await s.get(ns('cond/a'))).toString(), 'first');
        async function* one(b: Buffer): AsyncGenerator<Uint8Array> {
          yield b;
        }
        await assert.rejects(s.putStream(ns('cond/a'), one(Buffer.from('third')), { ifNotExists: true }), AlreadyExistsError);
        await assert.rejects(s.putStream(ns('cond/a'), one(pattern(10 * MiB, 5)), { ifNotExists: true }), AlreadyExistsError);
        assert.equal((await s.get(ns('cond/a'))).toString(), 'first');
        const r = await s.putStream(ns('cond/b'), one(Buffer.from('streamed')), { ifNotExists: true });
        assert.equal(r.size, 8);
        // unconditional put still overwrites
        await s.put(ns('cond/a'), Buffer.from('over'));
        assert.equal((await s.get(ns('cond/a'))).toString(), 'over');
      }));

    it('ifNotExists: racing creators, exactly one wins', () =>
      withStore(async (s) => {
        for (let round = 0; round < 3; round++) {
          const key = ns(`race/k${round}`);
          const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => s.put(key, Buffer.from(`writer-${i}`), { ifNotExists: true })));
          const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
          assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
          for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof AlreadyExistsError, String(r.reason));
          assert.equal((await s.get(key)).toString(), `writer-${winners[0]}`);
        }
      }));

    it('putIfMatch: compare-and-swap against the version getVersioned returned; a stale version is refused', () =>
      withStore(async (s) => {
        const key = ns('cas/a');
        assert.equal(await s.getVersioned(key), undefined);
        await assert.rejects(s.putIfMatch(key, Buffer.from('x'), 'no-such-version'), PreconditionFailedError);
        assert.equal(await s.exists(key), false);
        const v1 = await s.putIfMatch(key, Buffer.from('one'), null);
        await assert.rejects(s.putIfMatch(key, Buffer.from('dup'), null), (e: unknown) => e instanceof PreconditionFailedError && (e.key ?? '').endsWith(key));
        const got = await s.getVersioned(key);
        assert.equal(got?.data.toString(), 'one');
        assert.equal(got?.version, v1);
        const v2 = await s.putIfMatch(key, Buffer.from('two'), v1);
        assert.notEqual(v2, v1);
        // The zombie's write: it still holds v1, which another writer has replaced.
        await assert.rejects(s.putIfMatch(key, Buffer.from('late'), v1), PreconditionFailedError);
        assert.equal((await s.get(key)).toString(), 'two');
        // A plain put is a new version too.
        await s.put(key, Buffer.from('three'));
        await assert.rejects(s.putIfMatch(key, Buffer.from('late'), v2), PreconditionFailedError);
        assert.equal((await s.get(key)).toString(), 'three');
        const v3 = (await s.getVersioned(key))!.version;
        await s.putIfMatch(key, Buffer.from('four'), v3);
        assert.equal((await s.get(key)).toString(), 'four');
      }));

    it('putIfMatch: racing swaps from one version, exactly one wins', () =>
      withStore(async (s) => {
        const key = ns('cas/race');
        const v = await s.putIfMatch(key, Buffer.from('base'), null);
        const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => s.putIfMatch(key, Buffer.from(`writer-${i}`), v)));
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        assert.equal(won.length, 1, `winners: ${won.join(',')}`);
        for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof PreconditionFailedError, String(r.reason));
        assert.equal((await s.get(key)).toString(), `writer-${won[0]}`);
      }));

    it('rejects invalid keys, naming them, for every operation', () =>
      withStore(async (s) => {
        const bad = ['', '../x', 'a/../../x', '/abs', 'a//b', 'a/./b', '.', '..', 'a\\b', 'a\0b', 'a/', 'a/b/'];
        for (const k of bad) {
          const check = (e: unknown): boolean =>
            e instanceof StorageError && e.code === 'INVALID_KEY' && (k === '' || e.message.includes(JSON.stringify(k).slice(1, -1).slice(0, 3)));
          await assert.rejects(s.put(k, Buffer.from('x')), check, `put ${JSON.stringify(k)}`);
          await assert.rejects(s.get(k), check, `get ${JSON.stringify(k)}`);
          await assert.rejects(s.head(k), check, `head ${JSON.stringify(k)}`);
          await assert.rejects(s.exists(k), check, `exists ${JSON.stringify(k)}`);
          await assert.rejects(s.delete(k), check, `delete ${JSON.stringify(k)}`);
          await assert.rejects(s.getStream(k), check, `getStream ${JSON.stringify(k)}`);
          async function* g(): AsyncGenerator<Uint8Array> {}
          await assert.rejects(s.putStream(k, g()), check, `putStream ${JSON.stringify(k)}`);
        }
        await assert.rejects(keys(s, '../'), StorageError);
        await assert.rejects(keys(s, '/abs'), StorageError);
      }));

    it('a prefix store never sees or touches keys outside its prefix', () =>
      withStore(async (s) => {
        const base = ns('pfx');
        await s.put(`${base}/outside`, Buffer.from('out'));
        await s.put(`${base}/inside-sibling/x`, Buffer.from('sib')); // shares the string prefix "inside"
        const p = new PrefixStore(s, `${base}/inside/`);
        assert.ok(p.url.endsWith(`${base}/inside`), p.url);
        await p.put('a', Buffer.from('A'));
        await p.put('n/b', Buffer.from('B'));
        assert.equal((await s.get(`${base}/inside/a`)).toString(), 'A');
        assert.deepEqual(await keys(p, ''), ['a', 'n/b']);
        assert.deepEqual(await keys(p, 'n/'), ['n/b']);
        assert.equal((await p.head('n/b'))?.key, 'n/b');
        for (const k of ['../outside', '../inside-sibling/x', '/outside', 'a/../../outside']) {
          await assert.rejects(p.get(k), StorageError);
          await assert.rejects(p.put(k, Buffer.from('evil')), StorageError);
          await assert.rejects(p.delete(k), StorageError);
        }
        await assert.rejects(keys(p, '../'), StorageError);
        assert.equal((await s.get(`${base}/outside`)).toString(), 'out');
        assert.equal(await p.exists('outside'), false);
        await assert.rejects(p.get('outside'), NotFoundError);
        // nested prefix stores compose
        const pp = new PrefixStore(p, 'n');
        assert.deepEqual(await keys(pp, ''), ['b']);
      }));
  });
}
