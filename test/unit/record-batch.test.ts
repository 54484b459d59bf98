import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRecordsBatch, readRecordsBatches, Reader } from '@platformatic/kafka';
import {
  batchReuseProblem,
  batchTimestampRange,
  canReuseBatch,
  computeBatchCrc,
  CRC_OFFSET,
  decodeBatch,
  encodeBatch,
  readBatchHeader,
  rewriteBatchForProduce,
  splitBatches,
  UnsupportedMessageFormatError,
  verifyBatchCrc,
  RECORDS_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  type KafkaCompression,
  type RecordInput,
} from '../../src/kafka/protocol/record-batch.js';
import { crc32c, crc32cCombine, crc32cJs, crc32cImplementation } from '../../src/kafka/protocol/crc32c.js';
import { compress, decompress, zstdCompressAsync } from '../../src/kafka/protocol/compression.js';
import { ByteReader, varintSize, varlongSize, writeVarint, writeVarlong } from '../../src/kafka/protocol/varint.js';
import { CorruptDataError } from '../../src/util/errors.js';

const CODECS: KafkaCompression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const b = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Records covering the awkward cases. */
function sampleRecords(): RecordInput[] {
  const big = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 10)) & 0xff;
  return [
    { key: null, value: b('null key'), timestamp: 1_700_000_000_500n },
    { key: Buffer.alloc(0), value: b('empty key'), timestamp: 1_700_000_000_100n }, // earlier than the first: negative delta
    { key: b('k'), value: null, timestamp: 1_700_000_000_900n }, // tombstone
    { key: b('k2'), value: Buffer.alloc(0), timestamp: 1_600_000_000_000n }, // far in the past
    { key: null, value: null, timestamp: 1_700_000_000_200n },
    {
      key: b('headers'),
      value: b('v'),
      timestamp: 1_700_000_000_300n,
      headers: [
        { key: 'dup', value: b('1') },
        { key: 'a', value: null },
        { key: 'dup', value: b('2') },
        { key: 'ключ-🔑', value: b('unicode') },
        { key: Buffer.from([0xff, 0xfe]), value: Buffer.alloc(0) },
      ],
    },
    { key: b('one'), value: b('h'), timestamp: 1_700_000_000_300n, headers: [{ key: 'only', value: b('x') }] },
    { key: b('big'), value: big, timestamp: -5n }, // negative timestamp, 1 MiB value
    { key: b('last'), value: b('last'), timestamp: 1_700_000_000_000n },
  ];
}

function assertRecordsEqual(actual: ReturnType<typeof decodeBatch>['records'], expected: RecordInput[], baseOffset: bigint): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.equal(a.offset, baseOffset + BigInt(e.offsetDelta ?? i), `offset ${i}`);
    assert.equal(a.timestamp, e.timestamp, `timestamp ${i}`);
    assert.deepEqual(a.key, e.key, `key ${i}`);
    assert.deepEqual(a.value, e.value, `value ${i}`);
    const eh = (e.headers ?? []).map((h) => ({ key: typeof h.key === 'string' ? b(h.key) : h.key, value: h.value }));
    assert.deepEqual(a.headers, eh, `headers ${i}`);
  }
}

describe('varint', () => {
  it('round-trips int32 and int64 edge values', () => {
    const buf = Buffer.alloc(16);
    for (const v of [0, 1, -1, 63, -64, 64, 300, -300, 2 ** 31 - 1, -(2 ** 31)]) {
      const end = writeVarint(buf, 0, v);
      assert.equal(end, varintSize(v));
      assert.equal(new ByteReader(buf, 0, end, 't').varint(), v);
    }
    for (const v of [0n, -1n, 1n, 2n ** 48n, -(2n ** 48n), 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), -1_700_000_000_000n]) {
      const end = writeVarlong(buf, 0, v);
      assert.equal(end, varlongSize(v), `size of ${v}`);
      assert.equal(new ByteReader(buf, 0, end, 't').varlong(), v);
    }
  });
  it('refuses truncated and over-long varints', () => {
    assert.throws(() => new ByteReader(Buffer.from([0x80]), 0, 1, 't').varint(), CorruptDataError);
    assert.throws(() => new ByteReader(Buffer.alloc(6, 0xff), 0, 6, 't').varint(), CorruptDataError);
    assert.throws(() => new ByteReader(Buffer.alloc(11, 0xff), 0, 11, 't').varlong(), CorruptDataError);
  });
});

