import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runBackup } from '../../src/backup/engine.js';
import type { BackupOptions } from '../../src/backup/options.js';
import { KafkaAdmin } from '../../src/kafka/admin.js';
import { runRestore } from '../../src/restore/engine.js';
import type { RestoreOptions } from '../../src/restore/options.js';
import { FsStore } from '../../src/storage/fs.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic, withAdmin } from '../helpers/kafka.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { runCli } from '../helpers/cli.js';

let bootstrap: string;
let dir: string;
let store: FsStore;
const topic = uniqueTopic('opts-src');
/**
 * The source's records as produced, read once before anything else. The source topic's retention.ms (11.4 days) is
 * shorter than its records' age on purpose, so the broker may delete them at its next retention check: tests compare
 * against this copy, never against the source read again later.
 */
const sourceRecords: string[][] = [];

function backupOpts(backupId: string, topics: string[], extra: Partial<BackupOptions> = {}): BackupOptions {
  return testBackupOptions(bootstrap, store, backupId, topics, { segmentMaxIntervalMs: 500, syncIntervalSecs: 1, checkpointIntervalSecs: 1, ...extra });
}

function restoreOpts(backupId: string, extra: Partial<RestoreOptions>): RestoreOptions {
  return testRestoreOptions(bootstrap, store, backupId, extra);
}

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-opts-'));
  store = new FsStore(join(dir, 'backups'));
  await createTopic(bootstrap, topic, 2, { 'retention.ms': 987654321, 'max.message.bytes': 2000000 });
  await produce(bootstrap, topic, 0, awkwardRecords(120, Date.UTC(2024, 10, 10), 21), 'gzip');
  await produce(bootstrap, topic, 1, awkwardRecords(120, Date.UTC(2024, 10, 10), 22), 'snappy');
  for (const p of [0, 1]) sourceRecords[p] = (await consumeAll(bootstrap, topic, p)).map((r) => recordKey(r));
  const backedUp = await runBackup(backupOpts('opts', [topic]));
  assert.equal(backedUp.records, 240, 'the broker deleted source records before the backup read them: re-run');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

/** A topic config's value on a topic created without configs (the harness broker sets log.retention.hours=-1). */
async function brokerDefault(admin: KafkaAdmin, name: string): Promise<string | null> {
  const plain = uniqueTopic('opts-plain');
  await createTopic(bootstrap, plain, 1);
  return (await admin.topicConfig(plain, [name]))[name] ?? null;
}

test('created target topics get the source partition count, the allowlisted configs by default, and more when asked', async () => {
  const target = uniqueTopic('opts-cfg');
  await runRestore(restoreOpts('opts', { topicMapping: { [topic]: target } }));
  const all = uniqueTopic('opts-cfg-all');
  const asked = await runRestore(
    restoreOpts('opts', {
      topicMapping: { [topic]: all },
      topicConfigsFromBackup: ['retention.ms', 'max.message.bytes'],
      topicConfigs: { 'segment.bytes': '10485760' },
    }),
  );
  // The source's retention (11.4 days) is shorter than the age of its records (Nov 2024): applied, it would delete them at once.
  assert.ok(
    asked.warnings.some((w) => w.startsWith(`${all}: the backup's retention.ms=987654321 is not applied: the broker would delete restored records at once`)),
    asked.warnings.join('; '),
  );
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    const cfg = await admin.topicConfig(target, ['retention.ms', 'max.message.bytes']);
    assert.equal(cfg['max.message.bytes'], '2000000');
    assert.equal(
      cfg['retention.ms'],
      await brokerDefault(admin, 'retention.ms'),
      "a retention shorter than the restored records' age is held back: the broker default applies",
    );
    const cfgAll = await admin.topicConfig(all, ['retention.ms', 'max.message.bytes', 'segment.bytes']);
    assert.deepEqual(cfgAll, { 'retention.ms': await brokerDefault(admin, 'retention.ms'), 'max.message.bytes': '2000000', 'segment.bytes': '10485760' });
    assert.equal((await admin.listOffsets(target, [0, 1], -1n)).size, 2, 'the source partition count');
  } finally {
    await admin.close();
  }
  assert.equal((await consumeAll(bootstrap, target, 1)).length, 120);
});

