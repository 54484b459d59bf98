import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { SegmentWriter, type SegmentCodec, type SegmentWriterOptions } from '../../src/format/segment.js';
import { partitionIndexSchema, type SegmentEntry } from '../../src/format/partition-index.js';
import { crc32cHex, digestOf, digestProblem, recordedDigest, SegmentDigester } from '../../src/format/segment-digest.js';
import { SegmentBuilder } from '../../src/backup/segment-builder.js';
import { rewriteSegment, keyMatcher } from '../../src/lifecycle/erase-segment.js';
import { crc32c } from '../../src/kafka/protocol/crc32c.js';
import { encodeBatch } from '../../src/kafka/protocol/record-batch.js';
import { readSegmentBatches } from '../../src/restore/segment-source.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { CorruptDataError } from '../../src/util/errors.js';

/** Batches with values that vary with `seed`, so two segments of the same shape differ in content. */
function batches(n: number, seed = 0): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const records = Array.from({ length: 4 }, (_, j) => ({
      key: Buffer.from(`k${j}`),
      value: createHash('sha512').update(`${seed}/${i}/${j}`).digest(),
      timestamp: 1_700_000_000_000n + BigInt(i * 4 + j),
      headers: [],
    }));
    out.push(encodeBatch(records, { baseOffset: BigInt(i * 4), compression: 'none' }));
  }
  return out;
}

function write(input: Buffer[], opts: SegmentWriterOptions): { bytes: Buffer; crc32c: string; sha256: string | undefined } {
  const w = new SegmentWriter(opts);
  const chunks = input.flatMap((b) => w.add(b));
  const fin = w.finish();
  return { bytes: Buffer.concat([...chunks, ...fin.chunks]), crc32c: fin.summary.crc32c, sha256: fin.summary.sha256 };
}

const KEY = 'b/topics/t/0/00000000000000000000.kbseg';

function entryFor(bytes: Buffer, n: number, digest: { sha256?: string; crc32c?: string }): SegmentEntry {
  return partitionIndexSchema.parse({
    format_version: 1,
    topic: 't',
    partition: 0,
    next_offset: n * 4,
    segments: [
      {
        key: KEY,
        first_offset: 0,
        last_offset: n * 4 - 1,
        record_count: n * 4,
        batch_count: n,
        min_timestamp: 1_700_000_000_000,
        max_timestamp: 1_700_000_000_000 + n * 4 - 1,
        raw_bytes: 0,
        stored_bytes: bytes.length,
        codec: 'none',
        ...digest,
        aborted_transactions: [],
        created_at: 0,
      },
    ],
    updated_at: 0,
  }).segments[0]!;
}

async function readAll(store: MemoryStore, entry: SegmentEntry): Promise<number> {
  let n = 0;
  for await (const _ of readSegmentBatches(store, entry)) n++;
  return n;
}

