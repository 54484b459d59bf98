/**
 * Backup keys from the seed tool's later releases (issue 19): isolation_level, rate_limit_*,
 * on_missing_topic, and describe/validate --config. Against the real broker the harness starts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Producer } from '@platformatic/kafka';
import { runBackup } from '../../src/backup/engine.js';
import { readJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { partitionIndexSchema } from '../../src/format/partition-index.js';
import { decodeBatch, readBatchHeader } from '../../src/kafka/protocol/record-batch.js';
import { KafkaBackupMetrics } from '../../src/metrics/registry.js';
import { runRestore } from '../../src/restore/engine.js';
import { readSegmentBatches } from '../../src/restore/segment-source.js';
import { FsStore } from '../../src/storage/fs.js';
import { runCli } from '../helpers/cli.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { consumeAll, produce } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';

let bootstrap: string;
let dir: string;
let store: FsStore;
const plainTopic = uniqueTopic('parity-plain');
const N = 1500;

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-parity-'));
  store = new FsStore(join(dir, 'backups'));
  await createTopic(bootstrap, plainTopic, 2);
  for (const p of [0, 1]) {
    await produce(
      bootstrap,
      plainTopic,
      p,
      Array.from({ length: N }, (_, i) => ({
        key: Buffer.from(`k${i}`),
        value: Buffer.alloc(200, i % 251),
        headers: [],
        timestamp: BigInt(Date.UTC(2025, 0, 1) + i),
      })),
      'none',
      100,
    );
  }
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

/** Stored batches of one partition, in order. */
async function stored(backupId: string, topic: string, partition: number): Promise<Buffer[]> {
  const idx = await readJsonObject(store, keys.partitionIndex(backupId, topic, partition), partitionIndexSchema);
  assert.ok(idx);
  const out: Buffer[] = [];
  for (const s of idx.segments) for await (const { batch } of readSegmentBatches(store, s)) out.push(Buffer.from(batch));
  return out;
}

test('isolation_level: read_committed leaves aborted transactions out of the backup; the default keeps them for restore to drop', async () => {
  const topic = uniqueTopic('parity-txn');
  await createTopic(bootstrap, topic, 1);
  const committed: string[] = [];
  const abortedValues: string[] = [];
  const p = new Producer({ clientId: 'kb-parity-txn', bootstrapBrokers: [bootstrap], idempotent: true, transactionalId: `${topic}-tx` });
  try {
    let n = 0;
    const txn = async (commit: boolean, count: number): Promise<void> => {
      const t = await p.beginTransaction();
      const values = Array.from({ length: count }, () => `${commit ? 'c' : 'a'}-${n++}`);
      await t.send({ messages: values.map((v) => ({ topic, partition: 0, key: Buffer.from(v), value: Buffer.from(v) })) });
      if (commit) await t.commit();
      else await t.abort();
      (commit ? committed : abortedValues).push(...values);
    };
    await txn(true, 5);
    await txn(false, 7);
    await txn(true, 3);
    await txn(false, 4);
    await txn(true, 2);
  } finally {
    await p.close();
  }

  // Default (read_uncommitted): every batch stored, aborted ones included, as before.
  await runBackup(testBackupOptions(bootstrap, store, 'txn-default', [topic]));
  const all = (await stored('txn-default', topic, 0))
    .filter((b) => !readBatchHeader(b).isControl)
    .flatMap((b) => decodeBatch(b).records.map((r) => r.value!.toString()));
  assert.deepEqual(
    all,
    [...committed, ...abortedValues].sort((x, y) => Number(x.slice(2)) - Number(y.slice(2))),
  );

  // read_committed: only committed records are stored, and no aborted transaction is listed.
  await runBackup(testBackupOptions(bootstrap, store, 'txn-rc', [topic], { isolationLevel: 'read_committed' }));
  const rc = (await stored('txn-rc', topic, 0))
    .filter((b) => !readBatchHeader(b).isControl)
    .flatMap((b) => decodeBatch(b).records.map((r) => r.value!.toString()));
  assert.deepEqual(rc, committed, 'only the committed records are in the backup');
  const idx = await readJsonObject(store, keys.partitionIndex('txn-rc', topic, 0), partitionIndexSchema);
  assert.deepEqual(
    idx!.segments.flatMap((s) => s.aborted_transactions),
    [],
  );

  // Both restore to the same committed records.
  for (const id of ['txn-default', 'txn-rc']) {
    const target = uniqueTopic(`parity-${id}`);
    await runRestore(testRestoreOptions(bootstrap, store, id, { topicMapping: { [topic]: target } }));
    assert.deepEqual(
      (await consumeAll(bootstrap, target, 0)).map((r) => r.value!.toString()),
      committed,
      `${id}: restored records`,
    );
  }
});

