/**
 * Storage faults during backup and restore:
 *  - S3 (MinIO) behind an HTTP fault proxy of our own (test/helpers/http-fault-proxy.ts) that
 *    answers 503 SlowDown, 503 ServiceUnavailable or 500 InternalError for N requests or T
 *    seconds: the backup and the restore still complete; a permanent failure gives a clear error
 *    after bounded retries.
 *  - The local disk full under the filesystem backend: a real small file system mounted by the
 *    test (tmpfs, else an ext4 image on a loop device; root only, as in CI; fails when neither
 *    can be mounted, never a faked ENOSPC).
 * After each: validate --deep passes and the data matches the source record for record.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, statfsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runBackup } from '../../src/backup/engine.js';
import type { BackupOptions } from '../../src/backup/options.js';
import { validateBackup } from '../../src/backup/validate.js';
import type { RecordInput } from '../../src/kafka/protocol/record-batch.js';
import { runRestore } from '../../src/restore/engine.js';
import { openStore } from '../../src/storage/index.js';
import { FsStore } from '../../src/storage/fs.js';
import { S3_MAX_ATTEMPTS, S3_PART_SIZE, S3Store, type S3Spec } from '../../src/storage/s3.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { StorageError } from '../../src/util/errors.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { getTestS3, stopTestS3, type TestS3, s3Spec } from '../helpers/minio.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { assertBackupExact } from '../helpers/backup-read.js';
import { startHttpFaultProxy, type HttpFaultProxy } from '../helpers/http-fault-proxy.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

let bootstrap: string;
let s3: TestS3;
let proxy: HttpFaultProxy;
let dir: string;
const stores: ObjectStore[] = [];

async function s3Store(bucket: string, endpoint: string): Promise<ObjectStore> {
  const st = await openStore(s3Spec({ ...s3, endpoint }, bucket, 'faults'));
  stores.push(st);
  return st;
}

function opts(store: ObjectStore, backupId: string, topic: string, extra: Partial<BackupOptions> = {}): BackupOptions {
  return testBackupOptions(bootstrap, store, backupId, [topic], { segmentMaxBytes: 8 * 1024, fetchMaxBytes: 16 * 1024, maxConcurrentPartitions: 3, ...extra });
}

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  s3 = await getTestS3();
  proxy = await startHttpFaultProxy({ upstream: s3.endpoint });
  dir = await mkdtemp(join(tmpdir(), 'kb-faults-storage-'));
});

after(async () => {
  for (const st of stores) await st.close().catch(() => {});
  await proxy?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
  await stopTestS3();
});

describe('S3 answering 500/503 and throttling (HTTP fault proxy in front of MinIO)', () => {
  test('throttled (503 SlowDown) for 8 requests, then 500/503 for 2 s mid-backup: the backup completes', async (t) => {
    const topic = uniqueTopic('s3-faults');
    await createTopic(bootstrap, topic, 3);
    for (let p = 0; p < 3; p++) await produce(bootstrap, topic, p, awkwardRecords(800, Date.UTC(2024, 10, 1), 10 + p), p === 0 ? 'zstd' : 'none', 25);
    const bucket = await s3.freshBucket('kb-faults');
    const store = await s3Store(bucket, proxy.endpoint);
    proxy.failNext(8, { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' });
    let faultsArmed = false;
    const sum = await runBackup({
      ...opts(store, 's3-faults', topic),
      onProgress: (p) => {
        // Mid-backup: once a third is stored, a 2 s window of server errors on every request.
        if (!faultsArmed && p.partitions.reduce((n, x) => n + x.records, 0) >= 800) {
          faultsArmed = true;
          proxy.failFor(1000, { status: 503, code: 'ServiceUnavailable' });
          proxy.failFor(2000, { status: 500, code: 'InternalError' });
        }
      },
    });
    t.diagnostic(`proxy: ${JSON.stringify(proxy.stats)}`);
    assert.equal(sum.status, 'complete');
    assert.equal(sum.records, 2400);
    assert.ok(
      (proxy.stats.byKind['PUT 503'] ?? 0) + (proxy.stats.byKind['GET 503'] ?? 0) + (proxy.stats.byKind['HEAD 503'] ?? 0) >= 8,
      'the throttling was seen',
    );
    assert.ok(faultsArmed, 'the error window opened mid-backup');
    // Checked through the proxy (no faults now) and directly against MinIO.
    await assertBackupExact(bootstrap, store, 's3-faults', topic, 3);
    await assertBackupExact(bootstrap, await s3Store(bucket, s3.endpoint), 's3-faults', topic, 3);

    // A restore reading through the same proxy while GETs fail for a while.
    const target = uniqueTopic('s3-faults-dst');
    proxy.failNext(6, { status: 503, code: 'SlowDown', match: (r) => r.method === 'GET' });
    proxy.failFor(1500, { status: 500, code: 'InternalError', match: (r) => r.method === 'GET' });
    const res = await runRestore(testRestoreOptions(bootstrap, store, 's3-faults', { topicMapping: { [topic]: target }, produceBatchSize: 100 }));
    proxy.clear();
    assert.equal(res.restored, 2400);
    for (let p = 0; p < 3; p++) {
      const src = await consumeAll(bootstrap, topic, p);
      const got = await consumeAll(bootstrap, target, p);
      assert.deepEqual(
        got.map((r) => recordKey(r)),
        src.map((r) => recordKey(r)),
        `${target}/${p}: nothing lost, nothing duplicated`,
      );
    }
  });

  test('a permanent 500 fails the backup with a clear error after bounded retries; it resumes once S3 recovers', async (t) => {
    const topic = uniqueTopic('s3-down');
    await createTopic(bootstrap, topic, 1);
    await produce(bootstrap, topic, 0, awkwardRecords(600, Date.UTC(2024, 10, 1), 20), 'none', 25);
    const bucket = await s3.freshBucket('kb-down');
    const store = await s3Store(bucket, proxy.endpoint);
    // Let the manifest and the first segments through, then fail every PUT.
    let n = 0;
    proxy.failAlways({
      status: 500,
      code: 'InternalError',
      message: 'We encountered an internal error. Please try again.',
      match: (r) => r.method === 'PUT' && ++n > 6,
    });
    const before = proxy.stats.faulted;
    const t0 = Date.now();
    let err: Error | undefined;
    try {
      await runBackup(opts(store, 's3-down', topic, { maxConcurrentPartitions: 1 }));
    } catch (e) {
      err = e as Error;
    }
    const took = Date.now() - t0;
    const faulted = proxy.stats.faulted - before;
    proxy.clear();
    assert.ok(err, 'the backup failed');
    t.diagnostic(`failed after ${took} ms and ${faulted} failed requests: ${err.message}`);
    assert.ok(err instanceof StorageError, `a storage error: ${err.constructor.name}`);
    assert.match(
      err.message,
      /s3 \w+ s3:\/\/kb-down[^ ]*\/faults\/s3-down\/\S+ failed: InternalError \(HTTP 500\)/,
      'names the operation, object and HTTP status',
    );
    // Bounded: one operation's attempts (the SDK's standard retry), and a few seconds.
    assert.ok(faulted >= S3_MAX_ATTEMPTS && faulted <= 3 * S3_MAX_ATTEMPTS, `${faulted} failed requests before giving up (max attempts ${S3_MAX_ATTEMPTS})`);
    assert.ok(took < 90_000, `gave up after ${took} ms`);
    // What is indexed is valid; the re-run resumes and completes.
    const failed = await validateBackup(store, 's3-down', true);
    assert.deepEqual(failed.problems, []);
    assert.match(
      failed.incomplete.map((x) => x.problem).join('\n'),
      /reaches offset \d+ of the snapshot's end offset 600/,
      'validate says the failed snapshot is incomplete',
    );
    const sum = await runBackup(opts(store, 's3-down', topic));
    assert.equal(sum.status, 'complete');
    await assertBackupExact(bootstrap, store, 's3-down', topic, 1);
  });

  test('a request S3 never answers is timed out and retried: the writes complete instead of hanging, every byte in place', {
    timeout: 120_000,
  }, async () => {
    const bucket = await s3.freshBucket('kb-hang');
    // A 1 s socket timeout (the default is 120 s): a silent socket fails the request, which the SDK retries.
    const store = new S3Store(s3Spec({ ...s3, endpoint: proxy.endpoint }, bucket) as S3Spec, { socketTimeoutMs: 1_000 });
    stores.push(store);
    try {
      proxy.hangNext(2, ({ method }) => method === 'PUT');
      const small = randomBytes(1024);
      await store.put('small', small);
      // A multipart body (3 parts): a hung part holds a process-wide send slot until it times out.
      const big = randomBytes(3 * S3_PART_SIZE - 1000);
      proxy.hangNext(1, ({ method, url }) => method === 'PUT' && url.includes('partNumber='));
      await store.putStream('big', Readable.from([big.subarray(0, S3_PART_SIZE + 7), big.subarray(S3_PART_SIZE + 7)]));
      assert.equal(proxy.hung, 3, 'the proxy left three requests unanswered');
      const direct = await openStore(s3Spec(s3, bucket));
      stores.push(direct);
      assert.deepEqual(await direct.get('small'), small);
      assert.deepEqual(await direct.get('big'), big);
    } finally {
      proxy.clear();
    }
  });
});

/** Incompressible records, so a few MB of backup fill a small disk. */
function bulkyRecords(n: number, seed: number): RecordInput[] {
  return Array.from({ length: n }, (_, i) => ({
    key: Buffer.from(`k-${seed}-${i}`),
    value: randomBytes(1024),
    headers: [{ key: 'i', value: Buffer.from(String(i)) }],
    timestamp: BigInt(Date.UTC(2024, 10, 1) + i),
  }));
}

