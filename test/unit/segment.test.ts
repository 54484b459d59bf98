import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  blocksForOffsets,
  decodeBlock,
  footerRange,
  parseSegmentFooter,
  parseSegmentTail,
  parseSegmentTrailer,
  readSegment,
  SegmentWriter,
  SEGMENT_TRAILER_SIZE,
  type SegmentCodec,
} from '../../src/format/segment.js';
import { computeBatchCrc, CRC_OFFSET, encodeBatch, readBatchHeader, type KafkaCompression } from '../../src/kafka/protocol/record-batch.js';
import { CorruptDataError, KafkaBackupError } from '../../src/util/errors.js';
import { crc32c as crc32cOf } from '../../src/kafka/protocol/crc32c.js';

const SEGMENT_CODECS: SegmentCodec[] = ['zstd', 'lz4', 'none'];
const BATCH_CODECS: KafkaCompression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/** Deterministic pseudo-random batches with offset gaps, non-monotonic timestamps and a control batch. */
function makeBatches(n: number, seed = 1): Buffer[] {
  let s = seed;
  const rnd = (): number => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s;
  };
  const out: Buffer[] = [];
  let offset = 100n;
  for (let i = 0; i < n; i++) {
    const count = 1 + (rnd() % 20);
    const records = Array.from({ length: count }, (_, j) => ({
      key: j % 5 === 0 ? null : Buffer.from(`key-${i}-${j}`),
      value: j % 7 === 0 ? null : Buffer.from(`value-${i}-${j}-`.repeat(1 + (rnd() % 50))),
      timestamp: 1_700_000_000_000n + BigInt(rnd() % 100_000) - 50_000n,
      headers:
        j % 3 === 0
          ? [
              { key: 'h', value: Buffer.from([j]) },
              { key: 'h', value: null },
            ]
          : [],
    }));
    let batch = encodeBatch(records, { baseOffset: offset, compression: BATCH_CODECS[i % BATCH_CODECS.length], transactional: i % 11 === 3 });
    if (i % 17 === 16) {
      batch = Buffer.from(batch);
      batch.writeInt16BE(batch.readInt16BE(21) | 0x30, 21); // control + transactional
      batch.writeUInt32BE(computeBatchCrc(batch), CRC_OFFSET);
    }
    out.push(batch);
    offset += BigInt(count) + BigInt(rnd() % 3); // sometimes a gap (compaction)
  }
  return out;
}

function writeSegment(batches: Buffer[], opts: ConstructorParameters<typeof SegmentWriter>[0]) {
  const w = new SegmentWriter(opts);
  const chunks: Buffer[] = [];
  for (const b of batches) chunks.push(...w.add(b));
  const fin = w.finish();
  chunks.push(...fin.chunks);
  return { bytes: Buffer.concat(chunks), summary: fin.summary, chunks };
}

const BATCHES = makeBatches(300);

