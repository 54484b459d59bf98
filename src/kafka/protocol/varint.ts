/**
 * Kafka's variable-length integers (protobuf base-128 varints of zigzag-encoded values), as used
 * inside record batches v2 (KIP-98):
 *
 *   varint  = zigzag(int32) as 1..5 bytes, 7 bits a byte, least significant group first,
 *             high bit set on every byte but the last
 *   varlong = zigzag(int64) as 1..10 bytes, same scheme
 *   zigzag(n) = (n << 1) ^ (n >> (bits - 1))      0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, ...
 *
 * `ByteReader` reads them (and big-endian fixed-width integers) from a window [pos, end) of a
 * buffer, throwing CorruptDataError instead of ever reading past `end`. Writers are plain
 * functions that write at a position and return the next position.
 */
import { CorruptDataError } from '../../util/errors.js';

export class ByteReader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
    /** Names the structure in error messages. */
    readonly what: string,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(message: string): never {
    throw new CorruptDataError(`${this.what}: ${message}`, undefined, { position: this.pos });
  }

  need(n: number): void {
    if (n > this.end - this.pos) this.fail(`truncated: needs ${n} more bytes, ${this.end - this.pos} left`);
  }

  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** Zigzag varint, 32-bit. */
  varint(): number {
    const buf = this.buf;
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = buf[this.pos++]!;
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return (result >>> 1) ^ -(result & 1);
      shift += 7;
    }
    return this.fail('varint longer than 5 bytes');
  }

  /** Zigzag varlong, 64-bit. */
  varlong(): bigint {
    const buf = this.buf;
    // Fast path: up to 7 bytes (49 bits) accumulate exactly in a double.
    let lo = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) this.fail('truncated varlong');
      const b = buf[this.pos++]!;
      lo += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return BigInt(lo % 2 === 0 ? lo / 2 : -(lo + 1) / 2);
      mul *= 128;
    }
    let raw = BigInt(lo);
    let shift = 49n;
    for (let i = 7; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varlong');
      const b = buf[this.pos++]!;
      raw |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        raw = BigInt.asUintN(64, raw);
        return (raw >> 1n) ^ -(raw & 1n);
      }
      shift += 7n;
    }
    return this.fail('varlong longer than 10 bytes');
  }

  /** varint length then bytes; -1 is null. Returns a subarray (no copy). */
  nullableBytes(field: string): Buffer | null {
    const len = this.varint();
    if (len === -1) return null;
    if (len < -1) this.fail(`negative ${field} length ${len}`);
    this.need(len);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** Skips a varint-length-prefixed byte string (-1 = null). */
  skipNullableBytes(field: string): void {
    const len = this.varint();
    if (len < -1) this.fail(`negative ${field} length ${len}`);
    if (len > 0) this.skip(len);
  }
}

export function varintSize(value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  let n = 1;
  while (v >= 0x80) {
    v >>>= 7;
    n++;
  }
  return n;
}

export function writeVarint(buf: Buffer, pos: number, value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

function zigzag64(value: bigint): bigint {
  return BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
}

export function varlongSize(value: bigint): number {
  if (value >= -0x8000_0000_0000n && value < 0x8000_0000_0000n) {
    const n = Number(value);
    let v = n >= 0 ? n * 2 : -n * 2 - 1;
    let size = 1;
    while (v >= 128) {
      v = Math.floor(v / 128);
      size++;
    }
    return size;
  }
  let v = zigzag64(value);
  let size = 1;
  while (v >= 128n) {
    v >>= 7n;
    size++;
  }
  return size;
}

export function writeVarlong(buf: Buffer, pos: number, value: bigint): number {
  if (value >= -0x8000_0000_0000n && value < 0x8000_0000_0000n) {
    const n = Number(value);
    let v = n >= 0 ? n * 2 : -n * 2 - 1;
    while (v >= 128) {
      buf[pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    buf[pos++] = v;
    return pos;
  }
  let v = zigzag64(value);
  while (v >= 128n) {
    buf[pos++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  buf[pos++] = Number(v);
  return pos;
}