test('backup.capture_topic_configs and backup.consumer_group_snapshot: false keep no configs and no group offsets; true (default) keeps both', async () => {
  await runBackup(backupOpts('opts-off', [topic], { captureTopicConfigs: false, groupSnapshots: false }));
  const { inspectBackup } = await import('../../src/format/backup-view.js');
  const off = await inspectBackup(store, 'opts-off');
  assert.deepEqual(off.manifest.topics[0]!.configs, {});
  const snapshots = async (id: string): Promise<string[]> => await readdir(join(dir, 'backups', id, 'consumer-groups')).catch(() => []);
  assert.deepEqual(await snapshots('opts-off'), []);
  await runBackup(backupOpts('opts-on', [topic]));
  const on = await inspectBackup(store, 'opts-on');
  assert.equal(on.manifest.topics[0]!.configs['retention.ms'], '987654321');
  assert.ok((await snapshots('opts-on')).length > 0);
});

test('a manifest edited to carry retention.ms=1 and unclean leader election restores into a topic without them; validate-restore shows the configs', async () => {
  await runBackup(backupOpts('opts-forged', [topic]));
  const manifestPath = join(dir, 'backups', 'opts-forged', 'manifest.json');
  const m = JSON.parse(await readFile(manifestPath, 'utf8')) as { topics: { name: string; configs: Record<string, string> }[] };
  const t = m.topics.find((x) => x.name === topic)!;
  assert.equal(t.configs['retention.ms'], '987654321', 'the backup recorded the source configs');
  t.configs['retention.ms'] = '1';
  t.configs['unclean.leader.election.enable'] = 'true';
  await writeFile(manifestPath, JSON.stringify(m, null, 2));

  const target = uniqueTopic('opts-forged-dst');
  const cfgFile = join(dir, 'forged.yaml');
  await writeFile(
    cfgFile,
    `mode: restore\nbackup_id: opts-forged\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${JSON.stringify(join(dir, 'backups'))}\nrestore:\n  topic_mapping:\n    ${topic}: ${target}\n`,
  );
  const cli = (...args: string[]) => runCli(args);
  const text = cli('validate-restore', '--config', cfgFile);
  assert.equal(text.code, 0, text.stderr);
  assert.ok(
    text.stdout.includes(
      `Topic configs (for target topics the restore creates):\n  ${target}: max.message.bytes=2000000\n    not restored from the backup: retention.ms=1, unclean.leader.election.enable=true (not on restore.topic_configs_from_backup, or a retention that would delete restored records; set values in restore.topic_configs)`,
    ),
    text.stdout,
  );
  const json = cli('validate-restore', '--config', cfgFile, '--format', 'json');
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual((JSON.parse(json.stdout) as { topic_configs: unknown }).topic_configs, [
    { target_topic: target, applied: { 'max.message.bytes': '2000000' }, not_restored: { 'retention.ms': '1', 'unclean.leader.election.enable': 'true' } },
  ]);

  const res = await runRestore(restoreOpts('opts-forged', { topicMapping: { [topic]: target } }));
  assert.ok(
    res.warnings.includes(
      `target topic ${target} created without these configs of the backup: retention.ms=1, unclean.leader.election.enable=true (see validate-restore's "Topic configs")`,
    ),
    res.warnings.join('; '),
  );
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    const cfg = await admin.topicConfig(target, ['retention.ms', 'unclean.leader.election.enable', 'max.message.bytes']);
    assert.deepEqual(cfg, {
      'retention.ms': await brokerDefault(admin, 'retention.ms'),
      'unclean.leader.election.enable': 'false',
      'max.message.bytes': '2000000',
    });
    assert.notEqual(cfg['retention.ms'], '1');
  } finally {
    await admin.close();
  }
  for (const p of [0, 1]) assert.equal((await consumeAll(bootstrap, target, p)).length, 120);
});

test("strip_offset_headers: restoring a backup of a restored topic removes the previous restore's origin headers", async () => {
  const once = uniqueTopic('opts-once');
  await runRestore(restoreOpts('opts', { topicMapping: { [topic]: once }, includeOriginalOffsetHeader: true }));
  const withHeaders = await consumeAll(bootstrap, once, 0);
  assert.ok(withHeaders.every((r) => r.headers.some((h) => h.key.toString() === 'x-original-offset')));
  await runBackup(backupOpts('opts-again', [once]));
  const twice = uniqueTopic('opts-twice');
  await runRestore(restoreOpts('opts-again', { topicMapping: { [once]: twice }, stripOffsetHeaders: true }));
  const got = await consumeAll(bootstrap, twice, 0);
  assert.deepEqual(
    got.map((r) => recordKey(r)),
    sourceRecords[0],
    'headers back to exactly the original ones',
  );
});

