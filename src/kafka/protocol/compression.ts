/**
 * Compression codecs, for two users:
 *
 *  - Kafka record batches (attributes & 0x07):
 *      0 none | 1 gzip | 2 snappy | 3 lz4 | 4 zstd
 *    gzip  : RFC 1952 stream (zlib)
 *    snappy: the xerial framing the Java client writes, which readers must accept, and raw snappy:
 *              xerial  = magic[8] = 82 'S' 'N' 'A' 'P' 'P' 'Y' 00
 *                        version:int32 = 1, compatibleVersion:int32 = 1
 *                        { chunkLength:int32  chunk:raw-snappy[chunkLength] }*
 *            we write xerial with 32 KiB chunks (as the Java client does) and read both.
 *    lz4   : LZ4 frame format (magic 04 22 4D 18), via @platformatic/kafka's wasm codec
 *    zstd  : zstd frame (node:zlib, Node >= 22.15)
 *
 *  - Backup segment blocks (src/format/segment.ts): zstd (level 1..22) | lz4 | none.
 *
 * Decompression never trusts its input: every failure (bad stream, wasm trap, output larger than
 * `maxOutputLength`) becomes a CorruptDataError. gzip and zstd stop at `maxOutputLength` while
 * inflating; an lz4 frame's block headers are walked first, and a frame whose blocks could
 * inflate past `maxOutputLength` (plus one block) is refused before inflating; snappy output is
 * bounded by its format's maximum ratio (about 6:1 of the input) and checked afterwards.
 */
import { availableParallelism } from 'node:os';
import zlib from 'node:zlib';
import { compressionsAlgorithms } from '../lib.js';
import { CorruptDataError, errorMessage } from '../../util/errors.js';
import { Semaphore } from '../../util/semaphore.js';

export type KafkaCompression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

/** Kafka's attribute codes, indexed by code. */
export const KAFKA_COMPRESSIONS: readonly KafkaCompression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

export function kafkaCompressionCode(c: KafkaCompression): number {
  const i = KAFKA_COMPRESSIONS.indexOf(c);
  if (i < 0) throw new RangeError(`unknown compression ${String(c)}`);
  return i;
}

/** Largest output we inflate to unless told otherwise (a Kafka batch is bounded by message.max.bytes). */
export const DEFAULT_MAX_DECOMPRESSED = 1 << 30;

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_SIZE = 16;
const XERIAL_CHUNK = 32 * 1024;

const { lz4, snappy } = compressionsAlgorithms;

export function compress(codec: KafkaCompression, data: Buffer, level?: number): Buffer {
  switch (codec) {
    case 'none':
      return data;
    case 'gzip':
      return zlib.gzipSync(data, level === undefined ? {} : { level });
    case 'zstd':
      return zlib.zstdCompressSync(data, level === undefined ? {} : { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });
    case 'lz4':
      return lz4.compressSync(data);
    case 'snappy':
      return xerialSnappyCompress(data);
    default:
      throw new RangeError(`unknown compression ${String(codec)}`);
  }
}

/**
 * zstd on libuv's thread pool, so a backup's block compression runs beside the JavaScript thread
 * instead of on it. Byte for byte the output of compress('zstd', data, level).
 */
export async function zstdCompressAsync(data: Buffer, level: number): Promise<Buffer> {
  // A few jobs at a time, however many partitions compress: the work is bounded by the cores
  // anyway, and each job in flight holds a compression context and an output buffer.
  const release = await zstdSlots.acquire();
  try {
    return await zstdCompressNow(data, level);
  } finally {
    release();
  }
}

const zstdSlots = new Semaphore(Math.max(2, Math.min(4, availableParallelism())));

function zstdCompressNow(data: Buffer, level: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // pledgedSrcSize puts the content size in the frame header, as the one-shot sync call does: the same bytes.
    // chunkSize at zstd's worst case (ZSTD_COMPRESSBOUND) gives one output buffer per block instead of
    // 16 KiB pieces, each a callback on the JavaScript thread and a copy into the concatenated result.
    const chunkSize = Math.max(64 * 1024, data.length + (data.length >>> 8) + 1024);
    zlib.zstdCompress(data, { chunkSize, pledgedSrcSize: data.length, params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }, (err, out) =>
      err ? reject(err) : resolve(out),
    );
  });
}

const LZ4_MAGIC = 0x184d2204;
const LZ4_MAX_BLOCK = 4 * 1024 * 1024;
const LZ4_BLOCK_SIZES: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: LZ4_MAX_BLOCK };

/**
 * The most bytes the LZ4 frames in `data` can inflate to, from their headers and block sizes
 * alone (each compressed block yields at most the frame's block maximum size, an uncompressed one
 * exactly its length): a forged frame cannot make the decoder allocate more than this. Skippable
 * frames count 0. Throws CorruptDataError for a structure that is not LZ4 frames end to end.
 */
