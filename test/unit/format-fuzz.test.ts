/**
 * Fuzzing the stored-JSON readers (partition index, manifest) and the key layout. Properties:
 *   - whatever bytes are stored, reading returns a value or throws a CorruptDataError whose message
 *     starts with the object's key (never a TypeError, never an unnamed error);
 *   - an accepted index only names segment keys that are the layout key of their offsets under the
 *     partition's own prefix, in order and without overlap; an accepted manifest only holds topic
 *     names that are safe path segments and partitions below the partition count;
 *   - keys built from any topic/backup id are refused or stay under `{backup_id}/`.
 * Regression seeds that found bugs are pinned at the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readJsonObject } from '../../src/format/json-object.js';
import { checkBackupId, isValidTopicName, keys } from '../../src/format/layout.js';
import { manifestSchema, type Manifest } from '../../src/format/manifest.js';
import { partitionIndexSchema, readPartitionIndex, type PartitionIndex } from '../../src/format/partition-index.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { validateKey } from '../../src/storage/keys.js';
import { CorruptDataError, type StorageError } from '../../src/util/errors.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const BID = 'b1';
const TOPIC = 'orders';
const IDX_KEY = keys.partitionIndex(BID, TOPIC, 0);
const MAN_KEY = keys.manifest(BID);
const SHA = 'a'.repeat(64);

function validIndex(): PartitionIndex {
  const seg = (first: number, last: number, streamed: boolean) => ({
    key: streamed ? keys.streamedSegment(BID, TOPIC, 0, first) : keys.segment(BID, TOPIC, 0, first, last),
    first_offset: first,
    last_offset: last,
    record_count: last - first + 1,
    batch_count: 3,
    min_timestamp: 1731232800000,
    max_timestamp: 1731232900000,
    raw_bytes: 4000,
    stored_bytes: 2000,
    codec: 'zstd' as const,
    sha256: SHA,
    aborted_transactions: [],
    created_at: 1795604708270,
  });
  return {
    format_version: 1,
    topic: TOPIC,
    partition: 0,
    next_offset: 300,
    segments: [seg(0, 99, false), seg(100, 199, true), seg(200, 299, true)],
    gaps: [],
    updated_at: 1795604708300,
  };
}

function validManifest(): Manifest {
  return {
    format_version: 1,
    tool_version: '0.1.0',
    backup_id: BID,
    status: 'complete',
    mode: 'snapshot',
    source_cluster_id: null,
    source_bootstrap_servers: ['k:9092'],
    compression: 'zstd',
    include_offset_headers: true,
    created_at: 1,
    updated_at: 2,
    completed_at: 3,
    topics: [
      {
        name: TOPIC,
        partition_count: 2,
        configs: {},
        partitions: [
          { partition: 0, log_start_offset: 0, end_offset: 300 },
          { partition: 1, log_start_offset: 5, end_offset: 9 },
        ],
      },
    ],
  };
}

/** Reads `bytes` stored at `key`; returns the value, or undefined when refused with a CorruptDataError naming the key. */
async function readOrRefuse<T>(key: string, bytes: Uint8Array, read: (s: MemoryStore) => Promise<T | undefined>): Promise<T | undefined> {
  const store = new MemoryStore();
  await store.put(key, bytes);
  try {
    return await read(store);
  } catch (err) {
    if (err instanceof CorruptDataError && err.message.startsWith(key)) return undefined;
    throw err;
  }
}

const readIndex = (s: MemoryStore) => readPartitionIndex(s, BID, TOPIC, 0);
const readManifest = (s: MemoryStore) => readJsonObject(s, MAN_KEY, manifestSchema);

/** Sets `value` at a random path of a JSON document (objects and arrays). */
function mutate(doc: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let cur: Record<string | number, unknown> = copy;
  for (let i = 0; i < path.length - 1; i++) {
    const next = cur[path[i]!];
    if (typeof next !== 'object' || next === null) return copy;
    cur = next as Record<string | number, unknown>;
  }
  if (path.length) cur[path[path.length - 1]!] = value;
  return copy;
}

function paths(doc: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(doc))
    doc.forEach((v, i) => {
      out.push(...paths(v, [...prefix, i]));
    });
  else if (typeof doc === 'object' && doc !== null) for (const [k, v] of Object.entries(doc)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function checkAcceptedIndex(idx: PartitionIndex): void {
  const prefix = keys.partitionPrefix(BID, TOPIC, 0);
  let prev = -1;
  for (const s of idx.segments) {
    assert.ok(s.key.startsWith(prefix) && /^\d{20}(-\d{20})?\.kbseg$/.test(s.key.slice(prefix.length)), `accepted key ${s.key}`);
    validateKey(s.key);
    assert.ok(s.first_offset > prev && s.last_offset >= s.first_offset);
    prev = s.last_offset;
  }
  if (idx.segments.length) assert.ok(idx.next_offset !== null && idx.next_offset > prev);
}

function checkAcceptedManifest(m: Manifest): void {
  for (const t of m.topics) {
    assert.ok(isValidTopicName(t.name), `accepted topic name ${JSON.stringify(t.name)}`);
    validateKey(keys.partitionIndex(BID, t.name, 0));
    assert.ok(t.partition_count >= 1 && t.partition_count <= 100_000);
    for (const p of t.partitions) assert.ok(p.partition >= 0 && p.partition < t.partition_count && p.log_start_offset >= 0 && p.end_offset >= 0);
  }
}

test('the valid fixtures are accepted', async () => {
  assert.ok(await readOrRefuse(IDX_KEY, Buffer.from(JSON.stringify(validIndex())), readIndex));
  assert.ok(await readOrRefuse(MAN_KEY, Buffer.from(JSON.stringify(validManifest())), readManifest));
});

test('random bytes and random JSON as an index or a manifest: a value or a CorruptDataError naming the object', async () => {
  const anyBytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
    fc.string().map((s) => Buffer.from(s)),
  );
  await fc.assert(
    fc.asyncProperty(anyBytes, async (bytes) => {
      const idx = await readOrRefuse(IDX_KEY, bytes, readIndex);
      if (idx) checkAcceptedIndex(idx);
      const m = await readOrRefuse(MAN_KEY, bytes, readManifest);
      if (m) checkAcceptedManifest(m);
    }),
    { numRuns: RUNS },
  );
});