describe('SegmentWriter + readSegment', () => {
  for (const codec of SEGMENT_CODECS) {
    it(`round-trips many batches across blocks (${codec})`, () => {
      const { bytes, summary, chunks } = writeSegment(BATCHES, { codec, blockSize: 8 * 1024, level: 5 });
      assert.ok(chunks.length > 5, 'blocks were emitted while streaming');
      const { footer, batches } = readSegment(bytes);
      assert.equal(batches.length, BATCHES.length);
      for (let i = 0; i < BATCHES.length; i++) assert.ok(batches[i]!.equals(BATCHES[i]!), `batch ${i}`);
      assert.ok(footer.blocks.length > 5);
      assert.equal(summary.blockCount, footer.blocks.length);
      assert.equal(summary.storedBytes, bytes.length);
      assert.equal(
        summary.crc32c,
        crc32cOf(bytes).toString(16).padStart(8, '0'),
        'the whole-object CRC-32C derived from the block CRCs is the CRC of the bytes',
      );
      assert.equal(summary.sha256, undefined, 'no SHA-256 unless asked for');
      const headers = BATCHES.map((b) => readBatchHeader(b));
      assert.equal(summary.firstOffset, 100n);
      assert.equal(summary.lastOffset, headers.at(-1)!.lastOffset);
      assert.equal(
        summary.recordCount,
        headers.reduce((n, h) => n + h.recordCount, 0),
      );
      assert.equal(summary.batchCount, BATCHES.length);
      assert.equal(
        summary.rawBytes,
        BATCHES.reduce((n, b) => n + b.length, 0),
      );
      assert.equal(summary.controlBatchCount, headers.filter((h) => h.isControl).length);
      assert.equal(summary.transactionalBatchCount, headers.filter((h) => h.isTransactional).length);
      assert.ok(summary.controlBatchCount > 0);
      assert.equal(footer.minTimestamp, summary.minTimestamp);
      assert.equal(footer.maxTimestamp, summary.maxTimestamp);
      assert.ok(summary.minTimestamp >= 1_700_000_000_000n - 50_000n && summary.maxTimestamp < 1_700_000_000_000n + 50_000n);
      // blocks never exceed blockSize unless a single batch does, and are cut between batches
      for (const b of footer.blocks) assert.ok(b.rawLength <= 8 * 1024 || b.batchCount === 1);
      if (codec === 'zstd') assert.ok(summary.storedBytes < summary.rawBytes);
    });
  }

  it('compressing off-thread gives the same object, in order, whenever the caller settles', async () => {
    const batches = makeBatches(120, 7);
    for (const level of [1, 3]) {
      const sync = writeSegment(batches, { codec: 'zstd', level, blockSize: 8 * 1024 });
      const w = new SegmentWriter({ codec: 'zstd', level, blockSize: 8 * 1024, compressOffThread: true });
      const chunks: Buffer[] = [];
      let settled = 0;
      for (const [i, b] of batches.entries()) {
        chunks.push(...w.add(b));
        // Settle at irregular points, sometimes letting several blocks pile up.
        if (i % 7 === 3) {
          settled++;
          chunks.push(...(await w.settle(i % 3)));
        }
      }
      assert.throws(
        () => w.finish(),
        (e: unknown) => e instanceof KafkaBackupError && e.code === 'SEGMENT_PENDING',
      );
      const fin = await w.finishAsync();
      chunks.push(...fin.chunks);
      assert.ok(settled > 0 && sync.summary.blockCount > 10);
      assert.ok(Buffer.concat(chunks).equals(sync.bytes), `level ${level}: bytes differ`);
      assert.deepEqual(fin.summary, sync.summary);
      assert.equal(w.compressingBlocks, 0);
      assert.deepEqual(readSegment(Buffer.concat(chunks)).batches, batches);
    }
  });

  it('an uncompressed block of batches lying back to back in one buffer is a view of it, not a copy', () => {
    const batches = makeBatches(6, 3);
    const response = Buffer.concat(batches); // as a Fetch response holds them
    const views: Buffer[] = [];
    for (let at = 0, i = 0; i < batches.length; at += batches[i]!.length, i++) views.push(response.subarray(at, at + batches[i]!.length));
    const w = new SegmentWriter({ codec: 'none', blockSize: 1 << 20 });
    for (const v of views) w.add(v);
    const [block] = w.flush();
    assert.ok(block!.equals(response));
    assert.equal(block!.buffer, response.buffer, 'shares the response buffer');
    // Batches from different buffers are copied into one block (Buffer.alloc: never from the shared pool).
    const w2 = new SegmentWriter({ codec: 'none', blockSize: 1 << 20 });
    for (const b of batches) {
      const own = Buffer.alloc(b.length);
      b.copy(own);
      w2.add(own);
    }
    const [copied] = w2.flush();
    assert.ok(copied!.equals(response));
    assert.notEqual(copied!.buffer, batches[0]!.buffer);
  });

  it('decodes one block from the middle with ranged reads only', () => {
    const { bytes } = writeSegment(BATCHES, { codec: 'zstd', blockSize: 4 * 1024 });
    const tail = bytes.subarray(bytes.length - 4096);
    const parsed = parseSegmentTail(tail, bytes.length);
    let footer = parsed.footer;
    if (!footer) footer = parseSegmentFooter(bytes.subarray(parsed.footerRange.start, parsed.footerRange.end), parsed.trailer);
    const mid = footer.blocks[Math.floor(footer.blocks.length / 2)]!;
    const stored = Buffer.from(bytes.subarray(mid.storedOffset, mid.storedOffset + mid.storedLength));
    const batches = decodeBlock(stored, mid);
    assert.equal(batches.length, mid.batchCount);
    assert.equal(readBatchHeader(batches[0]!).baseOffset, mid.firstOffset);
    const startIndex = BATCHES.findIndex((b) => readBatchHeader(b).baseOffset === mid.firstOffset);
    for (let i = 0; i < batches.length; i++) assert.ok(batches[i]!.equals(BATCHES[startIndex + i]!));
    const target = readBatchHeader(BATCHES[startIndex]!).baseOffset;
    assert.deepEqual(
      blocksForOffsets(footer, target, target).map((b) => b.index),
      [mid.index],
    );
    // A tail too small for the footer says where the footer is.
    const small = parseSegmentTail(bytes.subarray(bytes.length - SEGMENT_TRAILER_SIZE), bytes.length);
    assert.equal(small.footer, null);
    assert.deepEqual(small.footerRange, footerRange(small.trailer));
  });

  it('keeps a batch larger than the block size whole in its own block', () => {
    const big = encodeBatch([{ key: null, value: Buffer.alloc(300_000, 7), timestamp: 5n }], { baseOffset: 10n });
    const small = encodeBatch([{ key: null, value: Buffer.from('x'), timestamp: 3n }], { baseOffset: 11n });
    const first = encodeBatch([{ key: null, value: Buffer.from('a'), timestamp: 1n }], { baseOffset: 5n });
    const { bytes } = writeSegment([first, big, small], { blockSize: 1000, codec: 'lz4' });
    const { footer, batches } = readSegment(bytes);
    assert.equal(batches.length, 3);
    assert.deepEqual(
      footer.blocks.map((b) => b.batchCount),
      [1, 1, 1],
    );
    assert.equal(footer.minTimestamp, 1n);
    assert.equal(footer.maxTimestamp, 5n);
  });

  it('refuses out-of-order batches, corrupt batches, empty segments and bad options', () => {
    const w = new SegmentWriter();
    w.add(BATCHES[1]!);
    assert.throws(
      () => w.add(BATCHES[0]!),
      (e: unknown) => e instanceof KafkaBackupError && e.code === 'SEGMENT_ORDER',
    );
    const bad = Buffer.from(BATCHES[2]!);
    bad[bad.length - 1]! ^= 1;
    assert.throws(() => w.add(bad), CorruptDataError);
    assert.throws(
      () => new SegmentWriter().finish(),
      (e: unknown) => e instanceof KafkaBackupError && e.code === 'SEGMENT_EMPTY',
    );
    assert.throws(() => new SegmentWriter({ level: 23 }), RangeError);
    assert.throws(() => new SegmentWriter({ codec: 'gzip' as SegmentCodec }), RangeError);
  });
});