/** A real, small file system mounted for the disk-full test. */
interface SmallDisk {
  kind: 'tmpfs' | 'ext4 image';
  path: string;
  /** Leave only `bytes` free: a ballast file takes the rest. */
  fill(bytes: number): Promise<void>;
  /** Space returns: the ballast goes. */
  free(): Promise<void>;
  unmount(): void;
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function reason(e: unknown): string {
  const err = e as Error & { stderr?: Buffer };
  return (err.stderr?.toString().trim() || err.message).split('\n')[0] ?? String(e);
}

/**
 * Mounts a 16 MiB file system at `path`: tmpfs, else an ext4 image on a loop device (made with
 * mkfs.ext4; KB_TEST_SMALL_DISK=ext4 forces it). Needs root (CI runs as root). When neither can be
 * made the test fails, naming why: a stand-in store that fakes ENOSPC would prove nothing about
 * how the file system backend meets a full disk.
 */
function mountSmallDisk(path: string, image: string): SmallDisk {
  const failures: string[] = [];
  let kind: SmallDisk['kind'] | undefined;
  if (process.env.KB_TEST_SMALL_DISK !== 'ext4') {
    try {
      run('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', path]);
      kind = 'tmpfs';
    } catch (e) {
      failures.push(`tmpfs: ${reason(e)}`);
    }
  }
  if (!kind) {
    try {
      run('truncate', ['-s', '16m', image]);
      run('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
      run('mount', ['-o', 'loop', image, path]);
      kind = 'ext4 image';
    } catch (e) {
      failures.push(`ext4 image on a loop device: ${reason(e)}`);
    }
  }
  if (!kind) {
    throw new Error(`the disk-full test needs a real small file system and none could be mounted at ${path} (run as root, as CI does): ${failures.join('; ')}`);
  }
  const ballast = join(path, 'ballast');
  return {
    kind,
    path,
    fill: async (bytes) => {
      const st = statfsSync(path);
      const size = st.bavail * st.bsize - bytes;
      assert.ok(size > 0, `the ${kind} has ${st.bavail * st.bsize} bytes free, fewer than ${bytes}`);
      await writeFile(ballast, Buffer.alloc(size));
      const left = statfsSync(path).bavail * statfsSync(path).bsize;
      assert.ok(left <= bytes + 64 * 1024, `${left} bytes left free on the ${kind}`);
    },
    free: () => rm(ballast, { force: true }),
    unmount: () => {
      execFileSync('umount', ['-l', path]);
      if (kind === 'ext4 image') rmSync(image, { force: true });
    },
  };
}

describe('local disk full (filesystem backend)', () => {
  test('the backup fails with ENOSPC naming the path, stays valid and resumable, and completes once space returns', async (t) => {
    const topic = uniqueTopic('disk-full');
    await createTopic(bootstrap, topic, 2);
    for (let p = 0; p < 2; p++) await produce(bootstrap, topic, p, bulkyRecords(1500, p), 'none', 20);
    const mnt = join(dir, 'small-disk');
    await mkdir(mnt, { recursive: true });
    const disk = mountSmallDisk(mnt, join(dir, 'small-disk.img'));
    try {
      await disk.fill(1024 * 1024);
      t.diagnostic(`the disk: ${disk.kind}, 1 MiB left free`);
      const store = new FsStore(join(mnt, 'backups'));
      let err: Error | undefined;
      try {
        await runBackup(
          testBackupOptions(bootstrap, store, 'disk-full', [topic], {
            compression: 'none',
            segmentMaxBytes: 64 * 1024,
            fetchMaxBytes: 64 * 1024,
            maxConcurrentPartitions: 2,
          }),
        );
      } catch (e) {
        err = e as Error;
      }
      assert.ok(err, 'the backup failed on the full disk');
      t.diagnostic(err.message);
      assert.match(err.message, /ENOSPC/, 'says the disk is full');
      assert.ok(err.message.includes(join(mnt, 'backups')), 'names the path');
      assert.match(err.message, /disk-full\/topics\/|disk-full\//, 'names the object');
      // What is indexed is complete and valid; validate says the snapshot is incomplete.
      const v = await validateBackup(store, 'disk-full', true);
      assert.deepEqual(v.problems, []);
      assert.match(
        v.incomplete.map((x) => x.problem).join('\n'),
        /reaches offset \d+ of the snapshot's end offset 1500/,
        'validate says the failed snapshot is incomplete',
      );
      assert.ok(v.recordsChecked > 0 && v.recordsChecked < 3000, `part of the backup is stored (${v.recordsChecked} records)`);
      // Space returns: the resumed backup completes with no gap and no duplicate.
      await disk.free();
      const sum = await runBackup(
        testBackupOptions(bootstrap, store, 'disk-full', [topic], { compression: 'none', segmentMaxBytes: 64 * 1024, fetchMaxBytes: 64 * 1024 }),
      );
      assert.equal(sum.status, 'complete');
      assert.equal(await assertBackupExact(bootstrap, store, 'disk-full', topic, 2), 3000);
    } finally {
      disk.unmount();
    }
  });
});

describe('the connection to S3 cut at the TCP level and restored (TCP proxy in front of MinIO)', () => {
  test('3 s without a connection mid-backup and mid-restore: both complete, nothing lost or duplicated', async () => {
    const topic = uniqueTopic('s3-cut');
    await createTopic(bootstrap, topic, 2);
    for (let p = 0; p < 2; p++) await produce(bootstrap, topic, p, awkwardRecords(600, Date.UTC(2024, 10, 2), 60 + p), 'none', 20);
    const minio = new URL(s3.endpoint);
    const tcp = await startTcpProxy({ upstream: { host: minio.hostname, port: Number(minio.port) } });
    try {
      const bucket = await s3.freshBucket('kb-cut');
      const store = await s3Store(bucket, `http://${tcp.address}`);
      let cut = false;
      const sum = await runBackup({
        ...opts(store, 's3-cut', topic, { maxConcurrentPartitions: 2 }),
        onProgress: (p) => {
          if (!cut && p.partitions.reduce((n, x) => n + x.records, 0) >= 300) {
            cut = true;
            tcp.cut();
            setTimeout(() => tcp.restore(), 3000);
          }
        },
      });
      assert.ok(cut, 'the cut happened mid-backup');
      assert.equal(sum.records, 1200);
      assert.ok(tcp.stats.refused > 0 || tcp.stats.accepted > 1, 'the tool reconnected');
      await assertBackupExact(bootstrap, store, 's3-cut', topic, 2);

      const target = uniqueTopic('s3-cut-dst');
      tcp.cut();
      setTimeout(() => tcp.restore(), 3000);
      const res = await runRestore(testRestoreOptions(bootstrap, store, 's3-cut', { topicMapping: { [topic]: target } }));
      assert.equal(res.restored, 1200);
      for (let p = 0; p < 2; p++) {
        const src = await consumeAll(bootstrap, topic, p);
        const got = await consumeAll(bootstrap, target, p);
        assert.deepEqual(
          got.map((r) => recordKey(r)),
          src.map((r) => recordKey(r)),
          `${target}/${p}`,
        );
      }
    } finally {
      await tcp.close();
    }
  });
});
