/**
 * Backup segment object, format version 1: one partition's consecutive Kafka record batches (v2,
 * byte for byte as fetched) for one offset range. Full specification: docs/format.md.
 * All integers big-endian; i64 are two's complement; "crc" is CRC-32C (src/kafka/protocol/crc32c.ts).
 *
 * Segment =>
 *   Block[blockCount]                 independently compressed runs of whole batches
 *   Footer                            at footerOffset = sum of the blocks' storedLength
 *   Trailer                           the last 32 bytes of the object
 *
 * Block => codec(concatenation of whole record batches)   raw size ~blockSize, cut between batches
 *
 * Footer =>                                              72 + 72 * blockCount bytes
 *   blockCount              u32   @0    >= 1
 *   blockEntrySize          u16   @4    = 72
 *   segmentCodec            u8    @6    codec asked for when writing (blocks may be stored 'none')
 *   reserved                u8    @7    = 0
 *   firstOffset             i64   @8    baseOffset of the first batch
 *   lastOffset              i64   @16   baseOffset + lastOffsetDelta of the last batch
 *   recordCount             i64   @24   sum of the batches' recordCount
 *   batchCount              i64   @32
 *   minTimestamp            i64   @40   smallest record timestamp (all batches, control ones too)
 *   maxTimestamp            i64   @48   greatest record timestamp
 *   rawBytes                i64   @56   sum of the blocks' rawLength
 *   controlBatchCount       u32   @64
 *   transactionalBatchCount u32   @68
 *   BlockEntry[blockCount]  @72
 *
 * BlockEntry =>                                          72 bytes
 *   storedOffset            i64   @0    position of the block in the object
 *   storedLength            u32   @8    >= 1
 *   rawLength               u32   @12   size after decompression (>= 61 * batchCount)
 *   firstOffset             i64   @16
 *   lastOffset              i64   @24
 *   minTimestamp            i64   @32
 *   maxTimestamp            i64   @40
 *   recordCount             u32   @48
 *   batchCount              u32   @52   >= 1
 *   controlBatchCount       u32   @56
 *   transactionalBatchCount u32   @60
 *   crc                     u32   @64   CRC-32C of the stored (compressed) block bytes
 *   codec                   u8    @68   0 none, 1 zstd, 2 lz4
 *   reserved                u8[3] @69   = 0
 *
 * Trailer =>                                             32 bytes
 *   footerOffset            i64   @0    = position of the footer = object size - 32 - footerLength
 *   footerLength            u32   @8
 *   footerCrc               u32   @12   CRC-32C of the footer bytes
 *   formatVersion           u16   @16   = 1
 *   trailerSize             u16   @18   = 32
 *   trailerCrc              u32   @20   CRC-32C of trailer bytes [0, 20)
 *   magic                   u8[8] @24   "KBSEGMNT"
 *
 * A reader fetches the trailer (or a larger tail, see parseSegmentTail), then the footer, then
 * any block by its [storedOffset, storedOffset + storedLength) range. Every byte of a segment
 * is covered by a checksum; every length and count is bounds-checked before use, so damaged or
 * hostile input yields CorruptDataError, never a hang, a huge allocation or wrong data.
 */
import { createHash, type Hash } from 'node:crypto';
import { CorruptDataError, KafkaBackupError } from '../util/errors.js';
import { compress, decompress, zstdCompressAsync } from '../kafka/protocol/compression.js';
import { crc32c, crc32cCombine } from '../kafka/protocol/crc32c.js';
import {
  ATTRIBUTES_OFFSET,
  batchTimestampRange,
  BATCH_HEADER_SIZE,
  readBatchHeader,
  splitBatches,
  verifyBatchCrc,
  type BatchHeader,
} from '../kafka/protocol/record-batch.js';
import { crc32cHex, DEFAULT_SEGMENT_DIGEST, type SegmentDigestAlgorithm } from './segment-digest.js';

import type { SegmentCodec } from './codec.js';

export type { SegmentCodec };

export const SEGMENT_FORMAT_VERSION = 1;
export const SEGMENT_MAGIC = Buffer.from('KBSEGMNT', 'ascii');
export const SEGMENT_TRAILER_SIZE = 32;
export const FOOTER_HEADER_SIZE = 72;
export const BLOCK_ENTRY_SIZE = 72;
export const DEFAULT_BLOCK_SIZE = 1024 * 1024;
export const DEFAULT_ZSTD_LEVEL = 3;
/** Limit on blocks per segment a reader accepts (a 64 GiB segment of 1 MiB blocks). */
export const MAX_BLOCKS = 1 << 16;
/**
 * Largest raw (and stored) block the format allows: a block is at most the block size unless it
 * holds one larger batch, and a batch larger than this cannot reach a broker with the default
 * request limit (socket.request.max.bytes, 100 MiB). The writer refuses larger batches, so every
 * segment it writes stays readable; a reader refuses larger blocks before reading or inflating
 * them, so a forged footer cannot make it allocate up to 4 GiB per block.
 */