const hostile = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(
    '../../other/00000000000000000000.kbseg',
    `${BID}/manifest.json`,
    `${BID}/topics/${TOPIC}/1/00000000000000000000.kbseg`,
    '/etc/passwd',
    'C:\\x',
    '..',
    '.',
    '',
    'a/b',
    -1,
    -0,
    1e21,
    2 ** 53,
    NaN,
    null,
    '0',
    1.5,
    '00000000000000000000.kbseg',
  ),
  fc.string({ unit: fc.constantFrom('.', '/', '\\', 'a', '0', '-', '\u0000') }),
);

test('one field of a valid index replaced by hostile values: refused with the key named, or still a safe index', async () => {
  const base = validIndex();
  const all = paths(base);
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...all), hostile, async (path, value) => {
      const idx = await readOrRefuse(IDX_KEY, Buffer.from(JSON.stringify(mutate(base, path, value))), readIndex);
      if (idx) checkAcceptedIndex(idx);
    }),
    { numRuns: RUNS * 3 },
  );
});

test('one field of a valid manifest replaced by hostile values: refused with the key named, or still a safe manifest', async () => {
  const base = validManifest();
  const all = paths(base);
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...all), hostile, async (path, value) => {
      const m = await readOrRefuse(MAN_KEY, Buffer.from(JSON.stringify(mutate(base, path, value))), readManifest);
      if (m) checkAcceptedManifest(m);
    }),
    { numRuns: RUNS * 3 },
  );
});

test('keys built from any topic name, partition and backup id are refused or stay under {backup_id}/', () => {
  const name = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: fc.constantFrom('.', '/', '\\', 'a', '-', '_', '\u0000', '%'), maxLength: 12 }));
  fc.assert(
    fc.property(name, name, fc.integer({ min: 0, max: 1_000_000 }), (backupId, topic, partition) => {
      let key: string;
      try {
        checkBackupId(backupId);
        key = keys.streamedSegment(backupId, topic, partition, 0);
      } catch (err) {
        if (err instanceof CorruptDataError) return;
        throw err;
      }
      try {
        validateKey(key);
      } catch (err) {
        assert.fail(`${JSON.stringify(key)} was built but is not a valid key: ${(err as StorageError).message}`);
      }
      assert.ok(key.startsWith(`${backupId}/topics/${topic}/${partition}/`));
      assert.ok(!key.split('/').includes('..'));
    }),
    { numRuns: RUNS * 3 },
  );
});

// Regression seeds: inputs that were accepted before the fixes of issue 7.
test('regression: forged segment keys are refused (before: any non-empty string was read)', async () => {
  for (const key of [
    '../../other/00000000000000000000.kbseg',
    `${BID}/manifest.json`,
    `${BID}/topics/${TOPIC}/1/00000000000000000000.kbseg`,
    `${BID}/topics/${TOPIC}/0/00000000000000000007.kbseg`,
    `x/topics/${TOPIC}/0/00000000000000000000-00000000000000000099.kbseg`,
  ]) {
    const idx = validIndex();
    idx.segments[0]!.key = key;
    assert.equal(await readOrRefuse(IDX_KEY, Buffer.from(JSON.stringify(idx)), readIndex), undefined, key);
  }
  const other = validIndex();
  other.partition = 1;
  assert.equal(await readOrRefuse(IDX_KEY, Buffer.from(JSON.stringify(other)), readIndex), undefined, 'the index of another partition');
  const behind = validIndex();
  behind.next_offset = 10;
  assert.equal(await readOrRefuse(IDX_KEY, Buffer.from(JSON.stringify(behind)), readIndex), undefined, 'next_offset inside the last segment');
});

test('regression: manifest topic names with separators, negative offsets, partitions beyond the count are refused (before: accepted)', async () => {
  for (const edit of [
    (m: Manifest) => (m.topics[0]!.name = '../../x'),
    (m: Manifest) => (m.topics[0]!.name = 'a/b'),
    (m: Manifest) => (m.topics[0]!.name = '..'),
    (m: Manifest) => (m.topics[0]!.partitions[0]!.log_start_offset = -1),
    (m: Manifest) => (m.topics[0]!.partitions[0]!.end_offset = -1),
    (m: Manifest) => (m.topics[0]!.partitions[1]!.partition = 2),
    (m: Manifest) => (m.topics[0]!.partitions[1]!.partition = 0),
    (m: Manifest) => m.topics.push(structuredClone(m.topics[0]!)),
  ]) {
    const m = validManifest();
    edit(m);
    assert.equal(await readOrRefuse(MAN_KEY, Buffer.from(JSON.stringify(m)), readManifest), undefined, JSON.stringify(m.topics));
  }
});

test('the raw index schema alone still parses what verifyPartitionIndex then refuses (the layout check is separate)', () => {
  const idx = validIndex();
  idx.segments[0]!.key = '../../x.kbseg';
  assert.equal(partitionIndexSchema.safeParse(idx).success, true);
});