describe('whole-object segment digest', () => {
  const input = batches(60);

  for (const codec of ['none', 'zstd', 'lz4'] as SegmentCodec[]) {
    it(`the writer's CRC-32C, derived from the block CRCs, is the CRC-32C of the object's bytes (${codec}, many blocks)`, () => {
      const { bytes, crc32c: got, sha256 } = write(input, { codec, blockSize: 2048 });
      assert.equal(got, crc32cHex(crc32c(bytes)));
      assert.equal(sha256, undefined, 'no SHA-256 by default');
    });
  }

  it("with digest 'sha256' the writer records both, each of the object's bytes", () => {
    const { bytes, crc32c: crc, sha256 } = write(input, { codec: 'zstd', blockSize: 4096, digest: 'sha256' });
    assert.equal(sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(crc, crc32cHex(crc32c(bytes)));
  });

  it('the segment builder passes its digest choice into the index entry', async () => {
    for (const digest of ['crc32c', 'sha256'] as const) {
      const store = new MemoryStore();
      const b = new SegmentBuilder('zstd', 3, { digest, blockSize: 4096 });
      for (const [i, x] of input.entries()) b.add(x, i * 4, i * 4 + 3, 4, null, null);
      const e = await b.store(store, KEY);
      const bytes = await store.get(KEY);
      assert.equal(e.crc32c, digestOf(bytes, 'crc32c'));
      assert.equal(e.sha256, digest === 'sha256' ? digestOf(bytes, 'sha256') : undefined);
    }
  });

  it('an index entry needs at least one digest; entries of older versions (SHA-256 only) still parse', () => {
    const { bytes, sha256 } = write(input, { codec: 'none', digest: 'sha256' });
    assert.equal(entryFor(bytes, 60, { sha256: sha256! }).sha256, sha256);
    assert.throws(() => entryFor(bytes, 60, {}), /needs sha256 or crc32c/);
    assert.throws(() => entryFor(bytes, 60, { crc32c: 'xyz' }));
  });

  it('SHA-256 is what a reader checks when an entry has it (older backups), else CRC-32C', () => {
    assert.deepEqual(recordedDigest({ sha256: 'a'.repeat(64), crc32c: '01234567' }), { algorithm: 'sha256', value: 'a'.repeat(64) });
    assert.deepEqual(recordedDigest({ crc32c: '01234567' }), { algorithm: 'crc32c', value: '01234567' });
    const d = new SegmentDigester('crc32c');
    d.update(Buffer.from('12345'));
    d.update(Buffer.from('6789'));
    assert.equal(d.digest(), 'e3069283', 'the check value of CRC-32C, fed in two pieces');
  });

  it('an old-format segment (index with SHA-256 only) reads and verifies; a substituted object fails its SHA-256', async () => {
    const store = new MemoryStore();
    const a = write(input, { codec: 'none', blockSize: 2048, digest: 'sha256' });
    const entry = entryFor(a.bytes, 60, { sha256: a.sha256! });
    await store.put(KEY, a.bytes);
    assert.equal(await readAll(store, entry), 60);
    assert.equal(digestProblem(entry, a.bytes), undefined);
    // Another valid segment of the same shape (an older object put back under the key): every block passes its CRC.
    const b = write(batches(60, 1), { codec: 'none', blockSize: 2048 });
    assert.equal(b.bytes.length, a.bytes.length);
    await store.put(KEY, b.bytes);
    await assert.rejects(readAll(store, entry), (e: unknown) => e instanceof CorruptDataError && /SHA-256 mismatch/.test(e.message) && e.message.includes(KEY));
    assert.match(digestProblem(entry, b.bytes) ?? '', /^SHA-256 mismatch: index records [0-9a-f]{64}, object has [0-9a-f]{64}$/);
  });

  it('a new segment (CRC-32C only) reads and verifies; a substituted or damaged object is detected', async () => {
    const store = new MemoryStore();
    const a = write(input, { codec: 'zstd', blockSize: 2048 });
    const entry = entryFor(a.bytes, 60, { crc32c: a.crc32c });
    await store.put(KEY, a.bytes);
    assert.equal(await readAll(store, entry), 60);
    assert.equal(digestProblem(entry, a.bytes), undefined);
    const b = write(batches(60, 1), { codec: 'none', blockSize: 2048 });
    await store.put(KEY, b.bytes);
    await assert.rejects(
      readAll(store, { ...entry, stored_bytes: b.bytes.length }),
      (e: unknown) => e instanceof CorruptDataError && /CRC-32C mismatch/.test(e.message) && e.message.includes(KEY),
    );
    assert.match(digestProblem(entry, b.bytes) ?? '', /^CRC-32C mismatch: index records [0-9a-f]{8}, object has [0-9a-f]{8}$/);
    for (const at of [0, 1000, a.bytes.length - 40, a.bytes.length - 1]) {
      const bad = Buffer.from(a.bytes);
      bad[at]! ^= 0x10;
      assert.match(digestProblem(entry, bad) ?? '', /CRC-32C mismatch/, `a bit flipped at byte ${at}`);
    }
  });

  it('erase keeps the digest an entry had: SHA-256 entries get SHA-256 again, CRC-32C entries CRC-32C', () => {
    for (const digest of ['sha256', 'crc32c'] as const) {
      const a = write(input, { codec: 'none', digest });
      const entry = entryFor(a.bytes, 60, digest === 'sha256' ? { sha256: a.sha256! } : { crc32c: a.crc32c });
      const rw = rewriteSegment(a.bytes, entry, 'b/topics/t/0/00000000000000000000-00000000000000000239.kbseg', keyMatcher([Buffer.from('k1')]))!;
      assert.ok(rw.removed.length > 0);
      assert.equal(rw.entry.crc32c, digestOf(rw.bytes, 'crc32c'));
      assert.equal(rw.entry.sha256, digest === 'sha256' ? digestOf(rw.bytes, 'sha256') : undefined);
    }
  });
});