export const MAX_BLOCK_RAW_LENGTH = 128 * 1024 * 1024;

// The codec byte of the footer and of each block entry is the index in this list: never reorder it.
const CODECS: readonly SegmentCodec[] = ['none', 'zstd', 'lz4'];

export interface SegmentTrailer {
  footerOffset: number;
  footerLength: number;
  footerCrc: number;
  formatVersion: number;
  /** footerOffset + footerLength + 32. */
  objectSize: number;
}

export interface BlockMeta {
  index: number;
  storedOffset: number;
  storedLength: number;
  rawLength: number;
  firstOffset: bigint;
  lastOffset: bigint;
  minTimestamp: bigint;
  maxTimestamp: bigint;
  recordCount: number;
  batchCount: number;
  controlBatchCount: number;
  transactionalBatchCount: number;
  crc: number;
  codec: SegmentCodec;
}

export interface SegmentFooter {
  segmentCodec: SegmentCodec;
  firstOffset: bigint;
  lastOffset: bigint;
  recordCount: number;
  batchCount: number;
  minTimestamp: bigint;
  maxTimestamp: bigint;
  rawBytes: number;
  controlBatchCount: number;
  transactionalBatchCount: number;
  blocks: BlockMeta[];
}

/** What the partition index needs to know about a finished segment. */
export interface SegmentSummary {
  firstOffset: bigint;
  lastOffset: bigint;
  recordCount: number;
  batchCount: number;
  minTimestamp: bigint;
  maxTimestamp: bigint;
  controlBatchCount: number;
  transactionalBatchCount: number;
  blockCount: number;
  /** Sum of the raw batch bytes. */
  rawBytes: number;
  /** Size of the whole object (blocks + footer + trailer). */
  storedBytes: number;
  /** CRC-32C of the whole object, 8 lowercase hex digits (derived from the block CRCs: no extra pass). */
  crc32c: string;
  /** SHA-256 of the whole object, lowercase hex; only when the writer was asked for it (`digest: 'sha256'`). */
  sha256?: string;
  codec: SegmentCodec;
}

export interface SegmentWriterOptions {
  codec?: SegmentCodec;
  /** zstd level 1..22 (default 3). */
  level?: number;
  /** Raw bytes per block before a cut (default 1 MiB); blocks are cut only between batches. */
  blockSize?: number;
  /** Check each batch's CRC-32C as it is added (default true). */
  verifyCrc?: boolean;
  /**
   * Compress zstd blocks on libuv's thread pool instead of the calling thread (default false).
   * `add` and `flush` then return only blocks that are final; `settle(n)` waits until at most n
   * blocks are being compressed and returns the chunks that became final, in order; end the
   * segment with `finishAsync`.
   */
  compressOffThread?: boolean;
  /**
   * Whole-object digest for the index (default crc32c, derived from the block CRCs at no cost);
   * 'sha256' also hashes every byte (docs/format.md 2.4).
   */
  digest?: SegmentDigestAlgorithm;
}

interface PendingBlock {
  batches: Buffer[];
  rawLength: number;
  firstOffset: bigint;
  lastOffset: bigint;
  minTimestamp: bigint;
  maxTimestamp: bigint;
  recordCount: number;
  controlBatchCount: number;
  transactionalBatchCount: number;
  /**
   * CRC-32C of the concatenated batches, derived from each batch's checked CRC (crc32cCombine),
   * so a block stored as it is needs no second pass over its bytes; null when CRCs are not checked.
   */
  rawCrc: number | null;
}

/**
 * Streams a segment out: `add` takes one raw batch at a time and returns the byte chunks that
 * became final (a compressed block when one was cut; usually none); `finish` returns the last
 * chunks (last block, footer, trailer) and the summary. Concatenated in order, the chunks are the
 * segment object. Memory: one block of batches (kept by reference until its block is cut: do not
 * modify a batch after adding it) and 72 bytes per block of footer. An uncompressed block of
 * batches that lie back to back in one buffer is returned as a view of that buffer, not a copy.
 */
export class SegmentWriter {
  readonly codec: SegmentCodec;
  readonly level: number;
  readonly blockSize: number;
  private readonly verifyCrc: boolean;
  /** Only with `digest: 'sha256'`; the CRC-32C of the whole object is always kept. */
  private readonly hash: Hash | undefined;
  private objectCrc = 0;
  private readonly blocks: BlockMeta[] = [];
  private pending: PendingBlock | null = null;
  private readonly offThread: boolean;
  /** Blocks being compressed off-thread, oldest first; sealed strictly in this order. */
  private readonly compressing: { p: PendingBlock; raw: Buffer; job: Promise<Buffer> }[] = [];
  private position = 0;
  private lastOffset: bigint | null = null;
  private finished = false;