describe('crc32c', () => {
  it('matches the check value and the JS fallback, incrementally too', () => {
    assert.equal(crc32c(b('123456789')), 0xe3069283);
    assert.equal(crc32cJs(b('123456789')), 0xe3069283);
    const data = Buffer.alloc(100_003);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
    assert.equal(crc32c(data), crc32cJs(data));
    assert.equal(crc32c(data.subarray(5000), crc32c(data.subarray(0, 5000))), crc32c(data));
    assert.equal(crc32cJs(data.subarray(13), crc32cJs(data.subarray(0, 13))), crc32c(data));
    assert.ok(crc32cImplementation === 'native' || crc32cImplementation === 'js');
  });

  it('combines the CRCs of two pieces into the CRC of both, at every kind of length', () => {
    const data = Buffer.alloc(200_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    for (const cut of [0, 1, 7, 21, 4096, 65_537, 199_999, 200_000]) {
      const a = data.subarray(0, cut);
      const rest = data.subarray(cut);
      assert.equal(crc32cCombine(crc32c(a), crc32c(rest), rest.length), crc32c(data), `cut at ${cut}`);
    }
    assert.notEqual(crc32cCombine(crc32c(data.subarray(0, 10)), crc32c(data.subarray(10)), data.length - 11), crc32c(data), 'a wrong length gives a wrong CRC');
  });
});

describe('lz4 batches scanned in scratch memory', () => {
  const records = (n: number, t0: bigint): RecordInput[] =>
    Array.from({ length: n }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.alloc(200, i), timestamp: t0 + BigInt((i * 37) % n) }));

  it('gives the exact range, refuses a damaged frame and works again after it', () => {
    const good = encodeBatch(records(50, 1000n), { compression: 'lz4' });
    assert.deepEqual(batchTimestampRange(good), { min: 1000n, max: 1049n });
    const bad = Buffer.from(good);
    bad.fill(0xff, RECORDS_OFFSET + 8, RECORDS_OFFSET + 40); // inside the lz4 frame, after its header
    assert.throws(() => batchTimestampRange(bad), CorruptDataError);
    const other = encodeBatch(records(30, 5000n), { compression: 'lz4' });
    assert.deepEqual(batchTimestampRange(other), { min: 5000n, max: 5029n });
    assert.deepEqual(batchTimestampRange(good), { min: 1000n, max: 1049n });
  });

  it('refuses an output over the limit', () => {
    const big = encodeBatch(records(100, 0n), { compression: 'lz4' });
    assert.throws(() => batchTimestampRange(big, { maxDecompressedBytes: 1000 }), /exceeds 1000 bytes/);
    assert.deepEqual(batchTimestampRange(big), { min: 0n, max: 99n });
  });
});

describe('compression', () => {
  it('round-trips every codec and turns garbage into CorruptDataError', () => {
    const data = Buffer.from('hello hello hello '.repeat(5000));
    for (const c of CODECS) {
      assert.deepEqual(decompress(c, compress(c, data)), data, c);
      if (c !== 'none') assert.throws(() => decompress(c, Buffer.from('definitely not compressed data')), CorruptDataError, c);
    }
    assert.throws(() => decompress('zstd', compress('zstd', data), 1000), CorruptDataError);
    assert.throws(() => decompress('gzip', compress('gzip', data), 1000), CorruptDataError);
    assert.throws(() => decompress('snappy', compress('snappy', data), 1000), CorruptDataError);
  });

  it('compresses zstd off the thread to the same bytes as on it, compressible or not', async () => {
    const text = Buffer.from('offset 42 key k value v '.repeat(60_000));
    const noise = Buffer.alloc(300_000);
    for (let i = 0, x = 1; i < noise.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      noise[i] = x >>> 24;
    }
    for (const data of [Buffer.alloc(0), Buffer.from('x'), text, noise]) {
      for (const level of [1, 3]) {
        const off = await zstdCompressAsync(data, level);
        assert.deepEqual(off, compress('zstd', data, level), `${data.length} bytes at level ${level}`);
        assert.deepEqual(decompress('zstd', off), data);
      }
    }
  });
});

