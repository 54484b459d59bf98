/**
 * Broker faults during backup and restore, against a dedicated broker started by this file:
 * the broker restarted (same ports, same data), the connection cut and restored, and a broker
 * that stops answering. The tool talks to the broker through a TCP fault proxy of our own
 * (test/helpers/tcp-proxy.ts): the broker's EXTERNAL listener advertises the proxy's address,
 * so every connection the tool opens (bootstrap and leaders) goes through the proxy. The test's
 * own producer and checks use the broker's PLAINTEXT listener directly.
 *
 * After each fault: the backup resumes (in the same run, or when run again) or the restore
 * finishes, validate --deep passes, and a record-for-record comparison with the source shows
 * nothing lost and nothing duplicated.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import type { BackupOptions, BackupProgress, BackupSummary } from '../../src/backup/options.js';
import { validateBackup } from '../../src/backup/validate.js';
import { LATEST, KafkaAdmin } from '../../src/kafka/admin.js';
import { runRestore, type RestoreResult } from '../../src/restore/engine.js';
import type { RestoreOptions } from '../../src/restore/options.js';
import { FsStore } from '../../src/storage/fs.js';
import type { ObjectStore, PutOptions } from '../../src/storage/store.js';
import { kafkaInstalled, startKafka, type RunningKafka } from '../../scripts/kafka.js';
import { ROOT } from '../../scripts/proc.js';
import { createTopic, uniqueTopic } from '../helpers/kafka.js';
import { freePort, sleep } from '../helpers/ports.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { assertBackupExact } from '../helpers/backup-read.js';

/** Client timeouts the tool runs with in this file (the defaults are 10 s connect, 60 s request). */
const REQUEST_TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 2000;

let kafka: RunningKafka;
let proxy: TcpProxy;
let direct: string;
let dir: string;

/** A store whose writes take `delayMs` each, so a backup runs long enough to be hit mid-way. */
function slowStore(inner: ObjectStore, delayMs: number): ObjectStore {
  return {
    url: inner.url,
    put: async (k: string, d: Uint8Array, o?: PutOptions) => {
      await sleep(delayMs);
      return inner.put(k, d, o);
    },
    putStream: async (k: string, b: AsyncIterable<Uint8Array>, o?: PutOptions) => {
      await sleep(delayMs);
      return inner.putStream(k, b, o);
    },
    get: (k, r) => inner.get(k, r),
    getStream: (k, r) => inner.getStream(k, r),
    head: (k) => inner.head(k),
    exists: (k) => inner.exists(k),
    getVersioned: (k) => inner.getVersioned(k),
    putIfMatch: async (k, d, e) => {
      await sleep(delayMs);
      return inner.putIfMatch(k, d, e);
    },
    list: (p) => inner.list(p),
    delete: (k) => inner.delete(k),
    close: () => inner.close(),
  };
}

function viaProxy(): BackupOptions['source'] {
  return { bootstrapServers: [proxy.address], requestTimeoutMs: REQUEST_TIMEOUT_MS, connectTimeoutMs: CONNECT_TIMEOUT_MS };
}

function backupOptions(store: ObjectStore, backupId: string, topics: string[], extra: Partial<BackupOptions> = {}): BackupOptions {
  return testBackupOptions(direct, store, backupId, topics, {
    source: viaProxy(),
    segmentMaxBytes: 8 * 1024,
    fetchMaxBytes: 8 * 1024,
    maxConcurrentPartitions: 4,
    syncIntervalSecs: 1,
    ...extra,
  });
}

function restoreOptions(store: ObjectStore, backupId: string, extra: Partial<RestoreOptions> = {}): RestoreOptions {
  return testRestoreOptions(direct, store, backupId, { target: viaProxy(), produceBatchSize: 50, ...extra });
}

/** The target holds each source record exactly once, in source order, per partition. */
async function assertRestoreExact(source: string, target: string, partitions: number, res: RestoreResult): Promise<void> {
  let total = 0;
  for (let p = 0; p < partitions; p++) {
    const src = await consumeAll(direct, source, p);
    const got = await consumeAll(direct, target, p);
    assert.equal(got.length, src.length, `${target}/${p}: ${got.length} records restored, ${src.length} in the source`);
    assert.deepEqual(
      got.map((r) => recordKey(r)),
      src.map((r) => recordKey(r)),
      `${target}/${p}: nothing lost, nothing duplicated`,
    );
    total += src.length;
  }
  assert.equal(res.restored, total);
}