  constructor(opts: SegmentWriterOptions = {}) {
    this.codec = opts.codec ?? 'zstd';
    if (!CODECS.includes(this.codec)) throw new RangeError(`segment codec must be one of ${CODECS.join(', ')}`);
    this.level = opts.level ?? DEFAULT_ZSTD_LEVEL;
    if (!Number.isInteger(this.level) || this.level < 1 || this.level > 22) throw new RangeError('zstd level must be an integer 1..22');
    this.blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (!Number.isInteger(this.blockSize) || this.blockSize < 1 || this.blockSize > MAX_BLOCK_RAW_LENGTH)
      throw new RangeError('blockSize must be 1 B..128 MiB');
    this.verifyCrc = opts.verifyCrc ?? true;
    this.offThread = (opts.compressOffThread ?? false) && this.codec === 'zstd';
    if ((opts.digest ?? DEFAULT_SEGMENT_DIGEST) === 'sha256') this.hash = createHash('sha256');
  }

  /** Blocks cut but still being compressed (off-thread mode). */
  get compressingBlocks(): number {
    return this.compressing.length;
  }

  /** Bytes emitted so far. */
  get bytesWritten(): number {
    return this.position;
  }

  /** Raw batch bytes waiting for the current block to be cut. */
  get pendingBytes(): number {
    return this.pending?.rawLength ?? 0;
  }

  /** Number of batches added so far. */
  get batchCount(): number {
    return (
      this.blocks.reduce((n, b) => n + b.batchCount, 0) + this.compressing.reduce((n, j) => n + j.p.batches.length, 0) + (this.pending?.batches.length ?? 0)
    );
  }

  /**
   * Adds one whole v2 batch (as splitBatches gives it). Batches must come in offset order:
   * each baseOffset greater than the previous batch's last offset (gaps are fine). `range`, when
   * the caller already has it from `batchTimestampRange(batch)`, spares a second record scan
   * (which inflates compressed batches).
   */
  add(batch: Buffer, range?: { min: bigint; max: bigint }): Buffer[] {
    if (this.finished) throw new KafkaBackupError('SEGMENT_FINISHED', 'segment writer already finished');
    const h = readBatchHeader(batch);
    if (h.size !== batch.length || h.batchLength < BATCH_HEADER_SIZE - 12)
      throw new CorruptDataError(`record batch at offset ${h.baseOffset}: batchLength says ${h.size} bytes, buffer has ${batch.length}`);
    let wholeCrc: number | null = null;
    if (this.verifyCrc) {
      if (!verifyBatchCrc(batch)) throw new CorruptDataError(`record batch at offset ${h.baseOffset}: CRC-32C mismatch`);
      // The batch's CRC covers bytes [21, end): add the 21 bytes before it to get the whole batch's.
      wholeCrc = crc32cCombine(crc32c(batch.subarray(0, ATTRIBUTES_OFFSET)), h.crc, batch.length - ATTRIBUTES_OFFSET);
    }
    if (this.lastOffset !== null && h.baseOffset <= this.lastOffset) {
      throw new KafkaBackupError('SEGMENT_ORDER', `record batch at offset ${h.baseOffset} does not follow offset ${this.lastOffset}`, {
        baseOffset: h.baseOffset.toString(),
        previous: this.lastOffset.toString(),
      });
    }
    if (batch.length > MAX_BLOCK_RAW_LENGTH) {
      throw new KafkaBackupError(
        'BATCH_TOO_LARGE',
        `record batch at offset ${h.baseOffset} is ${batch.length} bytes; a segment block holds at most ${MAX_BLOCK_RAW_LENGTH} bytes (docs/format.md 2.1)`,
        { baseOffset: h.baseOffset.toString(), bytes: batch.length },
      );
    }
    range ??= batchTimestampRange(batch);
    const out: Buffer[] = [];
    if (this.pending && this.pending.rawLength + batch.length > this.blockSize) this.cut(out);
    this.append(h, batch, range, wholeCrc);
    this.lastOffset = h.lastOffset;
    if (this.pending && this.pending.rawLength >= this.blockSize) this.cut(out);
    return out;
  }

  /** Cuts the current block now (if any) and returns it (off-thread mode: once compressed, from `settle`). */
  flush(): Buffer[] {
    const out: Buffer[] = [];
    if (this.pending) this.cut(out);
    return out;
  }

  /** Off-thread mode: waits until at most `max` blocks are being compressed; the chunks that became final, in order. */
  async settle(max = 0): Promise<Buffer[]> {
    const out: Buffer[] = [];
    while (this.compressing.length > max) {
      const j = this.compressing[0]!;
      const stored = await j.job;
      this.compressing.shift();
      out.push(this.seal(j.p, j.raw, stored));
    }
    return out;
  }

