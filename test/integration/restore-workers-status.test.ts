/**
 * `status --path … --backup-id … --restore-id [ID]` and the worker gauges for a distributed restore
 * (restore.workers): while two workers restore one backup, the status names each worker with the target
 * partitions it owns, what it restored, its throughput, the group generation and its last report; each
 * process's metrics show its generation and owned partitions. Real broker; filesystem store; the CLI as a child.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runBackup } from '../../src/backup/engine.js';
import { KafkaBackupMetrics } from '../../src/metrics/registry.js';
import { restoreIdFor } from '../../src/restore/engine.js';
import { runDistributedRestore, type RestoreListEntry, type RestoreStatus } from '../../src/restore/index.js';
import type { RestoreOptions } from '../../src/restore/options.js';
import { readRestoreWorkerReports } from '../../src/restore/workers/status.js';
import { FsStore } from '../../src/storage/fs.js';
import { ROOT } from '../../scripts/proc.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { produce } from '../helpers/records.js';

const PARTS = 4;
const PER = 1_500;
let bootstrap = '';
let dir = '';

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-restore-status-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

/** The CLI as an asynchronous child: the workers in this process keep running (and heartbeating) meanwhile. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), ...args], { cwd: ROOT });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function gauge(m: KafkaBackupMetrics, name: string): Promise<number | undefined> {
  const line = (await m.registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

test('status --restore-id shows each restore worker: owned partitions, progress, throughput, generation, last report; the worker gauges are set', async () => {
  const topic = uniqueTopic('restore-status');
  await createTopic(bootstrap, topic, PARTS);
  for (let p = 0; p < PARTS; p++)
    await produce(
      bootstrap,
      topic,
      p,
      Array.from({ length: PER }, (_, i) => ({
        key: Buffer.from(`k-${p}-${i}`),
        value: Buffer.from(`v-${p}-${i}`),
        timestamp: BigInt(1_700_000_000_000 + i),
        headers: [],
      })),
    );
  const store = new FsStore(dir);
  const backupId = `${topic}-b`;
  await runBackup(testBackupOptions(bootstrap, store, backupId, [topic]));

  const target = `${topic}-restored`;
  const options = (metrics: KafkaBackupMetrics): RestoreOptions =>
    testRestoreOptions(bootstrap, store, backupId, {
      topicMapping: { [topic]: target },
      produceBatchSize: 50,
      rateLimitRecordsPerSec: 200,
      checkpointIntervalSecs: 1,
      metrics,
      workers: { groupId: `${target}-restorers`, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 10_000 },
    });
  const metrics = [0, 1].map(() => new KafkaBackupMetrics({ mode: 'restore', backupId, maxPartitionLabels: 100 }));
  const restoreId = restoreIdFor(options(metrics[0]!));
  const runs = metrics.map((m) => runDistributedRestore(options(m)));
  try {
    // Both workers in the group, each owning partitions and having restored some records.
    let status: RestoreStatus | undefined;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const reports = await readRestoreWorkerReports(store, backupId, restoreId);
      const settled = reports.length === 2 && reports.every((r) => r.group_generation >= 1 && r.partitions.some((p) => p.owned) && r.records_restored > 0);
      if (settled && new Set(reports.map((r) => r.group_generation)).size === 1) {
        const r = await cli(['status', '--path', dir, '--backup-id', backupId, '--restore-id', restoreId, '--format', 'json']);
        assert.equal(r.code, 0, r.stderr);
        status = JSON.parse(r.stdout) as RestoreStatus;
        if (status.workers.length === 2 && status.workers.every((w) => w.owns.length > 0)) break;
      }
      if (Date.now() > deadline) throw new Error(`the two workers did not both report owned partitions: ${JSON.stringify(reports)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.equal(status.restore_id, restoreId);
    assert.equal(status.mode, 'workers');
    assert.equal(status.group_id, `${target}-restorers`);
    assert.equal(status.partitions_total, PARTS);
    const owned = status.workers.flatMap((w) => w.owns).sort();
    assert.equal(new Set(owned).size, owned.length, 'no partition owned by two workers');
    for (const w of status.workers) {
      assert.equal(w.pid, process.pid);
      assert.ok(w.group_generation >= 1);
      assert.ok(w.live);
      assert.ok(Date.now() - w.updated_at < 10_000, 'reported lately');
      assert.ok(w.records_restored >= 0 && w.bytes_restored >= 0 && w.records_per_second >= 0);
      for (const k of w.owns) {
        const part: RestoreStatus['partitions'][number] | undefined = status.partitions.find((x) => `${x.topic}/${x.partition}` === k);
        assert.equal(part?.owner?.member_id, w.member_id, `${k}: the partition's owner is the worker that says it owns it`);
      }
    }
    assert.ok(
      status.workers.some((w) => w.records_restored > 0 && w.records_per_second > 0),
      'progress and throughput are reported',
    );
    // Per process: the worker gauges.
    for (const m of metrics) {
      assert.ok(((await gauge(m, 'kafka_backup_worker_group_generation')) ?? 0) >= 1, 'generation gauge');
      assert.ok(((await gauge(m, 'kafka_backup_worker_partitions_owned')) ?? 0) >= 1, 'owned partitions gauge');
    }
    // Text output names the workers and what they own.
    const text = await cli(['status', '--path', dir, '--backup-id', backupId, '--restore-id', restoreId]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`Restore ${restoreId} of backup ${backupId} \\(restore.workers group ${target}-restorers\\)`));
    assert.match(text.stdout, /WORKER\s+GENERATION\s+RECORDS\s+BYTES\s+DONE\s+THROUGHPUT\s+LAST REPORT\s+OWNS/);
    assert.match(text.stdout, new RegExp(`${target}/\\d`));
  } finally {
    await Promise.allSettled(runs);
  }
  const results = await Promise.all(runs);
  assert.equal(
    results.reduce((n, r) => n + (r.finisher ? 1 : 0), 0),
    1,
  );

  // Finished: no worker report left; the list shows the restore finished with every record.
  assert.deepEqual(await readRestoreWorkerReports(store, backupId, restoreId), []);
  const list = await cli(['status', '--path', dir, '--backup-id', backupId, '--restore-id', '--format', 'json']);
  assert.equal(list.code, 0, list.stderr);
  const entries = JSON.parse(list.stdout) as RestoreListEntry[];
  const mine = entries.find((e) => e.restore_id === restoreId);
  assert.ok(mine && mine.completed_at !== null && mine.records_restored === PARTS * PER && mine.live_workers === 0, JSON.stringify(entries));
  // An unknown restore id: one line naming the known ones.
  const bad = await cli(['status', '--path', dir, '--backup-id', backupId, '--restore-id', 'restore-nope']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, new RegExp(`--restore-id restore-nope: backup "${backupId}" has no such restore; its restores: ${restoreId}`));
});
