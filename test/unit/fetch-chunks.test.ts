import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, Writer } from '@platformatic/kafka';
import { parseFetchResponse } from '../../src/kafka/protocol/fetch.js';
import { encodeBatch, splitBatchChunks, splitBatches } from '../../src/kafka/protocol/record-batch.js';

const value = (n: number): Buffer => Buffer.alloc(n, 0x41);

/** Three batches of different sizes (one compressed) back to back, as a Fetch response's records. */
const b1 = encodeBatch([{ key: null, value: value(10), timestamp: 1n }], { baseOffset: 0n });
const b2 = encodeBatch(
  [
    { key: Buffer.from('k'), value: value(300), timestamp: 2n },
    { key: null, value: value(5), timestamp: 3n },
  ],
  { baseOffset: 1n, compression: 'lz4' },
);
const b3 = encodeBatch([{ key: null, value: value(700), timestamp: 4n }], { baseOffset: 3n });
const all = Buffer.concat([b1, b2, b3]);

/** `buf` cut at the given positions into separate buffers (each its own memory, as socket reads are). */
function chunked(buf: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts, buf.length]) {
    const own = Buffer.alloc(c - at); // not from Buffer's shared pool: its own memory
    buf.copy(own, 0, at, c);
    out.push(own);
    at = c;
  }
  return out;
}

function outcome(f: () => { batches: Buffer[]; consumed: number }): { batches: Buffer[]; consumed: number } | { error: string } {
  try {
    return f();
  } catch (err) {
    return { error: `${(err as Error).constructor.name}: ${(err as Error).message}` };
  }
}

describe('splitBatchChunks', () => {
  it('gives what splitBatches gives on the concatenation, for every cut into two and three chunks and every truncation', () => {
    for (let end = 0; end <= all.length; end += 7) {
      const buf = all.subarray(0, end);
      const expected = outcome(() => splitBatches(buf));
      for (let c1 = 0; c1 <= end; c1 += 5) {
        assert.deepEqual(
          outcome(() => splitBatchChunks(chunked(buf, [c1]))),
          expected,
          `end ${end}, cut ${c1}`,
        );
        for (let c2 = c1; c2 <= end; c2 += 37) {
          assert.deepEqual(
            outcome(() => splitBatchChunks(chunked(buf, [c1, c2]))),
            expected,
            `end ${end}, cuts ${c1} ${c2}`,
          );
        }
      }
    }
  });

  it('refuses a bad magic byte or batchLength as splitBatches does, whichever chunk the header is in', () => {
    const badMagic = Buffer.from(all);
    badMagic[b1.length + 16] = 1;
    const badLength = Buffer.from(all);
    badLength.writeInt32BE(3, b1.length + 8);
    for (const buf of [badMagic, badLength]) {
      const expected = outcome(() => splitBatches(buf));
      assert.ok('error' in expected);
      for (let c = 1; c < buf.length; c++)
        assert.deepEqual(
          outcome(() => splitBatchChunks(chunked(buf, [c]))),
          expected,
          `cut ${c}`,
        );
    }
  });

  it('returns batches that lie within one chunk as views of it (no copy), and copies only a batch that spans chunks', () => {
    const chunks = chunked(all, [b1.length + b2.length + 10]);
    const { batches } = splitBatchChunks(chunks);
    assert.equal(batches.length, 3);
    assert.equal(batches[0]!.buffer, chunks[0]!.buffer);
    assert.equal(batches[1]!.buffer, chunks[0]!.buffer);
    assert.notEqual(batches[2]!.buffer, chunks[0]!.buffer);
    assert.notEqual(batches[2]!.buffer, chunks[1]!.buffer);
    assert.deepEqual(batches[2], b3);
  });
});

describe('parseFetchResponse records', () => {
  /** A Fetch v12 response body with one partition holding `records`, delivered in `cuts` chunks. */
  function response(records: Buffer, cuts: (bodyStart: number) => number[]): { reader: Reader; chunks: Buffer[] } {
    const head = Writer.create()
      .appendInt32(0) // throttle_time_ms
      .appendInt16(0) // error_code
      .appendInt32(0) // session_id
      .appendUnsignedVarInt(2) // one topic
      .appendString('t')
      .appendUnsignedVarInt(2) // one partition
      .appendInt32(0)
      .appendInt16(0)
      .appendInt64(10n)
      .appendInt64(10n)
      .appendInt64(0n)
      .appendUnsignedVarInt(1) // no aborted transactions (empty compact array)
      .appendInt32(-1)
      .appendUnsignedVarInt(records.length + 1).buffer;
    const body = Buffer.concat([head, records, Buffer.from([0, 0, 0])]); // partition, topic and response tagged fields
    const chunks = chunked(body, cuts(head.length));
    const dyn = Reader.from(chunks[0]!).buffer;
    for (const c of chunks.slice(1)) dyn.append(c);
    return { reader: new Reader(dyn), chunks };
  }

  it('keeps the records as views of the chunks they arrived in, and concatenates them only when asked', () => {
    // As off a socket: the records start in the first read chunk and end in the third.
    const { reader, chunks } = response(all, (start) => [start + 20, start + b1.length + b2.length + 40]);
    const p = parseFetchResponse(0, 1, 12, reader).topics.get('t')![0]!;
    assert.equal(p.recordsLength, all.length);
    assert.equal(p.recordChunks.length, 3);
    p.recordChunks.forEach((c, i) => assert.equal(c.buffer, chunks[i]!.buffer, `chunk ${i} is a view`));
    const { batches, consumed } = splitBatchChunks(p.recordChunks);
    assert.equal(consumed, all.length);
    assert.deepEqual(batches, [b1, b2, b3]);
    assert.equal(batches[1]!.buffer, chunks[1]!.buffer, 'the batch inside one read chunk is not copied');
    assert.deepEqual(p.records, all);
    assert.equal(p.records, p.records, 'concatenated once');
  });

  it('has no chunks and an empty records buffer for a partition without records', () => {
    const { reader } = response(Buffer.alloc(0), () => []);
    const p = parseFetchResponse(0, 1, 12, reader).topics.get('t')![0]!;
    assert.equal(p.recordsLength, 0);
    assert.deepEqual(p.recordChunks, []);
    assert.equal(p.records.length, 0);
    assert.deepEqual(splitBatchChunks(p.recordChunks), { batches: [], consumed: 0 });
  });
});