  /** `finish` for either mode: waits for the blocks being compressed. */
  async finishAsync(): Promise<{ chunks: Buffer[]; summary: SegmentSummary }> {
    if (this.finished) throw new KafkaBackupError('SEGMENT_FINISHED', 'segment writer already finished');
    const chunks = this.flush();
    chunks.push(...(await this.settle(0)));
    const fin = this.finish();
    return { chunks: [...chunks, ...fin.chunks], summary: fin.summary };
  }

  /** Ends the segment: the last chunks and the summary. Needs at least one batch. Off-thread mode: use `finishAsync`. */
  finish(): { chunks: Buffer[]; summary: SegmentSummary } {
    if (this.finished) throw new KafkaBackupError('SEGMENT_FINISHED', 'segment writer already finished');
    if (this.compressing.length > 0 || (this.offThread && this.pending))
      throw new KafkaBackupError('SEGMENT_PENDING', 'blocks are still being compressed: use finishAsync');
    const chunks = this.flush();
    if (this.blocks.length === 0) throw new KafkaBackupError('SEGMENT_EMPTY', 'a segment needs at least one batch');
    this.finished = true;
    const footer = encodeFooter(this.codec, this.blocks);
    const totals = footerTotals(this.blocks);
    const trailer = encodeTrailer(this.position, footer);
    this.emit(footer);
    this.emit(trailer);
    chunks.push(footer, trailer);
    return {
      chunks,
      summary: {
        ...totals,
        blockCount: this.blocks.length,
        storedBytes: this.position,
        crc32c: crc32cHex(this.objectCrc),
        ...(this.hash ? { sha256: this.hash.digest('hex') } : {}),
        codec: this.codec,
      },
    };
  }

  private append(h: BatchHeader, batch: Buffer, range: { min: bigint; max: bigint }, wholeCrc: number | null): void {
    const p = this.pending;
    const control = h.isControl ? 1 : 0;
    const txn = h.isTransactional ? 1 : 0;
    if (!p) {
      this.pending = {
        batches: [batch],
        rawLength: batch.length,
        firstOffset: h.baseOffset,
        lastOffset: h.lastOffset,
        minTimestamp: range.min,
        maxTimestamp: range.max,
        recordCount: h.recordCount,
        controlBatchCount: control,
        transactionalBatchCount: txn,
        rawCrc: wholeCrc,
      };
      return;
    }
    p.rawCrc = p.rawCrc === null || wholeCrc === null ? null : crc32cCombine(p.rawCrc, wholeCrc, batch.length);
    p.batches.push(batch);
    p.rawLength += batch.length;
    p.lastOffset = h.lastOffset;
    if (range.min < p.minTimestamp) p.minTimestamp = range.min;
    if (range.max > p.maxTimestamp) p.maxTimestamp = range.max;
    p.recordCount += h.recordCount;
    p.controlBatchCount += control;
    p.transactionalBatchCount += txn;
  }

  /** Cuts the pending block: sealed into `out` now, or (off-thread mode) queued for compression. */
  private cut(out: Buffer[]): void {
    const p = this.pending!;
    this.pending = null;
    const raw = adjacent(p.batches, p.rawLength) ?? Buffer.concat(p.batches, p.rawLength);
    if (this.offThread) {
      const job = zstdCompressAsync(raw, this.level);
      job.catch(() => {}); // observed by settle; a writer abandoned mid-way must not leave an unhandled rejection
      this.compressing.push({ p, raw, job });
      return;
    }
    out.push(this.seal(p, raw, this.codec === 'none' ? raw : compress(this.codec, raw, this.codec === 'zstd' ? this.level : undefined)));
  }

  /** Records the block in the footer and the hash; a block that did not shrink is stored as is. */
  private seal(p: PendingBlock, raw: Buffer, compressed: Buffer): Buffer {
    let codec = this.codec;
    let stored = compressed;
    if (codec !== 'none' && stored.length >= raw.length) {
      codec = 'none';
      stored = raw;
    }
    const crc = stored === raw && p.rawCrc !== null ? p.rawCrc : crc32c(stored);
    this.blocks.push({
      index: this.blocks.length,
      storedOffset: this.position,
      storedLength: stored.length,
      rawLength: p.rawLength,
      firstOffset: p.firstOffset,
      lastOffset: p.lastOffset,
      minTimestamp: p.minTimestamp,
      maxTimestamp: p.maxTimestamp,
      recordCount: p.recordCount,
      batchCount: p.batches.length,
      controlBatchCount: p.controlBatchCount,
      transactionalBatchCount: p.transactionalBatchCount,
      crc,
      codec,
    });
    this.emit(stored, crc);
    return stored;
  }

