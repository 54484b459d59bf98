/**
 * Rollback of encrypted objects (issue 13 item 6). AES-GCM binds each object to its key (so a
 * swapped object fails to decrypt), but an older ciphertext of the *same* key still decrypts:
 * only the generations inside the plaintext (src/format/generations.ts) tell it apart. These tests
 * use the real EncryptedStore over memory, the real readers and validateBackup.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GenerationBook } from '../../src/backup/generation-book.js';
import { validateBackup } from '../../src/backup/validate.js';
import { checkIndexAgainstManifest, confirmRollbacks } from '../../src/format/generations.js';
import { readJsonObject, writeJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { manifestSchema, type Manifest } from '../../src/format/manifest.js';
import { readPartitionIndex, type PartitionIndex } from '../../src/format/partition-index.js';
import { EncryptedStore } from '../../src/storage/encrypted.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { CorruptDataError } from '../../src/util/errors.js';

const KEY = Buffer.alloc(32, 5);
const BID = 'rb-1';
const TOPIC = 'orders';

function manifest(generation: number | undefined, pins: (number | undefined)[]): Manifest {
  return {
    format_version: 1,
    ...(generation === undefined ? {} : { generation }),
    tool_version: '0.1.0',
    backup_id: BID,
    status: 'stopped',
    mode: 'continuous',
    source_cluster_id: null,
    source_bootstrap_servers: ['k:9092'],
    compression: 'none',
    include_offset_headers: false,
    created_at: 1,
    updated_at: 2,
    completed_at: 3,
    topics: [
      {
        name: TOPIC,
        partition_count: pins.length,
        configs: {},
        partitions: pins.map((g, p) => ({ partition: p, log_start_offset: 0, end_offset: 0, ...(g === undefined ? {} : { index_generation: g }) })),
      },
    ],
  };
}

/** An index of `segments` empty-ish entries (no segment objects are read by these tests). */
function index(partition: number, generation: number | undefined, manifestGeneration: number | undefined, nextOffset: number): PartitionIndex {
  return {
    format_version: 1,
    ...(generation === undefined ? {} : { generation }),
    ...(manifestGeneration === undefined ? {} : { manifest_generation: manifestGeneration }),
    topic: TOPIC,
    partition,
    next_offset: nextOffset,
    segments: [],
    gaps: [],
    updated_at: 1,
  };
}

function encrypted(): { inner: MemoryStore; store: EncryptedStore } {
  const inner = new MemoryStore();
  return { inner, store: new EncryptedStore(inner, KEY, { keyId: 'rb' }) };
}

const idxKey = (p: number) => keys.partitionIndex(BID, TOPIC, p);
const MAN = keys.manifest(BID);

