import { KafkaCluster } from '../../src/kafka/cluster.js';
import { fetchPartition } from '../../src/kafka/fetcher.js';
import { RawProducer } from '../../src/kafka/producer.js';
import { decodeBatch, encodeBatch, splitBatches, type KafkaRecord, type RecordInput } from '../../src/kafka/protocol/record-batch.js';
import type { KafkaCompression } from '../../src/kafka/protocol/compression.js';
import { EARLIEST, KafkaAdmin, LATEST } from '../../src/kafka/admin.js';

/**
 * Test data goes to the broker through our own batch encoder, because Kafka-client producers
 * (including @platformatic/kafka's) take headers as a map and cannot send duplicate header keys.
 */
export async function produce(
  bootstrap: string,
  topic: string,
  partition: number,
  records: RecordInput[],
  compression: KafkaCompression = 'none',
  perBatch = 50,
): Promise<void> {
  const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
  try {
    const producer = await RawProducer.create(cluster);
    for (let i = 0; i < records.length; i += perBatch) {
      const chunk = records.slice(i, i + perBatch).map((r, j) => ({ ...r, offsetDelta: j }));
      await producer.send(topic, partition, [encodeBatch(chunk, { compression })]);
    }
  } finally {
    await cluster.close();
  }
}

/**
 * Every record of a partition from log start to the end, as a consumer sees it: with `readCommitted`, as a
 * read_committed consumer does (up to the last stable offset, without the records of aborted transactions).
 */
export async function consumeAll(bootstrap: string, topic: string, partition: number, readCommitted = false): Promise<KafkaRecord[]> {
  const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    const start = (await admin.listOffsets(topic, [partition], EARLIEST)).get(partition) ?? 0n;
    const end = (await admin.listOffsets(topic, [partition], LATEST, readCommitted)).get(partition) ?? 0n;
    const out: KafkaRecord[] = [];
    let pos = start;
    let empty = 0;
    // Producers whose aborted transaction is open at the current batch (a consumer's abortedTransactions rule).
    const abortedOpen = new Set<bigint>();
    while (pos < end) {
      const res = await fetchPartition(cluster, topic, partition, pos, { readCommitted, maxWaitMs: 100 });
      const { batches } = splitBatches(res.records);
      if (batches.length === 0) {
        // Below the end offset there is data: an empty answer is a leader or metadata not settled yet (a topic
        // just created), so try again rather than return a short list; give up loudly, never silently.
        if (++empty > 100) throw new Error(`consumeAll ${topic}/${partition}: no records at offset ${pos}, below the end offset ${end}`);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const aborted = [...res.abortedTransactions].sort((a, b) => Number(a.firstOffset - b.firstOffset));
      for (const b of batches) {
        const d = decodeBatch(b);
        while (aborted.length > 0 && aborted[0]!.firstOffset <= d.header.lastOffset) abortedOpen.add(aborted.shift()!.producerId);
        if (d.header.isControl) abortedOpen.delete(d.header.producerId);
        else if (!(readCommitted && d.header.isTransactional && abortedOpen.has(d.header.producerId)))
          for (const r of d.records) if (r.offset >= pos) out.push(r);
        pos = d.header.lastOffset + 1n;
      }
    }
    return out;
  } finally {
    await admin.close();
    await cluster.close();
  }
}

/** A comparable, byte-exact rendering of a record (offset excluded unless asked). */
export function recordKey(r: KafkaRecord, withOffset = false): string {
  const b = (x: Buffer | null): string => (x === null ? 'null' : `b64:${x.toString('base64')}`);
  return JSON.stringify([
    withOffset ? String(r.offset) : '',
    String(r.timestamp),
    b(r.key),
    b(r.value),
    r.headers.map((h) => [h.key.toString('base64'), b(h.value)]),
  ]);
}

/** Records with awkward contents: null/empty keys and values, duplicate and null headers, out-of-order timestamps. */
export function awkwardRecords(n: number, baseTs: number, seed = 1): RecordInput[] {
  let s = seed;
  const rnd = (): number => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
  const out: RecordInput[] = [];
  for (let i = 0; i < n; i++) {
    const kind = i % 7;
    out.push({
      key: kind === 0 ? null : kind === 1 ? Buffer.alloc(0) : Buffer.from(`key-${i}`),
      value: kind === 2 ? null : kind === 3 ? Buffer.alloc(0) : Buffer.from(`value-${i}-${'x'.repeat(Math.floor(rnd() * 200))}`),
      headers:
        kind === 4
          ? [
              { key: 'dup', value: Buffer.from('a') },
              { key: 'dup', value: Buffer.from('b') },
              { key: 'nullv', value: null },
              { key: 'empty', value: Buffer.alloc(0) },
            ]
          : kind === 5
            ? [{ key: Buffer.from([0xe2, 0x82, 0xac]), value: Buffer.from([0, 1, 2, 255]) }]
            : [],
      // Mostly increasing, with some records stamped in the past (non-monotonic CreateTime).
      timestamp: BigInt(baseTs + i * 1000 - (i % 5 === 0 ? Math.floor(rnd() * 30_000) : 0)),
    });
  }
  return out;
}