  /** `crc`: the chunk's CRC-32C when already known (a block's), so the object's CRC costs no second pass. */
  private emit(chunk: Buffer, crc = crc32c(chunk)): void {
    this.hash?.update(chunk);
    this.objectCrc = crc32cCombine(this.objectCrc, crc, chunk.length);
    this.position += chunk.length;
  }
}

/**
 * The batches as one view when they lie back to back in one buffer (batches split from one Fetch
 * response do), so a block costs no copy; undefined when they do not.
 */
function adjacent(batches: readonly Buffer[], total: number): Buffer | undefined {
  const first = batches[0]!;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < batches.length; i++) {
    const b = batches[i]!;
    if (b.buffer !== first.buffer || b.byteOffset !== end) return undefined;
    end += b.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, total);
}

type Totals = Omit<SegmentFooter, 'segmentCodec' | 'blocks'>;

function footerTotals(blocks: readonly BlockMeta[]): Totals {
  const first = blocks[0]!;
  const t: Totals = {
    firstOffset: first.firstOffset,
    lastOffset: blocks[blocks.length - 1]!.lastOffset,
    recordCount: 0,
    batchCount: 0,
    minTimestamp: first.minTimestamp,
    maxTimestamp: first.maxTimestamp,
    rawBytes: 0,
    controlBatchCount: 0,
    transactionalBatchCount: 0,
  };
  for (const b of blocks) {
    t.recordCount += b.recordCount;
    t.batchCount += b.batchCount;
    t.rawBytes += b.rawLength;
    t.controlBatchCount += b.controlBatchCount;
    t.transactionalBatchCount += b.transactionalBatchCount;
    if (b.minTimestamp < t.minTimestamp) t.minTimestamp = b.minTimestamp;
    if (b.maxTimestamp > t.maxTimestamp) t.maxTimestamp = b.maxTimestamp;
  }
  return t;
}

function encodeFooter(codec: SegmentCodec, blocks: readonly BlockMeta[]): Buffer {
  const t = footerTotals(blocks);
  const buf = Buffer.alloc(FOOTER_HEADER_SIZE + BLOCK_ENTRY_SIZE * blocks.length);
  buf.writeUInt32BE(blocks.length, 0);
  buf.writeUInt16BE(BLOCK_ENTRY_SIZE, 4);
  buf.writeUInt8(CODECS.indexOf(codec), 6);
  buf.writeBigInt64BE(t.firstOffset, 8);
  buf.writeBigInt64BE(t.lastOffset, 16);
  buf.writeBigInt64BE(BigInt(t.recordCount), 24);
  buf.writeBigInt64BE(BigInt(t.batchCount), 32);
  buf.writeBigInt64BE(t.minTimestamp, 40);
  buf.writeBigInt64BE(t.maxTimestamp, 48);
  buf.writeBigInt64BE(BigInt(t.rawBytes), 56);
  buf.writeUInt32BE(t.controlBatchCount, 64);
  buf.writeUInt32BE(t.transactionalBatchCount, 68);
  let p = FOOTER_HEADER_SIZE;
  for (const b of blocks) {
    buf.writeBigInt64BE(BigInt(b.storedOffset), p);
    buf.writeUInt32BE(b.storedLength, p + 8);
    buf.writeUInt32BE(b.rawLength, p + 12);
    buf.writeBigInt64BE(b.firstOffset, p + 16);
    buf.writeBigInt64BE(b.lastOffset, p + 24);
    buf.writeBigInt64BE(b.minTimestamp, p + 32);
    buf.writeBigInt64BE(b.maxTimestamp, p + 40);
    buf.writeUInt32BE(b.recordCount, p + 48);
    buf.writeUInt32BE(b.batchCount, p + 52);
    buf.writeUInt32BE(b.controlBatchCount, p + 56);
    buf.writeUInt32BE(b.transactionalBatchCount, p + 60);
    buf.writeUInt32BE(b.crc, p + 64);
    buf.writeUInt8(CODECS.indexOf(b.codec), p + 68);
    p += BLOCK_ENTRY_SIZE;
  }
  return buf;
}

function encodeTrailer(footerOffset: number, footer: Buffer): Buffer {
  const t = Buffer.alloc(SEGMENT_TRAILER_SIZE);
  t.writeBigInt64BE(BigInt(footerOffset), 0);
  t.writeUInt32BE(footer.length, 8);
  t.writeUInt32BE(crc32c(footer), 12);
  t.writeUInt16BE(SEGMENT_FORMAT_VERSION, 16);
  t.writeUInt16BE(SEGMENT_TRAILER_SIZE, 18);
  t.writeUInt32BE(crc32c(t.subarray(0, 20)), 20);
  SEGMENT_MAGIC.copy(t, 24);
  return t;
}

