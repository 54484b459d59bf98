import zlib from 'node:zlib';
import { decompress, DEFAULT_MAX_DECOMPRESSED } from '../../kafka/protocol/compression.js';
import { encodeBatch, type KafkaRecord, type RecordHeader } from '../../kafka/protocol/record-batch.js';
import { CorruptDataError } from '../../util/errors.js';
import { lz4BlockDecompress } from './lz4-block.js';

/*
  A segment object written by the seed tool (osodevops/kafka-backup 0.17.x), little-endian:

  header   32 bytes  "KBAK", version u8 = 1, compression u8 (0 none, 1 zstd, 2 lz4), 2 reserved bytes,
                     record_count u64, start_offset i64, end_offset i64 (inclusive)
  block              the records, compressed as one unit: a zstd frame; or u32 uncompressed size + one
                     raw LZ4 block; or the bytes themselves
  footer    8 bytes  CRC-32 (IEEE) of header + block as u32, then "BKAE"

  Record (inside the inflated block):
    total_len u32 (bytes that follow), timestamp i64, offset i64 (the source offset),
    key_len i32 (-1 = null) + key, value_len i32 (-1 = null) + value, header_count u16,
    header_count × (key_len u16 + UTF-8 key, value_len i32 (-1 = null) + value)
*/

export const SEED_HEADER_SIZE = 32;
export const SEED_FOOTER_SIZE = 8;
const HEAD_MAGIC = 'KBAK';
const FOOT_MAGIC = 'BKAE';
/** Fixed bytes of a record after total_len: timestamp, offset, key_len, value_len, header_count. */
const RECORD_FIXED = 8 + 8 + 4 + 4 + 2;

export type SeedCompression = 'none' | 'zstd' | 'lz4';
export const SEED_CODECS: readonly SeedCompression[] = ['none', 'zstd', 'lz4'];

export interface SeedSegmentHeader {
  compression: SeedCompression;
  recordCount: number;
  startOffset: bigint;
  endOffset: bigint;
}

export interface SeedSegment {
  header: SeedSegmentHeader;
  records: KafkaRecord[];
  /** Bytes of the inflated record block. */
  rawLength: number;
}

export interface SeedDecodeOptions {
  /** The record block's inflated size when the manifest records it (uncompressed_size): must match. */
  rawLength?: number;
  /** Largest inflated block accepted (default 1 GiB; the seed tool rolls segments at 128 MiB by default). */
  maxRawLength?: number;
}

/** The 32-byte header and the footer, checked (magic, version, codec, CRC-32); throws CorruptDataError naming `what`. */
export function parseSeedSegmentFrame(bytes: Buffer, what: string): { header: SeedSegmentHeader; block: Buffer } {
  const bad = (m: string): never => {
    throw new CorruptDataError(`${what}: ${m}`);
  };
  if (bytes.length < SEED_HEADER_SIZE + SEED_FOOTER_SIZE)
    bad(`${bytes.length} bytes, too short for a seed-tool segment (header and footer alone are ${SEED_HEADER_SIZE + SEED_FOOTER_SIZE})`);
  if (bytes.toString('latin1', 0, 4) !== HEAD_MAGIC) bad(`not a seed-tool segment (magic is not "${HEAD_MAGIC}")`);
  if (bytes.toString('latin1', bytes.length - 4) !== FOOT_MAGIC) bad(`footer magic is not "${FOOT_MAGIC}" (truncated or damaged)`);
  if (bytes[4] !== 1) bad(`segment version ${bytes[4]} (only version 1 is known)`);
  const compression = SEED_CODECS[bytes[5]!] ?? bad(`compression code ${bytes[5]} (known: 0 none, 1 zstd, 2 lz4)`);
  const end = bytes.length - SEED_FOOTER_SIZE;
  const stored = bytes.readUInt32LE(end);
  const actual = zlib.crc32(bytes.subarray(0, end)) >>> 0;
  if (stored !== actual) bad(`CRC-32 mismatch (footer records ${stored.toString(16)}, content has ${actual.toString(16)})`);
  // Only compared with the records decoded (an impossible count is a mismatch there), never used to allocate.
  const header: SeedSegmentHeader = {
    compression,
    recordCount: Number(bytes.readBigUInt64LE(8)),
    startOffset: bytes.readBigInt64LE(16),
    endOffset: bytes.readBigInt64LE(24),
  };
  if (header.startOffset < 0n || header.endOffset < header.startOffset - 1n) bad(`offsets ${header.startOffset}..${header.endOffset} in the header`);
  return { header, block: bytes.subarray(SEED_HEADER_SIZE, end) };
}

