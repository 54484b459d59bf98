import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { watch } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { runBackup } from '../../src/backup/engine.js';
import { validateBackup } from '../../src/backup/validate.js';
import { readJsonObject, writeJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { manifestSchema } from '../../src/format/manifest.js';
import { partitionIndexSchema } from '../../src/format/partition-index.js';
import { KafkaAdmin, LATEST } from '../../src/kafka/admin.js';
import { KafkaCluster } from '../../src/kafka/cluster.js';
import { RawProducer } from '../../src/kafka/producer.js';
import { decodeBatch, encodeBatch, readBatchHeader, type KafkaRecord, type RecordInput } from '../../src/kafka/protocol/record-batch.js';
import type { KafkaCompression } from '../../src/kafka/protocol/compression.js';
import { readSegmentBatches } from '../../src/restore/segment-source.js';
import { FsStore } from '../../src/storage/fs.js';
import { TEMP_MARKER } from '../../src/storage/keys.js';
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
    headers:
      kind === 2
        ? [
            { key: 'dup', value: Buffer.from('1') },
            { key: 'dup', value: null },
            { key: 'seq', value: Buffer.from(String(i)) },
          ]
        : [],
    timestamp: BigInt(BASE_TS + i * 10 - (kind === 3 ? 5_000 : 0)),
  };
}

function expectedKey(p: number, i: number, offset: number): string {
  const r = recordFor(p, i);
  return recordKey(
    {
      offset: BigInt(offset),
      timestamp: r.timestamp,
      key: r.key,
      value: r.value,
      headers: (r.headers ?? []).map((h) => ({ key: Buffer.isBuffer(h.key) ? h.key : Buffer.from(h.key), value: h.value })),
    } as KafkaRecord,
    false,
  );
}

/** Seeded random numbers, so a failing run can be repeated (the seed is printed). */
function rng(seed: number): () => number {
  let s = seed % 2147483647 || 1;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
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
    const ends = await admin.listOffsets(
      topic,
      Array.from({ length: PARTITIONS }, (_, p) => p),
      LATEST,
      true,
    );
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
    fromBroker.forEach((r, i) => {
      assert.equal(recordKey(r), expectedKey(p, i, Number(r.offset)), `partition ${p} record ${i}`);
    });
    const fromBackup = await backupRecords(store, backupId, topic, p);
    assert.equal(fromBackup.length, fromBroker.length, `partition ${p}: every record exactly once`);
    assert.deepEqual(
      fromBackup.map((r) => recordKey(r, true)),
      fromBroker.map((r) => recordKey(r, true)),
      `partition ${p}: same records, same order, same offsets`,
    );
    total += fromBackup.length;
  }
  return total;
}

/** Every file under `dir` (relative paths), temp files included: FsStore.list hides those. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/**
 * Where a kill landed, from what the killed process left on disk. FsStore writes every object to
 * a temp file named after the writing process's pid and renames it when complete, so a temp file
 * of the killed pid is an object it was writing when it died; a segment that no index names was
 * stored but not yet indexed.
 */
interface KillLanding {
  /** Segment objects the process was writing (streamed while the segment filled). */
  segmentsMidWrite: number;
  /** Other objects (index, manifest, lease) it was writing. */
  otherMidWrite: string[];
  /** Segments stored by this process but named by no index (it died between the two puts). */
  orphans: number;
  /** Segments the indexes name. */
  indexed: number;
}

async function killLanding(
  dir: string,
  store: ObjectStore,
  backupId: string,
  topic: string,
  pid: number,
  orphansBefore: Set<string> = new Set(),
): Promise<KillLanding> {
  const mine = (await filesUnder(dir)).filter((f) => f.includes(`${TEMP_MARKER}${pid}-`));
  let indexed = 0;
  for (let p = 0; p < PARTITIONS; p++)
    indexed += (await readJsonObject(store, keys.partitionIndex(backupId, topic, p), partitionIndexSchema))?.segments.length ?? 0;
  return {
    segmentsMidWrite: mine.filter((f) => /\.kbseg\.kbtmp-/.test(f)).length,
    otherMidWrite: mine.filter((f) => !/\.kbseg\.kbtmp-/.test(f)),
    orphans: (await orphans(store, backupId, topic)).filter((o) => !orphansBefore.has(o)).length,
    indexed,
  };
}

/** The process died inside the write path: mid-write of an object, or between a segment and its index. */
function inWritePath(l: KillLanding): boolean {
  return l.segmentsMidWrite > 0 || l.otherMidWrite.length > 0 || l.orphans > 0;
}

function describeLanding(l: KillLanding): string {
  return `${l.segmentsMidWrite} segment(s) mid-write${l.otherMidWrite.length ? `, mid-write of ${l.otherMidWrite.join(', ')}` : ''}, ${l.orphans} stored but unindexed, ${l.indexed} indexed`;
}