test('a LogAppendTime target kept knowingly is warned about; dry_run and validate-restore write nothing', async () => {
  const lat = uniqueTopic('opts-lat');
  await createTopic(bootstrap, lat, 2, { 'message.timestamp.type': 'LogAppendTime' });
  const res = await runRestore(restoreOpts('opts', { topicMapping: { [topic]: lat }, keepLogAppendTime: true }));
  assert.ok(
    res.warnings.some((w) => /LogAppendTime/.test(w)),
    res.warnings.join('; '),
  );

  const dry = uniqueTopic('opts-dry');
  const cfg = join(dir, 'dry.yaml');
  await writeFile(
    cfg,
    `mode: restore\nbackup_id: opts\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${JSON.stringify(join(dir, 'backups'))}\nrestore:\n  dry_run: true\n  time_window_start: "2024-11-10T00:00:30Z"\n  topic_mapping:\n    ${topic}: ${dry}\n`,
  );
  const before = (await readdir(join(dir, 'backups', 'opts', 'restores'))).length;
  for (const args of [
    ['restore', '--config', cfg, '--format', 'yaml'],
    ['validate-restore', '--config', cfg, '--format', 'json'],
  ]) {
    const r = runCli(args);
    assert.equal(r.code, 0, r.stderr);
    const report = (args[0] === 'restore' ? parse(r.stdout) : JSON.parse(r.stdout)) as { valid: boolean; time_window: { start: number } };
    assert.equal(report.valid, true);
    assert.equal(report.time_window.start, Date.UTC(2024, 10, 10, 0, 0, 30));
  }
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    await assert.rejects(admin.listOffsets(dry, [0], -1n), /Unknown topic|UNKNOWN_TOPIC/i, 'dry run created no topic');
  } finally {
    await admin.close();
  }
  assert.equal((await readdir(join(dir, 'backups', 'opts', 'restores'))).length, before, 'no restore state written');
});

test('a continuous backup picks up a new matching topic and stops cleanly when aborted', async () => {
  const prefix = uniqueTopic('opts-cont');
  const first = `${prefix}-a`;
  await createTopic(bootstrap, first, 1);
  await produce(bootstrap, first, 0, awkwardRecords(30, Date.UTC(2024, 10, 11), 31));
  const ac = new AbortController();
  const running = runBackup(backupOpts('cont', [`${prefix}-*`], { continuous: true, signal: ac.signal, syncIntervalSecs: 1 }));
  await new Promise((r) => setTimeout(r, 1500));
  const second = `${prefix}-b`;
  await createTopic(bootstrap, second, 1);
  await produce(bootstrap, second, 0, awkwardRecords(40, Date.UTC(2024, 10, 12), 32));
  const deadline = Date.now() + 20_000;
  const { inspectBackup } = await import('../../src/format/backup-view.js');
  let view: Awaited<ReturnType<typeof inspectBackup>> | undefined;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    view = await inspectBackup(store, 'cont').catch(() => undefined);
    if (view && view.records === 70) break;
    if (Date.now() > deadline) break;
  }
  ac.abort();
  const sum = await running;
  assert.equal(sum.status, 'stopped');
  assert.deepEqual(
    view?.topics.map((t) => t.name),
    [first, second],
  );
  assert.equal(view?.records, 70);
});