function inflate(c: SeedCompression, block: Buffer, what: string, o: SeedDecodeOptions): Buffer {
  const max = o.rawLength ?? o.maxRawLength ?? DEFAULT_MAX_DECOMPRESSED;
  let raw: Buffer;
  if (c === 'lz4') {
    if (block.length < 4) throw new CorruptDataError(`${what}: lz4 block shorter than its 4-byte size prefix`);
    const size = block.readUInt32LE(0);
    if (size > max) throw new CorruptDataError(`${what}: lz4 block states ${size} inflated bytes, over the ${max} expected`);
    raw = lz4BlockDecompress(block.subarray(4), size, what);
  } else {
    raw = decompress(c, block, max, what);
  }
  if (o.rawLength !== undefined && raw.length !== o.rawLength)
    throw new CorruptDataError(`${what}: record block inflates to ${raw.length} bytes, the manifest records ${o.rawLength}`);
  return raw;
}

/** Decodes the inflated record block; every length is bounded by the record's own total_len. */
export function decodeSeedRecords(raw: Buffer, what: string): KafkaRecord[] {
  const out: KafkaRecord[] = [];
  let p = 0;
  while (p < raw.length) {
    const at = out.length;
    const bad = (m: string): never => {
      throw new CorruptDataError(`${what}: record ${at} (byte ${p} of the record block): ${m}`);
    };
    if (p + 4 > raw.length) bad('truncated length');
    const len = raw.readUInt32LE(p);
    const end = p + 4 + len;
    if (len < RECORD_FIXED || end > raw.length) bad(`length ${len} does not fit the ${raw.length - p - 4} bytes left`);
    let q = p + 4;
    const need = (n: number): void => {
      if (n < 0 || q + n > end) bad(`field of ${n} bytes overruns the record`);
    };
    const int = (size: 2 | 4): number => {
      need(size);
      const v = size === 2 ? raw.readUInt16LE(q) : raw.readInt32LE(q);
      q += size;
      return v;
    };
    const bytesOf = (n: number): Buffer | null => {
      if (n === -1) return null;
      need(n);
      const b = raw.subarray(q, q + n);
      q += n;
      return b;
    };
    const timestamp = raw.readBigInt64LE(q);
    const offset = raw.readBigInt64LE(q + 8);
    q += 16;
    const key = bytesOf(int(4));
    const value = bytesOf(int(4));
    const count = int(2);
    const headers: RecordHeader[] = [];
    for (let h = 0; h < count; h++) {
      const k = bytesOf(int(2))!;
      headers.push({ key: k, value: bytesOf(int(4)) });
    }
    if (q !== end) bad(`${end - q} bytes left over after its fields`);
    out.push({ offset, timestamp, key, value, headers });
    p = end;
  }
  return out;
}

/**
 * A whole seed-tool segment: frame checked (CRC-32, magics), block inflated to at most the
 * expected size, records decoded and checked against the header (count, first and last offset,
 * offsets increasing). Throws CorruptDataError naming `what`.
 */
