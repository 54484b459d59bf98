import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { digestOf } from '../../src/format/segment-digest.js';
import { readSegment, SegmentWriter, type SegmentCodec } from '../../src/format/segment.js';
import type { SegmentEntry } from '../../src/format/partition-index.js';
import { entryMatchesKey, newKeyHash, type ErasureEntry } from '../../src/format/erasure-log.js';
import { decodeBatch, encodeBatch, readBatchHeader, verifyBatchCrc, type KafkaCompression, type KafkaRecord } from '../../src/kafka/protocol/record-batch.js';
import { keyMatcher, rewriteSegment, scanSegment, stripBatch } from '../../src/lifecycle/erase-segment.js';

const KEY = Buffer.from('customer-42');

/** Batches of 5 records at offsets 100.., every third record keyed KEY; one batch wholly KEY; assorted codecs. */
function batches(): Buffer[] {
  const codecs: KafkaCompression[] = ['none', 'zstd', 'lz4', 'gzip', 'snappy'];
  const out: Buffer[] = [];
  let offset = 100n;
  let n = 0;
  for (let b = 0; b < 10; b++) {
    const whole = b === 4;
    const records = Array.from({ length: 5 }, (_, j) => {
      const i = n++;
      return {
        key: whole || i % 3 === 0 ? KEY : i % 7 === 0 ? null : Buffer.from(`other-${i}`),
        value: i % 5 === 0 ? null : Buffer.from(`value-${i}`),
        timestamp: 1_700_000_000_000n + BigInt(i * 1000 - (i % 4) * 3000),
        headers:
          i % 2
            ? [
                { key: 'h', value: Buffer.from([i]) },
                { key: 'h', value: null },
              ]
            : [],
        offsetDelta: j,
      };
    });
    out.push(encodeBatch(records, { baseOffset: offset, compression: codecs[b % codecs.length]!, producerId: 7n, producerEpoch: 1, baseSequence: b * 5 }));
    offset += 5n;
  }
  return out;
}

function segment(codec: SegmentCodec): { bytes: Buffer; entry: SegmentEntry } {
  const w = new SegmentWriter({ codec, blockSize: 600 });
  const chunks: Buffer[] = [];
  for (const b of batches()) chunks.push(...w.add(b));
  const fin = w.finish();
  const bytes = Buffer.concat([...chunks, ...fin.chunks]);
  const entry: SegmentEntry = {
    key: 'b/topics/t/0/00000000000000000100.kbseg',
    first_offset: 100,
    last_offset: 149,
    record_count: 50,
    batch_count: 10,
    min_timestamp: 0,
    max_timestamp: 0,
    raw_bytes: fin.summary.rawBytes,
    stored_bytes: bytes.length,
    codec,
    crc32c: fin.summary.crc32c,
    aborted_transactions: [{ producer_id: 9, first_offset: 120 }],
    created_at: 1,
  };
  return { bytes, entry };
}

const records = (bytes: Buffer): KafkaRecord[] => readSegment(bytes).batches.flatMap((b) => decodeBatch(b).records);
const show = (r: KafkaRecord): string =>
  JSON.stringify([
    String(r.offset),
    String(r.timestamp),
    r.key?.toString('hex') ?? null,
    r.value?.toString('hex') ?? null,
    r.headers.map((h) => [h.key.toString('hex'), h.value?.toString('hex') ?? null]),
  ]);