// ---- reading ---------------------------------------------------------------------------------

function corrupt(message: string, context: Record<string, unknown> = {}): never {
  throw new CorruptDataError(`segment: ${message}`, undefined, context);
}

/**
 * Parses the 32-byte trailer; `tail` may be any suffix of the object at least 32 bytes long
 * (only its last 32 bytes are read). `objectSize`, when known, is checked against the trailer.
 */
export function parseSegmentTrailer(tail: Buffer, objectSize?: number): SegmentTrailer {
  if (tail.length < SEGMENT_TRAILER_SIZE) corrupt(`trailer truncated: ${tail.length} of ${SEGMENT_TRAILER_SIZE} bytes`);
  const t = tail.subarray(tail.length - SEGMENT_TRAILER_SIZE);
  if (!t.subarray(24).equals(SEGMENT_MAGIC)) corrupt('bad trailer magic: not a kafka-backup segment, or truncated');
  const trailerCrc = t.readUInt32BE(20);
  if (crc32c(t.subarray(0, 20)) !== trailerCrc) corrupt('trailer CRC-32C mismatch');
  const formatVersion = t.readUInt16BE(16);
  if (formatVersion !== SEGMENT_FORMAT_VERSION) corrupt(`unsupported segment format version ${formatVersion} (this reader knows ${SEGMENT_FORMAT_VERSION})`);
  if (t.readUInt16BE(18) !== SEGMENT_TRAILER_SIZE) corrupt(`trailer size field ${t.readUInt16BE(18)} is not ${SEGMENT_TRAILER_SIZE}`);
  const footerOffset64 = t.readBigInt64BE(0);
  const footerLength = t.readUInt32BE(8);
  if (footerOffset64 < 0n || footerOffset64 > BigInt(Number.MAX_SAFE_INTEGER)) corrupt(`footer offset ${footerOffset64} out of range`);
  const footerOffset = Number(footerOffset64);
  if (
    footerLength < FOOTER_HEADER_SIZE + BLOCK_ENTRY_SIZE ||
    (footerLength - FOOTER_HEADER_SIZE) % BLOCK_ENTRY_SIZE !== 0 ||
    (footerLength - FOOTER_HEADER_SIZE) / BLOCK_ENTRY_SIZE > MAX_BLOCKS
  ) {
    corrupt(`footer length ${footerLength} is not 72 + 72 * n for 1 <= n <= ${MAX_BLOCKS}`);
  }
  const size = footerOffset + footerLength + SEGMENT_TRAILER_SIZE;
  if (objectSize !== undefined && size !== objectSize) corrupt(`trailer describes a ${size}-byte object, the object has ${objectSize} bytes`);
  return { footerOffset, footerLength, footerCrc: t.readUInt32BE(12), formatVersion, objectSize: size };
}

/** Byte range [start, end) of the footer in the object. */
export function footerRange(trailer: SegmentTrailer): { start: number; end: number } {
  return { start: trailer.footerOffset, end: trailer.footerOffset + trailer.footerLength };
}

/**
 * Parses the footer (exactly its bytes, `footerRange(trailer)` of the object), checking its CRC
 * from the trailer and that every block entry is consistent: blocks laid end to end from 0 up to
 * the footer, offsets increasing, totals matching.
 */
