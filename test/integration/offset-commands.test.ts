import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Consumer } from '@platformatic/kafka';
import { runBackup } from '../../src/backup/engine.js';
import type { BackupOptions } from '../../src/backup/options.js';
import { KafkaAdmin } from '../../src/kafka/admin.js';
import type { KafkaRecord, RecordInput } from '../../src/kafka/protocol/record-batch.js';
import { restoreIdFor, runRestore } from '../../src/restore/engine.js';
import type { RestoreOptions } from '../../src/restore/options.js';
import { FsStore } from '../../src/storage/fs.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic, type TestKafka } from '../helpers/kafka.js';
import { runCli } from '../helpers/cli.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { consumeAll, produce } from '../helpers/records.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Small segments, so a backup of a few hundred records spans several. */
function backupOpts(bootstrap: string, store: ObjectStore, backupId: string, topics: string[]): BackupOptions {
  return testBackupOptions(bootstrap, store, backupId, topics, { segmentMaxBytes: 4 * 1024 });
}

/** Restores keep the x-original-offset header: the offset tests read it. */
function restoreOpts(bootstrap: string, store: ObjectStore, backupId: string, extra: Partial<RestoreOptions>): RestoreOptions {
  return testRestoreOptions(bootstrap, store, backupId, { includeOriginalOffsetHeader: true, ...extra });
}

const origin = (r: KafkaRecord): number => Number(r.headers.find((h) => h.key.toString() === 'x-original-offset')!.value!.readBigInt64LE());
const commitMap = (topic: string, offsets: Record<number, number>) =>
  new Map([[topic, new Map(Object.entries(offsets).map(([p, o]) => [Number(p), BigInt(o)]))]]);

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { env, timeoutMs: 120_000 });

interface PlanJson {
  restore_id: string;
  restore_choice: string;
  dry_run: boolean;
  strategy: string;
  backup_id: string;
  target_bootstrap_servers: string[];
  groups: {
    group_id: string;
    status: string;
    complete: boolean;
    partition_count: number;
    partitions: {
      topic: string;
      partition: number;
      source_offset: number;
      target_offset: number;
      offset_before: number | null;
      records_seen_twice: number;
      at_end: boolean;
    }[];
  }[];
}

