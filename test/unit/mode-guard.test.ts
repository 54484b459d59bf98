/**
 * The exclusion of single-process runs and distributed workers, on the memory store: which worker
 * reports count as running, the lease seen from a worker, and a restore state's creator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackupLease } from '../../src/backup/lease.js';
import { announceWorker, liveUntil, liveWorkers, refuseIfWorkersLive } from '../../src/backup/workers/mode-guard.js';
import { readWorkerStatuses, workerStatusKey, type WorkerStatus } from '../../src/backup/workers/status.js';
import { keys } from '../../src/format/layout.js';
import type { RestoreState } from '../../src/format/restore-state.js';
import { createSingleProcessState, refuseSingleProcessState, refuseWorkersState, startedByWorkers } from '../../src/restore/workers/mode-guard.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { writeJsonObject } from '../../src/format/json-object.js';
import { KafkaBackupError } from '../../src/util/errors.js';

const report = (over: Partial<WorkerStatus>): WorkerStatus => ({
  member_id: 'm',
  group_id: 'g',
  group_generation: 1,
  host: 'h',
  pid: 1,
  started_at: 0,
  updated_at: 0,
  records_per_second: 0,
  partitions: [],
  ...over,
});

const conflict = (err: unknown): boolean => err instanceof KafkaBackupError && err.code === 'MODE_CONFLICT';

test('a worker report is live until its live_until (2 sync intervals + the session timeout); older reports 2 min', async () => {
  assert.equal(liveUntil(1_000, 5_000, 30_000), 41_000);
  const store = new MemoryStore();
  const now = 1_000_000;
  await writeJsonObject(store, workerStatusKey('b', 'fresh'), report({ pid: 1, updated_at: now - 1, live_until: now + 10 }));
  await writeJsonObject(store, workerStatusKey('b', 'expired'), report({ pid: 2, updated_at: now - 50, live_until: now - 1 }));
  await writeJsonObject(store, workerStatusKey('b', 'legacy'), report({ pid: 3, updated_at: now - 60_000 }));
  await writeJsonObject(store, workerStatusKey('b', 'legacy-old'), report({ pid: 4, updated_at: now - 121_000 }));
  assert.deepEqual((await liveWorkers(store, 'b', now)).map((w) => w.pid).sort(), [1, 3]);
});

test('a single-process run is refused with the live workers named, on one line', async () => {
  const store = new MemoryStore();
  await refuseIfWorkersLive(store, 'b'); // none: passes
  await writeJsonObject(
    store,
    workerStatusKey('b', 'w'),
    report({ host: 'box', pid: 42, group_id: 'grp', updated_at: Date.now(), live_until: Date.now() + 60_000 }),
  );
  await assert.rejects(refuseIfWorkersLive(store, 'b'), (err: unknown) => {
    assert.ok(conflict(err));
    assert.match((err as Error).message, /1 distributed worker\(s\) of backup\.workers group "grp": host box pid 42/);
    assert.doesNotMatch((err as Error).message, /\n/);
    return true;
  });
});

test('a worker announced while the lease is held is refused and its report deleted; without a lease it stays', async () => {
  const store = new MemoryStore();
  const key = workerStatusKey('b', 'me');
  const lease = await BackupLease.acquire(store, 'b');
  await assert.rejects(announceWorker(store, 'b', key, report({})), (err: unknown) => {
    assert.ok(conflict(err));
    assert.match((err as Error).message, new RegExp(`single-process backup: host \\S+, pid ${process.pid}`));
    return true;
  });
  assert.deepEqual(await readWorkerStatuses(store, 'b'), []);
  await lease.release();
  await announceWorker(store, 'b', key, report({}));
  assert.equal((await readWorkerStatuses(store, 'b')).length, 1);
});

const state = (over: Partial<RestoreState>): RestoreState => ({
  format_version: 1,
  restore_id: 'r',
  backup_id: 'b',
  started_at: 1,
  updated_at: 2,
  completed_at: null,
  partitions: {},
  ...over,
});

test('a restore state is the workers’ when it carries the marker or per-partition states exist', async () => {
  const store = new MemoryStore();
  assert.equal(await startedByWorkers(store, 'b', 'r', state({})), false);
  assert.equal(await startedByWorkers(store, 'b', 'r', state({ workers: { group_id: 'g' } })), true);
  await store.put(keys.restorePartitionState('b', 'r', 't', 0), Buffer.from('{}'));
  assert.equal(await startedByWorkers(store, 'b', 'r', state({})), true);
});

test('each mode refuses the other’s unfinished restore state; a finished distributed one may be run by one process', async () => {
  const store = new MemoryStore();
  await assert.rejects(refuseWorkersState(store, 'b', 'r', state({ workers: { group_id: 'g' } })), (err: unknown) => {
    assert.ok(conflict(err));
    assert.match((err as Error).message, /distributed restore \(restore\.workers group "g"/);
    return true;
  });
  await refuseWorkersState(store, 'b', 'r', state({ workers: { group_id: 'g' }, completed_at: 5 }));
  await refuseWorkersState(store, 'b', 'r', state({}));
  await refuseWorkersState(store, 'b', 'r', undefined);
  await assert.rejects(refuseSingleProcessState(store, 'b', 'r', state({})), (err: unknown) => {
    assert.ok(conflict(err));
    assert.match((err as Error).message, /started by a single process \(no restore\.workers\) and is not finished/);
    return true;
  });
  await refuseSingleProcessState(store, 'b', 'r', state({ workers: { group_id: 'g' } }));
});

test('a single process creates a new restore state once: losing the create to workers refuses it', async () => {
  const store = new MemoryStore();
  await createSingleProcessState(store, 'b', 'r1', state({ restore_id: 'r1' }));
  assert.ok(await store.exists(keys.restoreState('b', 'r1')));
  await store.putIfMatch(keys.restoreState('b', 'r2'), Buffer.from(JSON.stringify(state({ restore_id: 'r2', workers: { group_id: 'g' } }))), null);
  await assert.rejects(createSingleProcessState(store, 'b', 'r2', state({ restore_id: 'r2' })), (err: unknown) => {
    assert.ok(conflict(err));
    assert.match((err as Error).message, /distributed restore/);
    return true;
  });
  await assert.rejects(createSingleProcessState(store, 'b', 'r1', state({ restore_id: 'r1' })), (err: unknown) => {
    assert.ok(conflict(err));
    assert.match((err as Error).message, /another process created its state/);
    return true;
  });
});