/**
 * SIGKILLs the child the moment it creates a temp file (an object it starts to write) whose name
 * matches, once `armed()` holds (polled every 20 ms). inotify (fs.watch) reports the creation within
 * about a millisecond, while writing the object and fsyncing it takes longer: the kill lands
 * mid-write, which killLanding then checks on disk. Resolves false if the child exited first.
 */
async function killOnWrite(
  dir: string,
  run: { child: ChildProcess; exited: Promise<unknown> },
  match: RegExp,
  armed: () => Promise<boolean> = async () => true,
): Promise<boolean> {
  const pid = run.child.pid!;
  let isArmed = false;
  let killed = false;
  let exited = false;
  void run.exited.then(() => (exited = true));
  const watcher = watch(dir, { recursive: true }, (_event, name) => {
    if (isArmed && !killed && name?.includes(`${TEMP_MARKER}${pid}-`) && match.test(name)) {
      killed = true;
      run.child.kill('SIGKILL');
    }
  });
  try {
    while (!exited && !killed) {
      if (!isArmed) isArmed = await armed();
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    watcher.close();
  }
  await run.exited;
  return killed;
}

const SEGMENT_TEMP = /\.kbseg\.kbtmp-/;
const INDEX_TEMP = /index\.json\.kbtmp-/;

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
    const killPoints: string[] = [];
    const landings: KillLanding[] = [];
    for (let k = 0; k < KILLS; k++) {
      const orphansBefore = new Set(await orphans(store, backupId, topic));
      const run = startChild(cfg);
      const pid = run.child.pid!;
      if (k % 2 === 0) {
        // The child needs ~1 s to load; these kill points range from during start-up to well into fetching.
        const delay = Math.floor(800 + rnd() * 4000);
        killPoints.push(`${delay} ms`);
        const early = await Promise.race([
          run.exited.then((c) => `exited early with ${c}`),
          new Promise<undefined>((r) => setTimeout(() => r(undefined), delay)),
        ]);
        assert.equal(early, undefined, `run ${k}: ${early}\n${run.output()}`);
      } else {
        // These the moment the child starts writing a segment.
        killPoints.push('segment write');
        assert.ok(await killOnWrite(dir, run, SEGMENT_TEMP), `run ${k} exited before writing a segment\n${run.output()}`);
      }
      run.child.kill('SIGKILL');
      assert.equal(await run.exited, null, 'killed by the signal');
      landings.push(await killLanding(dir, store, backupId, topic, pid, orphansBefore));
    }
    t.diagnostic(`kill points: ${killPoints.join(', ')}; records produced meanwhile: ${loop.counts.join(', ')}`);
    landings.forEach((l, k) => {
      t.diagnostic(`kill ${k}: ${describeLanding(l)}`);
    });
    assert.ok(
      landings.some((l) => l.segmentsMidWrite > 0),
      'at least one kill landed while a segment was being written',
    );
    assert.ok(landings.filter(inWritePath).length >= 2, 'at least two kills landed in the write path');
    const idxAfterKills = await Promise.all(
      Array.from({ length: PARTITIONS }, (_, p) => readJsonObject(store, keys.partitionIndex(backupId, topic, p), partitionIndexSchema)),
    );
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
    for (let i = 1; i < again.segments.length; i++)
      assert.equal(again.segments[i]!.first_offset, again.segments[i - 1]!.last_offset + 1, 'no hole, no overlap');
    await assertBackupMatchesBroker(bootstrap, store, backupId, topic, loop.counts);
    const v = await validateBackup(store, backupId, true);
    assert.deepEqual(v.problems, []);
    assert.ok((await orphans(store, backupId, topic)).includes(stray), 'the stray object is left alone, never followed');
  });
});