describe('offset-reset / offset-reset-bulk / offset-rollback commands against the real broker', () => {
  let kafka: TestKafka;
  let bootstrap: string;
  let dir: string;
  let store: FsStore;
  let admin: KafkaAdmin;
  const topic = uniqueTopic('offcmd-src');
  const target = uniqueTopic('offcmd-tgt');
  const oldTarget = uniqueTopic('offcmd-old');
  const backupId = 'offcmd-it';
  const run = Math.random().toString(36).slice(2, 8);
  const g = (name: string) => `${name}-${run}`;
  const G = { mid: g('c-mid'), end: g('c-end'), start: g('c-start'), manual: g('c-manual') };
  const BULK = Array.from({ length: 6 }, (_, i) => g(`c-bulk${i}`));
  /** Committed source offsets of every group (p0 has 100 records, p1 has 50). */
  const SOURCE: Record<string, Record<number, number>> = {
    [G.mid]: { 0: 60, 1: 10 },
    [G.end]: { 0: 100, 1: 50 },
    [G.start]: { 0: 0 },
    [G.manual]: { 0: 20, 1: 20 },
    ...Object.fromEntries(BULK.map((b, i) => [b, { 0: i * 15, 1: i * 8 }])),
  };
  /** Records already in target partition 0 before the restore: target = source + PRE on p0. */
  const PRE = 7;
  let restoreId = '';
  let oldRestoreId = '';

  before(async () => {
    kafka = await getTestKafka();
    bootstrap = kafka.bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-offcmd-'));
    store = new FsStore(dir);
    admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
    await createTopic(bootstrap, topic, 2);
    const t0 = Date.now() - 60_000;
    const recs = (n: number, p: number): RecordInput[] =>
      Array.from({ length: n }, (_, i) => ({ key: Buffer.from(`k${p}-${i}`), value: Buffer.from(`v${p}-${i}`), headers: [], timestamp: BigInt(t0 + i) }));
    await produce(bootstrap, topic, 0, recs(100, 0), 'none', 9);
    await produce(bootstrap, topic, 1, recs(50, 1), 'lz4', 7);
    for (const [group, offs] of Object.entries(SOURCE)) await admin.commitGroupOffsets(group, commitMap(topic, offs));
    assert.equal((await runBackup(backupOpts(bootstrap, store, backupId, [topic]))).status, 'complete');

    // An older restore (another target), then the one the commands must pick: into a non-empty target.
    const oldOpts = restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: oldTarget } });
    oldRestoreId = restoreIdFor(oldOpts);
    assert.equal((await runRestore(oldOpts)).restored, 150);
    await sleep(20);
    await createTopic(bootstrap, target, 2);
    await produce(
      bootstrap,
      target,
      0,
      Array.from({ length: PRE }, (_, i) => ({ key: null, value: Buffer.from(`pre-${i}`), headers: [], timestamp: BigInt(t0) })),
    );
    const opts = restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: target }, allowNonEmptyTarget: true });
    restoreId = restoreIdFor(opts);
    assert.equal((await runRestore(opts)).restored, 150);
  });

  after(async () => {
    await admin?.close();
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  const live = async (group: string, t = target): Promise<Record<number, number>> => {
    const m = (await admin.groupOffsets([group]))[0]?.offsets.get(t);
    return Object.fromEntries([...(m ?? new Map())].map(([p, v]) => [p, Number(v.offset)]));
  };

  /** The group, from its committed offsets on the target, reads exactly the source records it had not consumed. */
  async function assertResumes(group: string): Promise<void> {
    const committed = await live(group);
    for (const [p, c] of Object.entries(SOURCE[group]!)) {
      const at = committed[Number(p)];
      assert.notEqual(at, undefined, `${group} has a committed offset on ${target}/${p}`);
      const rest = (await consumeAll(bootstrap, target, Number(p))).filter((r) => Number(r.offset) >= at!);
      const expected = (await consumeAll(bootstrap, topic, Number(p))).filter((r) => Number(r.offset) >= c);
      assert.deepEqual(
        rest.map(origin),
        expected.map((r) => Number(r.offset)),
        `${group} partition ${p}`,
      );
      assert.deepEqual(
        rest.map((r) => r.value?.toString()),
        expected.map((r) => r.value?.toString()),
      );
    }
  }

  const expectedTarget = (p: number, c: number): number => (p === 0 ? c + PRE : c);

  test('plan: exact translated offsets of the latest completed restore, says which; changes nothing on the target', async () => {
    await admin.commitGroupOffsets(G.mid, commitMap(target, { 0: 3 }));
    const r = cli(['offset-reset', 'plan', '-p', dir, '-b', backupId, '-g', `${G.mid},${G.end}`, '--bootstrap-servers', bootstrap, '-f', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as PlanJson;
    assert.equal(plan.restore_id, restoreId);
    assert.match(plan.restore_choice, new RegExp(`${restoreId}.*the latest of 2 completed restores.*${oldRestoreId}`));
    assert.equal(plan.dry_run, true);
    assert.deepEqual(plan.target_bootstrap_servers, [bootstrap]);
    const mid = plan.groups.find((x) => x.group_id === G.mid)!;
    assert.deepEqual(
      mid.partitions.map((p) => [p.topic, p.partition, p.source_offset, p.target_offset, p.offset_before, p.records_seen_twice]),
      [
        [target, 0, 60, 60 + PRE, 3, 0],
        [target, 1, 10, 10, null, 0],
      ],
    );
    const end = plan.groups.find((x) => x.group_id === G.end)!;
    assert.deepEqual(
      end.partitions.map((p) => [p.target_offset, p.at_end]),
      [
        [100 + PRE, true],
        [50, true],
      ],
    );
    assert.deepEqual(await live(G.mid), { 0: 3 }, 'plan changed nothing');
    assert.deepEqual(await live(G.end), {}, 'plan changed nothing');

    const text = cli(['offset-reset', 'plan', '-p', `file://${dir}`, '-b', backupId, '-g', G.mid]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`using restore ${restoreId}`));
    assert.match(text.stdout, new RegExp(`Group ${G.mid}: planned; records it may see twice: 0`));

    const older = JSON.parse(
      cli(['offset-reset', 'plan', '-p', dir, '-b', backupId, '-g', G.mid, '--restore-id', oldRestoreId, '-f', 'json']).stdout,
    ) as PlanJson;
    assert.deepEqual(
      older.groups[0]!.partitions.map((p) => [p.topic, p.target_offset]),
      [
        [oldTarget, 60],
        [oldTarget, 10],
      ],
    );

    const all = JSON.parse(cli(['offset-reset', 'plan', '-p', dir, '-b', backupId, '-f', 'json']).stdout) as PlanJson;
    for (const id of Object.keys(SOURCE))
      assert.ok(
        all.groups.some((x) => x.group_id === id && x.status === 'planned'),
        `all groups of the snapshot: ${id}`,
      );

    const csv = cli(['offset-reset', 'plan', '-p', dir, '-b', backupId, '-g', G.mid, '-f', 'csv']);
    assert.deepEqual(csv.stdout.trim().split('\n'), [
      'group_id,topic,partition,source_offset,target_offset,strategy,source_topic,source_partition,records_seen_twice',
      `${G.mid},${target},0,60,${60 + PRE},exact,${topic},0,0`,
      `${G.mid},${target},1,10,10,exact,${topic},1,0`,
    ]);
    const unknown = cli(['offset-reset', 'plan', '-p', dir, '-b', 'no-such-backup']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no stored restore/);
  });

  test('script: kafka-consumer-groups lines with the translated offsets; -o writes a mode 755 file', async () => {
    const r = cli(['offset-reset', 'script', '-p', dir, '-b', backupId, '-g', `${G.mid},${G.start}`, '--bootstrap-servers', bootstrap]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^#!\/usr\/bin\/env bash\n/);
    assert.ok(
      r.stdout.includes(
        `kafka-consumer-groups --bootstrap-server ${bootstrap} --group ${G.mid} --topic ${target}:0 --reset-offsets --to-offset ${60 + PRE} --execute`,
      ),
      r.stdout,
    );
    assert.ok(
      r.stdout.includes(`kafka-consumer-groups --bootstrap-server ${bootstrap} --group ${G.mid} --topic ${target}:1 --reset-offsets --to-offset 10 --execute`),
    );
    assert.ok(r.stdout.includes(`--group ${G.start} --topic ${target}:0 --reset-offsets --to-offset ${PRE} --execute`));
    const file = join(dir, 'reset.sh');
    const w = cli(['offset-reset', 'script', '-p', dir, '-b', backupId, '-g', G.mid, '-o', file]);
    assert.equal(w.code, 0, w.stderr);
    assert.equal((await stat(file)).mode & 0o777, 0o755);
    const body = await readFile(file, 'utf8');
    assert.ok(
      body.includes(`--bootstrap-server "$BOOTSTRAP_SERVERS" --group ${G.mid} --topic ${target}:0 --reset-offsets --to-offset ${60 + PRE} --execute`),
      body,
    );
    const sh = cli(['offset-reset', 'plan', '-p', dir, '-b', backupId, '-g', G.mid, '-f', 'shell-script']);
    assert.ok(sh.stdout.includes(`--to-offset ${60 + PRE} --execute`));
    const bash = spawnSync('bash', ['-n', file]);
    assert.equal(bash.status, 0, 'valid bash');
  });

  test('execute: rollback snapshot first; each group then reads exactly what it had not consumed; rollback puts the old offsets back and verify passes', async () => {
    await admin.commitGroupOffsets(G.mid, commitMap(target, { 0: 3 }));
    const r = cli([
      'offset-reset',
      'execute',
      '-p',
      dir,
      '-b',
      backupId,
      '-g',
      `${G.mid},${G.end},${G.start}`,
      '--bootstrap-servers',
      bootstrap,
      '--security-protocol',
      'plaintext',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const snapId = /Rollback snapshot (snap-\d+-[0-9a-f]{8}) saved/.exec(r.stdout)?.[1];
    assert.ok(snapId, r.stdout);
    assert.match(r.stdout, new RegExp(`Group ${G.mid}: reset; records it may see twice: 0`));
    assert.match(r.stdout, new RegExp(`${target}/0\\s+${topic}/0@60\\s+3\\s+${60 + PRE}\\s+0`), 'before / after in the report');
    for (const group of [G.mid, G.end, G.start]) await assertResumes(group);
    assert.deepEqual(await live(G.end), { 0: 100 + PRE, 1: 50 });

    const snapJson = JSON.parse(await readFile(join(dir, 'offset-snapshots', snapId, 'snapshot.json'), 'utf8')) as {
      group_offsets: Record<string, { offsets: Record<string, Record<string, { offset: number }>> }>;
    };
    assert.equal(snapJson.group_offsets[G.mid]!.offsets[target]!['0']!.offset, 3);
    assert.equal(
      snapJson.group_offsets[G.end]!.offsets[target],
      undefined,
      'a snapshot holds every topic of the group (here the source topic too, same cluster)',
    );
    const meta = JSON.parse(await readFile(join(dir, 'offset-snapshots', snapId, 'metadata.json'), 'utf8')) as {
      snapshot_id: string;
      group_count: number;
      restore_id: string;
    };
    assert.deepEqual([meta.snapshot_id, meta.group_count, meta.restore_id], [snapId, 3, restoreId]);

    const verifyBefore = cli(['offset-rollback', 'verify', '-p', dir, '-s', snapId, '-f', 'json']);
    assert.equal(verifyBefore.code, 1, 'the reset changed the offsets');
    const rb = cli(['offset-rollback', 'rollback', '-p', dir, '-s', snapId, '--bootstrap-servers', bootstrap, '-f', 'json']);
    assert.equal(rb.code, 0, rb.stderr + rb.stdout);
    const res = JSON.parse(rb.stdout) as {
      result: { status: string; groups_rolled_back: number; offsets_restored: number; offsets_deleted: number };
      verification: { verified: boolean };
    };
    assert.equal(res.result.status, 'success');
    assert.equal(res.result.groups_rolled_back, 3);
    assert.equal(res.result.offsets_restored, 6, 'the whole saved state is re-committed: source topic offsets (same cluster) + the target one');
    assert.equal(res.result.offsets_deleted, 4, 'offsets committed on partitions the groups had none for are deleted');
    assert.equal(res.verification.verified, true);
    assert.deepEqual(await live(G.mid), { 0: 3 });
    assert.deepEqual(await live(G.end), {});
    const v = cli(['offset-rollback', 'verify', '-p', dir, '-s', snapId]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /Verified: the live offsets of 3 group\(s\) match/);
  });

  test('execute refuses a group with an active member, names it, and resets the others', async () => {
    const consumer = new Consumer({ groupId: G.manual, clientId: 'busy-consumer', bootstrapBrokers: [bootstrap] });
    const stream = await consumer.consume({ topics: [target] });
    try {
      for (let i = 0; i < 100 && (await admin.describeGroups([G.manual]))[0]!.members.length === 0; i++) await sleep(100);
      const r = cli(['offset-reset', 'execute', '-p', dir, '-b', backupId, '-g', `${G.manual},${G.start}`, '--bootstrap-servers', bootstrap, '-f', 'json']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`group ${G.manual} has 1 active member.*busy-consumer`));
      const rep = JSON.parse(r.stdout) as { rollback_snapshot_id: string; groups: { group_id: string; status: string }[] };
      assert.match(rep.rollback_snapshot_id, /^snap-/);
      assert.deepEqual(
        rep.groups.map((x) => [x.group_id, x.status]),
        [
          [G.manual, 'refused'],
          [G.start, 'reset'],
        ],
      );
      assert.notDeepEqual(await live(G.manual), { 0: 20 + PRE, 1: 20 }, 'not altered');
    } finally {
      await stream.close();
      await consumer.close(true);
    }
  });

  test('snapshot (SASL/SCRAM and TLS flags) → list → show; verify fails after a manual change; delete', async () => {
    const grp = G.mid;
    await admin.commitGroupOffsets(grp, commitMap(target, { 0: 11, 1: 12 }));
    let snapArgs = ['--bootstrap-servers', bootstrap];
    let env: Record<string, string> = {};
    if (kafka.sasl) {
      snapArgs = ['--bootstrap-servers', kafka.sasl.bootstrap, '--security-protocol', 'sasl_plaintext', '--sasl-mechanism', 'scram-sha512'];
      env = { KAFKA_USERNAME: kafka.sasl.username, KAFKA_PASSWORD: kafka.sasl.password };
    }
    const s = cli(['offset-rollback', 'snapshot', '-p', dir, '-g', grp, ...snapArgs, '-d', 'before manual fix', '-f', 'json'], env);
    assert.equal(s.code, 0, s.stderr);
    const meta = JSON.parse(s.stdout) as {
      snapshot_id: string;
      created_at: string;
      group_count: number;
      offset_count: number;
      description: string;
      restore_id: null;
    };
    assert.match(meta.snapshot_id, /^snap-\d{13}-[0-9a-f]{8}$/);
    assert.ok(!Number.isNaN(Date.parse(meta.created_at)));
    assert.deepEqual([meta.group_count, meta.offset_count, meta.description, meta.restore_id], [1, 4, 'before manual fix', null]);
    if (kafka.sasl) {
      const bad = cli(['offset-rollback', 'snapshot', '-p', dir, '-g', grp, ...snapArgs.slice(0, 4), '--sasl-mechanism', 'SCRAM-MD5'], env);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /--sasl-mechanism: "SCRAM-MD5" is not one of/);
      const noCreds = cli(['offset-rollback', 'snapshot', '-p', dir, '-g', grp, ...snapArgs]);
      assert.match(noCreds.stderr, /KAFKA_USERNAME and KAFKA_PASSWORD/);
    }

    const list = JSON.parse(cli(['offset-rollback', 'list', '-p', dir, '-f', 'json']).stdout) as { snapshot_id: string }[];
    assert.equal(list[0]!.snapshot_id, meta.snapshot_id, 'newest first');
    assert.ok(list.length >= 3);
    const show = JSON.parse(cli(['offset-rollback', 'show', '-p', dir, '-s', meta.snapshot_id, '-f', 'json']).stdout) as {
      group_offsets: Record<
        string,
        { offsets: Record<string, Record<string, { offset: number; metadata: string | null; timestamp: number }>>; partition_count: number }
      >;
      cluster_id: string | null;
    };
    assert.equal(show.group_offsets[grp]!.offsets[target]!['1']!.offset, 12);
    assert.equal(show.group_offsets[grp]!.partition_count, 4);
    assert.ok(show.cluster_id);

    let verifyArgs = ['--bootstrap-servers', bootstrap];
    let venv: Record<string, string> = {};
    if (kafka.tls) {
      verifyArgs = ['--bootstrap-servers', kafka.tls.bootstrap, '--security-protocol', 'SSL'];
      venv = { KAFKA_SSL_CA_CERT: kafka.tls.caFile };
    }
    const ok = cli(['offset-rollback', 'verify', '-p', dir, '-s', meta.snapshot_id, ...verifyArgs], venv);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    await admin.commitGroupOffsets(grp, commitMap(target, { 1: 40 }));
    const bad = cli(['offset-rollback', 'verify', '-p', dir, '-s', meta.snapshot_id, ...verifyArgs, '-f', 'json'], venv);
    assert.equal(bad.code, 1);
    const vr = JSON.parse(bad.stdout) as {
      verified: boolean;
      groups_mismatched: number;
      mismatches: { group_id: string; topic: string; partition: number; expected_offset: number; actual_offset: number }[];
    };
    assert.equal(vr.verified, false);
    assert.deepEqual(vr.mismatches, [{ group_id: grp, topic: target, partition: 1, expected_offset: 12, actual_offset: 40 }]);
    const text = cli(['offset-rollback', 'verify', '-p', dir, '-s', meta.snapshot_id, ...verifyArgs], venv);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /MISMATCH: 1 group\(s\) differ/);

    const del = cli(['offset-rollback', 'delete', '-p', dir, '-s', meta.snapshot_id]);
    assert.equal(del.code, 0, del.stderr);
    const gone = cli(['offset-rollback', 'show', '-p', dir, '-s', meta.snapshot_id]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no offset snapshot/);
    assert.equal(cli(['offset-rollback', 'show', '-p', dir, '-s', '../../etc']).code, 1, 'ids are checked');
  });

  test('offset-reset-bulk: several groups in parallel, summary in the seed shape, each group exact', async () => {
    const r = cli([
      'offset-reset-bulk',
      '-p',
      dir,
      '-b',
      backupId,
      '-g',
      BULK.join(','),
      '--bootstrap-servers',
      bootstrap,
      '--max-concurrent',
      '3',
      '--max-retries',
      '2',
      '-f',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rep = JSON.parse(r.stdout) as {
      status: string;
      total_groups: number;
      successful_groups: number;
      failed_groups: number;
      total_offsets_reset: number;
      total_offsets_failed: number;
      rollback_snapshot_id: string;
      group_outcomes: {
        group_id: string;
        partitions_reset: number;
        partitions_failed: number;
        errors: unknown[];
        duration_ms: number;
        retry_attempts: number;
      }[];
      performance: {
        avg_latency_ms: number;
        p50_latency_ms: number;
        p99_latency_ms: number;
        offsets_per_second: number;
        max_concurrency: number;
        total_retries: number;
      };
    };
    assert.equal(rep.status, 'success');
    assert.deepEqual([rep.total_groups, rep.successful_groups, rep.failed_groups, rep.total_offsets_reset, rep.total_offsets_failed], [6, 6, 0, 12, 0]);
    assert.deepEqual(
      rep.group_outcomes.map((x) => x.group_id),
      BULK,
    );
    assert.ok(rep.performance.max_concurrency >= 1 && rep.performance.max_concurrency <= 3);
    assert.ok(rep.performance.p99_latency_ms >= rep.performance.p50_latency_ms);
    assert.match(rep.rollback_snapshot_id, /^snap-/);
    for (const [i, b] of BULK.entries()) {
      assert.deepEqual(await live(b), { 0: expectedTarget(0, i * 15), 1: expectedTarget(1, i * 8) });
      await assertResumes(b);
    }
    const text = cli(['offset-reset-bulk', '-p', dir, '-b', backupId, '-g', BULK.slice(0, 2).join(','), '--bootstrap-servers', bootstrap]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Bulk offset reset: success: 2 of 2 group\(s\) reset/);
  });
});
