/**
 * Kafka record batch, magic v2 (KIP-98; the only format Kafka >= 0.11 writes). All integers are
 * big-endian; varint/varlong are zigzag varints (varint.ts).
 *
 * RecordBatch =>
 *   baseOffset           int64   @0   offset of the first record (offsetDelta 0)
 *   batchLength          int32   @8   bytes after this field: total size = 12 + batchLength
 *   partitionLeaderEpoch int32   @12
 *   magic                int8    @16  = 2 (0 and 1 are the pre-0.11 message sets, unsupported)
 *   crc                  uint32  @17  CRC-32C of bytes [21, 12 + batchLength)
 *   attributes           int16   @21  bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)
 *                                     bit 3 timestampType (0 CreateTime, 1 LogAppendTime)
 *                                     bit 4 isTransactional, bit 5 isControl
 *                                     bit 6 hasDeleteHorizonMs (KIP-534: baseTimestamp is then the
 *                                     delete horizon set by the log cleaner; record timestamps are
 *                                     still baseTimestamp + timestampDelta)
 *   lastOffsetDelta      int32   @23  offset of the last record - baseOffset
 *   baseTimestamp        int64   @27  timestamp of the first record (NOT the minimum)
 *   maxTimestamp         int64   @35  greatest record timestamp; the LogAppendTime for those batches
 *   producerId           int64   @43  -1 when not idempotent
 *   producerEpoch        int16   @51
 *   baseSequence         int32   @53
 *   recordCount          int32   @57
 *   records                      @61  recordCount Records, compressed as a whole when attrs & 7 != 0
 *
 * Record =>
 *   length          varint   bytes of the record after this field
 *   attributes      int8     unused, 0
 *   timestampDelta  varlong  timestamp - baseTimestamp (may be negative: timestamps are not monotonic)
 *   offsetDelta     varint   offset - baseOffset
 *   keyLength       varint   -1 = null key
 *   key             bytes
 *   valueLength     varint   -1 = null value (a tombstone)
 *   value           bytes
 *   headerCount     varint
 *   Header =>
 *     headerKeyLength    varint  (>= 0: header keys are never null)
 *     headerKey          bytes   (UTF-8 for Java clients; kept as raw bytes here)
 *     headerValueLength  varint  -1 = null
 *     headerValue        bytes
 *
 * Control batches (isControl) hold one record whose key is
 *   version int16, type int16 (0 ABORT, 1 COMMIT)
 * and whose value is the transaction marker (version int16, coordinatorEpoch int32).
 *
 * Everything here is a pure function over Buffers. Reading never goes past the bytes it is given:
 * malformed input raises CorruptDataError, a pre-v2 message set UnsupportedMessageFormatError.
 */
import { CorruptDataError, KafkaBackupError } from '../../util/errors.js';
import { ByteReader, varintSize, varlongSize, writeVarint, writeVarlong } from './varint.js';
import { withLz4Inflated } from './lz4-scoped.js';
import { compress, decompress, DEFAULT_MAX_DECOMPRESSED, KAFKA_COMPRESSIONS, kafkaCompressionCode, type KafkaCompression } from './compression.js';
import { crc32c } from './crc32c.js';

export type { KafkaCompression } from './compression.js';

// ---- layout ----------------------------------------------------------------------------------

export const BASE_OFFSET_OFFSET = 0;
export const BATCH_LENGTH_OFFSET = 8;
export const PARTITION_LEADER_EPOCH_OFFSET = 12;
export const MAGIC_OFFSET = 16;
export const CRC_OFFSET = 17;
export const ATTRIBUTES_OFFSET = 21;
export const LAST_OFFSET_DELTA_OFFSET = 23;
export const BASE_TIMESTAMP_OFFSET = 27;
export const MAX_TIMESTAMP_OFFSET = 35;
export const PRODUCER_ID_OFFSET = 43;
export const PRODUCER_EPOCH_OFFSET = 51;
export const BASE_SEQUENCE_OFFSET = 53;
export const RECORD_COUNT_OFFSET = 57;
export const RECORDS_OFFSET = 61;
/** Size of the v2 batch header, up to the first record. */
export const BATCH_HEADER_SIZE = 61;
/** baseOffset + batchLength: the part of a batch not counted in batchLength. */
export const LOG_OVERHEAD = 12;
/** Smallest encoded record: length, attributes, timestampDelta, offsetDelta, key, value, header count. */
export const MIN_RECORD_SIZE = 7;