describe('snapshot backup killed with SIGKILL, then run again with the same config', () => {
  let bootstrap: string;
  let dir: string;
  let store: FsStore;
  const topic = uniqueTopic('crash-snap');
  const backupId = 'it-crash-snapshot';
  const PER_PARTITION = 4000;
  let cfg: BackupChildConfig;

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-crash-snap-'));
    store = new FsStore(dir);
    await createTopic(bootstrap, topic, PARTITIONS);
    // Everything is produced before the snapshot starts: its end offsets are fixed.
    const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
    try {
      const producer = await RawProducer.create(cluster);
      const codecs: KafkaCompression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
      for (let p = 0; p < PARTITIONS; p++) {
        for (let i = 0, b = 0; i < PER_PARTITION; i += 25, b++) {
          const recs = Array.from({ length: Math.min(25, PER_PARTITION - i) }, (_, j) => ({ ...recordFor(p, i + j), offsetDelta: j }));
          await producer.send(topic, p, [encodeBatch(recs, { compression: codecs[b % codecs.length]! })]);
        }
      }
    } finally {
      await cluster.close();
    }
    cfg = { bootstrap, dir, backupId, topics: [topic], options: { continuous: false, maxConcurrentPartitions: 2 } };
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('3 SIGKILLs mid-snapshot (at the first segment, then further in): the re-run completes it, every record exactly once', async (t) => {
    // Kill 0 at the run's first segment write; kill 1 at a segment write once this run indexed 10
    // segments; kill 2 at an index write once it indexed 25: at the start, and deeper in.
    const plan: [number, RegExp][] = [
      [0, SEGMENT_TEMP],
      [10, SEGMENT_TEMP],
      [25, INDEX_TEMP],
    ];
    const landings: KillLanding[] = [];
    for (const [k, [grown, what]] of plan.entries()) {
      const at = (await killLanding(dir, store, backupId, topic, -1)).indexed;
      const orphansBefore = new Set(await orphans(store, backupId, topic));
      const run = startChild(cfg);
      const pid = run.child.pid!;
      const armed = async (): Promise<boolean> => grown === 0 || (await killLanding(dir, store, backupId, topic, pid)).indexed >= at + grown;
      assert.ok(
        await killOnWrite(dir, run, what, armed),
        `run ${k} finished before the kill point (${grown} segments in): make the snapshot bigger\n${run.output()}`,
      );
      assert.equal(await run.exited, null, 'killed by the signal');
      const l = await killLanding(dir, store, backupId, topic, pid, orphansBefore);
      landings.push(l);
      t.diagnostic(`kill ${k} (${grown} segments into the run): ${describeLanding(l)}`);
      const manifest = await readJsonObject(store, keys.manifest(backupId), manifestSchema);
      assert.equal(manifest?.mode, 'snapshot');
      assert.notEqual(manifest?.status, 'complete', `after kill ${k} the manifest does not claim a complete backup`);
      const v = await validateBackup(store, backupId, true);
      assert.ok(v.recordsChecked < PER_PARTITION * PARTITIONS, `kill ${k} landed before the end (${v.recordsChecked} records stored)`);
      // validate says the snapshot is incomplete (partitions not started yet have no index); every segment an index names is intact.
      const bad = v.problems.filter((pr) => pr.problem !== 'missing partition index');
      assert.deepEqual(bad, [], `what the indexes name is intact after kill ${k}`);
      assert.ok(v.incomplete.some((pr) => /are not backed up/.test(pr.problem)) || v.problems.length > 0, 'validate names the shortfall');
    }
    // A kill armed on a segment write lands while it streams (a segment takes long to fill). One armed on an index
    // write can land just after that write's rename under load (a fresh-clone CI run saw it): reported, not asserted.
    const segmentKills = landings.filter((_, k) => plan[k]![1] === SEGMENT_TEMP);
    assert.ok(
      segmentKills.every(inWritePath),
      'every kill armed on a segment write landed in the write path (an object half-written, or a segment stored but not indexed)',
    );
    for (const [k, l] of landings.entries())
      if (!inWritePath(l)) t.diagnostic(`kill ${k} landed between writes (its write had completed): ${describeLanding(l)}`);
    assert.ok(
      landings.some((l) => l.segmentsMidWrite > 0),
      'at least one kill landed while a segment was being written',
    );
    // The window between a segment's rename and its index's is a few milliseconds: a kill armed on the index
    // write lands in it only when the signal beats the rename (a fresh-clone CI run under load missed it). Said,
    // not asserted; 'a crash between the segment put and the index put' above covers that window deterministically.
    const orphanWindow = landings.some((l) => l.orphans > 0 || l.otherMidWrite.some((f) => INDEX_TEMP.test(f)));
    t.diagnostic(`a kill landed between a segment's store and its index's: ${orphanWindow ? 'yes' : 'no (covered by the deterministic test above)'}`);
    assert.ok(landings[2]!.indexed > landings[0]!.indexed, 'the runs in between resumed and progressed');

    const final = startChild(cfg);
    assert.equal(await final.exited, 0, final.output());
    const summary = JSON.parse(final.output().trim().split('\n').at(-1)!) as { status: string; records: number };
    assert.equal(summary.status, 'complete');
    const manifest = await readJsonObject(store, keys.manifest(backupId), manifestSchema);
    assert.equal(manifest?.status, 'complete');
    const total = await assertBackupMatchesBroker(
      bootstrap,
      store,
      backupId,
      topic,
      Array.from({ length: PARTITIONS }, () => PER_PARTITION),
    );
    assert.equal(total, PER_PARTITION * PARTITIONS);
    const v = await validateBackup(store, backupId, true);
    assert.deepEqual(v.problems, [], 'orphan segments are not problems');
    assert.equal(v.recordsChecked, total);
    t.diagnostic(`records: ${total}; orphan segments at the end: ${(await orphans(store, backupId, topic)).length}`);
  });
});