describe('erase: segment rewrite', () => {
  for (const codec of ['zstd', 'lz4', 'none'] as SegmentCodec[]) {
    it(`${codec} segment: only the key's records go; the rest keep offsets, timestamps, keys, values, headers and order; offsets and digest are consistent`, () => {
      const { bytes, entry } = segment(codec);
      const before = records(bytes);
      const rw = rewriteSegment(bytes, entry, 'b/topics/t/0/00000000000000000100-00000000000000000149.kbseg', keyMatcher([KEY]));
      assert.ok(rw);
      const after = records(rw.bytes);
      const expected = before.filter((r) => !r.key?.equals(KEY));
      assert.deepEqual(after.map(show), expected.map(show));
      assert.equal(rw.removed.length, before.length - expected.length);
      assert.deepEqual(
        rw.removed.map((r) => r.offset),
        before.filter((r) => r.key?.equals(KEY)).map((r) => Number(r.offset)),
      );
      const { footer, batches: bs } = readSegment(rw.bytes, { verifyBatchCrc: true });
      assert.equal(footer.firstOffset, 100n);
      assert.equal(footer.lastOffset, 149n);
      assert.equal(bs.length, 10, 'every batch kept, one of them empty');
      const empty = bs.map((b) => readBatchHeader(b)).find((h) => h.recordCount === 0)!;
      assert.equal(empty.baseOffset, 120n);
      assert.equal(empty.lastOffset, 124n);
      for (const b of bs) assert.ok(verifyBatchCrc(b));
      for (const [i, b] of bs.entries()) {
        const o = readBatchHeader(batches()[i]!);
        const h = readBatchHeader(b);
        assert.deepEqual(
          [h.baseOffset, h.lastOffset, h.producerId, h.producerEpoch, h.baseSequence],
          [o.baseOffset, o.lastOffset, o.producerId, o.producerEpoch, o.baseSequence],
        );
        if (h.recordCount > 0) assert.equal(h.compression, o.compression);
      }
      assert.equal(rw.entry.key, 'b/topics/t/0/00000000000000000100-00000000000000000149.kbseg');
      assert.equal(rw.entry.record_count, expected.length);
      assert.equal(rw.entry.stored_bytes, rw.bytes.length);
      assert.equal(rw.entry.crc32c, digestOf(rw.bytes, 'crc32c'), "the rewritten entry records the new object's CRC-32C");
      assert.equal(rw.entry.sha256, undefined);
      assert.equal(rw.entry.min_timestamp, Math.min(...expected.map((r) => Number(r.timestamp))));
      assert.equal(rw.entry.max_timestamp, Math.max(...expected.map((r) => Number(r.timestamp))));
      assert.deepEqual(rw.entry.aborted_transactions, entry.aborted_transactions);
      assert.equal(rw.entry.codec, codec);
      assert.deepEqual(scanSegment(rw.bytes, keyMatcher([KEY])).matches, []);
    });
  }

  it('a segment without the key is not rewritten; a null key never matches', () => {
    const { bytes, entry } = segment('zstd');
    assert.equal(rewriteSegment(bytes, entry, 'x', keyMatcher([Buffer.from('nobody')])), undefined);
    assert.equal(scanSegment(bytes, keyMatcher([Buffer.alloc(0)])).matches.length, 0);
  });

  it('a LogAppendTime batch keeps its append time and type', () => {
    const b = encodeBatch(
      [
        { key: KEY, value: null, timestamp: 5n },
        { key: Buffer.from('x'), value: Buffer.from('v'), timestamp: 6n, offsetDelta: 3 },
      ],
      { baseOffset: 10n, timestampType: 'logAppend', logAppendTime: 99n },
    );
    const s = stripBatch(b, keyMatcher([KEY]))!;
    const d = decodeBatch(s.batch);
    assert.equal(d.header.timestampType, 'logAppend');
    assert.equal(d.header.maxTimestamp, 99n);
    assert.deepEqual(
      d.records.map((r) => [r.offset, r.timestamp]),
      [[13n, 99n]],
    );
    assert.equal(d.header.lastOffset, 13n);
    assert.deepEqual(
      s.removed.map((r) => r.offset),
      [10],
    );
  });
});

describe('erasure log: salted key hashes', () => {
  it('an entry matches its key and topic only, and does not contain the key', () => {
    const e: ErasureEntry = { topic: 't', key_hash: newKeyHash(KEY), status: 'complete', started_at: 1, completed_at: 2, records: 1, partitions: [] };
    assert.ok(entryMatchesKey(e, 't', KEY));
    assert.ok(!entryMatchesKey(e, 'u', KEY));
    assert.ok(!entryMatchesKey(e, 't', Buffer.from('customer-43')));
    assert.ok(!JSON.stringify(e).includes(KEY.toString('hex')) && !JSON.stringify(e).includes('customer-42'));
    assert.notEqual(newKeyHash(KEY).hash, newKeyHash(KEY).hash, 'a fresh salt per entry');
  });
});
