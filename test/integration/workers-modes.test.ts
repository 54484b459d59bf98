/**
 * Single-process runs and distributed workers (backup.workers / restore.workers) never share a backup id
 * or a restore id: each is refused, with a one-line message naming what runs and how to stop it, while
 * the other runs (or, for a restore, while the other's state is unfinished), and of two started at the
 * same instant exactly one (backup: at least one) is refused. Real broker; filesystem store.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import type { BackupOptions } from '../../src/backup/options.js';
import { readWorkerStatuses } from '../../src/backup/workers/status.js';
import { keys } from '../../src/format/layout.js';
import { readRestoreState } from '../../src/format/restore-state.js';
import { KafkaAdmin, LATEST } from '../../src/kafka/admin.js';
import { restoreIdFor, runRestore } from '../../src/restore/engine.js';
import { runDistributedRestore } from '../../src/restore/index.js';
import type { RestoreOptions } from '../../src/restore/options.js';
import { FsStore } from '../../src/storage/fs.js';
import { KafkaBackupError } from '../../src/util/errors.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { produce } from '../helpers/records.js';

let bootstrap = '';
let dir = '';
let store: FsStore;

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-workers-modes-'));
  store = new FsStore(dir);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function modeConflict(err: unknown): boolean {
  return err instanceof KafkaBackupError && err.code === 'MODE_CONFLICT';
}

async function topicWithRecords(name: string, partitions: number, perPartition: number): Promise<string> {
  const topic = uniqueTopic(name);
  await createTopic(bootstrap, topic, partitions);
  for (let p = 0; p < partitions; p++)
    await produce(
      bootstrap,
      topic,
      p,
      Array.from({ length: perPartition }, (_, i) => ({
        key: Buffer.from(`k-${p}-${i}`),
        value: Buffer.from(`v-${p}-${i}`),
        timestamp: BigInt(1_700_000_000_000 + i),
        headers: [],
      })),
    );
  return topic;
}

describe('backup: single process and workers exclude each other', () => {
  const backupOpts = (topic: string, backupId: string, signal: AbortSignal, workers: boolean): BackupOptions =>
    testBackupOptions(bootstrap, store, backupId, [topic], {
      continuous: true,
      syncIntervalSecs: 1,
      signal,
      ...(workers ? { workers: { groupId: `${backupId}-workers`, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 10_000 } } : {}),
    });

  test('a single-process backup is refused while a worker runs, naming it; the worker is refused while the single process holds the lease', async () => {
    const topic = await topicWithRecords('modes-backup', 2, 50);
    const backupId = `${topic}-b`;

    // A worker runs: the single-process run is refused with the worker named, and leaves no lease behind.
    const wac = new AbortController();
    const worker = runBackup(backupOpts(topic, backupId, wac.signal, true));
    await until('the worker to report', async () => (await readWorkerStatuses(store, backupId)).length > 0);
    await assert.rejects(runBackup(backupOpts(topic, backupId, AbortSignal.timeout(5_000), false)), (err: unknown) => {
      assert.ok(modeConflict(err), String(err));
      const msg = (err as Error).message;
      assert.match(msg, /distributed worker/);
      assert.match(msg, new RegExp(`group "${backupId}-workers"`));
      assert.match(msg, new RegExp(`pid ${process.pid}`));
      assert.match(msg, /stop the workers/);
      assert.doesNotMatch(msg, /\n/);
      return true;
    });
    assert.equal(await store.exists(keys.lease(backupId)), false, 'the refused run released its lease');
    wac.abort();
    await worker;
    assert.equal((await readWorkerStatuses(store, backupId)).length, 0, 'a stopped worker removes its report');

    // A single process runs: a worker is refused with the process named, and leaves no report behind.
    const sac = new AbortController();
    const single = runBackup(backupOpts(topic, backupId, sac.signal, false));
    await until('the lease', () => store.exists(keys.lease(backupId)));
    await assert.rejects(runBackup(backupOpts(topic, backupId, AbortSignal.timeout(5_000), true)), (err: unknown) => {
      assert.ok(modeConflict(err), String(err));
      const msg = (err as Error).message;
      assert.match(msg, /single-process backup/);
      assert.match(msg, new RegExp(`pid ${process.pid}`));
      assert.match(msg, /backup\.workers/);
      assert.doesNotMatch(msg, /\n/);
      return true;
    });
    assert.equal((await readWorkerStatuses(store, backupId)).length, 0, 'the refused worker removed its report');
    sac.abort();
    await single;

    // Once the single process stopped, a worker runs.
    const again = new AbortController();
    const w2 = runBackup(backupOpts(topic, backupId, again.signal, true));
    await until('the worker to report', async () => (await readWorkerStatuses(store, backupId)).length > 0);
    again.abort();
    await w2;
  });

  test('started at the same instant, a worker and a single-process backup never both run', async () => {
    const topic = await topicWithRecords('modes-race', 2, 20);
    for (let round = 0; round < 3; round++) {
      const backupId = `${topic}-r${round}`;
      const ac = new AbortController();
      const runs = [runBackup(backupOpts(topic, backupId, ac.signal, false)), runBackup(backupOpts(topic, backupId, ac.signal, true))];
      // Both would be running (and writing) by now if neither had refused.
      const timer = setTimeout(() => ac.abort(), 4_000);
      const res = await Promise.allSettled(runs);
      clearTimeout(timer);
      const refused = res.filter((r) => r.status === 'rejected' && modeConflict(r.reason)).length;
      const failedOtherwise = res.filter((r) => r.status === 'rejected' && !modeConflict(r.reason));
      assert.deepEqual(failedOtherwise, [], `round ${round}: no other failure`);
      assert.ok(refused >= 1, `round ${round}: at least one of the two is refused (${res.map((r) => r.status).join(', ')})`);
    }
  });
});

describe('restore: single process and workers do not take over each other’s state', () => {
  const PARTS = 2;
  const PER = 400;
  let topic = '';
  let backupId = '';

  before(async () => {
    topic = await topicWithRecords('modes-restore', PARTS, PER);
    backupId = `${topic}-b`;
    await runBackup(testBackupOptions(bootstrap, store, backupId, [topic]));
  });

  const restoreOpts = (target: string, workers: boolean, extra: Partial<RestoreOptions> = {}): RestoreOptions =>
    testRestoreOptions(bootstrap, store, backupId, {
      topicMapping: { [topic]: target },
      produceBatchSize: 20,
      ...extra,
      ...(workers ? { workers: { groupId: `${target}-restorers`, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 10_000 } } : {}),
    });

  async function targetEnds(target: string): Promise<number[]> {
    const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
    try {
      const ends = await admin.listOffsets(target, [0, 1], LATEST);
      return [0, 1].map((p) => Number(ends.get(p) ?? 0n));
    } finally {
      await admin.close();
    }
  }

  /** Starts a slow restore and stops it once it has produced something: an unfinished restore of `target`. */
  async function interrupted(target: string, workers: boolean): Promise<void> {
    const ac = new AbortController();
    const opts = restoreOpts(target, workers, { rateLimitRecordsPerSec: 100, signal: ac.signal });
    const run = workers ? runDistributedRestore(opts) : runRestore(opts);
    await until('records on the target', async () => (await targetEnds(target).catch(() => [0, 0])).some((e) => e > 0));
    ac.abort();
    await run;
    const st = await readRestoreState(store, backupId, restoreIdFor(opts));
    assert.ok(st && st.completed_at === null, 'the restore is unfinished');
  }

  test('a single-process run refuses an unfinished distributed restore’s state, naming restore.workers; the target is untouched', async () => {
    const target = `${topic}-t1`;
    await interrupted(target, true);
    const before = await targetEnds(target);
    await assert.rejects(runRestore(restoreOpts(target, false)), (err: unknown) => {
      assert.ok(modeConflict(err), String(err));
      assert.match((err as Error).message, /distributed restore \(restore\.workers group "/);
      assert.doesNotMatch((err as Error).message, /\n/);
      return true;
    });
    assert.deepEqual(await targetEnds(target), before, 'nothing produced by the refused run');
    // The workers finish it: every record exactly once.
    const res = await runDistributedRestore(restoreOpts(target, true));
    assert.equal(res.restored, PARTS * PER);
    assert.deepEqual(await targetEnds(target), [PER, PER]);
  });

  test('workers refuse an unfinished single-process restore’s state; the target is untouched', async () => {
    const target = `${topic}-t2`;
    await interrupted(target, false);
    const before = await targetEnds(target);
    await assert.rejects(runDistributedRestore(restoreOpts(target, true)), (err: unknown) => {
      assert.ok(modeConflict(err), String(err));
      assert.match((err as Error).message, /started by a single process \(no restore\.workers\) and is not finished/);
      assert.doesNotMatch((err as Error).message, /\n/);
      return true;
    });
    assert.deepEqual(await targetEnds(target), before, 'nothing produced by the refused workers');
    const res = await runRestore(restoreOpts(target, false));
    assert.equal(res.restored, PARTS * PER);
    assert.deepEqual(await targetEnds(target), [PER, PER]);
  });

  test('started at the same instant, exactly one of a worker and a single-process restore runs; every record once', async () => {
    for (let round = 0; round < 3; round++) {
      const target = `${topic}-t3-${round}`;
      const res = await Promise.allSettled([runRestore(restoreOpts(target, false)), runDistributedRestore(restoreOpts(target, true))]);
      const refused = res.filter((r) => r.status === 'rejected' && modeConflict(r.reason));
      const ran = res.filter((r) => r.status === 'fulfilled');
      const what = res.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ran')).join(' | ');
      assert.equal(refused.length, 1, `round ${round}: one refused (${what})`);
      assert.equal(ran.length, 1, `round ${round}: the other ran (${what})`);
      assert.deepEqual(await targetEnds(target), [PER, PER], `round ${round}: every record exactly once`);
    }
  });
});