describe('encodeBatch / decodeBatch', () => {
  for (const compression of CODECS) {
    it(`round-trips every kind of record with ${compression}`, () => {
      const recs = sampleRecords();
      const batch = encodeBatch(recs, { baseOffset: 1000n, compression });
      assert.ok(verifyBatchCrc(batch));
      const { header, records } = decodeBatch(batch);
      assert.equal(header.baseOffset, 1000n);
      assert.equal(header.compression, compression);
      assert.equal(header.recordCount, recs.length);
      assert.equal(header.lastOffsetDelta, recs.length - 1);
      assert.equal(header.lastOffset, 1000n + BigInt(recs.length - 1));
      assert.equal(header.baseTimestamp, recs[0]!.timestamp);
      assert.equal(header.maxTimestamp, 1_700_000_000_900n);
      assert.equal(header.magic, 2);
      assert.equal(header.producerId, -1n);
      assert.equal(header.producerEpoch, -1);
      assert.equal(header.baseSequence, -1);
      assert.equal(header.partitionLeaderEpoch, -1);
      assert.equal(header.isTransactional, false);
      assert.equal(header.isControl, false);
      assert.equal(header.timestampType, 'create');
      assertRecordsEqual(records, recs, 1000n);
      assert.deepEqual(batchTimestampRange(batch), { min: -5n, max: 1_700_000_000_900n });
    });
  }

  it('keeps explicit offset deltas (gaps) and producer fields', () => {
    const recs: RecordInput[] = [
      { key: b('a'), value: b('1'), timestamp: 10n, offsetDelta: 0 },
      { key: b('b'), value: b('2'), timestamp: 5n, offsetDelta: 3 },
      { key: b('c'), value: b('3'), timestamp: 7n, offsetDelta: 9 },
    ];
    const batch = encodeBatch(recs, { baseOffset: 50n, producerId: 77n, producerEpoch: 3, baseSequence: 12, transactional: true, partitionLeaderEpoch: 9 });
    const { header, records } = decodeBatch(batch);
    assert.equal(header.lastOffsetDelta, 9);
    assert.equal(header.recordCount, 3);
    assert.deepEqual(
      records.map((r) => r.offset),
      [50n, 53n, 59n],
    );
    assert.equal(header.producerId, 77n);
    assert.equal(header.producerEpoch, 3);
    assert.equal(header.baseSequence, 12);
    assert.equal(header.partitionLeaderEpoch, 9);
    assert.equal(header.isTransactional, true);
    assert.deepEqual(batchTimestampRange(batch), { min: 5n, max: 10n });
    assert.throws(
      () =>
        encodeBatch([
          { key: null, value: null, timestamp: 0n, offsetDelta: 2 },
          { key: null, value: null, timestamp: 0n, offsetDelta: 2 },
        ]),
      RangeError,
    );
    assert.throws(() => encodeBatch([]), RangeError);
  });

  it('gives every record of a LogAppendTime batch the maxTimestamp', () => {
    const batch = encodeBatch(
      [
        { key: null, value: b('x'), timestamp: 100n },
        { key: null, value: b('y'), timestamp: 50n },
      ],
      { timestampType: 'logAppend', logAppendTime: 999n, compression: 'lz4' },
    );
    const { header, records } = decodeBatch(batch);
    assert.equal(header.timestampType, 'logAppend');
    assert.deepEqual(
      records.map((r) => r.timestamp),
      [999n, 999n],
    );
    assert.deepEqual(batchTimestampRange(batch), { min: 999n, max: 999n });
  });

  it('detects CRC corruption', () => {
    const batch = encodeBatch(sampleRecords().slice(0, 3));
    const bad = Buffer.from(batch);
    bad[RECORDS_OFFSET + 3]! ^= 0x01;
    assert.equal(verifyBatchCrc(bad), false);
    assert.throws(
      () => decodeBatch(bad),
      (e: unknown) => e instanceof CorruptDataError && /CRC-32C mismatch/.test(e.message),
    );
    assert.throws(() => rewriteBatchForProduce(bad, { producerId: 1n, producerEpoch: 0, baseSequence: 0 }), CorruptDataError);
    assert.equal(verifyBatchCrc(batch.subarray(0, batch.length - 1)), false);
  });

  it('reports structural damage as CorruptDataError even without the CRC check', () => {
    const batch = encodeBatch([{ key: b('key'), value: b('value'), timestamp: 1n, headers: [{ key: 'h', value: b('v') }] }]);
    for (let i = RECORDS_OFFSET; i < batch.length; i++) {
      for (const v of [0x00, 0x7f, 0x80, 0xff]) {
        const bad = Buffer.from(batch);
        bad[i] = v;
        try {
          decodeBatch(bad, { verifyCrc: false });
          batchTimestampRange(bad);
        } catch (e) {
          assert.ok(e instanceof CorruptDataError, `byte ${i} = ${v}: ${String(e)}`);
        }
      }
    }
    const huge = Buffer.from(batch);
    huge.writeInt32BE(0x7fffffff, 57); // record count
    assert.throws(() => decodeBatch(huge, { verifyCrc: false }), CorruptDataError);
  });
});

