import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { SegmentWriter } from '../../src/format/segment.js';
import type { SegmentEntry } from '../../src/format/partition-index.js';
import { batchReuseProblem, batchTimestampRange, encodeBatch, scanBatch, type KafkaCompression } from '../../src/kafka/protocol/record-batch.js';
import { readSegmentBatches } from '../../src/restore/segment-source.js';
import { TimeWindow } from '../../src/util/time-window.js';
import { MemoryStore } from '../../src/storage/memory.js';
import type { ByteRange } from '../../src/storage/store.js';
import { CorruptDataError } from '../../src/util/errors.js';

const CODECS: KafkaCompression[] = ['none', 'lz4', 'zstd', 'gzip', 'snappy'];

/** Batches of incompressible values, so a segment is well over the 256 KiB tail read. */
function batches(n: number): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0n;
  for (let i = 0; i < n; i++) {
    const records = Array.from({ length: 8 }, (_, j) => ({
      key: j === 0 ? null : Buffer.from(`k${i}-${j}`),
      value: createHash('sha512')
        .update(`${i}/${j}`)
        .digest()
        .subarray(0, 40 + ((i * 7 + j) % 600)),
      timestamp: 1_700_000_000_000n + BigInt(i * 10 - j),
      headers: [{ key: 'h', value: j % 2 ? null : Buffer.alloc(0) }],
    }));
    out.push(encodeBatch(records, { baseOffset: offset, compression: CODECS[i % CODECS.length] }));
    offset += 8n;
  }
  return out;
}

/** A memory store whose streams come in pieces of `chunk` bytes, so blocks straddle chunks. */
class ChunkedStore extends MemoryStore {
  constructor(readonly chunk: number) {
    super();
  }
  override async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    const all = await this.get(key, range);
    const size = this.chunk;
    return (async function* () {
      for (let i = 0; i < all.length; i += size) yield all.subarray(i, i + size);
    })();
  }
}

async function storeSegment(store: MemoryStore, input: Buffer[], blockSize = 16 * 1024): Promise<SegmentEntry> {
  // Entries as versions before format decision 18 wrote them: SHA-256 only.
  const w = new SegmentWriter({ codec: 'none', blockSize, digest: 'sha256' });
  const chunks = input.flatMap((b) => w.add(b));
  const { chunks: last, summary } = w.finish();
  const bytes = Buffer.concat([...chunks, ...last]);
  const key = 'b/topics/t/0/00000000000000000000.kbseg';
  await store.put(key, bytes);
  return {
    key,
    first_offset: 0,
    last_offset: input.length * 8 - 1,
    record_count: summary.recordCount,
    batch_count: summary.batchCount,
    min_timestamp: Number(summary.minTimestamp),
    max_timestamp: Number(summary.maxTimestamp),
    raw_bytes: summary.rawBytes,
    stored_bytes: bytes.length,
    codec: summary.codec,
    sha256: summary.sha256,
    aborted_transactions: [],
    created_at: 0,
  };
}

async function readAll(store: MemoryStore, entry: SegmentEntry): Promise<{ batches: Buffer[]; bytes: number }> {
  const out: Buffer[] = [];
  let bytes = 0;
  for await (const b of readSegmentBatches(store, entry)) {
    out.push(Buffer.from(b.batch));
    bytes += b.bytes;
  }
  return { batches: out, bytes };
}

describe('readSegmentBatches: a forged index', () => {
  it('a raw_bytes overstated in the index does not make the tail read fetch the whole segment', async () => {
    const reads: number[] = [];
    class Recording extends MemoryStore {
      override async get(key: string, range?: ByteRange): Promise<Buffer> {
        const b = await super.get(key, range);
        reads.push(b.length);
        return b;
      }
    }
    const store = new Recording();
    // About 6 MiB of incompressible batches: more than the largest footer the format allows.
    const input = Array.from({ length: 1500 }, (_, i) =>
      encodeBatch(
        Array.from({ length: 8 }, (_, _j) => ({ key: null, value: randomBytes(512), timestamp: 1_700_000_000_000n + BigInt(i), headers: [] })),
        { baseOffset: BigInt(i * 8), compression: 'none' },
      ),
    );
    const entry = { ...(await storeSegment(store, input)), raw_bytes: Number.MAX_SAFE_INTEGER };
    const maxTail = 32 + 72 + 72 * 65_536;
    assert.ok(entry.stored_bytes > maxTail + 1024 * 1024, `segment of ${entry.stored_bytes} bytes must exceed the largest footer`);
    const got = await readAll(store, entry);
    assert.equal(got.batches.length, input.length);
    assert.ok((reads[0] ?? Infinity) <= maxTail, `tail read of ${reads[0]} bytes, at most ${maxTail}`);
  });
});

