import { CorruptDataError } from '../../util/errors.js';

/*
  LZ4 *block* format (not the frame format Kafka uses, which src/kafka/protocol/compression.ts
  handles): the seed tool compresses a segment's record block with lz4_flex's
  `compress_prepend_size`, i.e. u32 LE uncompressed size, then one raw LZ4 block. A block is a run
  of sequences: token (high 4 bits literal length, low 4 bits match length - 4; 15 means more
  length bytes follow, each added, until one is < 255), the literals, then (except after the last
  literals) a u16 LE match offset (1..bytes written) and the match copy.
*/

/**
 * Inflates a raw LZ4 block to exactly `rawLength` bytes. Every length and offset is checked
 * against the input and the output, so a forged block cannot read or write out of bounds or
 * allocate more than `rawLength`; any mismatch is a CorruptDataError naming `what`.
 */
export function lz4BlockDecompress(src: Buffer, rawLength: number, what: string): Buffer {
  const bad = (m: string): never => {
    throw new CorruptDataError(`${what}: lz4 block: ${m}`, undefined, { codec: 'lz4' });
  };
  const out = Buffer.allocUnsafe(rawLength);
  let i = 0;
  let o = 0;
  const length = (base: number): number => {
    let n = base;
    if (base !== 15) return n;
    for (;;) {
      if (i >= src.length) bad('truncated length');
      const b = src[i++]!;
      n += b;
      if (b !== 255) return n;
    }
  };
  while (i < src.length) {
    const token = src[i++]!;
    const lit = length(token >> 4);
    if (i + lit > src.length) bad(`literals of ${lit} bytes overrun the input`);
    if (o + lit > rawLength) bad(`output would exceed the ${rawLength} bytes the header states`);
    src.copy(out, o, i, i + lit);
    i += lit;
    o += lit;
    if (i === src.length) break; // the last sequence has literals only
    if (i + 2 > src.length) bad('truncated match offset');
    const offset = src.readUInt16LE(i);
    i += 2;
    if (offset === 0 || offset > o) bad(`match offset ${offset} points before the start of the output`);
    const match = length(token & 15) + 4;
    if (o + match > rawLength) bad(`output would exceed the ${rawLength} bytes the header states`);
    // Byte by byte: a match may overlap the bytes it produces (offset < length repeats them).
    for (let k = 0; k < match; k++, o++) out[o] = out[o - offset]!;
  }
  if (o !== rawLength) bad(`inflated to ${o} bytes, the header states ${rawLength}`);
  return out;
}
