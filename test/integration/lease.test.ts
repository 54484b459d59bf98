/**
 * The backup lease ({backup_id}/lease.json) against the real broker, the filesystem and MinIO:
 * a second writer is refused, a stale lease is taken over, racing takers produce exactly one
 * winner, and a backup whose lease was replaced stops writing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import { BackupLease, LeaseHeldError, LeaseLostError, leaseKey, takeoverKey, type LeaseRecord } from '../../src/backup/lease.js';
import type { BackupProgress } from '../../src/backup/options.js';
import { validateBackup } from '../../src/backup/validate.js';
import { readJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { manifestSchema } from '../../src/format/manifest.js';
import { FsStore } from '../../src/storage/fs.js';
import { openStore } from '../../src/storage/index.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { getTestS3, s3Spec } from '../helpers/minio.js';
import { awkwardRecords, produce } from '../helpers/records.js';
import { testBackupOptions } from '../helpers/options.js';
import type { BackupChildConfig } from '../helpers/backup-child.js';

const ROOT = join(import.meta.dirname, '..', '..');

function staleLease(backupId: string, owner: string, expiresAgoMs: number, host = 'some-dead-host'): LeaseRecord {
  const now = Date.now();
  return {
    format_version: 1,
    backup_id: backupId,
    owner_id: owner,
    host,
    pid: 4242,
    acquired_at: now - 3_600_000,
    renewed_at: now - 120_000,
    expires_at: now - expiresAgoMs,
    ttl_ms: 60_000,
  };
}

async function putJson(store: ObjectStore, key: string, v: unknown): Promise<void> {
  await store.put(key, Buffer.from(JSON.stringify(v)));
}

async function readLease(store: ObjectStore, backupId: string): Promise<LeaseRecord | undefined> {
  try {
    return JSON.parse((await store.get(leaseKey(backupId))).toString()) as LeaseRecord;
  } catch {
    return undefined;
  }
}

async function leaseObjects(store: ObjectStore, backupId: string): Promise<string[]> {
  const out: string[] = [];
  for await (const m of store.list(`${backupId}/lease`)) out.push(m.key);
  return out;
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('backup lease', () => {
  let bootstrap: string;
  let dir: string;
  const topic = uniqueTopic('lease');

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-lease-'));
    await createTopic(bootstrap, topic, 2);
    for (let p = 0; p < 2; p++) await produce(bootstrap, topic, p, awkwardRecords(400, Date.UTC(2024, 10, 1), p + 1), 'none', 20);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('a second backup on the same id is refused while the first runs (same process), naming the holder', async () => {
    const store = new FsStore(join(dir, 'same-proc'));
    const ac = new AbortController();
    const first = runBackup(testBackupOptions(bootstrap, store, 'bk', [topic], { continuous: true, signal: ac.signal }));
    first.catch(() => {});
    await waitFor('the first backup holds the lease', async () => (await readLease(store, 'bk')) !== undefined);
    await assert.rejects(runBackup(testBackupOptions(bootstrap, store, 'bk', [topic])), (e: unknown) => {
      assert.ok(e instanceof LeaseHeldError, String(e));
      const m = (e as Error).message;
      assert.match(m, /backup "bk" is being written by another process/);
      assert.ok(m.includes(`host ${hostname()}`) && m.includes(`pid ${process.pid}`), m);
      assert.match(m, /since \d{4}-\d\d-\d\dT/);
      assert.match(m, /delete bk\/lease\.json/);
      return true;
    });
    ac.abort();
    const sum = await first;
    assert.equal(sum.status, 'stopped');
    assert.deepEqual(await leaseObjects(store, 'bk'), [], 'released at the end');
    // And now a new run may start.
    assert.equal((await runBackup(testBackupOptions(bootstrap, store, 'bk', [topic]))).status, 'complete');
  });

  test('a second backup process is refused while another process holds the lease; after that process is killed, the lease is taken over', async () => {
    const d = join(dir, 'two-procs');
    const cfg: BackupChildConfig = { bootstrap, dir: d, backupId: 'bk2', topics: [topic] };
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/backup-child.ts'), JSON.stringify(cfg)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = once(child, 'exit');
    const store = new FsStore(d);
    try {
      await waitFor('the child holds the lease', async () => (await readLease(store, 'bk2'))?.pid === child.pid);
      await assert.rejects(
        runBackup(testBackupOptions(bootstrap, store, 'bk2', [topic])),
        (e: unknown) => e instanceof LeaseHeldError && (e as Error).message.includes(`pid ${child.pid}`),
      );
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    // Its lease is still there (not expired), but its process is gone on this host: taken over at once.
    assert.equal((await readLease(store, 'bk2'))?.pid, child.pid);
    const sum = await runBackup(testBackupOptions(bootstrap, store, 'bk2', [topic]));
    assert.equal(sum.status, 'complete');
    assert.deepEqual(await leaseObjects(store, 'bk2'), []);
    assert.deepEqual((await validateBackup(store, 'bk2', true)).problems, []);
  });

  test('a lease whose expires_at has passed (left by a crash elsewhere) is taken over; a live one is not', async () => {
    const store = new FsStore(join(dir, 'stale'));
    await putJson(store, leaseKey('bk3'), staleLease('bk3', 'dead-owner', 5_000));
    const sum = await runBackup(testBackupOptions(bootstrap, store, 'bk3', [topic]));
    assert.equal(sum.status, 'complete');
    assert.deepEqual(await leaseObjects(store, 'bk3'), [], 'new lease released, takeover marker cleaned up');

    await putJson(store, leaseKey('bk3'), staleLease('bk3', 'live-owner', -30_000, 'other-host'));
    await assert.rejects(
      runBackup(testBackupOptions(bootstrap, store, 'bk3', [topic])),
      (e: unknown) => e instanceof LeaseHeldError && /host other-host, pid 4242/.test((e as Error).message),
    );
    assert.equal((await readLease(store, 'bk3'))?.owner_id, 'live-owner', 'a live lease is left alone');
  });

  test('a backup that finds its lease replaced stops and writes nothing more', async () => {
    const store = new FsStore(join(dir, 'lost'));
    let last: BackupProgress | undefined;
    const ac = new AbortController();
    const run = runBackup({
      ...testBackupOptions(bootstrap, store, 'bk4', [topic], {
        continuous: true,
        signal: ac.signal,
        segmentMaxIntervalMs: 200,
        syncIntervalSecs: 1,
        onProgress: (p) => (last = p),
      }),
      lease: { ttlMs: 1500 },
    });
    run.catch(() => {});
    await waitFor('some records backed up', () => (last?.partitions.reduce((n, p) => n + p.records, 0) ?? 0) >= 800);
    const mine = await readLease(store, 'bk4');
    assert.ok(mine);
    // Another process takes over (as if this one had been paused past its expiry).
    await store.put(leaseKey('bk4'), Buffer.from(JSON.stringify({ ...mine, owner_id: 'usurper', host: 'other-host', pid: 7, acquired_at: Date.now() })));
    const t0 = Date.now();
    const err = await run.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    assert.ok(err instanceof LeaseLostError, `fails with LeaseLostError: ${String(err)}`);
    assert.match(err.message, /lost its lease bk4\/lease\.json \((it was replaced while renewing; )?it is now held by host other-host, pid 7/);
    assert.ok(Date.now() - t0 < 5_000, 'stopped within about one renewal interval');
    assert.equal((await readLease(store, 'bk4'))?.owner_id, 'usurper', 'the new holder’s lease is left alone');
    const manifest = await readJsonObject(store, keys.manifest('bk4'), manifestSchema);
    assert.equal(manifest?.status, 'running', 'the loser did not mark the backup stopped');
    // What it had indexed is complete and valid.
    assert.deepEqual((await validateBackup(store, 'bk4', true)).problems, []);
    ac.abort();
  });

  for (const backend of ['filesystem', 's3'] as const) {
    test(`${backend}: racing takeovers of one stale lease: exactly one wins, every time`, async () => {
      let store: ObjectStore;
      if (backend === 's3') {
        const s3 = await getTestS3();
        const bucket = await s3.freshBucket('kb-lease');
        store = await openStore(s3Spec(s3, bucket, 'p'));
      } else store = new FsStore(join(dir, 'race'));
      try {
        for (let round = 0; round < 5; round++) {
          const id = `race${round}`;
          await putJson(store, leaseKey(id), staleLease(id, `dead-${round}`, 1_000));
          const res = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => BackupLease.acquire(store, id, { host: `taker-${i}`, pid: 1000 + i })));
          const won = res.filter((r): r is PromiseFulfilledResult<BackupLease> => r.status === 'fulfilled');
          assert.equal(
            won.length,
            1,
            `round ${round}: ${res.map((r) => (r.status === 'fulfilled' ? 'won' : String((r.reason as Error).message).slice(0, 80))).join(' | ')}`,
          );
          for (const r of res) if (r.status === 'rejected') assert.ok(r.reason instanceof LeaseHeldError, String(r.reason));
          const holder = await readLease(store, id);
          assert.equal(holder?.owner_id, won[0]!.value.ownerId, 'lease.json is the winner’s');
          await won[0]!.value.release();
          assert.deepEqual(await leaseObjects(store, id), [], 'no lease or marker left');
        }
      } finally {
        await store.close();
      }
    });
  }

  test('a takeover abandoned half-way (marker left, its taker gone) is continued by the next taker, racing safely', async () => {
    const store = new FsStore(join(dir, 'abandoned'));
    const id = 'abd';
    await putJson(store, leaseKey(id), staleLease(id, 'dead-holder', 120_000));
    // A taker created its marker two minutes ago and died.
    await putJson(store, takeoverKey(id, 'dead-holder'), {
      format_version: 1,
      owner_id: 'dead-taker',
      host: 'gone',
      pid: 1,
      created_at: Date.now() - 120_000,
      takes_over: 'dead-holder',
    });
    const res = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => BackupLease.acquire(store, id, { host: `t${i}` })));
    assert.equal(res.filter((r) => r.status === 'fulfilled').length, 1);
    const winner = res.find((r): r is PromiseFulfilledResult<BackupLease> => r.status === 'fulfilled')!.value;
    assert.deepEqual(await leaseObjects(store, id), [leaseKey(id)], 'both markers cleaned up');
    await winner.release();
    // A fresh marker (a taker at work right now) makes others wait.
    await putJson(store, leaseKey(id), staleLease(id, 'dead-holder-2', 1_000));
    await putJson(store, takeoverKey(id, 'dead-holder-2'), {
      format_version: 1,
      owner_id: 'busy-taker',
      host: 'busy-host',
      pid: 9,
      created_at: Date.now(),
      takes_over: 'dead-holder-2',
    });
    await assert.rejects(
      BackupLease.acquire(store, id),
      (e: unknown) => e instanceof LeaseHeldError && /being taken over by another process: host busy-host, pid 9/.test((e as Error).message),
    );
  });

  test('renewal keeps the lease alive past its ttl; release deletes it', async () => {
    const store = new FsStore(join(dir, 'renew'));
    const lease = await BackupLease.acquire(store, 'rn', { ttlMs: 600 });
    lease.start();
    const first = (await readLease(store, 'rn'))!.expires_at;
    await new Promise((r) => setTimeout(r, 1500));
    const now = (await readLease(store, 'rn'))!;
    assert.ok(now.expires_at > first + 600, 'renewed');
    assert.equal(now.acquired_at, (await readLease(store, 'rn'))!.acquired_at);
    assert.equal(lease.lost, false);
    await assert.rejects(BackupLease.acquire(store, 'rn', { host: 'elsewhere' }), LeaseHeldError);
    await lease.release();
    assert.deepEqual(await leaseObjects(store, 'rn'), []);
  });
});