describe('encrypted objects: key binding and replay', () => {
  it('an index ciphertext swapped onto another partition, or a manifest onto another backup, fails to decrypt (key in the AAD)', async () => {
    const { inner, store } = encrypted();
    await writeJsonObject(store, idxKey(0), index(0, 3, 1, 100));
    await writeJsonObject(store, idxKey(1), index(1, 5, 1, 200));
    await inner.put(idxKey(1), await inner.get(idxKey(0)));
    await assert.rejects(
      readPartitionIndex(store, BID, TOPIC, 1),
      (e: unknown) => e instanceof CorruptDataError && e.message.includes(idxKey(1)) && /failed authentication/.test(e.message),
    );
    await writeJsonObject(store, MAN, manifest(2, [3, 5]));
    await inner.put(keys.manifest('rb-2'), await inner.get(MAN));
    await assert.rejects(
      readJsonObject(store, keys.manifest('rb-2'), manifestSchema),
      (e: unknown) => e instanceof CorruptDataError && e.message.includes('rb-2/manifest.json'),
    );
  });

  it('an older ciphertext of the same index still decrypts, and is caught by the generation the manifest pins', async () => {
    const { inner, store } = encrypted();
    await writeJsonObject(store, idxKey(0), index(0, 1, 1, 100));
    const old = await inner.get(idxKey(0));
    await writeJsonObject(store, idxKey(0), index(0, 2, 1, 250));
    await writeJsonObject(store, MAN, manifest(2, [2]));
    await inner.put(idxKey(0), old);
    // The crypto alone cannot tell: the replayed object authenticates.
    const replayed = await readPartitionIndex(store, BID, TOPIC, 0);
    assert.equal(replayed?.next_offset, 100);
    const m = (await readJsonObject(store, MAN, manifestSchema))!;
    const problems = checkIndexAgainstManifest(m, TOPIC, 0, replayed);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.object, idxKey(0));
    assert.match(problems[0]!.problem, /rolled back: this is generation 1 of the index, but the manifest records generation 2/);
    // validate names the object.
    const v = await validateBackup(store, BID, false);
    assert.deepEqual(
      v.problems.map((p) => p.object),
      [idxKey(0)],
    );
    assert.match(v.problems[0]!.problem, /rolled back/);
    // The current version passes.
    await writeJsonObject(store, idxKey(0), index(0, 2, 1, 250));
    assert.deepEqual((await validateBackup(store, BID, false)).problems, []);
  });

  it('an older ciphertext of the manifest is caught by an index written after a newer manifest generation, named once', async () => {
    const { inner, store } = encrypted();
    await writeJsonObject(store, MAN, manifest(3, [1, 1]));
    const old = await inner.get(MAN);
    await writeJsonObject(store, MAN, manifest(4, [2, 2]));
    await writeJsonObject(store, idxKey(0), index(0, 2, 4, 100));
    await writeJsonObject(store, idxKey(1), index(1, 2, 4, 100));
    assert.deepEqual((await validateBackup(store, BID, false)).problems, []);
    await inner.put(MAN, old);
    const v = await validateBackup(store, BID, false);
    assert.deepEqual(
      v.problems.map((p) => p.object),
      [MAN],
    );
    assert.match(v.problems[0]!.problem, /rolled back: this is generation 3 of the manifest, but .*index\.json was written after generation 4/);
  });

  it("a manifest rewritten between a reader's two reads is not a rollback (read again); a put-back one still is", async () => {
    const { store } = encrypted();
    const stale = manifest(3, [1]);
    const idx = index(0, 2, 4, 100);
    const found = checkIndexAgainstManifest(stale, TOPIC, 0, idx);
    assert.equal(found.length, 1);
    await writeJsonObject(store, MAN, manifest(4, [1]));
    assert.deepEqual(await confirmRollbacks(store, BID, found), []);
    await writeJsonObject(store, MAN, stale);
    assert.equal((await confirmRollbacks(store, BID, found)).length, 1);
  });

  it('a deleted index the manifest pins is reported as deleted; an unpinned missing one stays "missing partition index"', async () => {
    const { store } = encrypted();
    await writeJsonObject(store, MAN, manifest(2, [4, undefined]));
    const v = await validateBackup(store, BID, false);
    assert.deepEqual(v.problems.map((p) => [p.object, /deleted after the backup wrote it/.test(p.problem) ? 'deleted' : p.problem]).sort(), [
      [idxKey(0), 'deleted'],
      [idxKey(1), 'missing partition index'],
    ]);
  });

  it('backups written before generations: nothing pinned, nothing refused, and validate warns that rollback is not detectable', async () => {
    const { store } = encrypted();
    await writeJsonObject(store, MAN, manifest(undefined, [undefined]));
    await writeJsonObject(store, idxKey(0), index(0, undefined, undefined, 10));
    const v = await validateBackup(store, BID, false);
    assert.deepEqual(v.problems, []);
    assert.ok(
      v.warnings.some((w) => /no generation .*rollback/.test(w)),
      v.warnings.join('\n'),
    );
    // Resuming such a backup: the book starts at 0 and accepts the stored index.
    const book = new GenerationBook((await readJsonObject(store, MAN, manifestSchema))!);
    book.checkResumed(BID, TOPIC, 0, (await readPartitionIndex(store, BID, TOPIC, 0))!);
    assert.equal(book.indexGeneration(TOPIC, 0), 0);
  });

  it('a resumed backup refuses an index or manifest put back, naming the object', () => {
    const book = new GenerationBook(manifest(5, [3]));
    assert.throws(
      () => book.checkResumed(BID, TOPIC, 0, index(0, 2, 4, 10)),
      (e: unknown) => e instanceof CorruptDataError && e.object === idxKey(0) && /refusing to resume backup rb-1: .*index\.json: rolled back/.test(e.message),
    );
    assert.throws(
      () => book.checkResumed(BID, TOPIC, 0, index(0, 3, 6, 10)),
      (e: unknown) => e instanceof CorruptDataError && e.object === MAN,
    );
    assert.throws(
      () => book.checkResumed(BID, TOPIC, 0, undefined),
      (e: unknown) => e instanceof CorruptDataError && /deleted/.test(e.message),
    );
    book.checkResumed(BID, TOPIC, 0, index(0, 3, 5, 10));
    book.checkResumed(BID, TOPIC, 0, index(0, 7, 5, 10));
    // Stored generations only move forward.
    book.indexStored(TOPIC, 0, 9);
    book.indexStored(TOPIC, 0, 4);
    assert.equal(book.indexGeneration(TOPIC, 0), 9);
  });
});

describe('validate: partition indexes the manifest does not list', () => {
  it('an unlisted index written after a newer manifest generation gives a put-back manifest away; an older one is a warning', async () => {
    const { store } = encrypted();
    await writeJsonObject(store, MAN, manifest(3, [2]));
    await writeJsonObject(store, idxKey(0), index(0, 2, 2, 10));
    // Partition 1 appeared later (the manifest that listed it was generation 4, and was replaced by generation 3).
    await writeJsonObject(store, idxKey(1), index(1, 1, 4, 10));
    let v = await validateBackup(store, BID, false);
    assert.deepEqual(
      v.problems.map((p) => p.object),
      [MAN],
    );
    assert.match(v.problems[0]!.problem, /rolled back: this is generation 3 of the manifest, but .*\/1\/index\.json was written after generation 4/);
    await writeJsonObject(store, idxKey(1), index(1, 1, 3, 10));
    v = await validateBackup(store, BID, false);
    assert.deepEqual(v.problems, []);
    assert.ok(
      v.warnings.some((w) => w.startsWith(`${idxKey(1)}: a partition index the manifest does not list`)),
      v.warnings.join('\n'),
    );
  });
});