export function parseSegmentFooter(bytes: Buffer, trailer: SegmentTrailer): SegmentFooter {
  if (bytes.length !== trailer.footerLength) corrupt(`footer is ${bytes.length} bytes, trailer says ${trailer.footerLength}`);
  if (crc32c(bytes) !== trailer.footerCrc) corrupt('footer CRC-32C mismatch');
  const blockCount = bytes.readUInt32BE(0);
  if (blockCount < 1 || FOOTER_HEADER_SIZE + blockCount * BLOCK_ENTRY_SIZE !== bytes.length)
    corrupt(`footer block count ${blockCount} does not match its length ${bytes.length}`);
  if (bytes.readUInt16BE(4) !== BLOCK_ENTRY_SIZE) corrupt(`block entry size ${bytes.readUInt16BE(4)} is not ${BLOCK_ENTRY_SIZE}`);
  const segmentCodec = CODECS[bytes.readUInt8(6)];
  if (segmentCodec === undefined) corrupt(`unknown segment codec ${bytes.readUInt8(6)}`);
  if (bytes.readUInt8(7) !== 0) corrupt('footer reserved byte is not 0');
  const blocks: BlockMeta[] = [];
  let expectedOffset = 0;
  let p = FOOTER_HEADER_SIZE;
  for (let i = 0; i < blockCount; i++, p += BLOCK_ENTRY_SIZE) {
    const ctx = { block: i };
    const codec = CODECS[bytes.readUInt8(p + 68)];
    if (codec === undefined) corrupt(`block ${i}: unknown codec ${bytes.readUInt8(p + 68)}`, ctx);
    if (bytes.readUInt8(p + 69) !== 0 || bytes.readUInt16BE(p + 70) !== 0) corrupt(`block ${i}: reserved bytes are not 0`, ctx);
    const b: BlockMeta = {
      index: i,
      storedOffset: Number(bytes.readBigInt64BE(p)),
      storedLength: bytes.readUInt32BE(p + 8),
      rawLength: bytes.readUInt32BE(p + 12),
      firstOffset: bytes.readBigInt64BE(p + 16),
      lastOffset: bytes.readBigInt64BE(p + 24),
      minTimestamp: bytes.readBigInt64BE(p + 32),
      maxTimestamp: bytes.readBigInt64BE(p + 40),
      recordCount: bytes.readUInt32BE(p + 48),
      batchCount: bytes.readUInt32BE(p + 52),
      controlBatchCount: bytes.readUInt32BE(p + 56),
      transactionalBatchCount: bytes.readUInt32BE(p + 60),
      crc: bytes.readUInt32BE(p + 64),
      codec,
    };
    if (b.storedOffset !== expectedOffset) corrupt(`block ${i} at ${b.storedOffset}, expected ${expectedOffset}`, ctx);
    if (b.storedLength < 1) corrupt(`block ${i} is empty`, ctx);
    expectedOffset += b.storedLength;
    if (b.batchCount < 1 || b.rawLength < b.batchCount * BATCH_HEADER_SIZE)
      corrupt(`block ${i}: ${b.batchCount} batches cannot fill ${b.rawLength} raw bytes`, ctx);
    if (b.rawLength > MAX_BLOCK_RAW_LENGTH)
      corrupt(`block ${i}: raw length ${b.rawLength} is over the format's limit of ${MAX_BLOCK_RAW_LENGTH} bytes per block`, ctx);
    // The writer stores a block uncompressed when compression does not make it smaller.
    if (b.storedLength > b.rawLength) corrupt(`block ${i}: stored length ${b.storedLength} is over its raw length ${b.rawLength}`, ctx);
    if (codec === 'none' && b.rawLength !== b.storedLength) corrupt(`block ${i}: uncompressed but raw ${b.rawLength} != stored ${b.storedLength}`, ctx);
    if (b.firstOffset < 0n || b.lastOffset < b.firstOffset) corrupt(`block ${i}: bad offset range ${b.firstOffset}..${b.lastOffset}`, ctx);
    const prev = blocks[i - 1];
    if (prev && b.firstOffset <= prev.lastOffset) corrupt(`block ${i} starts at offset ${b.firstOffset}, not after ${prev.lastOffset}`, ctx);
    if (b.minTimestamp > b.maxTimestamp) corrupt(`block ${i}: minTimestamp > maxTimestamp`, ctx);
    if (b.controlBatchCount > b.batchCount || b.transactionalBatchCount > b.batchCount)
      corrupt(`block ${i}: more control/transactional batches than batches`, ctx);
    blocks.push(b);
  }
  if (expectedOffset !== trailer.footerOffset) corrupt(`blocks end at ${expectedOffset}, footer starts at ${trailer.footerOffset}`);
  const t = footerTotals(blocks);
  const stored = {
    firstOffset: bytes.readBigInt64BE(8),
    lastOffset: bytes.readBigInt64BE(16),
    recordCount: bytes.readBigInt64BE(24),
    batchCount: bytes.readBigInt64BE(32),
    minTimestamp: bytes.readBigInt64BE(40),
    maxTimestamp: bytes.readBigInt64BE(48),
    rawBytes: bytes.readBigInt64BE(56),
    controlBatchCount: bytes.readUInt32BE(64),
    transactionalBatchCount: bytes.readUInt32BE(68),
  };
  for (const [k, v] of Object.entries(stored)) {
    const expected = t[k as keyof Totals];
    if (BigInt(v) !== BigInt(expected)) corrupt(`footer ${k} ${v} does not match its blocks (${expected})`);
  }
  return { segmentCodec, ...t, blocks };
}

/**
 * Parses a tail of the object (its last `tail.length` bytes, e.g. one ranged GET of 64 KiB).
 * Returns the footer when the tail holds it, else the trailer and the footer range to fetch.
 */
export function parseSegmentTail(
  tail: Buffer,
  objectSize: number,
): { trailer: SegmentTrailer; footer: SegmentFooter | null; footerRange: { start: number; end: number } } {
  if (tail.length > objectSize) corrupt(`tail of ${tail.length} bytes is longer than the ${objectSize}-byte object`);
  const trailer = parseSegmentTrailer(tail, objectSize);
  const range = footerRange(trailer);
  const tailStart = objectSize - tail.length;
  if (range.start < tailStart) return { trailer, footer: null, footerRange: range };
  const footer = parseSegmentFooter(tail.subarray(range.start - tailStart, range.end - tailStart), trailer);
  return { trailer, footer, footerRange: range };
}