export function lz4FramesBound(data: Buffer, what = 'lz4 data'): number {
  const bad = (m: string): never => {
    throw new CorruptDataError(`${what}: not an LZ4 frame: ${m}`, undefined, { codec: 'lz4' });
  };
  let p = 0;
  let bound = 0;
  do {
    if (p + 8 > data.length) bad('truncated frame header');
    const magic = data.readUInt32LE(p);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      p += 8 + data.readUInt32LE(p + 4);
      continue;
    }
    if (magic !== LZ4_MAGIC) bad(`magic ${magic.toString(16)}`);
    const flg = data[p + 4]!;
    const bd = data[p + 5]!;
    if (flg >> 6 !== 1) bad(`version ${flg >> 6}`);
    const blockMax = LZ4_BLOCK_SIZES[(bd >> 4) & 7];
    if (blockMax === undefined) bad(`block maximum size code ${(bd >> 4) & 7}`);
    const blockChecksum = (flg & 0x10) !== 0;
    // Descriptor: FLG, BD, content size (8, optional), dictionary id (4, optional), header checksum.
    p += 6 + ((flg & 0x08) !== 0 ? 8 : 0) + ((flg & 0x01) !== 0 ? 4 : 0) + 1;
    for (;;) {
      if (p + 4 > data.length) bad('truncated block size');
      const word = data.readUInt32LE(p);
      p += 4;
      if (word === 0) break;
      const size = word & 0x7fffffff;
      if (size > blockMax!) bad(`block of ${size} bytes over the frame's maximum ${blockMax}`);
      bound += (word & 0x80000000) !== 0 ? size : blockMax!;
      p += size + (blockChecksum ? 4 : 0);
    }
    if ((flg & 0x04) !== 0) p += 4;
  } while (p < data.length);
  if (p > data.length) bad('truncated');
  return bound;
}

function xerialSnappyCompress(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(XERIAL_HEADER_SIZE);
  XERIAL_MAGIC.copy(header, 0);
  header.writeInt32BE(1, 8);
  header.writeInt32BE(1, 12);
  parts.push(header);
  for (let p = 0; p < data.length; p += XERIAL_CHUNK) {
    const chunk = snappy.compressSync(data.subarray(p, Math.min(p + XERIAL_CHUNK, data.length)));
    const len = Buffer.alloc(4);
    len.writeInt32BE(chunk.length, 0);
    parts.push(len, chunk);
  }
  return Buffer.concat(parts);
}

function xerialSnappyDecompress(data: Buffer, maxOutputLength: number, what: string): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  let p = XERIAL_HEADER_SIZE;
  if (data.length < XERIAL_HEADER_SIZE) throw new CorruptDataError(`${what}: truncated xerial snappy header`);
  while (p < data.length) {
    if (p + 4 > data.length) throw new CorruptDataError(`${what}: truncated xerial snappy chunk length`);
    const len = data.readInt32BE(p);
    p += 4;
    if (len < 0 || p + len > data.length) throw new CorruptDataError(`${what}: xerial snappy chunk of ${len} bytes overruns the data`);
    const out = snappy.decompressSync(data.subarray(p, p + len));
    p += len;
    total += out.length;
    if (total > maxOutputLength) throw new CorruptDataError(`${what}: decompressed size exceeds ${maxOutputLength} bytes`);
    parts.push(out);
  }
  return Buffer.concat(parts, total);
}

/**
 * Inflates `data`. `what` names the thing in error messages ("record batch at offset 42").
 * Throws CorruptDataError on any failure.
 */
export function decompress(codec: KafkaCompression, data: Buffer, maxOutputLength = DEFAULT_MAX_DECOMPRESSED, what = 'compressed data'): Buffer {
  let out: Buffer;
  try {
    switch (codec) {
      case 'none':
        out = data;
        break;
      case 'gzip':
        out = zlib.gunzipSync(data, { maxOutputLength: Math.max(1, maxOutputLength) });
        break;
      case 'zstd':
        out = zlib.zstdDecompressSync(data, { maxOutputLength: Math.max(1, maxOutputLength) });
        break;
      case 'lz4': {
        const bound = lz4FramesBound(data, what);
        if (bound > maxOutputLength + LZ4_MAX_BLOCK)
          throw new CorruptDataError(`${what}: lz4 frame could inflate to ${bound} bytes, over the limit of ${maxOutputLength}`);
        out = lz4.decompressSync(data);
        break;
      }
      case 'snappy':
        out =
          data.length >= XERIAL_MAGIC.length && data.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC)
            ? xerialSnappyDecompress(data, maxOutputLength, what)
            : snappy.decompressSync(data);
        break;
      default:
        throw new CorruptDataError(`${what}: unknown compression ${String(codec)}`);
    }
  } catch (err) {
    if (err instanceof CorruptDataError) throw err;
    throw new CorruptDataError(`${what}: ${codec} decompression failed: ${errorMessage(err)}`, undefined, { codec });
  }
  if (out.length > maxOutputLength) throw new CorruptDataError(`${what}: decompressed size ${out.length} exceeds ${maxOutputLength} bytes`);
  return out;
}
