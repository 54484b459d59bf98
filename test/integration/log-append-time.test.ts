/**
 * A source topic with message.timestamp.type=LogAppendTime (issue 12, item 6): the restore must
 * give the target's consumers the timestamps the source's consumers saw (the batch's append time),
 * as CreateTime on a target created CreateTime; restore.keep_log_append_time keeps LogAppendTime
 * knowingly; a PITR window on such a backup picks the records by their append time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import { EARLIEST, KafkaAdmin, LATEST } from '../../src/kafka/admin.js';
import { KafkaCluster } from '../../src/kafka/cluster.js';
import { fetchPartition } from '../../src/kafka/fetcher.js';
import { decodeBatch, splitBatches, type TimestampType } from '../../src/kafka/protocol/record-batch.js';
import { runRestore } from '../../src/restore/engine.js';
import type { RestoreOptions } from '../../src/restore/options.js';
import { FsStore } from '../../src/storage/fs.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { awkwardRecords, produce, recordKey } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { runCli } from '../helpers/cli.js';

let bootstrap: string;
let dir: string;
let store: FsStore;
const source = uniqueTopic('lat-src');
/** Per produce round: [min, max] append time the source's consumers see. */
const rounds: [number, number][] = [];

interface Seen {
  record: string;
  timestamp: bigint;
  type: TimestampType;
}

/** Every record of a partition as a consumer sees it, with its batch's timestamp type. */
async function consume(topic: string, partition: number): Promise<Seen[]> {
  const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    let pos = (await admin.listOffsets(topic, [partition], EARLIEST)).get(partition) ?? 0n;
    const end = (await admin.listOffsets(topic, [partition], LATEST)).get(partition) ?? 0n;
    const out: Seen[] = [];
    while (pos < end) {
      const { batches } = splitBatches((await fetchPartition(cluster, topic, partition, pos, { maxWaitMs: 100 })).records);
      if (batches.length === 0) break;
      for (const b of batches) {
        const d = decodeBatch(b);
        for (const r of d.records) if (r.offset >= pos) out.push({ record: recordKey(r), timestamp: r.timestamp, type: d.header.timestampType });
        pos = d.header.lastOffset + 1n;
      }
    }
    return out;
  } finally {
    await admin.close();
    await cluster.close();
  }
}

async function timestampType(topic: string): Promise<string | null | undefined> {
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    return (await admin.topicConfig(topic, ['message.timestamp.type']))['message.timestamp.type'];
  } finally {
    await admin.close();
  }
}

function restoreOpts(backupId: string, extra: Partial<RestoreOptions>): RestoreOptions {
  return testRestoreOptions(bootstrap, store, backupId, extra);
}

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-lat-'));
  store = new FsStore(join(dir, 'backups'));
  await createTopic(bootstrap, source, 2, { 'message.timestamp.type': 'LogAppendTime' });
  // Three rounds, apart in time, so their append times differ; the create times the producer
  // sets (2024) are replaced by the broker. Partition 1 is lz4-compressed (the broker keeps the
  // records' deltas and only stamps the batch header).
  for (let round = 0; round < 3; round++) {
    await produce(bootstrap, source, 0, awkwardRecords(40, Date.UTC(2024, 0, 1), 10 + round), 'none', 15);
    await produce(bootstrap, source, 1, awkwardRecords(40, Date.UTC(2024, 0, 1), 20 + round), 'lz4', 15);
    const seen = [...(await consume(source, 0)), ...(await consume(source, 1))];
    const all = seen.map((s) => Number(s.timestamp));
    const before = rounds.length ? rounds[rounds.length - 1]![1] : -Infinity;
    const mine = all.filter((t) => t > before);
    rounds.push([Math.min(...mine), Math.max(...mine)]);
    await new Promise((r) => setTimeout(r, 300));
  }
  await runBackup(testBackupOptions(bootstrap, store, 'lat', [source]));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

test("the source really is LogAppendTime: its consumers see append times, not the producer's 2024 create times", async () => {
  for (const p of [0, 1]) {
    const seen = await consume(source, p);
    assert.equal(seen.length, 120);
    assert.ok(seen.every((s) => s.type === 'logAppend'));
    assert.ok(
      seen.every((s) => s.timestamp > BigInt(Date.UTC(2025, 0, 1))),
      'append times, not create times',
    );
  }
  assert.ok(rounds[0]![1] < rounds[1]![0] && rounds[1]![1] < rounds[2]![0], `rounds apart in time: ${JSON.stringify(rounds)}`);
});

test("restore creates the target CreateTime; its consumers see the timestamps the source's consumers saw", async () => {
  const target = uniqueTopic('lat-dst');
  const res = await runRestore(restoreOpts('lat', { topicMapping: { [source]: target } }));
  assert.equal(res.restored, 240);
  for (const p of [0, 1]) {
    const want = await consume(source, p);
    const got = await consume(target, p);
    assert.deepEqual(
      got.map((s) => [s.record, s.timestamp]),
      want.map((s) => [s.record, s.timestamp]),
      `partition ${p}: same records, same timestamps`,
    );
    assert.ok(
      got.every((s) => s.type === 'create'),
      'as CreateTime (docs/configuration.md, restore.keep_log_append_time)',
    );
  }
  assert.equal(await timestampType(target), 'CreateTime');
  assert.ok(
    res.warnings.some((w) => w.includes('message.timestamp.type=CreateTime') && w.includes('keep_log_append_time')),
    res.warnings.join('; '),
  );
});