export interface DecodeBlockOptions {
  /** Check every batch's own CRC-32C too (default true; the block CRC already covers the bytes). */
  verifyBatchCrc?: boolean;
}

/**
 * Decodes one block from its stored bytes (the object's [storedOffset, storedOffset +
 * storedLength) range): checks its CRC, inflates it, splits it into its batches (subarrays of
 * the inflated bytes) and checks them against the block entry.
 */
export function decodeBlock(stored: Buffer, meta: BlockMeta, opts: DecodeBlockOptions = {}): Buffer[] {
  const where = `block ${meta.index}`;
  const ctx = { block: meta.index };
  if (meta.rawLength > MAX_BLOCK_RAW_LENGTH || meta.storedLength > meta.rawLength)
    corrupt(`${where}: raw length ${meta.rawLength} (stored ${meta.storedLength}) is over the format's limit of ${MAX_BLOCK_RAW_LENGTH} bytes per block`, ctx);
  if (stored.length !== meta.storedLength) corrupt(`${where}: ${stored.length} bytes, footer says ${meta.storedLength}`, ctx);
  if (crc32c(stored) !== meta.crc) corrupt(`${where}: CRC-32C mismatch`, ctx);
  let raw: Buffer;
  try {
    raw = decompress(meta.codec, stored, meta.rawLength, `segment ${where}`);
  } catch (e) {
    if (e instanceof CorruptDataError) throw e;
    return corrupt(`${where}: ${String(e)}`, ctx);
  }
  if (raw.length !== meta.rawLength) corrupt(`${where}: inflates to ${raw.length} bytes, footer says ${meta.rawLength}`, ctx);
  let batches: Buffer[];
  try {
    const split = splitBatches(raw);
    if (split.consumed !== raw.length) corrupt(`${where}: ${raw.length - split.consumed} bytes of a partial batch at the end`, ctx);
    batches = split.batches;
  } catch (e) {
    if (e instanceof CorruptDataError) throw e;
    return corrupt(`${where}: ${String(e instanceof Error ? e.message : e)}`, ctx);
  }
  if (batches.length !== meta.batchCount) corrupt(`${where}: ${batches.length} batches, footer says ${meta.batchCount}`, ctx);
  let records = 0;
  let control = 0;
  let txn = 0;
  let prevLast = -1n;
  for (let i = 0; i < batches.length; i++) {
    const b = batches[i]!;
    const h = readBatchHeader(b);
    if (i === 0 && h.baseOffset !== meta.firstOffset) corrupt(`${where}: first batch at offset ${h.baseOffset}, footer says ${meta.firstOffset}`, ctx);
    if (h.baseOffset <= prevLast || h.lastOffsetDelta < 0 || h.recordCount < 0) corrupt(`${where}: batch ${i} has a bad offset range`, ctx);
    prevLast = h.lastOffset;
    if (opts.verifyBatchCrc !== false && !verifyBatchCrc(b)) corrupt(`${where}: batch at offset ${h.baseOffset} fails its CRC-32C`, ctx);
    records += h.recordCount;
    if (h.isControl) control++;
    if (h.isTransactional) txn++;
  }
  if (prevLast !== meta.lastOffset) corrupt(`${where}: last offset ${prevLast}, footer says ${meta.lastOffset}`, ctx);
  if (records !== meta.recordCount || control !== meta.controlBatchCount || txn !== meta.transactionalBatchCount)
    corrupt(`${where}: record/control/transactional counts do not match the footer`, ctx);
  return batches;
}

/** Reads a whole segment object: its footer and all its batches in order. */
export function readSegment(bytes: Buffer, opts: DecodeBlockOptions = {}): { footer: SegmentFooter; batches: Buffer[] } {
  const trailer = parseSegmentTrailer(bytes, bytes.length);
  const footer = parseSegmentFooter(bytes.subarray(trailer.footerOffset, trailer.footerOffset + trailer.footerLength), trailer);
  const batches: Buffer[] = [];
  for (const b of footer.blocks) {
    for (const batch of decodeBlock(bytes.subarray(b.storedOffset, b.storedOffset + b.storedLength), b, opts)) batches.push(batch);
  }
  return { footer, batches };
}

/** Blocks whose offset range meets [from, to] (inclusive), for ranged reads. */
export function blocksForOffsets(footer: SegmentFooter, from: bigint, to: bigint): BlockMeta[] {
  return footer.blocks.filter((b) => b.lastOffset >= from && b.firstOffset <= to);
}