describe('interoperability with @platformatic/kafka', () => {
  for (const compression of CODECS) {
    it(`decodes batches written by its createRecordsBatch (${compression})`, () => {
      const messages = [
        {
          topic: 't',
          key: b('k1'),
          value: b('v1'),
          timestamp: 1000n,
          headers: new Map([
            [b('h1'), b('x')],
            [b('h2'), b('y')],
          ]),
        },
        { topic: 't', value: b('no key'), timestamp: 900n },
        { topic: 't', key: b('k3'), value: Buffer.alloc(0), timestamp: 1200n },
      ];
      const batch = createRecordsBatch(messages, { compression, producerId: 5n, producerEpoch: 1 }).buffer;
      const { batches, consumed } = splitBatches(batch);
      assert.equal(batches.length, 1);
      assert.equal(consumed, batch.length);
      assert.ok(verifyBatchCrc(batch));
      const { header, records } = decodeBatch(batch);
      assert.equal(header.producerId, 5n);
      assert.equal(header.compression, compression);
      assert.deepEqual(
        records.map((r) => r.timestamp),
        [1000n, 900n, 1200n],
      );
      assert.deepEqual(records[0]!.headers, [
        { key: b('h1'), value: b('x') },
        { key: b('h2'), value: b('y') },
      ]);
      assert.equal(records[1]!.key, null);
      assert.deepEqual(records[2]!.value, Buffer.alloc(0));
      assert.deepEqual(batchTimestampRange(batch), { min: 900n, max: 1200n });
    });

    it(`has our batches read by its readRecordsBatches (${compression})`, () => {
      const recs = sampleRecords().filter((r) => r.value === null || r.value.length < 1000);
      const ours = Buffer.concat([
        encodeBatch(recs, { baseOffset: 10n, compression }),
        encodeBatch(recs.slice(0, 2), { baseOffset: 10n + BigInt(recs.length) }),
      ]);
      const theirs = readRecordsBatches(Reader.from(ours));
      assert.equal(theirs.length, 2);
      const first = theirs[0]!;
      assert.equal(first.firstOffset, 10n);
      assert.equal(first.records.length, recs.length);
      assert.equal(first.crc, readBatchHeader(ours).crc);
      for (let i = 0; i < recs.length; i++) {
        const t = first.records[i]!;
        const e = recs[i]!;
        assert.equal(first.firstTimestamp + t.timestampDelta, e.timestamp);
        assert.equal(t.offsetDelta, i);
        assert.deepEqual(t.key === null ? null : Buffer.from(t.key), e.key);
        assert.deepEqual(t.value === null ? null : Buffer.from(t.value), e.value);
        const eh = (e.headers ?? []).map((h) => [typeof h.key === 'string' ? b(h.key) : h.key, h.value]);
        assert.deepEqual(
          t.headers.map(([k, v]) => [k === null ? null : Buffer.from(k), v === null ? null : Buffer.from(v)]),
          eh,
        );
      }
    });
  }
});

describe('splitBatches', () => {
  const b1 = encodeBatch([{ key: null, value: b('one'), timestamp: 1n }], { baseOffset: 0n });
  const b2 = encodeBatch(
    [
      { key: null, value: b('two'), timestamp: 2n },
      { key: null, value: b('three'), timestamp: 3n },
    ],
    { baseOffset: 1n, compression: 'zstd' },
  );
  const all = Buffer.concat([b1, b2]);

  it('returns complete batches as subarrays', () => {
    const { batches, consumed } = splitBatches(all);
    assert.equal(consumed, all.length);
    assert.equal(batches.length, 2);
    assert.equal(batches[0]!.buffer, all.buffer);
    assert.deepEqual(batches[1], b2);
  });

  it('stops before a truncated trailing batch at every cut point', () => {
    for (let cut = 0; cut < all.length; cut++) {
      const { batches, consumed } = splitBatches(all.subarray(0, cut));
      const expectedCount = cut >= b1.length ? 1 : 0;
      assert.equal(batches.length, expectedCount, `cut ${cut}`);
      assert.equal(consumed, expectedCount ? b1.length : 0);
    }
    assert.deepEqual(splitBatches(Buffer.alloc(0)), { batches: [], consumed: 0 });
  });

  it('refuses old message formats clearly and corrupt lengths', () => {
    const v1 = Buffer.from(b1);
    v1[16] = 1;
    assert.throws(
      () => splitBatches(v1),
      (e: unknown) => e instanceof UnsupportedMessageFormatError && /message format v1/.test(e.message) && e.magic === 1,
    );
    const v0 = Buffer.from(b1);
    v0[16] = 0;
    assert.throws(() => splitBatches(v0), /message format v0/);
    const short = Buffer.from(b1);
    short.writeInt32BE(10, 8);
    assert.throws(() => splitBatches(short), CorruptDataError);
    const neg = Buffer.from(b1);
    neg.writeInt32BE(-5, 8);
    assert.throws(() => splitBatches(neg), CorruptDataError);
  });
});