describe('readSegmentBatches: a whole segment streamed block by block', () => {
  const input = batches(400);

  for (const chunk of [1000, 16 * 1024, 65_537, 1 << 30]) {
    it(`gives back every batch byte for byte with ${chunk}-byte stream chunks`, async () => {
      const store = new ChunkedStore(chunk);
      const entry = await storeSegment(store, input);
      assert.ok(entry.stored_bytes > 256 * 1024, `segment of ${entry.stored_bytes} bytes must exceed the tail read`);
      const got = await readAll(store, entry);
      assert.equal(got.batches.length, input.length);
      got.batches.forEach((b, i) => {
        assert.ok(b.equals(input[i]!), `batch ${i} differs`);
      });
      assert.equal(got.bytes, entry.stored_bytes, 'bytes read are counted once, in full');
    });
  }

  it('reads a segment smaller than the tail read from that one read', async () => {
    const store = new ChunkedStore(4096);
    const small = input.slice(0, 5);
    const entry = await storeSegment(store, small);
    assert.ok(entry.stored_bytes < 256 * 1024);
    const got = await readAll(store, entry);
    assert.deepEqual(got.batches, small);
    assert.equal(got.bytes, entry.stored_bytes);
  });

  it('reads a footer larger than the tail guess with one more ranged read, whole and windowed', async () => {
    const many = batches(1200);
    const store = new ChunkedStore(65_536);
    const entry = await storeSegment(store, many, 1); // one block per batch: a footer of about 86 KB
    assert.ok(72 * 1200 > 64 * 1024);
    const got = await readAll(store, entry);
    assert.equal(got.batches.length, many.length);
    got.batches.forEach((b, i) => {
      assert.ok(b.equals(many[i]!), `batch ${i} differs`);
    });
    // A window inside the segment: only the blocks that meet it.
    const start = 1_700_000_000_000 + 5000;
    const windowed: Buffer[] = [];
    for await (const b of readSegmentBatches(store, entry, TimeWindow.of(start, start + 99))) windowed.push(b.batch);
    assert.ok(windowed.length > 0 && windowed.length < 20, `${windowed.length} batches`);
  });

  it('fails on a SHA-256 that does not match the index, after the blocks passed their CRC', async () => {
    const store = new ChunkedStore(65_536);
    const entry = { ...(await storeSegment(store, input)), sha256: '0'.repeat(64) };
    let seen = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of readSegmentBatches(store, entry)) seen++;
      })(),
      (e: unknown) => e instanceof CorruptDataError && /SHA-256 mismatch/.test(e.message) && e.message.includes(entry.key),
    );
    assert.equal(seen, input.length);
  });

  it('fails on a damaged block before yielding its batches', async () => {
    const store = new ChunkedStore(65_536);
    const entry = await storeSegment(store, input);
    const bytes = await store.get(entry.key);
    bytes[40_000] = bytes[40_000]! ^ 0xff;
    await store.put(entry.key, bytes);
    let seen = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of readSegmentBatches(store, entry)) seen++;
      })(),
      (e: unknown) => e instanceof CorruptDataError && /CRC-32C mismatch/.test(e.message) && e.message.startsWith(`${entry.key}: block `),
    );
    assert.ok(seen < input.length, 'the batches of the damaged block and after it never came out');
  });

  it('fails on an object shorter or longer than the index records', async () => {
    const store = new ChunkedStore(65_536);
    const entry = await storeSegment(store, input);
    const bytes = await store.get(entry.key);
    for (const changed of [bytes.subarray(1000), Buffer.concat([Buffer.alloc(10), bytes])]) {
      await store.put(entry.key, changed);
      await assert.rejects(readAll(store, entry), CorruptDataError);
    }
  });
});

describe('scanBatch', () => {
  it('agrees with batchTimestampRange and batchReuseProblem, for every codec', () => {
    for (const b of batches(10)) {
      const scan = scanBatch(b);
      const range = batchTimestampRange(b);
      assert.deepEqual({ min: scan.min, max: scan.max }, range);
      assert.equal(scan.consecutive, true);
      assert.equal(batchReuseProblem(b, {}, scan), null);
    }
    const unordered = encodeBatch(
      [
        { key: null, value: Buffer.from('a'), timestamp: 5n, offsetDelta: 0 },
        { key: null, value: Buffer.from('b'), timestamp: 3n, offsetDelta: 1 },
        { key: null, value: Buffer.from('c'), timestamp: 9n, offsetDelta: 2 },
      ],
      { compression: 'lz4' },
    );
    assert.deepEqual(scanBatch(unordered), { min: 3n, max: 9n, consecutive: true });
    const gapped = encodeBatch(
      [
        { key: null, value: Buffer.from('a'), timestamp: 5n, offsetDelta: 0 },
        { key: null, value: Buffer.from('b'), timestamp: 3n, offsetDelta: 2 },
      ],
      { compression: 'lz4' },
    );
    assert.equal(scanBatch(gapped).consecutive, false);
  });
});
