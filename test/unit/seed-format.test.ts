import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeBatch } from '../../src/kafka/protocol/record-batch.js';
import type { KafkaRecord } from '../../src/kafka/protocol/record-batch.js';
import { lz4BlockDecompress } from '../../src/format/seed/lz4-block.js';
import { decodeSeedSegment, parseSeedSegmentFrame, seedRecordsToBatches, withoutSeedOffsetHeaders } from '../../src/format/seed/segment.js';
import { convertSeedManifest, isSeedManifestJson, seedManifestSchema } from '../../src/format/seed/manifest.js';
import { readBackupIndex, readBackupManifest } from '../../src/format/seed/backup.js';
import { inspectBackup } from '../../src/format/backup-view.js';
import { validateBackup } from '../../src/backup/validate.js';
import { planRestore } from '../../src/restore/plan.js';
import { countExactly } from '../../src/restore/count.js';
import { FsStore } from '../../src/storage/fs.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { CorruptDataError } from '../../src/util/errors.js';
import { testRestoreOptions } from '../helpers/options.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.join(HERE, '../fixtures/seed-tool-backups');
const ROOT = path.join(FIXTURES, 'backups');
const IDS = ['seed-zstd', 'seed-lz4', 'seed-none'] as const;

interface ExpectedRecord {
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
}
const EXPECTED = JSON.parse(readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, Record<string, ExpectedRecord[]>>;

interface SeedManifestJson {
  topics: { name: string; partitions: { partition_id: number; segments: { key: string; uncompressed_size: number }[] }[] }[];
}
function rawManifest(id: string): SeedManifestJson {
  return JSON.parse(readFileSync(path.join(ROOT, id, 'manifest.json'), 'utf8')) as SeedManifestJson;
}

/** A record in expected.json's shape (base64 bytes, null kept). */
function asExpected(r: KafkaRecord): ExpectedRecord {
  return {
    offset: Number(r.offset),
    timestamp: Number(r.timestamp),
    key: r.key === null ? null : r.key.toString('base64'),
    value: r.value === null ? null : r.value.toString('base64'),
    headers: r.headers.map((h) => [h.key.toString('utf8'), h.value === null ? null : h.value.toString('base64')]),
  };
}

function i64le(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(v);
  return b;
}

describe('seed-tool segment decoder', () => {
  for (const id of IDS) {
    it(`${id}: every segment decodes to the records expected.json holds, record for record`, () => {
      const got: Record<string, Record<string, ExpectedRecord[]>> = {};
      for (const t of rawManifest(id).topics) {
        for (const p of t.partitions) {
          const records: ExpectedRecord[] = [];
          for (const s of p.segments) {
            const seg = decodeSeedSegment(readFileSync(path.join(ROOT, s.key)), s.key, { rawLength: s.uncompressed_size });
            assert.equal(seg.header.compression, id.slice('seed-'.length));
            records.push(...seg.records.map(withoutSeedOffsetHeaders).map(asExpected));
          }
          const byPartition = got[t.name] ?? {};
          byPartition[String(p.partition_id)] = records;
          got[t.name] = byPartition;
        }
      }
      assert.deepEqual(got, EXPECTED);
    });
  }

  it('the seed tool appended x-original-offset and x-original-timestamp to every record; only those are removed', () => {
    const s = rawManifest('seed-zstd').topics[0]!.partitions[0]!.segments[0]!;
    const seg = decodeSeedSegment(readFileSync(path.join(ROOT, s.key)), s.key);
    for (const r of seg.records)
      assert.deepEqual(
        r.headers.slice(-2).map((h) => h.key.toString()),
        ['x-original-offset', 'x-original-timestamp'],
      );
    const base = { offset: 7n, timestamp: 1000n, key: null, value: null };
    const own = { key: Buffer.from('x-original-offset'), value: i64le(3n) }; // a producer's header of that name: kept
    const added = [
      { key: Buffer.from('x-original-offset'), value: i64le(7n) },
      { key: Buffer.from('x-original-timestamp'), value: i64le(1000n) },
    ];
    assert.deepEqual(withoutSeedOffsetHeaders({ ...base, headers: [own, ...added] }).headers, [own]);
    assert.deepEqual(
      withoutSeedOffsetHeaders({ ...base, headers: [...added, { key: Buffer.from('x-source-cluster'), value: Buffer.from('prod') }] }).headers,
      [],
    );
    // Values that are not the record's own offset and timestamp were not added by the seed tool.
    const other = [{ key: Buffer.from('x-original-offset'), value: i64le(8n) }, added[1]!];
    assert.deepEqual(withoutSeedOffsetHeaders({ ...base, headers: other }).headers, other);
  });

  it('a damaged segment is refused with its name: CRC-32, magic, truncation, inflated size', () => {
    const s = rawManifest('seed-lz4').topics[0]!.partitions[0]!.segments[0]!;
    const good = readFileSync(path.join(ROOT, s.key));
    const flipped = Buffer.from(good);
    flipped[100] = flipped[100]! ^ 0xff;
    assert.throws(
      () => decodeSeedSegment(flipped, 'seg-a'),
      (e: unknown) => e instanceof CorruptDataError && /seg-a: CRC-32 mismatch/.test(e.message),
    );
    assert.throws(() => parseSeedSegmentFrame(good.subarray(0, good.length - 3), 'seg-b'), /seg-b: footer magic/);
    assert.throws(() => parseSeedSegmentFrame(Buffer.concat([Buffer.from('KBSE'), good.subarray(4)]), 'seg-c'), /seg-c: not a seed-tool segment/);
    assert.throws(
      () => decodeSeedSegment(good, 'seg-d', { rawLength: s.uncompressed_size - 1 }),
      /seg-d: lz4 block states \d+ inflated bytes, over the \d+ expected/,
    );
  });

  it('damaged content behind a valid CRC-32 (random byte changes, CRC recomputed) decodes or is a CorruptDataError, never another error', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (const id of IDS) {
      const s = rawManifest(id).topics[1]!.partitions[0]!.segments[0]!;
      const good = readFileSync(path.join(ROOT, s.key));
      for (let i = 0; i < 150; i++) {
        const b = Buffer.from(good);
        for (let k = 0, n = 1 + rand(4); k < n; k++) b[8 + rand(b.length - 16)] = rand(256);
        b.writeUInt32LE(zlib.crc32(b.subarray(0, b.length - 8)) >>> 0, b.length - 8);
        try {
          decodeSeedSegment(b, 'fuzz');
        } catch (e) {
          assert.ok(e instanceof CorruptDataError, `${id} case ${i}: ${String(e)}`);
        }
      }
    }
  });

  it('lz4 blocks: overlapping matches inflate exactly; out-of-range offsets and lengths are refused', () => {
    // "abc" literals, then a match of 9 bytes at offset 3 (overlapping), then literals "Z".
    const block = Buffer.from([0x35, 0x61, 0x62, 0x63, 0x03, 0x00, 0x10, 0x5a]);
    assert.equal(lz4BlockDecompress(block, 13, 't').toString(), 'abcabcabcabcZ');
    assert.throws(() => lz4BlockDecompress(Buffer.from([0x35, 0x61, 0x62, 0x63, 0x09, 0x00, 0x10, 0x5a]), 13, 't'), /match offset 9 points before the start/);
    assert.throws(() => lz4BlockDecompress(block, 12, 't'), /output would exceed the 12 bytes/);
    assert.throws(() => lz4BlockDecompress(block, 14, 't'), /inflated to 13 bytes, the header states 14/);
    assert.throws(() => lz4BlockDecompress(Buffer.from([0xf0, 0xff]), 100, 't'), /truncated length/);
  });

  it('records become Kafka batches with their source offsets (gaps kept), cut by size', () => {
    const records: KafkaRecord[] = [0n, 1n, 5n, 6n].map((o) => ({
      offset: 100n + o,
      timestamp: 1000n - o,
      key: Buffer.from(`k${o}`),
      value: Buffer.alloc(100, 1),
      headers: [{ key: Buffer.from('h'), value: null }],
    }));
    const one = seedRecordsToBatches(records);
    assert.equal(one.length, 1);
    assert.deepEqual(
      decodeBatch(one[0]!).records.map((r) => [r.offset, r.timestamp, r.headers[0]!.value]),
      records.map((r) => [r.offset, r.timestamp, null]),
    );
    const cut = seedRecordsToBatches(records, 200);
    assert.equal(cut.length, 4);
    assert.deepEqual(
      cut.flatMap((b) => decodeBatch(b).records.map((r) => r.offset)),
      records.map((r) => r.offset),
    );
  });
});