describe('re-sending stored batches', () => {
  for (const compression of CODECS) {
    it(`rewrites producer fields without touching the records (${compression})`, () => {
      const batch = encodeBatch(sampleRecords().slice(0, 6), {
        baseOffset: 4242n,
        compression,
        partitionLeaderEpoch: 7,
        transactional: true,
        producerId: 3n,
        producerEpoch: 2,
        baseSequence: 100,
      });
      assert.equal(canReuseBatch(batch), true);
      const out = rewriteBatchForProduce(batch, { producerId: 99n, producerEpoch: 4, baseSequence: 1234 });
      assert.ok(verifyBatchCrc(out));
      assert.deepEqual(out.subarray(RECORDS_OFFSET), batch.subarray(RECORDS_OFFSET));
      const h = readBatchHeader(out);
      assert.equal(h.baseOffset, 0n);
      assert.equal(h.partitionLeaderEpoch, -1);
      assert.equal(h.producerId, 99n);
      assert.equal(h.producerEpoch, 4);
      assert.equal(h.baseSequence, 1234);
      assert.equal(h.isTransactional, false);
      assert.equal(h.compression, compression);
      const before = decodeBatch(batch).records;
      const after = decodeBatch(out).records;
      assert.deepEqual(
        after.map((r) => ({ ...r, offset: r.offset + 4242n })),
        before,
      );
      assert.equal(
        readBatchHeader(rewriteBatchForProduce(batch, { producerId: 1n, producerEpoch: 0, baseSequence: 0, transactional: true })).isTransactional,
        true,
      );
      assert.ok(computeBatchCrc(out) === out.readUInt32BE(CRC_OFFSET));
    });
  }

  it('says which stored batches the broker would refuse', () => {
    const gaps = encodeBatch([
      { key: b('a'), value: b('1'), timestamp: 1n, offsetDelta: 0 },
      { key: b('b'), value: b('2'), timestamp: 2n, offsetDelta: 5 },
    ]);
    assert.match(batchReuseProblem(gaps) ?? '', /offset gaps/);
    assert.equal(canReuseBatch(gaps), false);
    // count == lastOffsetDelta + 1 but inner deltas 0, 2, 2? build deltas 0,1,3 then patch lastOffsetDelta to 2.
    const inner = Buffer.from(
      encodeBatch([
        { key: b('a'), value: b('1'), timestamp: 1n, offsetDelta: 0 },
        { key: b('b'), value: b('2'), timestamp: 2n, offsetDelta: 1 },
        { key: b('c'), value: b('3'), timestamp: 3n, offsetDelta: 3 },
      ]),
    );
    inner.writeInt32BE(2, LAST_OFFSET_DELTA_OFFSET);
    inner.writeUInt32BE(computeBatchCrc(inner), CRC_OFFSET);
    assert.match(batchReuseProblem(inner) ?? '', /not 0\.\.n-1/);
    const lat = encodeBatch([{ key: null, value: b('x'), timestamp: 1n }], { timestampType: 'logAppend' });
    assert.match(batchReuseProblem(lat) ?? '', /LogAppendTime/);
    const control = Buffer.from(
      encodeBatch([{ key: Buffer.from([0, 0, 0, 1]), value: Buffer.from([0, 0, 0, 0, 0, 0]), timestamp: 1n }], { transactional: true }),
    );
    control.writeInt16BE(control.readInt16BE(21) | 0x20, 21);
    control.writeUInt32BE(computeBatchCrc(control), CRC_OFFSET);
    assert.equal(readBatchHeader(control).isControl, true);
    assert.match(batchReuseProblem(control) ?? '', /control/);
    assert.deepEqual(batchTimestampRange(control), { min: 1n, max: 1n });
  });
});
