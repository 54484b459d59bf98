import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { restoreOptions } from '../../src/cli/config-mapping.js';
import { parseConfigText } from '../../src/config/load.js';
import { claimFinish } from '../../src/restore/workers/distributed.js';
import { OwnedRestorePartition, RestorePartitionLostError, readPartitionStates } from '../../src/restore/workers/ownership.js';
import { FsStore } from '../../src/storage/fs.js';
import { MemoryStore } from '../../src/storage/memory.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { ConfigError } from '../../src/util/errors.js';

const base = 'mode: restore\nbackup_id: b\ntarget: { bootstrap_servers: ["k:9092"] }\nstorage: { backend: memory }\n';
const initial = { initial_end_offset: 10, produced: 0, runs: [] };
const A = { memberId: 'a', groupGeneration: 1 };
const B = { memberId: 'b', groupGeneration: 2 };

async function fenceCase(store: ObjectStore): Promise<void> {
  const a = (await OwnedRestorePartition.takeOver(store, 'b', 'r', 't', 0, initial, A, 0))!;
  assert.equal(a.doc.epoch, 1);
  await a.save({ initial_end_offset: 10, produced: 5, runs: [{ source_topic: 's', source_partition: 0, source: 0, target: 10, count: 5 }] });
  // B takes over without A releasing (A is paused: a zombie); waitMs 0 stands for the session timeout having passed.
  const b = (await OwnedRestorePartition.takeOver(store, 'b', 'r', 't', 0, initial, B, 0))!;
  assert.equal(b.doc.epoch, 2);
  assert.equal(b.doc.state.produced, 5, 'the new owner resumes from the stored progress');
  // The zombie wakes: its next fenced write (made before each produce) is refused by the store.
  await assert.rejects(a.save({ initial_end_offset: 10, produced: 9, runs: [] }), RestorePartitionLostError);
  await assert.rejects(a.save({ initial_end_offset: 10, produced: 9, runs: [] }), RestorePartitionLostError, 'refused for good');
  await a.release({ initial_end_offset: 10, produced: 9, runs: [] });
  const stored = (await readPartitionStates(store, 'b', 'r', [{ topic: 't', partition: 0 }])).get('t/0')!;
  assert.equal(stored.owner?.member_id, 'b');
  assert.equal(stored.state.produced, 5, "the zombie's writes changed nothing");
  await b.save(b.doc.state, true);
  assert.equal(await OwnedRestorePartition.takeOver(store, 'b', 'r', 't', 0, initial, A, 0), undefined, 'a done partition is not taken again');
}

describe('distributed restore: fenced partition ownership', () => {
  it("a zombie's writes after a takeover are refused by the store (memory)", () => fenceCase(new MemoryStore()));
  it("a zombie's writes after a takeover are refused by the store (filesystem)", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kb-rw-'));
    try {
      await fenceCase(new FsStore(dir));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a takeover waits for a live owner to release the partition, and no longer', async () => {
    const store = new MemoryStore();
    const a = (await OwnedRestorePartition.takeOver(store, 'b', 'r', 't', 1, initial, A, 0))!;
    const started = Date.now();
    const taking = OwnedRestorePartition.takeOver(store, 'b', 'r', 't', 1, initial, B, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    await a.release({ initial_end_offset: 10, produced: 3, runs: [] });
    const b = (await taking)!;
    assert.ok(Date.now() - started < 5_000, 'taken as soon as released');
    assert.equal(b.doc.state.produced, 3);
    assert.equal(b.doc.epoch, 2);
  });
});

describe('restore.workers config', () => {
  it('maps like backup.workers; timeouts without group_id are refused, naming the key', () => {
    const o = restoreOptions(parseConfigText(base + 'restore: { workers: { group_id: g, session_timeout_ms: 20000 } }\n', 'f.yaml'), new MemoryStore());
    assert.deepEqual(o.workers, { groupId: 'g', sessionTimeoutMs: 20_000, heartbeatIntervalMs: 2_000, rebalanceTimeoutMs: 60_000 });
    assert.equal(restoreOptions(parseConfigText(base, 'f.yaml'), new MemoryStore()).workers, undefined);
    assert.throws(
      () => restoreOptions(parseConfigText(base + 'restore: { workers: { session_timeout_ms: 20000 } }\n', 'f.yaml'), new MemoryStore()),
      (e: unknown) => e instanceof ConfigError && /restore\.workers\.session_timeout_ms is set but restore\.workers\.group_id is not/.test(e.message),
    );
    assert.throws(() => parseConfigText(base + 'restore: { workers: { group_id: g, session_timeout_ms: 100 } }\n', 'f.yaml'), /session_timeout_ms/);
  });
});

describe('distributed restore: the finish runs once', () => {
  it('one claim wins; a stale claim of a restore that never completed is taken over; a completed restore is not finished again', async () => {
    const store = new MemoryStore();
    const t0 = 1_000_000;
    assert.equal(await claimFinish(store, 'b', 'r', 12_000, t0), true, 'the first claim wins');
    assert.equal(await claimFinish(store, 'b', 'r', 12_000, t0 + 500), false, 'a fresh claim stands');
    assert.equal(await claimFinish(store, 'b', 'r', 12_000, t0 + 13_000), true, 'the claimer died before completing: taken over');
    await store.put(
      'b/restores/r/state.json',
      Buffer.from(JSON.stringify({ format_version: 1, restore_id: 'r', backup_id: 'b', started_at: 1, updated_at: 2, completed_at: 3, partitions: {} })),
    );
    assert.equal(await claimFinish(store, 'b', 'r', 12_000, t0 + 60_000), false, 'completed: never finished twice');
  });
});
