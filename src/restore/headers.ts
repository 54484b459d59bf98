import type { RecordHeader } from '../kafka/protocol/record-batch.js';

/**
 * Headers a restore adds with `include_original_offset_header`, named and encoded as the seed
 * tool does so that consumers written for it keep working: offsets and timestamps are signed
 * 64-bit little-endian, the partition a signed 32-bit little-endian, the topic UTF-8.
 */
export const ORIGINAL_OFFSET = 'x-original-offset';
export const ORIGINAL_TIMESTAMP = 'x-original-timestamp';
export const SOURCE_PARTITION = 'x-source-partition';
export const SOURCE_TOPIC = 'x-source-topic';
export const SOURCE_CLUSTER = 'x-source-cluster';

const STRIPPED = new Set([ORIGINAL_OFFSET, ORIGINAL_TIMESTAMP, SOURCE_PARTITION, SOURCE_TOPIC, SOURCE_CLUSTER]);

export function stripOffsetHeaders(headers: RecordHeader[]): RecordHeader[] {
  return headers.filter((h) => !STRIPPED.has(h.key.toString('latin1')));
}

function i64le(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(v);
  return b;
}

export function originHeaders(topic: string, partition: number, offset: bigint, timestamp: bigint): RecordHeader[] {
  const p = Buffer.alloc(4);
  p.writeInt32LE(partition);
  return [
    { key: Buffer.from(ORIGINAL_OFFSET), value: i64le(offset) },
    { key: Buffer.from(ORIGINAL_TIMESTAMP), value: i64le(timestamp) },
    { key: Buffer.from(SOURCE_PARTITION), value: p },
    { key: Buffer.from(SOURCE_TOPIC), value: Buffer.from(topic, 'utf8') },
  ];
}

/** Reads x-original-offset back (for header-based offset translation). */
export function readOriginalOffset(headers: RecordHeader[]): bigint | undefined {
  const h = headers.find((x) => x.key.toString('latin1') === ORIGINAL_OFFSET);
  return h?.value && h.value.length === 8 ? h.value.readBigInt64LE() : undefined;
}
