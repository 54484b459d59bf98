/**
 * Distributed backup (backup.workers): several processes share one backup through a group on the
 * source cluster, with per-partition ownership fenced by compare-and-swap writes of the index.
 * Three workers back up 24 partitions under a steady producer; one is SIGKILLed, one SIGSTOPped
 * past the session timeout and SIGCONTed (a zombie), a fourth joins. At the end every record is in
 * the backup exactly once, `validate --deep` passes, and a restore equals the source record for record.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateBackup } from '../../src/backup/validate.js';
import { readJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { manifestSchema } from '../../src/format/manifest.js';
import { partitionIndexSchema } from '../../src/format/partition-index.js';
import { KafkaAdmin, LATEST } from '../../src/kafka/admin.js';
import { KafkaCluster } from '../../src/kafka/cluster.js';
import { RawProducer } from '../../src/kafka/producer.js';
import { decodeBatch, encodeBatch, readBatchHeader, type KafkaRecord } from '../../src/kafka/protocol/record-batch.js';
import { runRestore } from '../../src/restore/engine.js';
import { loadStatus } from '../../src/backup/status.js';
import { statusText } from '../../src/cli/render/status.js';
import { readSegmentBatches } from '../../src/restore/segment-source.js';
import { FsStore } from '../../src/storage/fs.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { ROOT } from '../../scripts/proc.js';
import type { BackupChildConfig } from '../helpers/backup-child.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { testRestoreOptions } from '../helpers/options.js';
import { consumeAll, produce, recordKey } from '../helpers/records.js';

const PARTITIONS = 24;
const SESSION_MS = 8_000;

let bootstrap = '';
let dir = '';

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-workers-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

interface Worker {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
}

function startWorker(name: string, cfg: BackupChildConfig): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/backup-child.ts'), JSON.stringify(cfg)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { name, child, exited, output: () => out };
}

/** Produces small batches round the partitions until stopped: about `perSec` records a second. */
class Producer {
  readonly counts = new Array<number>(PARTITIONS).fill(0);
  #stop = false;
  #done: Promise<void> | undefined;
  start(topic: string, perSec: number): void {
    this.#done = (async () => {
      const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
      try {
        const producer = await RawProducer.create(cluster);
        const perBatch = 10;
        const pause = Math.max(1, Math.floor((1000 * perBatch * PARTITIONS) / perSec / PARTITIONS));
        while (!this.#stop) {
          const t0 = Date.now();
          await Promise.all(
            Array.from({ length: PARTITIONS }, async (_, p) => {
              const first = this.counts[p]!;
              const recs = Array.from({ length: perBatch }, (_, j) => ({
                key: Buffer.from(`k-${p}-${first + j}`),
                value: Buffer.from(`v-${p}-${first + j}-${'x'.repeat((first + j) % 97)}`),
                timestamp: BigInt(Date.now()),
                offsetDelta: j,
                headers: [],
              }));
              await producer.send(topic, p, [encodeBatch(recs, { compression: 'lz4' })]);
              this.counts[p] = first + perBatch;
            }),
          );
          await new Promise((r) => setTimeout(r, Math.max(0, pause * PARTITIONS - (Date.now() - t0))));
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

async function waitCaughtUp(store: ObjectStore, backupId: string, topic: string, timeoutMs: number): Promise<void> {
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    const parts = Array.from({ length: PARTITIONS }, (_, p) => p);
    const ends = await admin.listOffsets(topic, parts, LATEST, true);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const behind: number[] = [];
      for (const p of parts) {
        const idx = await readJsonObject(store, keys.partitionIndex(backupId, topic, p), partitionIndexSchema).catch(() => undefined);
        if ((idx?.next_offset ?? -1) < Number(ends.get(p) ?? 0n)) behind.push(p);
      }
      if (behind.length === 0) return;
      if (Date.now() > deadline) throw new Error(`the workers did not catch up within ${timeoutMs} ms (partitions behind: ${behind.join(', ')})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await admin.close();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('distributed backup: workers coordinated by the group protocol', () => {
  test('3 workers, one SIGKILLed, one SIGSTOPped past the session timeout (zombie), a fourth joins: every record exactly once, validate --deep, restore equal', {
    timeout: 600_000,
  }, async (t) => {
    const topic = uniqueTopic('workers');
    await createTopic(bootstrap, topic, PARTITIONS);
    const storeDir = join(dir, 'continuous');
    const store = new FsStore(storeDir);
    const backupId = 'workers-continuous';
    const cfg: BackupChildConfig = {
      bootstrap,
      dir: storeDir,
      backupId,
      topics: [topic],
      options: {
        continuous: true,
        segmentMaxBytes: 16 * 1024,
        segmentMaxIntervalMs: 500,
        maxConcurrentPartitions: 8,
        workers: { groupId: `kb-${topic}`, sessionTimeoutMs: SESSION_MS, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 10_000 },
      },
    };
    const producer = new Producer();
    producer.start(topic, 2_000);
    const workers: Worker[] = [];
    const logs = (): string => workers.map((w) => `--- ${w.name} (pid ${w.child.pid})\n${w.output().slice(-6000)}`).join('\n');
    try {
      for (const n of ['w1', 'w2', 'w3']) workers.push(startWorker(n, cfg));
      // Every worker has joined and owns partitions (process start is slow on a loaded machine), then a steady state.
      const joinedBy = Date.now() + 120_000;
      while (!workers.every((w) => /partition taken over/.test(w.output())) && Date.now() < joinedBy) await sleep(250);
      assert.ok(
        workers.every((w) => /partition taken over/.test(w.output())),
        `all three workers own partitions\n${logs()}`,
      );
      await sleep(6_000);
      // A crash: w1's partitions go to the others once its session times out.
      workers[0]!.child.kill('SIGKILL');
      await sleep(4_000);
      // A zombie: w2 is frozen for longer than the session timeout, loses its partitions, and wakes up writing.
      workers[1]!.child.kill('SIGSTOP');
      await sleep(SESSION_MS + 8_000);
      workers[1]!.child.kill('SIGCONT');
      await sleep(3_000);
      workers.push(startWorker('w4', cfg));
      await sleep(10_000);
      await producer.stop();
      await waitCaughtUp(store, backupId, topic, 180_000);
      for (const w of workers.slice(1)) w.child.kill('SIGTERM');
      const codes = await Promise.all(workers.slice(1).map((w) => w.exited));
      assert.deepEqual(codes, [0, 0, 0], `the surviving workers stop cleanly\n${logs()}`);
    } finally {
      await producer.stop();
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
    const out = logs();
    // The scenario happened: the killed worker's and the zombie's partitions changed hands, and the zombie's late writes were refused.
    const owners = await Promise.all(
      Array.from({ length: PARTITIONS }, (_, p) => readJsonObject(store, keys.partitionIndex(backupId, topic, p), partitionIndexSchema)),
    );
    const handedOver = owners.filter((i) => (i?.owner?.epoch ?? 0) >= 2).length;
    assert.ok(handedOver >= PARTITIONS / 2, `most partitions changed owner at least once (${handedOver})\n${out}`);
    assert.match(
      workers[1]!.output(),
      /took the partition over; this worker's write of .* was refused by the store|partition lost/,
      `the zombie's writes after waking were refused\n${out}`,
    );
    t.diagnostic(`partitions handed over: ${handedOver}; zombie refusals: ${(workers[1]!.output().match(/was refused by the store/g) ?? []).length}`);
    // Every record exactly once, in order, with its offset.
    let total = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const fromBroker = await consumeAll(bootstrap, topic, p);
      assert.equal(fromBroker.length, producer.counts[p], `partition ${p}: the broker holds what was produced`);
      const fromBackup = await backupRecords(store, backupId, topic, p);
      assert.equal(fromBackup.length, fromBroker.length, `partition ${p}: every record exactly once\n${out}`);
      assert.deepEqual(
        fromBackup.map((r) => recordKey(r, true)),
        fromBroker.map((r) => recordKey(r, true)),
        `partition ${p}: same records, order and offsets`,
      );
      total += fromBackup.length;
    }
    assert.ok(total > 20_000, `a steady load was backed up (${total} records)`);
    const manifest = await readJsonObject(store, keys.manifest(backupId), manifestSchema);
    assert.equal(manifest?.topics[0]?.partitions.length, PARTITIONS);
    assert.equal(manifest?.status, 'stopped', 'the last worker to stop marks the backup stopped');
    let groupSnapshots = 0;
    for await (const _ of store.list(keys.groupsPrefix(backupId))) groupSnapshots++;
    assert.ok(groupSnapshots > 0, 'the workers store consumer-group snapshots for restore’s offset reset');
    const v = await validateBackup(store, backupId, true);
    assert.deepEqual(v.problems, [], 'validate --deep finds no problem');
    assert.equal(v.recordsChecked, total);
    // Restore into a new topic and compare record for record.
    const target = `${topic}-restored`;
    await runRestore(testRestoreOptions(bootstrap, store, backupId, { topicMapping: { [topic]: target } }));
    for (let p = 0; p < PARTITIONS; p++) {
      const src = await consumeAll(bootstrap, topic, p);
      const dst = await consumeAll(bootstrap, target, p);
      assert.deepEqual(
        dst.map((r) => recordKey(r)),
        src.map((r) => recordKey(r)),
        `partition ${p}: the restore equals the source`,
      );
    }
  });

  test('snapshot: 3 workers, one SIGKILLed mid-way: complete only when every partition reached the end offsets fixed at start, whichever worker did it', {
    timeout: 600_000,
  }, async () => {
    const topic = uniqueTopic('workers-snap');
    await createTopic(bootstrap, topic, PARTITIONS);
    const per = 1_500;
    await Promise.all(
      Array.from({ length: PARTITIONS }, (_, p) =>
        produce(
          bootstrap,
          topic,
          p,
          Array.from({ length: per }, (_, i) => ({
            key: Buffer.from(`k${p}-${i}`),
            value: Buffer.from(`v${p}-${i}-${'y'.repeat(i % 200)}`),
            timestamp: BigInt(Date.UTC(2025, 0, 1) + i),
          })),
          'none',
          25,
        ),
      ),
    );
    const storeDir = join(dir, 'snapshot');
    const store = new FsStore(storeDir);
    const backupId = 'workers-snapshot';
    const cfg: BackupChildConfig = {
      bootstrap,
      dir: storeDir,
      backupId,
      topics: [topic],
      options: {
        continuous: false,
        segmentMaxBytes: 8 * 1024,
        fetchMaxBytes: 4 * 1024,
        maxConcurrentPartitions: 2,
        syncIntervalSecs: 1,
        workers: { groupId: `kb-${topic}`, sessionTimeoutMs: SESSION_MS, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 10_000 },
      },
    };
    const workers = ['s1', 's2', 's3'].map((n) => startWorker(n, cfg));
    const logs = (): string => workers.map((w) => `--- ${w.name}\n${w.output().slice(-5000)}`).join('\n');
    try {
      // Killed once it has stored something, well before the snapshot can be complete.
      const deadline = Date.now() + 120_000;
      while (!/segment stored|partition taken over/.test(workers[0]!.output()) && Date.now() < deadline) await sleep(200);
      await sleep(1_500);
      workers[0]!.child.kill('SIGKILL');
      // Records produced after the start are not part of the snapshot.
      await produce(bootstrap, topic, 0, [{ key: null, value: Buffer.from('after the snapshot started'), timestamp: BigInt(Date.now()) }]);
      let timer: NodeJS.Timeout | undefined;
      const codes = await Promise.race([
        Promise.all(workers.slice(1).map((w) => w.exited)),
        new Promise((r) => (timer = setTimeout(() => r('timeout'), 300_000))),
      ]).finally(() => clearTimeout(timer));
      assert.deepEqual(codes, [0, 0], `the surviving workers finish the snapshot and exit\n${logs()}`);
    } finally {
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
    const m = await readJsonObject(store, keys.manifest(backupId), manifestSchema);
    assert.equal(m?.status, 'complete', logs());
    assert.ok(m?.completed_at);
    for (const w of workers.slice(1)) assert.match(w.output(), /"status":"complete"/, 'each surviving worker reports the snapshot complete');
    for (let p = 0; p < PARTITIONS; p++) {
      const fromBackup = await backupRecords(store, backupId, topic, p);
      const fromBroker = (await consumeAll(bootstrap, topic, p)).slice(0, per);
      assert.equal(fromBackup.length, per, `partition ${p}: exactly the records up to the end offset fixed at start`);
      assert.deepEqual(
        fromBackup.map((r) => recordKey(r, true)),
        fromBroker.map((r) => recordKey(r, true)),
        `partition ${p}: same records and offsets`,
      );
    }
    const v = await validateBackup(store, backupId, true);
    assert.deepEqual(v.problems, []);
    assert.equal(v.recordsChecked, per * PARTITIONS);
  });

  test('a worker started with other settings is refused with the difference named, before writing anything; status shows each worker', {
    timeout: 300_000,
  }, async () => {
    const topic = uniqueTopic('workers-drift');
    await createTopic(bootstrap, topic, 4);
    await produce(bootstrap, topic, 0, [{ key: null, value: Buffer.from('x'), timestamp: BigInt(Date.now()) }]);
    const storeDir = join(dir, 'drift');
    const backupId = 'workers-drift';
    const cfg: BackupChildConfig = {
      bootstrap,
      dir: storeDir,
      backupId,
      topics: [topic],
      options: {
        continuous: true,
        syncIntervalSecs: 1,
        workers: { groupId: `kb-${topic}`, sessionTimeoutMs: SESSION_MS, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 10_000 },
      },
    };
    const a = startWorker('a', cfg);
    try {
      const store = new FsStore(storeDir);
      const deadline = Date.now() + 120_000;
      let st = await loadStatus(store, backupId).catch(() => undefined);
      while (!(st?.workers?.[0]?.partitions.length === 4) && Date.now() < deadline) {
        await sleep(500);
        st = await loadStatus(store, backupId).catch(() => undefined);
      }
      assert.equal(st?.workers?.length, 1, `one worker reports (${a.output().slice(-3000)})`);
      assert.equal(st?.workers?.[0]?.pid, a.child.pid);
      assert.ok((st?.workers?.[0]?.group_generation ?? 0) >= 1);
      assert.match(statusText(st!), /Workers \(group generation \d+/);
      // Another storage location: the group refuses it, naming the key, and it writes nothing there.
      const otherDir = join(dir, 'drift-other');
      const b = startWorker('b', { ...cfg, dir: otherDir });
      assert.equal(await b.exited, 1);
      assert.match(b.output(), /WORKER_CONFIG_DRIFT|runs with other settings/);
      assert.match(b.output(), /storage: ".*drift-other" here, ".*drift" in the group/);
      assert.equal(await new FsStore(otherDir).exists(keys.manifest(backupId)), false, 'the refused worker wrote no manifest');
      // Other compression against the same backup: refused, named.
      const c = startWorker('c', { ...cfg, options: { ...cfg.options, compression: 'lz4' } });
      assert.equal(await c.exited, 1);
      assert.match(c.output(), /compression: "lz4" here, "zstd" in the group/);
    } finally {
      a.child.kill('SIGTERM');
      await a.exited;
    }
  });

  test('continuous: a topic created while the workers run is picked up, subscribed and backed up whole, exactly once', { timeout: 300_000 }, async () => {
    const prefix = uniqueTopic('workers-grow');
    const first = `${prefix}-a`;
    const later = `${prefix}-b`;
    await createTopic(bootstrap, first, 4);
    const rec = (p: number, i: number) => ({ key: Buffer.from(`k${p}-${i}`), value: Buffer.from(`v${p}-${i}`), timestamp: BigInt(Date.now()) });
    await Promise.all(
      [0, 1, 2, 3].map((p) =>
        produce(
          bootstrap,
          first,
          p,
          Array.from({ length: 200 }, (_, i) => rec(p, i)),
        ),
      ),
    );
    const storeDir = join(dir, 'grow');
    const store = new FsStore(storeDir);
    const backupId = 'workers-grow';
    const cfg: BackupChildConfig = {
      bootstrap,
      dir: storeDir,
      backupId,
      topics: [`${prefix}-*`],
      options: {
        continuous: true,
        syncIntervalSecs: 1,
        segmentMaxIntervalMs: 300,
        workers: { groupId: `kb-${prefix}`, sessionTimeoutMs: SESSION_MS, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 10_000 },
      },
    };
    const workers = [startWorker('g1', cfg), startWorker('g2', cfg)];
    const logs = (): string => workers.map((w) => `--- ${w.name}\n${w.output().slice(-5000)}`).join('\n');
    try {
      await waitCaughtUpTopic(store, backupId, first, 4, 120_000);
      // Created while they run: every record of it is backed up, from its log start.
      await createTopic(bootstrap, later, 3);
      await Promise.all(
        [0, 1, 2].map((p) =>
          produce(
            bootstrap,
            later,
            p,
            Array.from({ length: 150 }, (_, i) => rec(p, i)),
          ),
        ),
      );
      await waitCaughtUpTopic(store, backupId, later, 3, 120_000);
      for (const w of workers) w.child.kill('SIGTERM');
      assert.deepEqual(await Promise.all(workers.map((w) => w.exited)), [0, 0], logs());
    } finally {
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
    for (const [topic, n] of [
      [first, 4],
      [later, 3],
    ] as const) {
      for (let p = 0; p < n; p++) {
        const fromBroker = await consumeAll(bootstrap, topic, p);
        const fromBackup = await backupRecords(store, backupId, topic, p);
        assert.deepEqual(
          fromBackup.map((r) => recordKey(r, true)),
          fromBroker.map((r) => recordKey(r, true)),
          `${topic}/${p}: every record exactly once`,
        );
      }
    }
    const m = await readJsonObject(store, keys.manifest(backupId), manifestSchema);
    assert.deepEqual(
      m?.topics.map((t) => t.name),
      [first, later],
    );
    assert.deepEqual((await validateBackup(store, backupId, true)).problems, []);
  });
});

async function waitCaughtUpTopic(store: ObjectStore, backupId: string, topic: string, partitions: number, timeoutMs: number): Promise<void> {
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    const parts = Array.from({ length: partitions }, (_, p) => p);
    const ends = await admin.listOffsets(topic, parts, LATEST, true);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let behind = 0;
      for (const p of parts) {
        const idx = await readJsonObject(store, keys.partitionIndex(backupId, topic, p), partitionIndexSchema).catch(() => undefined);
        if ((idx?.next_offset ?? -1) < Number(ends.get(p) ?? 0n) || (idx?.segments.length ?? 0) === 0) behind++;
      }
      if (behind === 0) return;
      if (Date.now() > deadline) throw new Error(`${topic}: ${behind} partitions not caught up within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await admin.close();
  }
}
