import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Producer } from '@platformatic/kafka';
import { runBackup } from '../../src/backup/engine.js';
import type { BackupOptions } from '../../src/backup/options.js';
import { validateBackup } from '../../src/backup/validate.js';
import { readJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { partitionIndexSchema, type PartitionIndex } from '../../src/format/partition-index.js';
import { EARLIEST, KafkaAdmin, LATEST } from '../../src/kafka/admin.js';
import { KafkaCluster } from '../../src/kafka/cluster.js';
import { fetchPartition } from '../../src/kafka/fetcher.js';
import { decodeBatch, readBatchHeader, splitBatches, type KafkaRecord } from '../../src/kafka/protocol/record-batch.js';
import { countExactly } from '../../src/restore/count.js';
import { runRestore } from '../../src/restore/engine.js';
import { planRestore } from '../../src/restore/plan.js';
import { readSegmentBatches } from '../../src/restore/segment-source.js';
import { FsStore } from '../../src/storage/fs.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { consumeAll, produce, recordKey } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';

function backupOpts(bootstrap: string, store: ObjectStore, backupId: string, topics: string[], extra: Partial<BackupOptions> = {}): BackupOptions {
  return testBackupOptions(bootstrap, store, backupId, topics, { segmentMaxBytes: 16 * 1024, ...extra });
}

const restoreOpts = testRestoreOptions;

/** The raw batches the broker holds for a partition (read_committed fetch up to the last stable offset), control and aborted ones included. */
async function brokerBatches(bootstrap: string, topic: string, partition: number): Promise<Buffer[]> {
  const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    let pos = (await admin.listOffsets(topic, [partition], EARLIEST)).get(partition) ?? 0n;
    const end = (await admin.listOffsets(topic, [partition], LATEST, true)).get(partition) ?? 0n;
    const out: Buffer[] = [];
    while (pos < end) {
      const res = await fetchPartition(cluster, topic, partition, pos, { readCommitted: true, maxWaitMs: 100 });
      const { batches } = splitBatches(res.records);
      if (batches.length === 0) break;
      for (const b of batches) {
        const h = readBatchHeader(b);
        if (h.lastOffset < pos) continue;
        out.push(Buffer.from(b));
        pos = h.lastOffset + 1n;
      }
    }
    return out;
  } finally {
    await admin.close();
    await cluster.close();
  }
}

async function storedBatches(store: ObjectStore, backupId: string, topic: string, partition: number): Promise<Buffer[]> {
  const idx = await index(store, backupId, topic, partition);
  const out: Buffer[] = [];
  for (const s of idx.segments) for await (const { batch } of readSegmentBatches(store, s)) out.push(Buffer.from(batch));
  return out;
}

async function index(store: ObjectStore, backupId: string, topic: string, partition: number): Promise<PartitionIndex> {
  const idx = await readJsonObject(store, keys.partitionIndex(backupId, topic, partition), partitionIndexSchema);
  assert.ok(idx, `index of ${topic}/${partition}`);
  return idx;
}

function dataRecords(batches: Buffer[]): KafkaRecord[] {
  return batches.filter((b) => !readBatchHeader(b).isControl).flatMap((b) => decodeBatch(b).records);
}

/** Checks that `offsetMap` maps every target record to the source record it came from, each source offset once. */
function checkOffsetMap(res: Awaited<ReturnType<typeof runRestore>>, partition: number, src: KafkaRecord[], dst: KafkaRecord[]): void {
  const bySource = new Map(src.map((r) => [Number(r.offset), r]));
  const byTarget = new Map(dst.map((r) => [Number(r.offset), r]));
  const seen = new Set<number>();
  for (const run of res.offsetMap.filter((r) => r.source_partition === partition)) {
    for (let i = 0; i < run.count; i++) {
      const s = bySource.get(run.source + i);
      const t = byTarget.get(run.target + i);
      assert.ok(s && t, `partition ${partition}: offset map run ${JSON.stringify(run)} names offsets that exist`);
      assert.equal(recordKey(t), recordKey(s), `partition ${partition}: target ${run.target + i} is source ${run.source + i}`);
      assert.ok(!seen.has(run.source + i), 'each source offset mapped once');
      seen.add(run.source + i);
    }
  }
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    src.map((r) => Number(r.offset)),
    `partition ${partition}: every source record is mapped`,
  );
}

interface Sent {
  value: string;
  partition: number;
  committed: boolean;
}