describe('segment corruption', () => {
  const { bytes } = writeSegment(BATCHES.slice(0, 60), { codec: 'zstd', blockSize: 2 * 1024 });
  const trailer = parseSegmentTrailer(bytes, bytes.length);
  const footer = parseSegmentFooter(bytes.subarray(trailer.footerOffset, trailer.footerOffset + trailer.footerLength), trailer);

  const expectCorrupt = (b: Buffer, pattern?: RegExp): void => {
    assert.throws(
      () => readSegment(b),
      (e: unknown) => e instanceof CorruptDataError && (!pattern || pattern.test(e.message)),
    );
  };

  it('detects trailer damage', () => {
    for (let i = bytes.length - SEGMENT_TRAILER_SIZE; i < bytes.length; i++) {
      const b = Buffer.from(bytes);
      b[i]! ^= 0x40;
      expectCorrupt(b);
    }
    expectCorrupt(Buffer.concat([bytes, Buffer.from([0])]), /magic/);
  });

  it('detects footer damage', () => {
    const b = Buffer.from(bytes);
    b[trailer.footerOffset + 20]! ^= 1;
    expectCorrupt(b, /footer CRC/);
  });

  it('detects block damage and names the block', () => {
    const blk = footer.blocks[2]!;
    const b = Buffer.from(bytes);
    b[blk.storedOffset + 5]! ^= 1;
    expectCorrupt(b, /block 2: CRC/);
    const stored = bytes.subarray(blk.storedOffset, blk.storedOffset + blk.storedLength);
    assert.throws(() => decodeBlock(stored.subarray(1), blk), /block 2: .* footer says/);
    assert.throws(() => decodeBlock(stored, { ...blk, rawLength: blk.rawLength - 1 }), CorruptDataError);
    assert.throws(() => decodeBlock(stored, { ...blk, batchCount: blk.batchCount + 1 }), CorruptDataError);
    assert.throws(() => decodeBlock(stored, { ...blk, firstOffset: blk.firstOffset + 1n }), CorruptDataError);
    assert.throws(() => decodeBlock(stored, { ...blk, recordCount: blk.recordCount + 1 }), CorruptDataError);
  });

  it('detects truncation at every length and garbage', () => {
    for (let n = 0; n < bytes.length; n += 97) expectCorrupt(bytes.subarray(0, n));
    for (let n = 1; n < bytes.length; n += 211) expectCorrupt(bytes.subarray(n));
    expectCorrupt(Buffer.alloc(1000));
    expectCorrupt(Buffer.from('KBSEGMNT'));
  });

  it('fuzz: random bytes only ever raise CorruptDataError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.boolean(), (arr, withTrailer) => {
        let b = Buffer.from(arr);
        if (withTrailer) b = Buffer.concat([b, bytes.subarray(bytes.length - SEGMENT_TRAILER_SIZE)]);
        try {
          readSegment(b);
          return false; // random bytes must never parse
        } catch (e) {
          return e instanceof CorruptDataError;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzz: any single mutation of a valid segment raises CorruptDataError', () => {
    fc.assert(
      fc.property(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const b = Buffer.from(bytes);
        b[pos]! ^= x;
        try {
          readSegment(b);
          return false;
        } catch (e) {
          return e instanceof CorruptDataError;
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('fuzz: a footer re-signed with a valid CRC but random fields still raises CorruptDataError', () => {
    const footerBytes = bytes.subarray(trailer.footerOffset, trailer.footerOffset + trailer.footerLength);
    fc.assert(
      fc.property(fc.nat({ max: footerBytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const f = Buffer.from(footerBytes);
        f[pos]! ^= x;
        // Re-sign footer and trailer so the structure checks, not the CRCs, must catch it.
        const t = Buffer.from(bytes.subarray(bytes.length - SEGMENT_TRAILER_SIZE));
        t.writeUInt32BE(crc32cOf(f), 12);
        t.writeUInt32BE(crc32cOf(t.subarray(0, 20)), 20);
        const b = Buffer.concat([bytes.subarray(0, trailer.footerOffset), f, t]);
        try {
          const r = readSegment(b);
          // A change the structure checks cannot see must leave the batches identical.
          const orig = readSegment(bytes);
          return r.batches.length === orig.batches.length && r.batches.every((x, i) => x.equals(orig.batches[i]!));
        } catch (e) {
          return e instanceof CorruptDataError;
        }
      }),
      { numRuns: 1000 },
    );
  });
});