describe('seed-tool manifest', () => {
  it('is told from ours by its fields, and a segment key outside its partition is refused', () => {
    const raw = rawManifest('seed-none');
    assert.equal(isSeedManifestJson(raw), true);
    assert.equal(isSeedManifestJson({ format_version: 1, tool_version: '0.1.0', backup_id: 'b', status: 'complete', topics: [] }), false);
    const forged = structuredClone(raw);
    forged.topics[0]!.partitions[0]!.segments[0]!.key = 'seed-none/topics/payments/partition=0/segment-00000000000000000000.bin';
    assert.throws(
      () => convertSeedManifest(seedManifestSchema.parse(forged), 'seed-none/manifest.json', () => 0),
      /seed-none\/manifest.json: segment key ".*payments.*" is not the seed tool's key of offset 0 of orders\/\d/,
    );
  });

  it('describe and validate --deep read a seed-tool backup', async () => {
    const store = new FsStore(ROOT);
    const view = await inspectBackup(store, 'seed-zstd');
    assert.equal(view.records, 2000);
    assert.deepEqual(
      view.topics.map((t) => [t.name, t.partitionCount, t.records, t.segments]),
      [
        ['orders', 3, 1200, 15],
        ['payments', 2, 800, 10],
      ],
    );
    const v = await validateBackup(store, 'seed-lz4', true);
    assert.deepEqual(v.problems, []);
    assert.equal(v.recordsChecked, 2000);
  });

  it('a manifest without sizes (older seed versions) takes them from storage; gaps are reported', async () => {
    const src = new FsStore(ROOT);
    const store = new MemoryStore();
    for await (const o of src.list('seed-lz4/')) await store.put(o.key, await src.get(o.key));
    const m = JSON.parse((await store.get('seed-lz4/manifest.json')).toString()) as {
      topics: { partitions: { partition_id: number; segments: Record<string, unknown>[]; gaps?: unknown[] }[] }[];
    };
    for (const t of m.topics)
      for (const p of t.partitions)
        for (const seg of p.segments) {
          delete seg.compressed_size;
          delete seg.uncompressed_size;
        }
    m.topics[0]!.partitions.find((p) => p.partition_id === 0)!.gaps = [{ start_offset: 400, end_offset: 410, reason: 'offset_out_of_range', detected_at: 1 }];
    await store.put('seed-lz4/manifest.json', Buffer.from(JSON.stringify(m)));
    const view = await inspectBackup(store, 'seed-lz4');
    assert.equal(view.storedBytes, (await inspectBackup(src, 'seed-lz4')).storedBytes);
    const v = await validateBackup(store, 'seed-lz4', true);
    assert.deepEqual(v.problems, []);
    assert.equal(v.recordsChecked, 2000);
    assert.ok(
      v.warnings.some((w) => /orders\/0: offsets 400\.\.409 were deleted by retention/.test(w)),
      v.warnings.join('\n'),
    );
  });

  it('validate finds a damaged seed-tool segment and names it', async () => {
    const src = new FsStore(ROOT);
    const store = new MemoryStore();
    for await (const o of src.list('seed-none/')) await store.put(o.key, await src.get(o.key));
    const key = 'seed-none/topics/orders/partition=1/segment-00000000000000000081.bin';
    const bytes = Buffer.from(await store.get(key));
    bytes[200] = bytes[200]! ^ 1;
    await store.put(key, bytes);
    const v = await validateBackup(store, 'seed-none', false);
    assert.deepEqual(
      v.problems.map((p) => p.object),
      [key],
    );
    assert.match(v.problems[0]!.problem, /CRC-32 mismatch/);
  });
});

