import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { runBackup } from '../../src/backup/engine.js';
import { validateBackup } from '../../src/backup/validate.js';
import { readJsonObject, writeJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { manifestSchema } from '../../src/format/manifest.js';
import { partitionIndexSchema } from '../../src/format/partition-index.js';
import { EARLIEST, KafkaAdmin, LATEST } from '../../src/kafka/admin.js';
import { KafkaCluster } from '../../src/kafka/cluster.js';
import { RawProducer } from '../../src/kafka/producer.js';
import { decodeBatch, encodeBatch, readBatchHeader, type KafkaRecord, type RecordInput } from '../../src/kafka/protocol/record-batch.js';
import type { KafkaCompression } from '../../src/kafka/protocol/compression.js';
import { readSegmentBatches } from '../../src/restore/segment-source.js';
import { FsStore } from '../../src/storage/fs.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { ROOT } from '../../scripts/proc.js';
import { childOptions, type BackupChildConfig } from '../helpers/backup-child.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { consumeAll, recordKey } from '../helpers/records.js';

const PARTITIONS = 3;
const KILLS = 5;
const BASE_TS = Date.UTC(2025, 0, 1);

/** Record `i` of partition `p`: contents known in advance, with the awkward cases mixed in. */
function recordFor(p: number, i: number): RecordInput {
  const kind = i % 6;
  return {
    key: kind === 0 ? null : Buffer.from(`k-${p}-${i}`),
    value: kind === 1 ? null : Buffer.from(`v-${p}-${i}-${'y'.repeat((i * 37) % 300)}`),
    headers: kind === 2 ? [{ key: 'dup', value: Buffer.from('1') }, { key: 'dup', value: null }, { key: 'seq', value: Buffer.from(String(i)) }] : [],
    timestamp: BigInt(BASE_TS + i * 10 - (kind === 3 ? 5_000 : 0)),
  };
}

function expectedKey(p: number, i: number, offset: number): string {
  const r = recordFor(p, i);
  return recordKey({
    offset: BigInt(offset),
    timestamp: r.timestamp,
    key: r.key,
    value: r.value,
    headers: (r.headers ?? []).map((h) => ({ key: Buffer.isBuffer(h.key) ? h.key : Buffer.from(h.key), value: h.value })),
  } as KafkaRecord, false);
}

/** Seeded random numbers, so a failing run can be repeated (the seed is printed). */
function rng(seed: number): () => number {
  let s = seed % 2147483647 || 1;
  return () => (s = (s * 48271) % 2147483647) / 2147483647;
}

/** Produces to every partition in small batches with varying codecs until stopped. */
class ProducerLoop {
  readonly counts = new Array<number>(PARTITIONS).fill(0);
  #stop = false;
  #done: Promise<void> | undefined;

  start(bootstrap: string, topic: string, rnd: () => number): void {
    this.#done = (async () => {
      const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
      try {
        const producer = await RawProducer.create(cluster);
        const codecs: KafkaCompression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
        while (!this.#stop) {
          for (let p = 0; p < PARTITIONS; p++) {
            const n = 1 + Math.floor(rnd() * 25);
            const first = this.counts[p]!;
            const recs = Array.from({ length: n }, (_, j) => ({ ...recordFor(p, first + j), offsetDelta: j }));
            await producer.send(topic, p, [encodeBatch(recs, { compression: codecs[Math.floor(rnd() * codecs.length)]! })]);
            this.counts[p] = first + n;
          }
          await new Promise((r) => setTimeout(r, Math.floor(rnd() * 20)));
        }
      } finally {
        await cluster.close();
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

function startChild(cfg: BackupChildConfig): { child: ChildProcess; exited: Promise<number | null>; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/backup-child.ts'), JSON.stringify(cfg)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, exited, output: () => out };
}

async function backupRecords(store: ObjectStore, backupId: string, topic: string, partition: number): Promise<KafkaRecord[]> {
  const idx = await readJsonObject(store, keys.partitionIndex(backupId, topic, partition), partitionIndexSchema);
  const out: KafkaRecord[] = [];
  for (const s of idx?.segments ?? []) {
    for await (const { batch } of readSegmentBatches(store, s)) {
      if (readBatchHeader(batch).isControl) continue;
      out.push(...decodeBatch(batch, { verifyCrc: true }).records);
    }
  }
  return out;
}

/** Segment objects under the backup that no partition index names. */
async function orphans(store: ObjectStore, backupId: string, topic: string): Promise<string[]> {
  const named = new Set<string>();
  for (let p = 0; p < PARTITIONS; p++) {
    const idx = await readJsonObject(store, keys.partitionIndex(backupId, topic, p), partitionIndexSchema);
    for (const s of idx?.segments ?? []) named.add(s.key);
  }
  const out: string[] = [];
  for await (const o of store.list(`${backupId}/topics/`)) if (o.key.endsWith('.kbseg') && !named.has(o.key)) out.push(o.key);
  return out;
}

/** Waits until every partition index has caught up with the broker's end offset. */
async function waitCaughtUp(bootstrap: string, store: ObjectStore, backupId: string, topic: string, timeoutMs = 60_000): Promise<void> {
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    const ends = await admin.listOffsets(topic, Array.from({ length: PARTITIONS }, (_, p) => p), LATEST, true);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let behind = 0;
      for (let p = 0; p < PARTITIONS; p++) {
        const idx = await readJsonObject(store, keys.partitionIndex(backupId, topic, p), partitionIndexSchema).catch(() => undefined);
        if ((idx?.next_offset ?? -1) < Number(ends.get(p) ?? 0n)) behind++;
      }
      if (behind === 0) return;
      if (Date.now() > deadline) throw new Error(`backup did not catch up within ${timeoutMs} ms (${behind} partitions behind)`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.close();
  }
}

async function assertBackupMatchesBroker(bootstrap: string, store: ObjectStore, backupId: string, topic: string, counts: number[]): Promise<number> {
  let total = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    const fromBroker = await consumeAll(bootstrap, topic, p);
    assert.equal(fromBroker.length, counts[p], `partition ${p}: the broker holds what the loop produced`);
    fromBroker.forEach((r, i) => assert.equal(recordKey(r), expectedKey(p, i, Number(r.offset)), `partition ${p} record ${i}`));
    const fromBackup = await backupRecords(store, backupId, topic, p);
    assert.equal(fromBackup.length, fromBroker.length, `partition ${p}: every record exactly once`);
    assert.deepEqual(fromBackup.map((r) => recordKey(r, true)), fromBroker.map((r) => recordKey(r, true)), `partition ${p}: same records, same order, same offsets`);
    total += fromBackup.length;
  }
  return total;
}

describe('continuous backup killed with SIGKILL while a producer writes', () => {
  let bootstrap: string;
  let dir: string;
  let store: FsStore;
  const topic = uniqueTopic('crash');
  const backupId = 'it-crash-1';
  const seed = Number(process.env.KB_CRASH_SEED ?? Date.now() % 1_000_000);
  const rnd = rng(seed);
  const loop = new ProducerLoop();
  let cfg: BackupChildConfig;

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-crash-'));
    store = new FsStore(dir);
    await createTopic(bootstrap, topic, PARTITIONS);
    cfg = { bootstrap, dir, backupId, topics: [topic] };
  });

  after(async () => {
    await loop.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test(`${KILLS} SIGKILLs at random moments, then a clean stop: every record exactly once, in order, byte for byte`, async (t) => {
    t.diagnostic(`seed ${seed} (KB_CRASH_SEED=${seed} repeats the kill points)`);
    loop.start(bootstrap, topic, rng(seed + 1));
    const killPoints: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      const run = startChild(cfg);
      // The child needs ~1 s to load; kill points range from during start-up to well into fetching.
      const delay = Math.floor(800 + rnd() * 4000);
      killPoints.push(delay);
      const early = await Promise.race([run.exited.then((c) => `exited early with ${c}`), new Promise<undefined>((r) => setTimeout(() => r(undefined), delay))]);
      assert.equal(early, undefined, `run ${k}: ${early}\n${run.output()}`);
      run.child.kill('SIGKILL');
      assert.equal(await run.exited, null, 'killed by the signal');
    }
    t.diagnostic(`kill points (ms after spawn): ${killPoints.join(', ')}; records produced meanwhile: ${loop.counts.join(', ')}`);
    const idxAfterKills = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => readJsonObject(store, keys.partitionIndex(backupId, topic, p), partitionIndexSchema)));
    t.diagnostic(`segments indexed after the kills: ${idxAfterKills.map((i) => i?.segments.length ?? 0).join(', ')}`);
    const orphansAfterKills = await orphans(store, backupId, topic);
    t.diagnostic(`orphan segments left by the kills: ${orphansAfterKills.length}`);

    const final = startChild(cfg);
    await new Promise((r) => setTimeout(r, 1500));
    await loop.stop();
    await waitCaughtUp(bootstrap, store, backupId, topic);
    final.child.kill('SIGTERM');
    assert.equal(await final.exited, 0, final.output());
    const summary = JSON.parse(final.output().trim().split('\n').at(-1)!) as { status: string; records: number };
    assert.equal(summary.status, 'stopped');

    const total = await assertBackupMatchesBroker(bootstrap, store, backupId, topic, loop.counts);
    assert.equal(summary.records, total);
    t.diagnostic(`records: ${total}; orphan segments at the end: ${(await orphans(store, backupId, topic)).length}`);
    const manifest = await readJsonObject(store, keys.manifest(backupId), manifestSchema);
    assert.equal(manifest?.status, 'stopped');
    assert.equal(manifest?.mode, 'continuous');
    const v = await validateBackup(store, backupId, true);
    assert.deepEqual(v.problems, [], 'orphan segments are not problems');
    assert.equal(v.recordsChecked, total);
  });

  test('a crash between the segment put and the index put: the resumed run rewrites the range, orphans are not problems', async () => {
    const p = 0;
    const indexKey = keys.partitionIndex(backupId, topic, p);
    const idx = (await readJsonObject(store, indexKey, partitionIndexSchema))!;
    assert.ok(idx.segments.length >= 3, 'enough segments to cut');
    // The last two segments were put, but the process died before the index naming them was written.
    const lost = idx.segments.splice(-2);
    idx.next_offset = lost[0]!.first_offset;
    await writeJsonObject(store, indexKey, idx);
    // And an orphan whose range differs from anything the resumed run will write (a run killed
    // after a put with other segment boundaries), with bytes that are not even a segment.
    const stray = keys.segment(backupId, topic, p, lost[0]!.first_offset, lost[0]!.first_offset + 1);
    await store.put(stray, Buffer.from('partial garbage'));
    const before = await validateBackup(store, backupId, true);
    assert.deepEqual(before.problems, [], 'the index names complete segments only');

    const ac = new AbortController();
    const running = runBackup(childOptions(cfg, ac.signal));
    await waitCaughtUp(bootstrap, store, backupId, topic);
    ac.abort();
    const sum = await running;
    assert.equal(sum.status, 'stopped');

    const again = (await readJsonObject(store, indexKey, partitionIndexSchema))!;
    assert.equal(again.next_offset, lost[1]!.last_offset + 1);
    for (let i = 1; i < again.segments.length; i++) assert.equal(again.segments[i]!.first_offset, again.segments[i - 1]!.last_offset + 1, 'no hole, no overlap');
    await assertBackupMatchesBroker(bootstrap, store, backupId, topic, loop.counts);
    const v = await validateBackup(store, backupId, true);
    assert.deepEqual(v.problems, []);
    assert.ok((await orphans(store, backupId, topic)).includes(stray), 'the stray object is left alone, never followed');
  });
});