export const COMPRESSION_MASK = 0x07;
export const TIMESTAMP_TYPE_BIT = 0x08;
export const TRANSACTIONAL_BIT = 0x10;
export const CONTROL_BIT = 0x20;
export const DELETE_HORIZON_BIT = 0x40;

export const NO_PRODUCER_ID = -1n;
export const NO_PRODUCER_EPOCH = -1;
export const NO_SEQUENCE = -1;
export const NO_PARTITION_LEADER_EPOCH = -1;

export type TimestampType = 'create' | 'logAppend';

export interface BatchHeader {
  baseOffset: bigint;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  compression: KafkaCompression;
  timestampType: TimestampType;
  isTransactional: boolean;
  isControl: boolean;
  lastOffsetDelta: number;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
  /** baseOffset + lastOffsetDelta. */
  lastOffset: bigint;
  /** 12 + batchLength: the whole batch's size in bytes. */
  size: number;
}

export interface RecordHeader {
  key: Buffer;
  value: Buffer | null;
}

export interface KafkaRecord {
  offset: bigint;
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface DecodedBatch {
  header: BatchHeader;
  records: KafkaRecord[];
}

/** A batch in an older message format (magic 0 or 1), which this tool does not back up. */
export class UnsupportedMessageFormatError extends KafkaBackupError {
  constructor(
    readonly magic: number,
    offset: bigint,
  ) {
    super(
      'UNSUPPORTED_MESSAGE_FORMAT',
      magic === 0 || magic === 1
        ? `message format v${magic} (magic ${magic}, Kafka < 0.11) at offset ${offset}: only record batch v2 is supported; rewrite the topic with a Kafka >= 0.11 producer or let retention remove the old segments`
        : `unknown record batch magic ${magic} at offset ${offset}`,
      { magic, offset: offset.toString() },
    );
  }
}

// ---- header ----------------------------------------------------------------------------------

/**
 * Reads the 61-byte v2 header at `pos`. Checks only that the bytes are there and that magic is 2
 * (throws UnsupportedMessageFormatError otherwise); does not check the CRC.
 */
export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  if (pos < 0 || buf.length - pos < BATCH_HEADER_SIZE) {
    if (buf.length - pos > MAGIC_OFFSET) checkMagic(buf, pos);
    throw new CorruptDataError(`record batch header truncated: ${Math.max(0, buf.length - pos)} of ${BATCH_HEADER_SIZE} bytes`);
  }
  checkMagic(buf, pos);
  const baseOffset = buf.readBigInt64BE(pos + BASE_OFFSET_OFFSET);
  const batchLength = buf.readInt32BE(pos + BATCH_LENGTH_OFFSET);
  const attributes = buf.readInt16BE(pos + ATTRIBUTES_OFFSET);
  const lastOffsetDelta = buf.readInt32BE(pos + LAST_OFFSET_DELTA_OFFSET);
  const code = attributes & COMPRESSION_MASK;
  const compression = KAFKA_COMPRESSIONS[code];
  if (compression === undefined) throw new CorruptDataError(`record batch at offset ${baseOffset}: unknown compression code ${code}`);
  return {
    baseOffset,
    batchLength,
    partitionLeaderEpoch: buf.readInt32BE(pos + PARTITION_LEADER_EPOCH_OFFSET),
    magic: buf.readInt8(pos + MAGIC_OFFSET),
    crc: buf.readUInt32BE(pos + CRC_OFFSET),
    attributes,
    compression,
    timestampType: attributes & TIMESTAMP_TYPE_BIT ? 'logAppend' : 'create',
    isTransactional: (attributes & TRANSACTIONAL_BIT) !== 0,
    isControl: (attributes & CONTROL_BIT) !== 0,
    lastOffsetDelta,
    baseTimestamp: buf.readBigInt64BE(pos + BASE_TIMESTAMP_OFFSET),
    maxTimestamp: buf.readBigInt64BE(pos + MAX_TIMESTAMP_OFFSET),
    producerId: buf.readBigInt64BE(pos + PRODUCER_ID_OFFSET),
    producerEpoch: buf.readInt16BE(pos + PRODUCER_EPOCH_OFFSET),
    baseSequence: buf.readInt32BE(pos + BASE_SEQUENCE_OFFSET),
    recordCount: buf.readInt32BE(pos + RECORD_COUNT_OFFSET),
    lastOffset: baseOffset + BigInt(lastOffsetDelta),
    size: LOG_OVERHEAD + batchLength,
  };
}