describe('seed-tool backup: point-in-time window', () => {
  // payments/1's first segment ends with a record moved back in time: the manifest's end_timestamp
  // (its last record) is earlier than the segment's latest record, which this window holds.
  const start = 1730703000000;
  const end = 1730790000000;

  it('the exact count of validate-restore is the number of expected records in the window, out-of-order ones included', async () => {
    const store = new FsStore(ROOT);
    const manifest = await readBackupManifest(store, 'seed-zstd');
    const first = (await readBackupIndex(store, 'seed-zstd', manifest!, 'payments', 1))!.segments[0]!;
    assert.ok(first.max_timestamp! < start, 'the first segment of payments/1 lies before the window by its manifest timestamps');
    const want = Object.values(EXPECTED)
      .flatMap((parts) => Object.values(parts).flat())
      .filter((r) => r.timestamp >= start && r.timestamp <= end).length;
    const inFirst = EXPECTED.payments!['1']!.filter((r) => r.offset <= first.last_offset && r.timestamp >= start && r.timestamp <= end).length;
    assert.ok(inFirst > 0, 'the window holds a record of that segment');
    const plan = await planRestore(testRestoreOptions('unused:9092', store, 'seed-zstd', { windowStart: start, windowEnd: end }));
    assert.deepEqual(plan.errors, []);
    assert.ok(plan.recordsLowerBound <= want && want <= plan.recordsUpperBound, `bounds ${plan.recordsLowerBound}..${plan.recordsUpperBound} hold ${want}`);
    await countExactly(plan, store);
    assert.equal(plan.recordsEstimate, want);
  });
});