describe('transactional topic: committed and aborted transactions', () => {
  let bootstrap: string;
  let dir: string;
  let store: FsStore;
  const topic = uniqueTopic('txn');
  const backupId = 'it-txn-1';
  const PER_SEND = 10;
  /** Every record sent, in log order per partition, with its transaction's outcome. */
  const sent: Sent[] = [];
  const producers: Producer[] = [];
  let n = 0;

  function messages(
    partitions: number[],
    tag: string,
  ): { topic: string; partition: number; key: Buffer; value: Buffer; headers: Map<Buffer, Buffer>; timestamp: bigint }[] {
    return partitions.flatMap((partition) =>
      Array.from({ length: PER_SEND }, () => {
        const i = n++;
        return {
          topic,
          partition,
          key: Buffer.from(`k-${i % 13}`),
          value: Buffer.from(`${tag}-${i}`),
          headers: new Map([[Buffer.from('h'), Buffer.from(String(i))]]),
          timestamp: BigInt(Date.UTC(2025, 1, 1) + i),
        };
      }),
    );
  }

  /** One transaction of `p` over `partitions` with `sends` produce requests, ended with commit or abort. */
  async function txn(p: Producer, partitions: number[], sends: number, commit: boolean, tag: string): Promise<void> {
    const t = await p.beginTransaction();
    const mine: Sent[] = [];
    for (let s = 0; s < sends; s++) {
      const msgs = messages(partitions, tag);
      await t.send({ messages: msgs });
      for (const m of msgs) mine.push({ value: m.value.toString(), partition: m.partition, committed: commit });
    }
    sent.push(...mine);
    if (commit) await t.commit();
    else await t.abort();
  }

  async function plain(partitions: number[], tag: string): Promise<void> {
    for (const partition of partitions) {
      const msgs = messages([partition], tag);
      await produce(
        bootstrap,
        topic,
        partition,
        msgs.map((m) => ({ key: m.key, value: m.value, headers: [{ key: 'h', value: m.headers.get([...m.headers.keys()][0]!)! }], timestamp: m.timestamp })),
        'lz4',
        PER_SEND,
      );
      for (const m of msgs) sent.push({ value: m.value.toString(), partition, committed: true });
    }
  }

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-txn-'));
    store = new FsStore(dir);
    await createTopic(bootstrap, topic, 2);
    const mk = (id: string): Producer => {
      const p = new Producer({
        clientId: `kb-test-${id}`,
        bootstrapBrokers: [bootstrap],
        idempotent: true,
        transactionalId: `${topic}-${id}`,
        compression: id === 'a' ? 'snappy' : 'none',
      });
      producers.push(p);
      return p;
    };
    const a = mk('a');
    const b = mk('b');
    // Phase 1: interleaved producers, a transaction of A aborted and the log ending on its marker.
    await plain([0, 1], 'plain');
    await txn(a, [0, 1], 2, true, 'a-commit');
    await txn(b, [0], 1, false, 'b-abort');
    await txn(a, [0, 1], 3, false, 'a-abort');
    // Phase 1 is backed up now: with segment_max_records = PER_SEND each data batch closes a segment,
    // so the last segment of this run holds only A's abort marker (as a continuous backup that rolls
    // a segment by time right after a marker would store it).
    await runBackup(backupOpts(bootstrap, store, backupId, [topic], { segmentMaxRecords: PER_SEND }));
    // Phase 2: the same producers go on; A's next transaction commits and must be restored.
    await txn(a, [1], 2, true, 'a-commit2');
    await txn(b, [0, 1], 2, true, 'b-commit');
    await plain([1], 'plain2');
    await txn(b, [1], 1, false, 'b-abort2');
    await txn(a, [0, 1], 1, true, 'a-commit3');
    const sum = await runBackup(backupOpts(bootstrap, store, backupId, [topic], { segmentMaxRecords: PER_SEND }));
    assert.equal(sum.status, 'complete');
  });

  after(async () => {
    for (const p of producers) await p.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('control batches and aborted batches are stored byte for byte; the index keeps the aborted transactions', async () => {
    for (const p of [0, 1]) {
      const fromBroker = await brokerBatches(bootstrap, topic, p);
      const stored = await storedBatches(store, backupId, topic, p);
      assert.ok(
        fromBroker.some((b) => readBatchHeader(b).isControl),
        'the log has transaction markers',
      );
      assert.equal(stored.length, fromBroker.length, `partition ${p}: batch count`);
      stored.forEach((b, i) => {
        assert.ok(b.equals(fromBroker[i]!), `partition ${p} batch ${i} byte for byte`);
      });
      const idx = await index(store, backupId, topic, p);
      const aborted = new Set(idx.segments.flatMap((s) => s.aborted_transactions.map((a) => `${a.producer_id}@${a.first_offset}`)));
      // Every data batch of an aborted transaction starts at or after one of the listed first offsets of its producer.
      const abortedValues = new Set(sent.filter((s) => !s.committed && s.partition === p).map((s) => s.value));
      const abortedBatches = fromBroker.filter(
        (b) => !readBatchHeader(b).isControl && decodeBatch(b).records.some((r) => abortedValues.has(r.value!.toString())),
      );
      assert.ok(abortedBatches.length > 0);
      for (const b of abortedBatches) {
        const h = readBatchHeader(b);
        assert.ok(
          [...aborted].some((a) => a.startsWith(`${h.producerId}@`) && Number(a.split('@')[1]) <= Number(h.baseOffset)),
          `partition ${p}: aborted batch at ${h.baseOffset} is covered by the index`,
        );
      }
      const idxRecords = idx.segments.reduce((s, x) => s + x.record_count, 0);
      assert.equal(idxRecords, dataRecords(fromBroker).length, 'record_count counts data records, aborted included, markers not');
    }
    const v = await validateBackup(store, backupId, true);
    assert.deepEqual(v.problems, []);
  });

  test('full restore: what a read_committed consumer sees, aborted records absent, committed present, in order', async () => {
    const target = uniqueTopic('txn-restored');
    const res = await runRestore(restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: target } }));
    let total = 0;
    for (const p of [0, 1]) {
      const committed = sent.filter((s) => s.partition === p && s.committed).map((s) => s.value);
      const all = await consumeAll(bootstrap, topic, p);
      assert.equal(all.length, sent.filter((s) => s.partition === p).length, 'the source log holds every record sent (aborted ones included)');
      const committedSet = new Set(committed);
      const expected = all.filter((r) => committedSet.has(r.value!.toString()));
      assert.deepEqual(
        expected.map((r) => r.value!.toString()),
        committed,
        `partition ${p}: log order is send order`,
      );
      const got = await consumeAll(bootstrap, target, p);
      assert.deepEqual(
        got.map((r) => r.value!.toString()),
        committed,
        `partition ${p}: committed records, in order, no aborted ones`,
      );
      assert.deepEqual(
        got.map((r) => recordKey(r)),
        expected.map((r) => recordKey(r)),
        `partition ${p}: byte for byte`,
      );
      checkOffsetMap(res, p, expected, got);
      total += committed.length;
    }
    assert.equal(res.restored, total);
    assert.equal(res.abortedSkipped, sent.filter((s) => !s.committed).length);
    // validate-restore's exact count leaves the aborted records out, as the restore does.
    const plan = await planRestore(restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: uniqueTopic('txn-count') } }));
    const cost = await countExactly(plan, store);
    assert.ok(cost.partitionsStreamed > 0, 'partitions with aborted transactions are counted through the restore stream');
    assert.deepEqual([plan.recordsLowerBound, plan.recordsUpperBound], [total, total]);
  });
  test('PITR after aborted transactions: a window that skips the earlier segments keeps every committed record inside it', async () => {
    const firstPhase2 = sent.findIndex((x) => x.value.startsWith('a-commit2-'));
    const start = Date.UTC(2025, 1, 1) + Number(sent[firstPhase2]!.value.split('-').at(-1));
    const target = uniqueTopic('txn-pitr');
    const res = await runRestore(restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: target }, windowStart: start }));
    let total = 0;
    for (const p of [0, 1]) {
      const expected = sent
        .filter((x) => x.partition === p && x.committed && Number(x.value.split('-').at(-1)) + Date.UTC(2025, 1, 1) >= start)
        .map((x) => x.value);
      const got = await consumeAll(bootstrap, target, p);
      assert.deepEqual(
        got.map((r) => r.value!.toString()),
        expected,
        `partition ${p}`,
      );
      total += expected.length;
    }
    assert.equal(res.restored, total);
    const plan = await planRestore(restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: uniqueTopic('txn-count') }, windowStart: start }));
    await countExactly(plan, store);
    assert.equal(plan.recordsEstimate, total, 'validate-restore count of the window');
  });
});

