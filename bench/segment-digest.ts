/**
 * npm run bench:digest [-- --mb N] [-- --rounds N] [-- --codec none|zstd]
 *
 * The cost of the whole-object segment digest alone, without Kafka: the backup's SegmentWriter
 * writes N MB (default 2048) of 1 KiB-record batches (random upper-case letters, like the bench's
 * ProducerPerformance data) with `digest: 'crc32c'` (derived from the block CRCs) and
 * `digest: 'sha256'`, alternating, and prints CPU seconds and MB/s per run (docs/performance.md).
 */
import { randomBytes } from 'node:crypto';
import { SegmentWriter, type SegmentCodec } from '../src/format/segment.js';
import type { SegmentDigestAlgorithm } from '../src/format/segment-digest.js';
import { encodeBatch } from '../src/kafka/protocol/record-batch.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const totalMb = Number(arg('mb', '2048'));
const rounds = Number(arg('rounds', '3'));
const codec = arg('codec', 'none') as SegmentCodec;

// 64 MiB of distinct batches of 16 records, reused (offsets renumbered by segment) up to totalMb.
const batches: Buffer[] = [];
for (let i = 0; i < 4096; i++) {
  const records = Array.from({ length: 16 }, (_, j) => {
    const value = randomBytes(1024);
    for (let k = 0; k < value.length; k++) value[k] = 65 + (value[k]! % 26);
    return { key: Buffer.from(`key-${(i * 16 + j) % 1000}`), value, timestamp: 1_700_000_000_000n + BigInt(i * 16 + j), headers: [] };
  });
  batches.push(encodeBatch(records, { baseOffset: BigInt(i * 16), compression: 'none' }));
}
const setBytes = batches.reduce((n, b) => n + b.length, 0);
const passes = Math.max(1, Math.round((totalMb * 1e6) / setBytes));

async function run(digest: SegmentDigestAlgorithm): Promise<{ wall: number; cpu: number; mb: number; storedMb: number }> {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let bytes = 0;
  for (let p = 0; p < passes; p++) {
    const w = new SegmentWriter({ codec, digest, compressOffThread: codec === 'zstd' });
    for (const b of batches) for (const c of w.add(b)) bytes += c.length;
    const fin = await w.finishAsync();
    for (const c of fin.chunks) bytes += c.length;
  }
  const c = process.cpuUsage(c0);
  return { wall: Number(process.hrtime.bigint() - t0) / 1e9, cpu: (c.user + c.system) / 1e6, mb: (passes * setBytes) / 1e6, storedMb: bytes / 1e6 };
}

console.log(`segment writer, codec ${codec}, ${((passes * setBytes) / 1e6).toFixed(0)} MB per run, ${rounds} rounds`);
for (let r = 0; r < rounds; r++) {
  for (const d of ['crc32c', 'sha256'] as const) {
    const x = await run(d);
    console.log(
      `${d.padEnd(7)} wall ${x.wall.toFixed(2)} s  cpu ${x.cpu.toFixed(2)} s  ${(x.mb / x.wall).toFixed(0)} MB/s  stored ${x.storedMb.toFixed(0)} MB`,
    );
  }
}
