/**
 * backup.circuit_breaker (issue 19 item 9): a continuous backup rides through storage outages.
 * The real MinIO (one of this file's own, test/helpers/minio-restartable.ts) is killed with SIGKILL
 * and started again on the same port and data: the backup process keeps running through two 15 s
 * outages and, once stopped, holds every source record exactly once. With a small threshold the
 * breaker opens during a long outage: the process stops with one line naming the reason, and a
 * re-run continues where the stored indexes say.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaAdmin, LATEST } from '../../src/kafka/admin.js';
import { KafkaCluster } from '../../src/kafka/cluster.js';
import { RawProducer } from '../../src/kafka/producer.js';
import { encodeBatch } from '../../src/kafka/protocol/record-batch.js';
import { readJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { partitionIndexSchema } from '../../src/format/partition-index.js';
import { openStore } from '../../src/storage/index.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { startRestartableMinio, type RestartableMinio } from '../helpers/minio-restartable.js';
import { assertBackupExact } from '../helpers/backup-read.js';
import { awkwardRecords } from '../helpers/records.js';
import { sleep } from '../helpers/ports.js';
import { s3Spec } from '../helpers/minio.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = [process.execPath, '--import', 'tsx', join(ROOT, 'src/cli/run.ts')] as const;
const PARTITIONS = 2;

let bootstrap: string;
let minio: RestartableMinio;
let dir: string;
const stores: ObjectStore[] = [];

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  minio = await startRestartableMinio();
  dir = await mkdtemp(join(tmpdir(), 'kb-ride-through-'));
});

after(async () => {
  for (const st of stores) await st.close().catch(() => {});
  await minio?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

async function s3Store(bucket: string): Promise<ObjectStore> {
  const st = await openStore(s3Spec(minio, bucket, 'ride'));
  stores.push(st);
  return st;
}

async function writeConfig(name: string, bucket: string, backupId: string, topic: string, breaker: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(
    file,
    `mode: backup\nbackup_id: ${backupId}\nsource:\n  bootstrap_servers: [${bootstrap}]\n  topics: { include: [${topic}] }\n` +
      `storage:\n  backend: s3\n  bucket: ${bucket}\n  prefix: ride\n  endpoint: ${minio.endpoint}\n  region: ${minio.region}\n  access_key: ${minio.accessKey}\n  secret_key: ${minio.secretKey}\n  allow_http: true\n` +
      `backup:\n  continuous: true\n  segment_max_bytes: 16384\n  segment_max_interval_ms: 500\n  poll_interval_ms: 100\n  sync_interval_secs: 2\n${breaker}` +
      `metrics:\n  enabled: false\n`,
  );
  return file;
}

interface Child {
  proc: ChildProcess;
  stderr: () => string;
  stdout: () => string;
}

/** The child's exit code, once it has exited (also when that happened before the call). */
async function exitOf(child: Child, timeoutMs: number): Promise<number | null> {
  if (child.proc.exitCode !== null) return child.proc.exitCode;
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), timeoutMs);
  try {
    const [code] = (await once(child.proc, 'exit')) as [number | null];
    return code;
  } finally {
    clearTimeout(timer);
  }
}

function startBackup(config: string): Child {
  const proc = spawn(CLI[0], [...CLI.slice(1), 'backup', '--config', config, '--format', 'json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { proc, stderr: () => err, stdout: () => out };
}

/** Produces a batch of 20 records to each partition every 200 ms until stopped. */
function steadyProducer(topic: string): { stop: () => Promise<number> } {
  let stopped = false;
  let sent = 0;
  const done = (async () => {
    const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
    try {
      const producer = await RawProducer.create(cluster);
      for (let i = 0; !stopped; i++) {
        for (let p = 0; p < PARTITIONS; p++) {
          const recs = awkwardRecords(20, Date.now(), i * PARTITIONS + p + 1).map((r, j) => ({ ...r, offsetDelta: j }));
          await producer.send(topic, p, [encodeBatch(recs, { compression: p === 0 ? 'zstd' : 'none' })]);
          sent += recs.length;
        }
        await sleep(200);
      }
    } finally {
      await cluster.close();
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
      return sent;
    },
  };
}

/** Waits until every partition's stored index reaches the broker's end offset. */
async function waitCaughtUp(store: ObjectStore, backupId: string, topic: string, timeoutMs: number): Promise<void> {
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    const parts = [...Array(PARTITIONS).keys()];
    const ends = await admin.listOffsets(topic, parts, LATEST);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let behind = 0;
      for (const p of parts) {
        const idx = await readJsonObject(store, keys.partitionIndex(backupId, topic, p), partitionIndexSchema).catch(() => undefined);
        behind += Number(ends.get(p) ?? 0n) - (idx?.next_offset ?? 0);
      }
      if (behind <= 0) return;
      assert.ok(Date.now() < deadline, `the backup is still ${behind} records behind after ${timeoutMs} ms`);
      await sleep(250);
    }
  } finally {
    await admin.close();
  }
}

async function waitSegments(store: ObjectStore, backupId: string, topic: string, child: Child): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const idx = await readJsonObject(store, keys.partitionIndex(backupId, topic, 0), partitionIndexSchema).catch(() => undefined);
    if ((idx?.segments.length ?? 0) >= 2) return;
    assert.equal(child.proc.exitCode, null, `the backup exited early: ${child.stderr()}`);
    assert.ok(Date.now() < deadline, 'no segment stored within 60 s');
    await sleep(200);
  }
}