function checkMagic(buf: Buffer, pos: number): void {
  const magic = buf.readInt8(pos + MAGIC_OFFSET);
  if (magic !== 2) {
    const offset = buf.length - pos >= 8 ? buf.readBigInt64BE(pos) : -1n;
    throw new UnsupportedMessageFormatError(magic, offset);
  }
}

/** Header of a buffer that must be exactly one batch, with its sanity checks. */
function wholeBatchHeader(batch: Buffer): BatchHeader {
  const h = readBatchHeader(batch, 0);
  if (h.batchLength < BATCH_HEADER_SIZE - LOG_OVERHEAD)
    throw new CorruptDataError(`record batch at offset ${h.baseOffset}: batchLength ${h.batchLength} is smaller than the header`);
  if (h.size !== batch.length)
    throw new CorruptDataError(`record batch at offset ${h.baseOffset}: batchLength says ${h.size} bytes, buffer has ${batch.length}`);
  if (h.recordCount < 0) throw new CorruptDataError(`record batch at offset ${h.baseOffset}: negative record count ${h.recordCount}`);
  if (h.lastOffsetDelta < 0) throw new CorruptDataError(`record batch at offset ${h.baseOffset}: negative lastOffsetDelta ${h.lastOffsetDelta}`);
  return h;
}

// ---- splitting a Fetch response --------------------------------------------------------------

/**
 * Splits the records bytes of a Fetch response partition into its complete batches (subarrays of
 * `buf`, no copy). A trailing partial batch, which brokers leave when they cut the response at
 * max bytes, is not returned: `consumed` is where it starts (= buf.length when there is none).
 * Since KIP-74 a broker always returns at least one whole batch, so `consumed === 0` on a
 * non-empty buffer means a broker older than 0.10.1 or a fetch max bytes too small for the batch.
 *
 * Throws UnsupportedMessageFormatError on a magic 0/1 message set, CorruptDataError on a
 * batchLength too small to hold the v2 header.
 */
export function splitBatches(buf: Buffer): { batches: Buffer[]; consumed: number } {
  const batches: Buffer[] = [];
  let pos = 0;
  while (buf.length - pos >= LOG_OVERHEAD) {
    const batchLength = buf.readInt32BE(pos + BATCH_LENGTH_OFFSET);
    if (buf.length - pos > MAGIC_OFFSET) checkMagic(buf, pos);
    if (batchLength < BATCH_HEADER_SIZE - LOG_OVERHEAD) {
      throw new CorruptDataError(`record batch at byte ${pos}: batchLength ${batchLength} is smaller than the ${BATCH_HEADER_SIZE}-byte header`, undefined, {
        position: pos,
      });
    }
    const size = LOG_OVERHEAD + batchLength;
    if (buf.length - pos < size) break;
    batches.push(buf.subarray(pos, pos + size));
    pos += size;
  }
  return { batches, consumed: pos };
}

