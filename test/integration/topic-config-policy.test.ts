/**
 * Topic configs and replication factor on restore (issue 19 item 2), against the real broker:
 * restore.existing_topic_config_policy (keep / overwrite / fail) for a target topic that exists
 * with other configs, the drift report of validate-restore (checkTarget), the replication factor
 * recorded by the backup and refused when larger than the target's broker count unless
 * restore.default_replication_factor overrides it, and backup.capture_topic_configs: false.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import { KafkaAdmin } from '../../src/kafka/admin.js';
import { runRestore } from '../../src/restore/engine.js';
import type { RestoreOptions } from '../../src/restore/options.js';
import { planRestore } from '../../src/restore/plan.js';
import { checkTarget } from '../../src/restore/target-check.js';
import { FsStore } from '../../src/storage/fs.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { awkwardRecords, consumeAll, produce } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { runCli } from '../helpers/cli.js';

let bootstrap: string;
let dir: string;
let store: FsStore;
let source: string;
const BACKUP = 'cfg-policy';
/** Topic-level configs of the source, both on the default allowlist of restore.topic_configs_from_backup. */
const SOURCE_CONFIGS = { 'max.message.bytes': '200000', 'retention.bytes': '50000000' };

async function configsOf(topic: string, names: string[]): Promise<Record<string, string | null>> {
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    return await admin.topicConfig(topic, names);
  } finally {
    await admin.close();
  }
}

function restoreOpts(target: string, extra: Partial<RestoreOptions> = {}): RestoreOptions {
  return testRestoreOptions(bootstrap, store, BACKUP, { topicMapping: { [source]: target }, allowNonEmptyTarget: false, ...extra });
}

async function validate(opts: RestoreOptions): Promise<{ errors: string[]; warnings: string[] }> {
  const plan = await planRestore(opts);
  const errors: string[] = [];
  const warnings: string[] = [];
  await checkTarget(opts, plan, errors, warnings);
  return { errors, warnings };
}

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-cfg-policy-'));
  store = new FsStore(join(dir, 'backups'));
  source = uniqueTopic('cfg-src');
  await createTopic(bootstrap, source, 2, SOURCE_CONFIGS);
  for (const p of [0, 1]) await produce(bootstrap, source, p, awkwardRecords(40, Date.now() - 60_000, p + 1));
  await runBackup(testBackupOptions(bootstrap, store, BACKUP, [source]));
});