test('restore.keep_log_append_time: true creates the target LogAppendTime and the broker re-stamps the records', async () => {
  const target = uniqueTopic('lat-keep');
  const started = BigInt(Date.now());
  const res = await runRestore(restoreOpts('lat', { topicMapping: { [source]: target }, keepLogAppendTime: true }));
  assert.equal(res.restored, 240);
  assert.ok(
    res.warnings.some((w) => w.includes('keep_log_append_time is true')),
    res.warnings.join('; '),
  );
  assert.equal(await timestampType(target), 'LogAppendTime');
  const got = await consume(target, 0);
  const want = await consume(source, 0);
  assert.deepEqual(
    got.map((s) => s.record.replace(/^\["","\d+",/, '')),
    want.map((s) => s.record.replace(/^\["","\d+",/, '')),
    'same records',
  );
  assert.ok(
    got.every((s) => s.type === 'logAppend' && s.timestamp >= started),
    'stamped with the time of the restore',
  );
});

test('an existing LogAppendTime target is refused (nothing written) unless restore.keep_log_append_time is set; validate-restore says so', async () => {
  const target = uniqueTopic('lat-existing');
  await createTopic(bootstrap, target, 2, { 'message.timestamp.type': 'LogAppendTime' });
  await assert.rejects(runRestore(restoreOpts('lat', { topicMapping: { [source]: target } })), /LogAppendTime.*restore\.keep_log_append_time: true/);
  assert.equal((await consume(target, 0)).length, 0, 'nothing written');

  const cfg = join(dir, 'validate.yaml');
  const yaml = (keep: boolean): string =>
    `mode: restore\nbackup_id: lat\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${JSON.stringify(join(dir, 'backups'))}\nrestore:\n  keep_log_append_time: ${keep}\n  topic_mapping:\n    ${source}: ${target}\n`;
  const validate = async (keep: boolean): Promise<{ status: number | null; report: { valid: boolean; errors: string[]; warnings: string[] } }> => {
    await writeFile(cfg, yaml(keep));
    const r = runCli(['validate-restore', '--config', cfg, '--format', 'json']);
    return { status: r.code, report: JSON.parse(r.stdout) as { valid: boolean; errors: string[]; warnings: string[] } };
  };
  const refused = await validate(false);
  assert.equal(refused.report.valid, false);
  assert.notEqual(refused.status, 0);
  assert.ok(
    refused.report.errors.some((e) => e.includes(`target topic ${target} uses message.timestamp.type=LogAppendTime`)),
    refused.report.errors.join('; '),
  );
  assert.ok(
    refused.report.warnings.some((w) => w.includes('message.timestamp.type=CreateTime')),
    'says what a created target would get',
  );
  const kept = await validate(true);
  assert.equal(kept.report.valid, true, kept.report.errors.join('; '));
  assert.ok(
    kept.report.warnings.some((w) => w.includes(`target topic ${target} uses message.timestamp.type=LogAppendTime (restore.keep_log_append_time: true)`)),
    kept.report.warnings.join('; '),
  );

  const res = await runRestore(restoreOpts('lat', { topicMapping: { [source]: target }, keepLogAppendTime: true }));
  assert.equal(res.restored, 240);
});

test('a PITR window on the LogAppendTime backup picks records by the append time its consumers saw, and so does a PITR of the restored topic', async () => {
  const [start, end] = rounds[1]!;
  const want = [...(await consume(source, 0)), ...(await consume(source, 1))].filter((s) => s.timestamp >= BigInt(start) && s.timestamp <= BigInt(end));
  assert.equal(want.length, 80, 'the middle round: 40 records per partition');
  const target = uniqueTopic('lat-pitr');
  const res = await runRestore(restoreOpts('lat', { topicMapping: { [source]: target }, windowStart: start, windowEnd: end }));
  assert.equal(res.restored, 80);
  const got = [...(await consume(target, 0)), ...(await consume(target, 1))];
  assert.deepEqual(
    got.map((s) => [s.record, s.timestamp]),
    want.map((s) => [s.record, s.timestamp]),
  );

  // The restored topic keeps those timestamps, so a backup of it answers the same window alike.
  const whole = uniqueTopic('lat-whole');
  await runRestore(restoreOpts('lat', { topicMapping: { [source]: whole } }));
  await runBackup(testBackupOptions(bootstrap, store, 'lat-again', [whole]));
  const again = uniqueTopic('lat-again');
  const res2 = await runRestore(restoreOpts('lat-again', { topicMapping: { [whole]: again }, windowStart: start, windowEnd: end }));
  assert.equal(res2.restored, 80);
  const got2 = [...(await consume(again, 0)), ...(await consume(again, 1))];
  assert.deepEqual(
    got2.map((s) => [s.record, s.timestamp]),
    want.map((s) => [s.record, s.timestamp]),
  );
});