describe('circuit breaker: riding through storage outages (real MinIO killed)', () => {
  test('MinIO killed for 15 s twice under a continuous backup: the process keeps running; every record backed up once', { timeout: 300_000 }, async () => {
    const topic = uniqueTopic('ride-through');
    await createTopic(bootstrap, topic, PARTITIONS);
    const bucket = await minio.freshBucket(`kb-ride-${Date.now().toString(36)}`);
    const store = await s3Store(bucket);
    // The defaults: circuit_breaker enabled, failure_threshold 5, cool_down_secs 10.
    const config = await writeConfig('ride.yaml', bucket, 'ride-1', topic, '');
    const producer = steadyProducer(topic);
    const child = startBackup(config);
    try {
      await waitSegments(store, 'ride-1', topic, child);
      for (let outage = 1; outage <= 2; outage++) {
        await minio.kill();
        const downAt = Date.now();
        while (Date.now() - downAt < 15_000) {
          await sleep(500);
          assert.equal(child.proc.exitCode, null, `outage ${outage}: the backup exited ${Date.now() - downAt} ms into the outage: ${child.stderr()}`);
        }
        await minio.start();
        // Back for a while: the backup stores what it held back before the next outage.
        await sleep(outage === 1 ? 15_000 : 1000);
        assert.equal(child.proc.exitCode, null, `the backup exited after outage ${outage}: ${child.stderr()}`);
      }
      const sent = await producer.stop();
      assert.ok(sent > 0);
      await waitCaughtUp(store, 'ride-1', topic, 90_000);
      assert.equal(child.proc.exitCode, null, child.stderr());
      child.proc.kill('SIGTERM');
      assert.equal(await exitOf(child, 60_000), 0, child.stderr());
      assert.match(child.stderr(), /storage or broker failing; holding and retrying/, 'the outage was noticed and ridden through');
      const total = await assertBackupExact(bootstrap, store, 'ride-1', topic, PARTITIONS);
      assert.equal(total, sent);
    } finally {
      await producer.stop().catch(() => 0);
      if (child.proc.exitCode === null) child.proc.kill('SIGKILL');
      await minio.start().catch(() => {});
    }
  });

  test('a longer outage opens the breaker: one line naming the reason, stored data consistent, the re-run continues', { timeout: 240_000 }, async () => {
    const topic = uniqueTopic('ride-open');
    await createTopic(bootstrap, topic, PARTITIONS);
    const bucket = await minio.freshBucket(`kb-open-${Date.now().toString(36)}`);
    const store = await s3Store(bucket);
    const config = await writeConfig('open.yaml', bucket, 'open-1', topic, '  circuit_breaker:\n    failure_threshold: 2\n    cool_down_secs: 2\n');
    const producer = steadyProducer(topic);
    let child = startBackup(config);
    try {
      await waitSegments(store, 'open-1', topic, child);
      await minio.kill();
      const downAt = Date.now();
      const code = await exitOf(child, 120_000);
      const took = Date.now() - downAt;
      assert.equal(code, 1, child.stderr());
      const lines = child
        .stderr()
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('error: '));
      assert.equal(lines.length, 1, child.stderr());
      assert.match(
        lines[0]!,
        /^error: backup stopped: the circuit breaker opened after 2 consecutive rounds of failures 2 s apart \(failure_threshold 2\); last error: .+run the same command again to continue$/,
      );
      assert.doesNotMatch(child.stderr(), /^\s+at /m, 'no stack trace');
      // Two rounds of 2 s plus the S3 client's own retries: far less than a supervisor's patience.
      assert.ok(took < 60_000, `the breaker opened ${took} ms into the outage`);
      await minio.start();
      child = startBackup(config);
      await sleep(3000);
      const sent = await producer.stop();
      await waitCaughtUp(store, 'open-1', topic, 90_000);
      child.proc.kill('SIGTERM');
      assert.equal(await exitOf(child, 60_000), 0, child.stderr());
      assert.equal(await assertBackupExact(bootstrap, store, 'open-1', topic, PARTITIONS), sent);
    } finally {
      await producer.stop().catch(() => 0);
      if (child.proc.exitCode === null) child.proc.kill('SIGKILL');
      await minio.start().catch(() => {});
    }
  });
});