test('rate_limit_records_per_sec and rate_limit_bytes_per_sec hold the whole process (all partitions together) to the limit, shown in metrics', async () => {
  const metrics = new KafkaBackupMetrics({ mode: 'backup', backupId: 'rl-records', maxPartitionLabels: 100 });
  try {
    // 3,000 records over two partitions at 1,000 records/s: at least 2 s after the first second's burst
    // (one bucket per partition would let each partition's 1,500 through in about 0.5 s).
    let t0 = Date.now();
    const sum = await runBackup(
      testBackupOptions(bootstrap, store, 'rl-records', [plainTopic], { maxConcurrentPartitions: 2, rateLimitRecordsPerSec: 1000, metrics }),
    );
    const took = Date.now() - t0;
    assert.equal(sum.records, 2 * N);
    assert.ok(took >= 1800, `3000 records at 1000/s took ${took} ms`);
    const text = await metrics.registry.metrics();
    assert.match(text, /kafka_backup_rate_limit\{unit="records"\} 1000/);
    const waited = Number(/^kafka_backup_rate_limit_wait_seconds_total (\S+)$/m.exec(text)?.[1]);
    assert.ok(waited >= 1, `wait shown in metrics: ${waited} s`);

    // Bytes: about 0.64 MB (two partitions of 1,500 records of ~215 bytes) at 200 kB/s: at least ~2 s.
    t0 = Date.now();
    const byBytes = await runBackup(
      testBackupOptions(bootstrap, store, 'rl-bytes', [plainTopic], { maxConcurrentPartitions: 2, rateLimitBytesPerSec: 200_000 }),
    );
    const tookBytes = Date.now() - t0;
    assert.ok(byBytes.rawBytes > 600_000, `backed up ${byBytes.rawBytes} bytes`);
    assert.ok(tookBytes >= (byBytes.rawBytes / 200_000 - 1) * 1000 * 0.9, `${byBytes.rawBytes} bytes at 200 kB/s took ${tookBytes} ms`);
  } finally {
    metrics.close();
  }
});

async function backupConfig(name: string, body: string, include?: string[]): Promise<string> {
  const f = join(dir, `${name}.yaml`);
  const topics = include ? `  topics:\n    include: [${include.join(', ')}]\n` : '';
  await writeFile(
    f,
    `mode: backup\nbackup_id: ${name}\nsource:\n  bootstrap_servers: ["${bootstrap}"]\n${topics}storage:\n  backend: filesystem\n  path: ${JSON.stringify(join(dir, 'backups'))}\nmetrics:\n  enabled: false\n${body}`,
  );
  return f;
}

test('on_missing_topic: fail (default) refuses a missing literal topic; warn backs up the others and says which is missing', async () => {
  const missing = uniqueTopic('parity-nope');
  const f = runCli(['backup', '--config', await backupConfig('missing-fail', '', [plainTopic, missing])]);
  assert.equal(f.code, 1, f.stderr);
  assert.equal(
    f.stderr.trim().split('\n').at(-1),
    `error: source.topics.include names topics that do not exist on the source cluster: ${missing} (backup.on_missing_topic: warn backs up the others)`,
  );

  const w = runCli([
    'backup',
    '--config',
    await backupConfig('missing-warn', 'backup:\n  on_missing_topic: warn\n', [plainTopic, missing]),
    '--format',
    'json',
  ]);
  assert.equal(w.code, 0, w.stderr);
  assert.match(w.stderr, new RegExp(`do not exist on the source cluster: ${missing}; backing up the others`));
  const report = JSON.parse(w.stdout) as { status: string; topics: number; records: number };
  assert.deepEqual([report.status, report.topics, report.records], ['complete', 1, 2 * N]);
});

test('describe --config and validate --config read the storage and backup id from the config file', async () => {
  const cfg = await backupConfig('rl-records', '');
  const byPath = runCli(['describe', '--path', join(dir, 'backups'), '--backup-id', 'rl-records', '--format', 'json']);
  const byConfig = runCli(['describe', '--config', cfg, '--format', 'json']);
  assert.equal(byConfig.code, 0, byConfig.stderr);
  assert.deepEqual(JSON.parse(byConfig.stdout), JSON.parse(byPath.stdout));
  const v = runCli(['validate', '--config', cfg, '--format', 'json']);
  assert.equal(v.code, 0, v.stderr);
  assert.equal((JSON.parse(v.stdout) as { backup_id: string }).backup_id, 'rl-records');
  // --backup-id names another backup in the config's storage.
  const other = runCli(['describe', '--config', cfg, '--backup-id', 'rl-bytes', '--format', 'json']);
  assert.equal(other.code, 0, other.stderr);
  assert.match(other.stdout, /"rl-bytes"/);

  const neither = runCli(['describe']);
  assert.equal(neither.code, 1);
  assert.equal(neither.stderr.trim(), 'error: describe: needs --path URL and --backup-id ID, or --config FILE');
  const both = runCli(['validate', '--config', cfg, '--path', join(dir, 'backups')]);
  assert.equal(both.code, 1);
  assert.equal(both.stderr.trim(), 'error: validate: give either --config (storage and backup id from the file) or --path, not both');
});