test('a continuous backup picks up partitions added to a backed-up topic; the restore recreates them all with their records', async () => {
  const grow = uniqueTopic('opts-grow');
  await createTopic(bootstrap, grow, 2);
  for (let p = 0; p < 2; p++) await produce(bootstrap, grow, p, awkwardRecords(25, Date.UTC(2024, 10, 14), 60 + p));
  const ac = new AbortController();
  // start_offset latest: the first 25 records of each partition are left out, but partitions added while the
  // backup runs are new, so they are backed up from their first record whenever the backup notices them.
  const running = runBackup(backupOpts('grow', [grow], { continuous: true, signal: ac.signal, syncIntervalSecs: 1, startOffset: 'latest' }));
  const { inspectBackup } = await import('../../src/format/backup-view.js');
  const until = async (ok: (v: Awaited<ReturnType<typeof inspectBackup>> | undefined) => boolean): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !ok(await inspectBackup(store, 'grow').catch(() => undefined))) await new Promise((r) => setTimeout(r, 300));
  };
  await until((v) => v?.topics[0]?.partitions.every((p) => p.index) === true);
  await withAdmin(bootstrap, (a) => a.createPartitions({ topics: [{ name: grow, count: 4 }] }));
  for (let p = 0; p < 4; p++) await produce(bootstrap, grow, p, awkwardRecords(15, Date.UTC(2024, 10, 15), 70 + p));
  await until((v) => v?.records === 60);
  ac.abort();
  assert.equal((await running).status, 'stopped');
  const view = await inspectBackup(store, 'grow');
  assert.equal(view.manifest.topics[0]!.partition_count, 4);
  assert.deepEqual(
    view.topics[0]!.partitions.map((p) => [p.partition, p.summary.records]),
    [
      [0, 15],
      [1, 15],
      [2, 15],
      [3, 15],
    ],
  );
  const target = `${grow}-restored`;
  await runRestore(restoreOpts('grow', { topicMapping: { [grow]: target } }));
  const parts = await withAdmin(bootstrap, async (a) => (await a.metadata({ topics: [target], forceUpdate: true })).topics.get(target)?.partitionsCount);
  assert.equal(parts, 4);
  for (let p = 0; p < 4; p++) {
    const source = (await consumeAll(bootstrap, grow, p)).map((r) => recordKey(r));
    assert.deepEqual(
      (await consumeAll(bootstrap, target, p)).map((r) => recordKey(r)),
      source.slice(p < 2 ? 25 : 0),
      `partition ${p}`,
    );
  }
});

test('a continuous backup covers every partition even when there are more than max_concurrent_partitions', async () => {
  const wide = uniqueTopic('opts-wide');
  await createTopic(bootstrap, wide, 6);
  for (let p = 0; p < 6; p++) await produce(bootstrap, wide, p, awkwardRecords(10, Date.UTC(2024, 10, 13), 40 + p));
  const ac = new AbortController();
  const running = runBackup(backupOpts('wide', [wide], { continuous: true, maxConcurrentPartitions: 2, signal: ac.signal }));
  const { inspectBackup } = await import('../../src/format/backup-view.js');
  const deadline = Date.now() + 30_000;
  let records = 0;
  while (Date.now() < deadline && records < 60) {
    await new Promise((r) => setTimeout(r, 500));
    records = (await inspectBackup(store, 'wide').catch(() => undefined))?.records ?? 0;
  }
  ac.abort();
  await running;
  const view = await inspectBackup(store, 'wide');
  assert.deepEqual(
    view.topics[0]!.partitions.map((p) => p.summary.records),
    [10, 10, 10, 10, 10, 10],
  );
});

test('produce_acks: 0 does not wait for responses the broker never sends: the restore completes promptly, every record is there, the offset map is right', {
  timeout: 120_000,
}, async () => {
  const target = uniqueTopic('opts-acks0');
  const started = Date.now();
  // Small produce batches: many Produce requests, each of which would wait out the request timeout if a response were awaited.
  const res = await runRestore(restoreOpts('opts', { topicMapping: { [topic]: target }, produceAcks: 0, produceBatchSize: 10, produceTimeoutMs: 30_000 }));
  const took = Date.now() - started;
  assert.ok(took < 20_000, `took ${took} ms (a wait for an acks-0 response lasts the request timeout, >= 35 s)`);
  assert.equal(res.restored, 240);
  for (const p of [0, 1]) {
    const got = await consumeAll(bootstrap, target, p);
    assert.deepEqual(
      got.map((r) => recordKey(r)),
      sourceRecords[p],
      `partition ${p}`,
    );
    const runs = res.offsetMap.filter((r) => r.source_partition === p);
    assert.equal(
      runs.reduce((n, r) => n + r.count, 0),
      120,
    );
    assert.deepEqual([runs[0]!.target, runs.at(-1)!.target + runs.at(-1)!.count], [0, 120], 'target offsets 0..119, as the records landed');
  }
});

test('produce_acks: 0 is not silent when the broker refuses the records: the restore fails and says so', { timeout: 60_000 }, async () => {
  const target = uniqueTopic('opts-acks0-refused');
  await createTopic(bootstrap, target, 2, { 'max.message.bytes': 64 }); // every batch is refused (RECORD_TOO_LARGE)
  const err = await runRestore(restoreOpts('opts', { topicMapping: { [topic]: target }, produceAcks: 0 })).then(
    () => assert.fail('the restore must fail'),
    (e: unknown) => e as Error,
  );
  assert.match(err.message, /produce_acks: 0 failed: the broker closed the connection/);
  assert.equal((await consumeAll(bootstrap, target, 0)).length, 0);
});