describe('compacted topic: offset gaps, duplicate keys, tombstones', () => {
  let bootstrap: string;
  let dir: string;
  let store: FsStore;
  const topic = uniqueTopic('compacted');
  let backupId = '';
  /** The source partitions' batches when they were backed up (the cleaner may change them later). */
  let sourceBatches: Buffer[][] = [];
  const base = Date.UTC(2025, 2, 1);

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-compact-'));
    store = new FsStore(dir);
    await createTopic(bootstrap, topic, 2, {
      'cleanup.policy': 'compact',
      'segment.ms': 200,
      'min.cleanable.dirty.ratio': 0.01,
      'min.compaction.lag.ms': 0,
      'delete.retention.ms': 86_400_000,
    });
    let i = 0;
    for (let round = 0; round < 8; round++) {
      for (const p of [0, 1]) {
        const recs = Array.from({ length: 40 }, () => {
          const k = i++;
          return {
            key: Buffer.from(`key-${(k * 7) % 17}`),
            value: k % 9 === 4 ? null : Buffer.from(`value-${k}-${'z'.repeat(k % 50)}`),
            headers:
              k % 5 === 0
                ? [
                    { key: 'dup', value: Buffer.from('x') },
                    { key: 'dup', value: null },
                  ]
                : [],
            timestamp: BigInt(base + k * 1000),
          };
        });
        await produce(bootstrap, topic, p, recs, p === 0 ? 'zstd' : 'none', 7);
      }
      // Past segment.ms, so the next append rolls a new log segment that the cleaner may compact.
      await new Promise((r) => setTimeout(r, 300));
    }
    // Wait for the cleaner: the log has offset gaps once it ran, and it may take several passes,
    // so wait until the log stops changing before backing it up.
    const deadline = Date.now() + 90_000;
    const snapshot = async (): Promise<Buffer[][]> => Promise.all([0, 1].map((p) => brokerBatches(bootstrap, topic, p)));
    const same = (a: Buffer[][], b: Buffer[][]): boolean => a.every((bs, p) => bs.length === b[p]!.length && bs.every((x, i) => x.equals(b[p]![i]!)));
    let last = await snapshot();
    let stableSince = Date.now();
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      const now = await snapshot();
      if (!same(now, last)) {
        last = now;
        stableSince = Date.now();
      }
      const gaps = now.every((bs) => dataRecords(bs).some((r, j) => r.offset !== BigInt(j)));
      if (gaps && Date.now() - stableSince >= 4000) break;
      if (Date.now() > deadline) throw new Error('the log cleaner did not compact the topic and settle within 90 s');
    }
    for (let attempt = 1; ; attempt++) {
      backupId = `it-compacted-${attempt}`;
      const sum = await runBackup(backupOpts(bootstrap, store, backupId, [topic], { segmentMaxBytes: 2048 }));
      assert.equal(sum.status, 'complete');
      sourceBatches = await snapshot();
      // The cleaner ran again during the backup: take another one of the settled log.
      if (same(sourceBatches, last)) break;
      if (attempt >= 3) throw new Error('the compacted log kept changing while it was backed up');
      last = sourceBatches;
    }
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('the backup holds the compacted batches byte for byte, with their offset gaps and tombstones', async () => {
    for (const p of [0, 1]) {
      const fromBroker = sourceBatches[p]!;
      const stored = await storedBatches(store, backupId, topic, p);
      assert.equal(stored.length, fromBroker.length);
      stored.forEach((b, i) => {
        assert.ok(b.equals(fromBroker[i]!), `partition ${p} batch ${i} byte for byte`);
      });
      assert.ok(
        stored.some((b) => readBatchHeader(b).lastOffsetDelta + 1 !== readBatchHeader(b).recordCount),
        'some batches have offset gaps inside',
      );
      const recs = dataRecords(stored);
      assert.ok(
        recs.some((r) => r.value === null),
        'tombstones kept',
      );
      const keysSeen = recs.map((r) => r.key!.toString());
      assert.ok(new Set(keysSeen).size < keysSeen.length, 'duplicate keys in the uncleaned tail');
    }
    const v = await validateBackup(store, backupId, true);
    assert.deepEqual(v.problems, []);
  });

  test('full restore: same records in order; the offset map maps each to its source offset', async () => {
    const target = uniqueTopic('compacted-restored');
    // A compacted target (keys required, tombstones accepted), left alone by the cleaner during the test.
    await createTopic(bootstrap, target, 2, { 'cleanup.policy': 'compact' });
    const res = await runRestore(restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: target } }));
    assert.ok(res.rebuiltBatches > 0, 'batches with offset gaps are re-encoded');
    let total = 0;
    for (const p of [0, 1]) {
      const src = dataRecords(sourceBatches[p]!);
      const dst = await consumeAll(bootstrap, target, p);
      assert.deepEqual(
        dst.map((r) => recordKey(r)),
        src.map((r) => recordKey(r)),
        `partition ${p}`,
      );
      assert.deepEqual(
        dst.map((r) => Number(r.offset)),
        dst.map((_, j) => j),
        'target offsets are dense',
      );
      checkOffsetMap(res, p, src, dst);
      total += src.length;
    }
    assert.equal(res.restored, total);
  });
});