// ---- CRC -------------------------------------------------------------------------------------

/** CRC-32C of bytes [attributes, end) of a whole batch, as stored in its crc field. */
export function computeBatchCrc(batch: Buffer): number {
  return crc32c(batch.subarray(ATTRIBUTES_OFFSET));
}

/** True when the stored CRC matches. `batch` must be exactly one batch (as splitBatches gives). */
export function verifyBatchCrc(batch: Buffer): boolean {
  if (batch.length < BATCH_HEADER_SIZE) return false;
  if (batch.readInt32BE(BATCH_LENGTH_OFFSET) + LOG_OVERHEAD !== batch.length) return false;
  return batch.readUInt32BE(CRC_OFFSET) === computeBatchCrc(batch);
}

function assertCrc(batch: Buffer, h: BatchHeader): void {
  const actual = computeBatchCrc(batch);
  if (actual !== h.crc) {
    throw new CorruptDataError(`record batch at offset ${h.baseOffset}: CRC-32C mismatch (stored ${hex(h.crc)}, computed ${hex(actual)})`, undefined, {
      offset: h.baseOffset.toString(),
    });
  }
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

// ---- records section -------------------------------------------------------------------------

export interface ReadOptions {
  /** Check the batch CRC first. */
  verifyCrc?: boolean;
  /** Refuse to inflate a compressed batch beyond this many bytes (default 1 GiB). */
  maxDecompressedBytes?: number;
}

/** The (decompressed) records section and a reader over it. */
function recordsReader(batch: Buffer, h: BatchHeader, opts: ReadOptions): ByteReader {
  const what = `record batch at offset ${h.baseOffset}`;
  let body = batch.subarray(RECORDS_OFFSET);
  if (h.compression !== 'none') body = decompress(h.compression, body, opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED, what);
  return readerOver(body, h, what);
}

function readerOver(body: Buffer, h: BatchHeader, what: string): ByteReader {
  if (h.recordCount > body.length / MIN_RECORD_SIZE) {
    throw new CorruptDataError(`${what}: record count ${h.recordCount} cannot fit in ${body.length} bytes of records`);
  }
  return new ByteReader(body, 0, body.length, what);
}

/**
 * `use` with a reader over the records, for callers that keep nothing of them: lz4 records
 * (the common producer codec) are inflated into scratch memory that is reused afterwards.
 */
function withRecordsReader<T>(batch: Buffer, h: BatchHeader, opts: ReadOptions, use: (r: ByteReader) => T): T {
  if (h.compression !== 'lz4') return use(recordsReader(batch, h, opts));
  const what = `record batch at offset ${h.baseOffset}`;
  return withLz4Inflated(batch.subarray(RECORDS_OFFSET), opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED, what, (body) => use(readerOver(body, h, what)));
}

/** Reads one record's framing up to and including offsetDelta; returns the end of the record. */
function readRecordStart(r: ByteReader, i: number): number {
  const length = r.varint();
  if (length < MIN_RECORD_SIZE - 1) r.fail(`record ${i}: length ${length} is too small`);
  r.need(length);
  return r.pos + length;
}

function checkRecordsEnd(r: ByteReader): void {
  if (r.pos !== r.end) r.fail(`${r.end - r.pos} bytes left after the last record`);
}

/**
 * Decodes a whole batch (exactly one, as splitBatches gives): header and records. Keys, values
 * and header values are subarrays of `batch` (uncompressed) or of the inflated records (no copy).
 * Null and empty are kept apart; headers keep their order and duplicates. Records of a
 * LogAppendTime batch all get the batch's maxTimestamp, as Kafka consumers see them.
 * Verifies the CRC unless `verifyCrc: false`.
 */
export function decodeBatch(batch: Buffer, opts: ReadOptions = {}): DecodedBatch {
  const h = wholeBatchHeader(batch);
  if (opts.verifyCrc !== false) assertCrc(batch, h);
  const r = recordsReader(batch, h, opts);
  const logAppend = h.timestampType === 'logAppend';
  const records: KafkaRecord[] = new Array<KafkaRecord>(h.recordCount);
  for (let i = 0; i < h.recordCount; i++) {
    const end = readRecordStart(r, i);
    const inner: ByteReader = new ByteReader(r.buf, r.pos, end, r.what);
    inner.int8(); // attributes
    const timestampDelta = inner.varlong();
    const offsetDelta = inner.varint();
    const key = inner.nullableBytes('key');
    const value = inner.nullableBytes('value');
    const headerCount = inner.varint();
    if (headerCount < 0 || headerCount > inner.remaining / 2) inner.fail(`record ${i}: bad header count ${headerCount}`);
    const headers: RecordHeader[] = new Array<RecordHeader>(headerCount);
    for (let j = 0; j < headerCount; j++) {
      const hk = inner.nullableBytes('header key');
      if (hk === null) inner.fail(`record ${i}: null header key`);
      headers[j] = { key: hk, value: inner.nullableBytes('header value') };
    }
    if (inner.pos !== end) inner.fail(`record ${i}: length says ${end - r.pos} bytes, fields take ${inner.pos - r.pos}`);
    r.pos = end;
    records[i] = {
      offset: h.baseOffset + BigInt(offsetDelta),
      timestamp: logAppend ? h.maxTimestamp : h.baseTimestamp + timestampDelta,
      key,
      value,
      headers,
    };
  }
  checkRecordsEnd(r);
  return { header: h, records };
}

interface RecordScan {
  min: bigint;
  max: bigint;
  /** Offset deltas are exactly 0, 1, ..., recordCount - 1. */
  consecutive: boolean;
}

/** Walks the records reading only length, timestampDelta and offsetDelta. */
function scanRecords(batch: Buffer, h: BatchHeader, opts: ReadOptions): RecordScan {
  return withRecordsReader(batch, h, opts, (r) => scanReader(r, h));
}

function scanReader(r: ByteReader, h: BatchHeader): RecordScan {
  let minDelta = 0n;
  let maxDelta = 0n;
  let consecutive = true;
  for (let i = 0; i < h.recordCount; i++) {
    const end = readRecordStart(r, i);
    r.pos++; // attributes (readRecordStart checked the whole record is there)
    const inner: ByteReader = new ByteReader(r.buf, r.pos, end, r.what);
    const d = inner.varlong();
    const offsetDelta = inner.varint();
    if (offsetDelta !== i) consecutive = false;
    if (i === 0 || d < minDelta) minDelta = d;
    if (i === 0 || d > maxDelta) maxDelta = d;
    r.pos = end;
  }
  checkRecordsEnd(r);
  return { min: h.baseTimestamp + minDelta, max: h.baseTimestamp + maxDelta, consecutive };
}

/**
 * Exact smallest and greatest record timestamp of a batch (as consumers see them), reading only
 * the record framing (inflating compressed batches). LogAppendTime batches: both are
 * maxTimestamp. Empty batches (left by compaction): both are maxTimestamp. Control batches are
 * measured like any other. Does not check the CRC unless `verifyCrc: true`.
 */
export function batchTimestampRange(batch: Buffer, opts: ReadOptions = {}): { min: bigint; max: bigint } {
  const h = wholeBatchHeader(batch);
  if (opts.verifyCrc === true) assertCrc(batch, h);
  if (h.timestampType === 'logAppend' || h.recordCount === 0) return { min: h.maxTimestamp, max: h.maxTimestamp };
  const { min, max } = scanRecords(batch, h, opts);
  return { min, max };
}

export interface BatchScan {
  /** As batchTimestampRange. */
  min: bigint;
  max: bigint;
  /** Offset deltas are exactly 0, 1, ..., recordCount - 1 (see batchReuseProblem). */
  consecutive: boolean;
}

/**
 * batchTimestampRange and the offset-delta check of batchReuseProblem from one walk over the
 * records, for callers that need both (a compressed batch is inflated once, not twice).
 */
export function scanBatch(batch: Buffer, opts: ReadOptions = {}): BatchScan {
  const h = wholeBatchHeader(batch);
  if (opts.verifyCrc === true) assertCrc(batch, h);
  if (h.recordCount === 0) return { min: h.maxTimestamp, max: h.maxTimestamp, consecutive: true };
  const scan = scanRecords(batch, h, opts);
  return h.timestampType === 'logAppend' ? { min: h.maxTimestamp, max: h.maxTimestamp, consecutive: scan.consecutive } : scan;
}

// ---- encoding --------------------------------------------------------------------------------

export interface RecordHeaderInput {
  /** A string is written as UTF-8; pass a Buffer to be byte-exact. */
  key: string | Buffer;
  value: Buffer | null;
}

export interface RecordInput {
  key: Buffer | null;
  value: Buffer | null;
  headers?: readonly RecordHeaderInput[];
  timestamp: bigint;
  /** Offset relative to baseOffset; default: the record's index. Must increase strictly. */
  offsetDelta?: number;
}

export interface EncodeBatchOptions {
  baseOffset?: bigint;
  compression?: KafkaCompression;
  /** Codec level for gzip (1..9) and zstd (1..22). */
  compressionLevel?: number;
  timestampType?: TimestampType;
  /** maxTimestamp of a LogAppendTime batch; default the greatest record timestamp. */
  logAppendTime?: bigint;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  transactional?: boolean;
  partitionLeaderEpoch?: number;
}

/**
 * Builds a v2 batch holding `records` exactly as given (keys, values, header order and
 * duplicates, timestamps). baseTimestamp is the first record's timestamp, maxTimestamp the
 * greatest, lastOffsetDelta the last record's offsetDelta.
 */
export function encodeBatch(records: readonly RecordInput[], opts: EncodeBatchOptions = {}): Buffer {
  if (records.length === 0) throw new RangeError('encodeBatch: a batch needs at least one record');
  const compression = opts.compression ?? 'none';
  const baseTimestamp = records[0]!.timestamp;
  let maxTimestamp = baseTimestamp;
  let lastDelta = -1;
  const sizes = new Array<number>(records.length);
  const headerKeys: Buffer[][] = new Array<Buffer[]>(records.length);
  let total = 0;
  for (let i = 0; i < records.length; i++) {
    const rec = records[i]!;
    const offsetDelta = rec.offsetDelta ?? i;
    if (!Number.isInteger(offsetDelta) || offsetDelta <= lastDelta || offsetDelta > 0x7fffffff) {
      throw new RangeError(`encodeBatch: record ${i} offsetDelta ${offsetDelta} must be an int32 greater than the previous one`);
    }
    lastDelta = offsetDelta;
    if (rec.timestamp > maxTimestamp) maxTimestamp = rec.timestamp;
    const keys = (rec.headers ?? []).map((hd) => (typeof hd.key === 'string' ? Buffer.from(hd.key, 'utf8') : hd.key));
    headerKeys[i] = keys;
    let body = 1 + varlongSize(rec.timestamp - baseTimestamp) + varintSize(offsetDelta) + bytesSize(rec.key) + bytesSize(rec.value) + varintSize(keys.length);
    const hs = rec.headers ?? [];
    for (let j = 0; j < hs.length; j++) body += bytesSize(keys[j]!) + bytesSize(hs[j]!.value);
    sizes[i] = body;
    total += varintSize(body) + body;
  }

  const recordsBuf = Buffer.allocUnsafe(total);
  let p = 0;
  for (let i = 0; i < records.length; i++) {
    const rec = records[i]!;
    p = writeVarint(recordsBuf, p, sizes[i]!);
    recordsBuf[p++] = 0;
    p = writeVarlong(recordsBuf, p, rec.timestamp - baseTimestamp);
    p = writeVarint(recordsBuf, p, rec.offsetDelta ?? i);
    p = writeBytes(recordsBuf, p, rec.key);
    p = writeBytes(recordsBuf, p, rec.value);
    const keys = headerKeys[i]!;
    p = writeVarint(recordsBuf, p, keys.length);
    const hs = rec.headers ?? [];
    for (let j = 0; j < keys.length; j++) {
      p = writeBytes(recordsBuf, p, keys[j]!);
      p = writeBytes(recordsBuf, p, hs[j]!.value);
    }
  }

  const body = compression === 'none' ? recordsBuf : compress(compression, recordsBuf, opts.compressionLevel);
  const out = Buffer.allocUnsafe(BATCH_HEADER_SIZE + body.length);
  body.copy(out, RECORDS_OFFSET);
  let attributes = kafkaCompressionCode(compression);
  if ((opts.timestampType ?? 'create') === 'logAppend') {
    attributes |= TIMESTAMP_TYPE_BIT;
    maxTimestamp = opts.logAppendTime ?? maxTimestamp;
  }
  if (opts.transactional) attributes |= TRANSACTIONAL_BIT;
  out.writeBigInt64BE(opts.baseOffset ?? 0n, BASE_OFFSET_OFFSET);
  out.writeInt32BE(out.length - LOG_OVERHEAD, BATCH_LENGTH_OFFSET);
  out.writeInt32BE(opts.partitionLeaderEpoch ?? NO_PARTITION_LEADER_EPOCH, PARTITION_LEADER_EPOCH_OFFSET);
  out.writeInt8(2, MAGIC_OFFSET);
  out.writeInt16BE(attributes, ATTRIBUTES_OFFSET);
  out.writeInt32BE(lastDelta, LAST_OFFSET_DELTA_OFFSET);
  out.writeBigInt64BE(baseTimestamp, BASE_TIMESTAMP_OFFSET);
  out.writeBigInt64BE(maxTimestamp, MAX_TIMESTAMP_OFFSET);
  out.writeBigInt64BE(opts.producerId ?? NO_PRODUCER_ID, PRODUCER_ID_OFFSET);
  out.writeInt16BE(opts.producerEpoch ?? NO_PRODUCER_EPOCH, PRODUCER_EPOCH_OFFSET);
  out.writeInt32BE(opts.baseSequence ?? NO_SEQUENCE, BASE_SEQUENCE_OFFSET);
  out.writeInt32BE(records.length, RECORD_COUNT_OFFSET);
  out.writeUInt32BE(computeBatchCrc(out), CRC_OFFSET);
  return out;
}

function bytesSize(b: Buffer | null): number {
  return b === null ? 1 : varintSize(b.length) + b.length;
}

function writeBytes(buf: Buffer, p: number, b: Buffer | null): number {
  if (b === null) return writeVarint(buf, p, -1);
  p = writeVarint(buf, p, b.length);
  b.copy(buf, p);
  return p + b.length;
}

// ---- re-sending a stored batch ---------------------------------------------------------------

export interface ProduceRewrite {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  /** Transactional bit of the copy; default false (restore produces idempotently, outside transactions). */
  transactional?: boolean;
}

/**
 * Copy of a stored batch ready for a Produce request: baseOffset 0, partitionLeaderEpoch -1, the
 * given producer fields, CRC recomputed; the records section (possibly compressed) is copied
 * byte for byte. The stored CRC is verified first, so a corrupt batch is never re-signed.
 * Check `batchReuseProblem` first: the broker refuses some stored batches (see there).
 */
export function rewriteBatchForProduce(batch: Buffer, rw: ProduceRewrite): Buffer {
  const h = wholeBatchHeader(batch);
  assertCrc(batch, h);
  if (rw.producerId >= 0n && rw.baseSequence < 0) throw new RangeError('rewriteBatchForProduce: an idempotent producer id needs a baseSequence >= 0');
  const out = Buffer.from(batch);
  out.writeBigInt64BE(0n, BASE_OFFSET_OFFSET);
  out.writeInt32BE(NO_PARTITION_LEADER_EPOCH, PARTITION_LEADER_EPOCH_OFFSET);
  const attributes = rw.transactional ? h.attributes | TRANSACTIONAL_BIT : h.attributes & ~TRANSACTIONAL_BIT;
  out.writeInt16BE(attributes, ATTRIBUTES_OFFSET);
  out.writeBigInt64BE(rw.producerId, PRODUCER_ID_OFFSET);
  out.writeInt16BE(rw.producerEpoch, PRODUCER_EPOCH_OFFSET);
  out.writeInt32BE(rw.baseSequence, BASE_SEQUENCE_OFFSET);
  out.writeUInt32BE(computeBatchCrc(out), CRC_OFFSET);
  return out;
}

/**
 * Why a stored batch cannot be re-sent as is with rewriteBatchForProduce, or null when it can.
 * The records must then be decoded and re-encoded (decodeBatch + encodeBatch), or skipped.
 *
 * From the broker's LogValidator (AppendOrigin.CLIENT, Kafka 3.x/4.x):
 *  - control batches are refused ("Clients are not allowed to write control records"): the
 *    transaction markers of the source are not data, skip them;
 *  - recordCount must be > 0 and equal lastOffsetDelta + 1, else INVALID_RECORD ("Inconsistent
 *    batch offset range"). Compaction leaves exactly such batches: lastOffsetDelta keeps the
 *    original last offset while records were removed, and empty batches keep producer state;
 *  - with recordCount == lastOffsetDelta + 1 the inner offset deltas must also be 0..n-1: a
 *    compressed batch that breaks this is accepted but rebuilt and recompressed by the broker
 *    (no longer the stored bytes), an uncompressed one is appended in place with the wrong deltas,
 *    so consumers would see wrong offsets. We refuse both;
 *  - a LogAppendTime batch is refused by LogAppendTime topics (INVALID_TIMESTAMP, "Producer
 *    should not set timestamp type to LogAppendTime") and silently turned into CreateTime by
 *    CreateTime topics, so consumers would see the original create times instead of the append
 *    time they saw at the source; re-encode with CreateTime = the batch's maxTimestamp.
 * The broker assigns offsets itself from its log end offset; the batch's baseOffset is ignored.
 * (Compacted target topics also refuse records with a null key; that is a record-level matter.)
 * This scans the records (inflating compressed batches) to check the offset deltas.
 */
export function batchReuseProblem(batch: Buffer, opts: ReadOptions = {}, scan?: BatchScan): string | null {
  const h = wholeBatchHeader(batch);
  if (h.isControl) return 'control batch (transaction marker): brokers refuse control records from clients';
  if (h.recordCount === 0) return 'empty batch (all its records were compacted away)';
  if (h.lastOffsetDelta !== h.recordCount - 1) {
    return `offset gaps: ${h.recordCount} records span ${h.lastOffsetDelta + 1} offsets (compacted); the broker requires lastOffsetDelta = recordCount - 1`;
  }
  if (h.timestampType === 'logAppend') return 'LogAppendTime batch: producers may not send LogAppendTime batches';
  if (h.attributes & DELETE_HORIZON_BIT) return 'delete horizon set by the source log cleaner: its tombstones would become removable at once';
  if (!(scan ?? scanRecords(batch, h, opts)).consecutive) return 'record offset deltas are not 0..n-1';
  return null;
}

/** batchReuseProblem(batch) === null. */
export function canReuseBatch(batch: Buffer, opts: ReadOptions = {}): boolean {
  return batchReuseProblem(batch, opts) === null;
}