after(async () => {
  await store?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

describe('restore.existing_topic_config_policy and the drift report', () => {
  test('the backup records the topic configs and the replication factor', async () => {
    const manifest = JSON.parse(await readFile(join(dir, 'backups', BACKUP, 'manifest.json'), 'utf8')) as {
      topics: { name: string; configs: Record<string, string>; replication_factor?: number }[];
    };
    const t = manifest.topics.find((x) => x.name === source)!;
    assert.deepEqual(t.configs, SOURCE_CONFIGS);
    assert.equal(t.replication_factor, 1);
  });

  test('keep (default): validate-restore lists each drifting config; the restore writes and leaves the target configs as they are', async () => {
    const target = uniqueTopic('cfg-keep');
    await createTopic(bootstrap, target, 2, { 'max.message.bytes': '300000' });
    const before = await configsOf(target, ['max.message.bytes', 'retention.bytes']);
    const v = await validate(restoreOpts(target));
    assert.deepEqual(v.errors, []);
    const drift = v.warnings.filter((w) => w.startsWith(`existing target topic ${target} has other configs`));
    assert.equal(drift.length, 1, v.warnings.join('\n'));
    assert.match(
      drift[0]!,
      new RegExp(
        `max\\.message\\.bytes: restore 200000, target 300000; retention\\.bytes: restore 50000000, target ${before['retention.bytes']}; left as they are \\(restore\\.existing_topic_config_policy: keep\\)`,
      ),
    );
    const res = await runRestore(restoreOpts(target));
    assert.equal(res.restored, 80);
    assert.ok(
      res.warnings.some((w) => w.includes('left as they are')),
      res.warnings.join('\n'),
    );
    assert.deepEqual(await configsOf(target, ['max.message.bytes', 'retention.bytes']), before);
  });

  test("overwrite: the drifting configs are set to the backup's; the records are restored", async () => {
    const target = uniqueTopic('cfg-overwrite');
    await createTopic(bootstrap, target, 2, { 'max.message.bytes': '300000', 'segment.ms': '3600000' });
    const v = await validate(restoreOpts(target, { existingTopicConfigPolicy: 'overwrite' }));
    assert.deepEqual(v.errors, []);
    assert.ok(
      v.warnings.some(
        (w) =>
          w.includes('max.message.bytes: restore 200000, target 300000') &&
          w.endsWith("restore.existing_topic_config_policy: overwrite sets the restore's values"),
      ),
      v.warnings.join('\n'),
    );
    const res = await runRestore(restoreOpts(target, { existingTopicConfigPolicy: 'overwrite' }));
    assert.equal(res.restored, 80);
    assert.deepEqual(
      await configsOf(target, ['max.message.bytes', 'retention.bytes', 'segment.ms']),
      { ...SOURCE_CONFIGS, 'segment.ms': '3600000' },
      'the drift is overwritten, the other topic configs are left alone',
    );
    const again = await validate(restoreOpts(target, { existingTopicConfigPolicy: 'overwrite', allowNonEmptyTarget: true }));
    assert.ok(!again.warnings.some((w) => w.includes('has other configs')), 'no drift left');
  });

  test('fail (CLI): one line naming the topic and each config, nothing written, configs unchanged; validate-restore says the same as an error', async () => {
    const target = uniqueTopic('cfg-fail');
    await createTopic(bootstrap, target, 2, { 'max.message.bytes': '300000' });
    const before = await configsOf(target, ['max.message.bytes', 'retention.bytes']);
    const v = await validate(restoreOpts(target, { existingTopicConfigPolicy: 'fail' }));
    assert.equal(v.errors.length, 1, v.errors.join('\n'));
    assert.match(v.errors[0]!, /max\.message\.bytes: restore 200000, target 300000.*restore\.existing_topic_config_policy: fail/);
    const cfg = join(dir, 'fail.yaml');
    await writeFile(
      cfg,
      `mode: restore\nbackup_id: ${BACKUP}\ntarget:\n  bootstrap_servers: [${bootstrap}]\nstorage:\n  backend: filesystem\n  path: ${join(dir, 'backups')}\n` +
        `restore:\n  topic_mapping: { ${source}: ${target} }\n  existing_topic_config_policy: fail\nmetrics:\n  enabled: false\n`,
    );
    const r = runCli(['restore', '--config', cfg]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`existing target topic ${target} has other configs than the backup's: max\\.message\\.bytes: restore 200000, target 300000`),
    );
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    for (const p of [0, 1]) assert.equal((await consumeAll(bootstrap, target, p)).length, 0, 'nothing written');
    assert.deepEqual(await configsOf(target, ['max.message.bytes', 'retention.bytes']), before);
  });

  test('a config key the policy does not know is refused naming the key and what is accepted', async () => {
    const cfg = join(dir, 'bad.yaml');
    await writeFile(
      cfg,
      `mode: restore\nbackup_id: ${BACKUP}\ntarget:\n  bootstrap_servers: [${bootstrap}]\nstorage:\n  backend: filesystem\n  path: ${join(dir, 'backups')}\nrestore:\n  existing_topic_config_policy: replace\n`,
    );
    const r = runCli(['restore', '--config', cfg]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /restore\.existing_topic_config_policy.*keep.*overwrite.*fail/);
  });
});

describe('replication factor', () => {
  test('a backup replication factor above the target broker count is refused before anything is created; default_replication_factor overrides it', async () => {
    // The backup of a 3-broker source: its manifest records replication_factor 3 (edited here; the shared broker is one node).
    const id = 'cfg-rf3';
    await runBackup(testBackupOptions(bootstrap, store, id, [source]));
    const file = join(dir, 'backups', id, 'manifest.json');
    const m = JSON.parse(await readFile(file, 'utf8')) as { topics: { replication_factor?: number }[] };
    for (const t of m.topics) t.replication_factor = 3;
    await writeFile(file, JSON.stringify(m));
    const target = uniqueTopic('cfg-rf');
    const opts = testRestoreOptions(bootstrap, store, id, { topicMapping: { [source]: target }, replicationFactorFromBackup: true });
    const v = await validate(opts);
    assert.deepEqual(v.errors, [
      `target topic ${target}: the backup's replication factor 3 (of source topic ${source}) is larger than the target cluster's 1 broker; set restore.default_replication_factor to at most 1 (or -1 for the broker's default)`,
    ]);
    await assert.rejects(
      runRestore(opts),
      (err: Error) => err.message.includes("the backup's replication factor 3") && err.message.includes('restore.default_replication_factor'),
    );
    const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
    try {
      await assert.rejects(admin.topicConfig(target, ['retention.ms']), 'the target topic was not created');
    } finally {
      await admin.close();
    }
    const res = await runRestore({ ...opts, replicationFactorFromBackup: false, defaultReplicationFactor: 1 });
    assert.equal(res.restored, 80);
  });

  test('backup.capture_topic_configs: false records no configs: a created target gets the broker defaults', async () => {
    const id = 'cfg-none';
    await runBackup(testBackupOptions(bootstrap, store, id, [source], { captureTopicConfigs: false }));
    const m = JSON.parse(await readFile(join(dir, 'backups', id, 'manifest.json'), 'utf8')) as { topics: { configs: Record<string, string> }[] };
    assert.deepEqual(m.topics[0]!.configs, {});
    const target = uniqueTopic('cfg-none');
    await runRestore(testRestoreOptions(bootstrap, store, id, { topicMapping: { [source]: target } }));
    assert.notEqual((await configsOf(target, ['max.message.bytes']))['max.message.bytes'], SOURCE_CONFIGS['max.message.bytes']);
  });
});
