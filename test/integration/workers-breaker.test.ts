/**
 * backup.circuit_breaker with backup.workers, against a dedicated broker started by this file (so it can be
 * stopped): two workers back up a topic; a short broker stop is ridden through; then the broker is stopped for
 * longer than the breaker tolerates; each
 * worker's breaker opens and the worker stops cleanly (CIRCUIT_OPEN, one line; its report removed) while the
 * broker is still down; with the broker back, the workers run again, resume from the partition indexes, and
 * every source record is in the backup exactly once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import type { BackupOptions } from '../../src/backup/options.js';
import { readWorkerStatuses } from '../../src/backup/workers/status.js';
import { readJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { partitionIndexSchema } from '../../src/format/partition-index.js';
import { FsStore } from '../../src/storage/fs.js';
import { KafkaBackupError } from '../../src/util/errors.js';
import { kafkaInstalled, startKafka, type RunningKafka } from '../../scripts/kafka.js';
import { ROOT } from '../../scripts/proc.js';
import { assertBackupExact } from '../helpers/backup-read.js';
import { createTopic, uniqueTopic } from '../helpers/kafka.js';
import { testBackupOptions } from '../helpers/options.js';
import { produce } from '../helpers/records.js';

const PARTITIONS = 4;
let kafka: RunningKafka;
let dir = '';

before(async () => {
  if (!kafkaInstalled()) execFileSync('bash', [join(ROOT, 'scripts', 'install-kafka.sh')], { stdio: 'inherit' });
  kafka = await startKafka({ heap: '384m' });
  dir = await mkdtemp(join(tmpdir(), 'kb-workers-breaker-'));
});
after(async () => {
  await kafka?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function produceMore(topic: string, from: number, n: number): Promise<void> {
  for (let p = 0; p < PARTITIONS; p++)
    await produce(
      kafka.bootstrap,
      topic,
      p,
      Array.from({ length: n }, (_, i) => ({
        key: Buffer.from(`k-${p}-${from + i}`),
        value: Buffer.from(`v-${p}-${from + i}`),
        timestamp: BigInt(Date.now()),
        headers: [],
      })),
    );
}

async function caughtUp(store: FsStore, backupId: string, topic: string, end: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let behind = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const idx = await readJsonObject(store, keys.partitionIndex(backupId, topic, p), partitionIndexSchema).catch(() => undefined);
      if ((idx?.next_offset ?? 0) < end) behind++;
    }
    if (behind === 0) return;
    if (Date.now() > deadline) throw new Error(`${behind} partition(s) not backed up to ${end} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('the broker stopped under two workers: each worker’s breaker opens and it stops cleanly; run again, they resume; every record once', async () => {
  const topic = uniqueTopic('workers-breaker');
  await createTopic(kafka.bootstrap, topic, PARTITIONS);
  await produceMore(topic, 0, 500);
  const store = new FsStore(dir);
  const backupId = `${topic}-b`;
  const options = (signal: AbortSignal): BackupOptions =>
    testBackupOptions(kafka.bootstrap, store, backupId, [topic], {
      source: { bootstrapServers: [kafka.bootstrap], requestTimeoutMs: 2_000, connectTimeoutMs: 2_000 },
      continuous: true,
      syncIntervalSecs: 1,
      segmentMaxBytes: 8 * 1024,
      segmentMaxIntervalMs: 1_000,
      circuitBreaker: { failureThreshold: 2, coolDownMs: 1_000 },
      workers: { groupId: `${backupId}-workers`, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 10_000 },
      signal,
    });

  // Two workers share the partitions and catch up.
  const acs = [new AbortController(), new AbortController()];
  const runs = acs.map((ac) => runBackup(options(ac.signal)));
  const settledAt: number[] = [];
  for (const [i, r] of runs.entries()) {
    r.then(
      () => (settledAt[i] = Date.now()),
      () => (settledAt[i] = Date.now()),
    );
  }
  try {
    await caughtUp(store, backupId, topic, 500, 60_000);
    const deadline = Date.now() + 30_000;
    while ((await readWorkerStatuses(store, backupId)).filter((w) => w.partitions.length > 0).length < 2) {
      if (Date.now() > deadline) throw new Error('the two workers did not both own partitions');
      await new Promise((r) => setTimeout(r, 200));
    }

    // A short stop (10 s, within the fetcher's own retries and one breaker round): both ride through and go on.
    await kafka.restart({ downMs: 10_000 });
    await produceMore(topic, 500, 200);
    await caughtUp(store, backupId, topic, 700, 90_000);
    assert.equal(settledAt.length, 0, 'both workers still running after the short stop');

    // A long stop (150 s): each failure round is a fetch's own retries (about 20 s) and a 1 s cool-down, so the
    // second round opens each worker's breaker at about 45 s and the worker is gone about 15 s later (its leave
    // request fails too), well before the broker is back: a loaded CI machine took over 85 s, so the margin is wide.
    let backAt = 0;
    const down = kafka.restart({ downMs: 150_000 }).then(() => (backAt = Date.now()));
    let guard: NodeJS.Timeout | undefined;
    const res = await Promise.race([
      Promise.allSettled(runs),
      new Promise<never>((_, reject) => (guard = setTimeout(() => reject(new Error('the workers did not stop within 140 s of the broker stopping')), 140_000))),
    ]).finally(() => clearTimeout(guard));
    for (const [i, r] of res.entries()) {
      assert.equal(r.status, 'rejected', `worker ${i} stopped with an error`);
      const err = (r as PromiseRejectedResult).reason as unknown;
      assert.ok(err instanceof KafkaBackupError && err.code === 'CIRCUIT_OPEN', `worker ${i}: ${String(err)}`);
      assert.match((err as Error).message, /circuit breaker opened .* run the same command again to continue/);
      assert.doesNotMatch((err as Error).message, /\n/);
    }
    assert.equal(backAt, 0, 'both workers stopped while the broker was still down');
    assert.ok(settledAt.every((t) => t > 0));
    assert.deepEqual(await readWorkerStatuses(store, backupId), [], 'stopped workers leave no report behind');
    await down;
  } finally {
    for (const ac of acs) ac.abort();
    await Promise.allSettled(runs);
  }

  // Broker back, more records; the workers run again and resume where the indexes say.
  await produceMore(topic, 700, 100);
  const again = [new AbortController(), new AbortController()];
  const reruns = again.map((ac) => runBackup(options(ac.signal)));
  try {
    await caughtUp(store, backupId, topic, 800, 90_000);
  } finally {
    for (const ac of again) ac.abort();
  }
  for (const r of await Promise.allSettled(reruns)) assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
  assert.equal(await assertBackupExact(kafka.bootstrap, store, backupId, topic, PARTITIONS), PARTITIONS * 800);
});