export function decodeSeedSegment(bytes: Buffer, what: string, o: SeedDecodeOptions = {}): SeedSegment {
  const { header, block } = parseSeedSegmentFrame(bytes, what);
  const raw = inflate(header.compression, block, what, o);
  const records = decodeSeedRecords(raw, what);
  const problems: string[] = [];
  if (records.length !== header.recordCount) problems.push(`${records.length} records, the header says ${header.recordCount}`);
  const first = records[0]?.offset;
  const last = records.at(-1)?.offset;
  if (first !== undefined && (first !== header.startOffset || last !== header.endOffset))
    problems.push(`offsets ${first}..${last}, the header says ${header.startOffset}..${header.endOffset}`);
  for (let i = 1; i < records.length; i++) {
    if (records[i]!.offset <= records[i - 1]!.offset) {
      problems.push(`offset ${records[i]!.offset} follows ${records[i - 1]!.offset} (not increasing)`);
      break;
    }
  }
  if (problems.length) throw new CorruptDataError(`${what}: ${problems.join('; ')}`);
  return { header, records, rawLength: raw.length };
}

export const SEED_ORIGINAL_OFFSET = 'x-original-offset';
export const SEED_ORIGINAL_TIMESTAMP = 'x-original-timestamp';
export const SEED_SOURCE_CLUSTER = 'x-source-cluster';

function isI64le(h: RecordHeader | undefined, name: string, v: bigint): boolean {
  return h !== undefined && h.key.toString('latin1') === name && h.value !== null && h.value.length === 8 && h.value.readBigInt64LE() === v;
}

/**
 * The record as the source's consumers saw it. With `include_offset_headers` (its default) the
 * seed tool appended `x-original-offset` and `x-original-timestamp` (i64 LE of the record's own
 * offset and timestamp), then `x-source-cluster` when configured, after the record's headers.
 * Exactly those trailing headers are removed, and only when their values are the record's own
 * offset and timestamp: a header of the same name that the producer set is kept.
 */
export function withoutSeedOffsetHeaders(r: KafkaRecord): KafkaRecord {
  const h = r.headers;
  let n = h.length;
  if (
    n >= 3 &&
    h[n - 1]!.key.toString('latin1') === SEED_SOURCE_CLUSTER &&
    isI64le(h[n - 3], SEED_ORIGINAL_OFFSET, r.offset) &&
    isI64le(h[n - 2], SEED_ORIGINAL_TIMESTAMP, r.timestamp)
  )
    n -= 3;
  else if (n >= 2 && isI64le(h[n - 2], SEED_ORIGINAL_OFFSET, r.offset) && isI64le(h[n - 1], SEED_ORIGINAL_TIMESTAMP, r.timestamp)) n -= 2;
  return n === h.length ? r : { ...r, headers: h.slice(0, n) };
}

/** Most raw bytes per re-encoded batch: well under a broker's default message.max.bytes (1 MiB). */
export const SEED_BATCH_BYTES = 256 * 1024;

function recordSize(r: KafkaRecord): number {
  return 32 + (r.key?.length ?? 0) + (r.value?.length ?? 0) + r.headers.reduce((n, h) => n + 8 + h.key.length + (h.value?.length ?? 0), 0);
}

/**
 * Kafka record batches (v2, uncompressed, CreateTime) holding `records` in order with their source
 * offsets (gaps kept as offset deltas), cut at about `maxBytes` of records each, so the restore
 * path reads a seed-tool segment as it reads ours.
 */
export function seedRecordsToBatches(records: readonly KafkaRecord[], maxBytes = SEED_BATCH_BYTES): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < records.length) {
    const base = records[i]!.offset;
    let size = 0;
    let j = i;
    while (j < records.length && (j === i || (size + recordSize(records[j]!) <= maxBytes && records[j]!.offset - base <= 0x7fffffffn)))
      size += recordSize(records[j++]!);
    const chunk = records.slice(i, j);
    out.push(
      encodeBatch(
        chunk.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp, offsetDelta: Number(r.offset - base) })),
        { baseOffset: base },
      ),
    );
    i = j;
  }
  return out;
}