async function endOffsets(topic: string, partitions: number): Promise<number[]> {
  const admin = new KafkaAdmin({ bootstrapServers: [direct] });
  try {
    const m = await admin.listOffsets(topic, [...Array(partitions).keys()], LATEST);
    return [...Array(partitions).keys()].map((p) => Number(m.get(p) ?? 0n));
  } finally {
    await admin.close();
  }
}

/** A continuous backup in this process, stopped with `stop()` once it has caught up. */
function continuousBackup(opts: BackupOptions): {
  progress: () => BackupProgress | undefined;
  stop: () => Promise<BackupSummary>;
  done: Promise<BackupSummary>;
} {
  const ac = new AbortController();
  let last: BackupProgress | undefined;
  const done = runBackup({ ...opts, continuous: true, signal: ac.signal, onProgress: (p) => (last = p) });
  done.catch(() => {});
  return {
    progress: () => last,
    done,
    stop: async () => {
      ac.abort();
      return done;
    },
  };
}

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, failed?: Promise<unknown>): Promise<void> {
  let err: unknown;
  failed?.catch((e: unknown) => (err = e));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (err) throw err;
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function caughtUp(prog: BackupProgress | undefined, topic: string, ends: number[]): boolean {
  if (!prog) return false;
  return ends.every((end, p) => (prog.partitions.find((x) => x.topic === topic && x.partition === p)?.position ?? -1) >= end);
}

function backedUp(prog: BackupProgress | undefined): number {
  return prog ? prog.partitions.reduce((n, p) => n + p.records, 0) : 0;
}

before(async () => {
  if (!kafkaInstalled()) execFileSync('bash', [join(ROOT, 'scripts', 'install-kafka.sh')], { stdio: 'inherit' });
  const proxyPort = await freePort();
  proxy = await startTcpProxy({ port: proxyPort, upstream: { host: '127.0.0.1', port: 1 } });
  kafka = await startKafka({ external: { advertisedPort: proxyPort }, heap: '384m' });
  proxy.upstream = { host: '127.0.0.1', port: kafka.external!.port };
  direct = kafka.bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-faults-broker-'));
});

after(async () => {
  await proxy?.close();
  await kafka?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('broker restarted', () => {
  test('mid-backup (continuous): the backup rides through a broker restart and catches up; nothing lost or duplicated', async () => {
    const topic = uniqueTopic('restart-bk');
    await createTopic(direct, topic, 3);
    for (let p = 0; p < 3; p++) await produce(direct, topic, p, awkwardRecords(1500, Date.UTC(2024, 10, 1), 100 + p), p === 1 ? 'lz4' : 'none', 25);
    const store = slowStore(new FsStore(join(dir, 'restart-bk')), 40);
    const run = continuousBackup(backupOptions(store, 'restart-bk', [topic]));
    await waitUntil('a third of the records backed up', () => backedUp(run.progress()) >= 1500, 60_000, run.done);
    const before = backedUp(run.progress());
    assert.ok(before < 4500, `the backup was still running when the broker went down (${before} of 4500)`);
    await kafka.restart({ downMs: 3000 });
    // More records after the restart: the backup must pick up from where it was.
    for (let p = 0; p < 3; p++) await produce(direct, topic, p, awkwardRecords(500, Date.UTC(2024, 10, 2), 200 + p), 'zstd', 25);
    const ends = await endOffsets(topic, 3);
    await waitUntil('the backup to catch up after the restart', () => caughtUp(run.progress(), topic, ends), 90_000, run.done);
    const sum = await run.stop();
    assert.equal(sum.status, 'stopped');
    assert.equal(await assertBackupExact(direct, store, 'restart-bk', topic, 3), 6000);
  });

  test('mid-restore (broker killed, no controlled shutdown): the restore finishes; every record exactly once', async () => {
    const topic = uniqueTopic('restart-rs');
    await createTopic(direct, topic, 2);
    for (let p = 0; p < 2; p++) await produce(direct, topic, p, awkwardRecords(2000, Date.UTC(2024, 10, 1), 300 + p), 'none', 20);
    const store = new FsStore(join(dir, 'restart-rs'));
    await runBackup(backupOptions(store, 'restart-rs', [topic], { source: { bootstrapServers: [direct] } }));
    const target = uniqueTopic('restart-rs-dst');
    const restore = runRestore(restoreOptions(store, 'restart-rs', { topicMapping: { [topic]: target }, rateLimitRecordsPerSec: 800, produceBatchSize: 20 }));
    restore.catch(() => {});
    await waitUntil(
      'part of the restore written',
      async () => (await endOffsets(target, 2).catch(() => [0, 0])).reduce((a, b) => a + b, 0) >= 800,
      60_000,
      restore,
    );
    await kafka.restart({ graceMs: 0, downMs: 2000 });
    let res: RestoreResult;
    try {
      res = await restore;
    } catch (err) {
      // Outlasting the retries is allowed, not losing or duplicating: the same restore resumes.
      assert.match((err as Error).message, /127\.0\.0\.1:\d+/, 'the error names the broker');
      res = await runRestore(restoreOptions(store, 'restart-rs', { topicMapping: { [topic]: target }, produceBatchSize: 20 }));
      assert.equal(res.resumed, true);
    }
    assert.deepEqual((await validateBackup(store, 'restart-rs', true)).problems, []);
    await assertRestoreExact(topic, target, 2, res);
  });
});

describe('connection to the broker cut and restored (TCP proxy)', () => {
  test('mid-backup: connections reset and refused for 4 s, the backup reconnects and completes', async () => {
    const topic = uniqueTopic('cut-bk');
    await createTopic(direct, topic, 3);
    for (let p = 0; p < 3; p++) await produce(direct, topic, p, awkwardRecords(1500, Date.UTC(2024, 10, 1), 400 + p), 'snappy', 25);
    const store = slowStore(new FsStore(join(dir, 'cut-bk')), 150);
    let last: BackupProgress | undefined;
    const snapshot = runBackup({ ...backupOptions(store, 'cut-bk', [topic]), onProgress: (p) => (last = p) });
    snapshot.catch(() => {});
    await waitUntil('a third backed up', () => backedUp(last) >= 1500, 60_000, snapshot);
    assert.ok(backedUp(last) < 4000, `the backup was still running when the path was cut (${backedUp(last)} of 4500)`);
    const refusedBefore = proxy.stats.refused;
    proxy.cut();
    await sleep(4000);
    proxy.restore();
    const sum = await snapshot;
    assert.equal(sum.status, 'complete');
    assert.equal(sum.records, 4500);
    assert.ok(proxy.stats.refused > refusedBefore, 'the tool tried to reconnect while the path was cut');
    await assertBackupExact(direct, store, 'cut-bk', topic, 3);
  });

  test('mid-restore: connections reset twice, the restore finishes; every record exactly once', async () => {
    const topic = uniqueTopic('cut-rs');
    await createTopic(direct, topic, 2);
    for (let p = 0; p < 2; p++) await produce(direct, topic, p, awkwardRecords(1500, Date.UTC(2024, 10, 1), 500 + p), 'gzip', 20);
    const store = new FsStore(join(dir, 'cut-rs'));
    await runBackup(backupOptions(store, 'cut-rs', [topic], { source: { bootstrapServers: [direct] } }));
    const target = uniqueTopic('cut-rs-dst');
    const restore = runRestore(restoreOptions(store, 'cut-rs', { topicMapping: { [topic]: target }, rateLimitRecordsPerSec: 1000, produceBatchSize: 20 }));
    restore.catch(() => {});
    for (const at of [600, 1800]) {
      await waitUntil(
        `${at} records restored`,
        async () => (await endOffsets(target, 2).catch(() => [0, 0])).reduce((a, b) => a + b, 0) >= at,
        60_000,
        restore,
      );
      proxy.cut();
      await sleep(2500);
      proxy.restore();
    }
    const res = await restore;
    assert.deepEqual((await validateBackup(store, 'cut-rs', true)).problems, []);
    await assertRestoreExact(topic, target, 2, res);
  });
});

describe('broker stops answering (TCP proxy accepts, never responds)', () => {
  test('backup: fails with a clear error within a bounded time, then resumes once the broker answers again', async (t) => {
    const topic = uniqueTopic('hang-bk');
    await createTopic(direct, topic, 2);
    for (let p = 0; p < 2; p++) await produce(direct, topic, p, awkwardRecords(1500, Date.UTC(2024, 10, 1), 600 + p), 'none', 25);
    const store = slowStore(new FsStore(join(dir, 'hang-bk')), 40);
    let last: BackupProgress | undefined;
    const snapshot = runBackup({ ...backupOptions(store, 'hang-bk', [topic], { maxConcurrentPartitions: 2 }), onProgress: (p) => (last = p) });
    snapshot.catch(() => {});
    await waitUntil('part of the backup done', () => backedUp(last) >= 600, 60_000, snapshot);
    proxy.pause();
    const t0 = Date.now();
    let err: Error | undefined;
    try {
      await snapshot;
    } catch (e) {
      err = e as Error;
    }
    const took = Date.now() - t0;
    proxy.resume();
    assert.ok(err, 'the backup failed instead of hanging');
    t.diagnostic(`backup failed after ${took} ms: ${err.message}`);
    assert.match(err.message, /timed out|did not answer/i, `a clear error: ${err.message}`);
    assert.match(err.message, new RegExp(proxy.address.replace(/\./g, '\\.')), `the error names the broker: ${err.message}`);
    assert.ok(took <= FETCH_HANG_BOUND_MS, `failed after ${took} ms (bound ${FETCH_HANG_BOUND_MS} ms)`);
    // What is indexed is valid, and the re-run resumes from it.
    assert.deepEqual((await validateBackup(store, 'hang-bk', true)).problems, []);
    const sum = await runBackup(backupOptions(store, 'hang-bk', [topic]));
    assert.equal(sum.status, 'complete');
    await assertBackupExact(direct, store, 'hang-bk', topic, 2);
  });

  test('restore: fails with a clear error within a bounded time, then the re-run finishes; every record exactly once', async (t) => {
    const topic = uniqueTopic('hang-rs');
    await createTopic(direct, topic, 2);
    for (let p = 0; p < 2; p++) await produce(direct, topic, p, awkwardRecords(1500, Date.UTC(2024, 10, 1), 700 + p), 'lz4', 20);
    const store = new FsStore(join(dir, 'hang-rs'));
    await runBackup(backupOptions(store, 'hang-rs', [topic], { source: { bootstrapServers: [direct] } }));
    const target = uniqueTopic('hang-rs-dst');
    const opts = restoreOptions(store, 'hang-rs', { topicMapping: { [topic]: target }, rateLimitRecordsPerSec: 1000, produceBatchSize: 20 });
    const restore = runRestore(opts);
    restore.catch(() => {});
    await waitUntil(
      'part of the restore written',
      async () => (await endOffsets(target, 2).catch(() => [0, 0])).reduce((a, b) => a + b, 0) >= 600,
      60_000,
      restore,
    );
    proxy.pause();
    const t0 = Date.now();
    let err: Error | undefined;
    try {
      await restore;
    } catch (e) {
      err = e as Error;
    }
    const took = Date.now() - t0;
    proxy.resume();
    assert.ok(err, 'the restore failed instead of hanging');
    t.diagnostic(`restore failed after ${took} ms: ${err.message}`);
    assert.match(err.message, /timed out|did not answer/i, `a clear error: ${err.message}`);
    assert.ok(took <= PRODUCE_HANG_BOUND_MS, `failed after ${took} ms (bound ${PRODUCE_HANG_BOUND_MS} ms)`);
    const res = await runRestore(opts);
    assert.equal(res.resumed, true);
    await assertRestoreExact(topic, target, 2, res);
  });

  test('start-up against a silent broker fails within the request timeout, naming the broker', async () => {
    proxy.pause();
    try {
      const t0 = Date.now();
      await assert.rejects(runBackup(backupOptions(new FsStore(join(dir, 'hang-start')), 'hang-start', ['whatever'])), (e: Error) => {
        assert.match(e.message, /timed out|did not answer/i);
        assert.match(e.message, new RegExp(proxy.address.replace(/\./g, '\\.')));
        return true;
      });
      assert.ok(Date.now() - t0 <= 4 * REQUEST_TIMEOUT_MS + 5000, `failed after ${Date.now() - t0} ms`);
    } finally {
      proxy.resume();
    }
  });
});

/**
 * Upper bounds for a partition worker facing a silent broker (requestTimeout 2 s): the fetcher
 * makes 9 attempts, each at most one request timeout plus a metadata refresh that also times out,
 * with backoff sleeps of 0.2..5 s between them (21.2 s in all). Measured ~40 s; bound with slack.
 */
const FETCH_HANG_BOUND_MS = 9 * 3 * REQUEST_TIMEOUT_MS + 21_200 + 15_000;
/** The producer: 11 attempts (retries 10), backoff sleeps totalling 31.2 s. */
const PRODUCE_HANG_BOUND_MS = 11 * 3 * REQUEST_TIMEOUT_MS + 31_200 + 15_000;
