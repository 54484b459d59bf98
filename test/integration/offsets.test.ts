import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Consumer } from '@platformatic/kafka';
import { runBackup } from '../../src/backup/engine.js';
import type { BackupOptions } from '../../src/backup/options.js';
import { KafkaAdmin } from '../../src/kafka/admin.js';
import type { KafkaRecord, RecordInput } from '../../src/kafka/protocol/record-batch.js';
import type { ResetReport, ResetStrategy } from '../../src/offsets/report.js';
import { resetGroupOffsets } from '../../src/offsets/reset.js';
import { runRestore } from '../../src/restore/engine.js';
import type { RestoreOptions } from '../../src/restore/options.js';
import { FsStore } from '../../src/storage/fs.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic, withAdmin } from '../helpers/kafka.js';
import { runCli } from '../helpers/cli.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { consumeAll, produce } from '../helpers/records.js';

const cli = (args: string[]) => runCli(args, { timeoutMs: 120_000 });
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

describe('consumer-group offset translation against the real broker', () => {
  let bootstrap: string;
  let dir: string;
  let store: FsStore;
  let admin: KafkaAdmin;
  const topic = uniqueTopic('offsets-src');
  const backupId = 'offsets-it';
  const run = Math.random().toString(36).slice(2, 8);
  const g = (name: string) => `${name}-${run}`;
  const G = { mid: g('g-mid'), gap: g('g-gap'), end: g('g-end'), start: g('g-start'), active: g('g-active') };
  let tA = 0;
  let tMid = 0;

  /** Source records of p0: 0..99 stamped tA+i except 40..44 stamped an hour earlier; then 100..119 after tMid. */
  const phaseA = (): RecordInput[] =>
    Array.from({ length: 100 }, (_, i) => ({
      key: Buffer.from(`k${i}`),
      value: Buffer.from(`v${i}`),
      headers: [],
      timestamp: BigInt(i >= 40 && i < 45 ? tA - 3_600_000 + i : tA + i),
    }));

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-offsets-'));
    store = new FsStore(dir);
    admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
    await createTopic(bootstrap, topic, 2);
    tA = Date.now() - 60_000;
    await produce(bootstrap, topic, 0, phaseA(), 'none', 7);
    await produce(
      bootstrap,
      topic,
      1,
      Array.from({ length: 50 }, (_, i) => ({ key: null, value: Buffer.from(`p1-${i}`), headers: [], timestamp: BigInt(tA + i) })),
      'lz4',
      9,
    );
    await admin.commitGroupOffsets(
      G.mid,
      new Map([
        [
          topic,
          new Map([
            [0, 60n],
            [1, 10n],
          ]),
        ],
      ]),
    );
    await admin.commitGroupOffsets(G.gap, commitMap(topic, { 0: 42 }));
    await admin.commitGroupOffsets(G.end, commitMap(topic, { 0: 100, 1: 50 }));
    await admin.commitGroupOffsets(G.start, commitMap(topic, { 0: 0 }));
    await admin.commitGroupOffsets(G.active, commitMap(topic, { 0: 5 }));
    assert.equal((await runBackup(backupOpts(bootstrap, store, backupId, [topic]))).status, 'complete');
    await sleep(50);
    tMid = Date.now();
    await sleep(50);
    // Later: 20 more records, and the groups move on (the second backup run snapshots that).
    await produce(
      bootstrap,
      topic,
      0,
      Array.from({ length: 20 }, (_, i) => ({ key: null, value: Buffer.from(`late-${i}`), headers: [], timestamp: BigInt(Date.now() + i) })),
    );
    await admin.commitGroupOffsets(
      G.mid,
      new Map([
        [
          topic,
          new Map([
            [0, 110n],
            [1, 50n],
          ]),
        ],
      ]),
    );
    await admin.commitGroupOffsets(G.end, commitMap(topic, { 0: 120, 1: 50 }));
    assert.equal((await runBackup(backupOpts(bootstrap, store, backupId, [topic]))).status, 'complete');
  });

  after(async () => {
    await admin?.close();
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  /** The group's committed offsets on `target` must make it read exactly the source records at or after its source offsets (restricted to `kept`). */
  async function assertResumes(
    rep: ResetReport,
    target: string,
    groups: Record<string, Record<number, number>>,
    kept: (r: KafkaRecord) => boolean = () => true,
  ): Promise<void> {
    for (const [group, commits] of Object.entries(groups)) {
      const gr = rep.groups.find((x) => x.groupId === group)!;
      assert.equal(gr.status, 'reset', `${group}: ${gr.reason}`);
      const live = (await admin.groupOffsets([group]))[0]!.offsets.get(target)!;
      for (const [p, c] of Object.entries(commits)) {
        const committed = Number(live.get(Number(p))!.offset);
        const partReport = gr.partitions.find((x) => x.targetPartition === Number(p))!;
        assert.equal(partReport.after, committed);
        const rest = (await consumeAll(bootstrap, target, Number(p))).filter((r) => Number(r.offset) >= committed);
        const expected = (await consumeAll(bootstrap, topic, Number(p))).filter((r) => Number(r.offset) >= c && kept(r));
        assert.deepEqual(
          rest.map(origin),
          expected.map((r) => Number(r.offset)),
          `${group} ${rep.technique} partition ${p}`,
        );
        assert.deepEqual(
          rest.map((r) => r.value?.toString()),
          expected.map((r) => r.value?.toString()),
        );
        assert.equal(partReport.duplicates, 0);
      }
    }
  }

  describe('full restore', () => {
    const target = uniqueTopic('offsets-full');
    let opts: RestoreOptions;
    before(async () => {
      opts = restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: target } });
      assert.equal((await runRestore(opts)).restored, 170);
    });

    for (const technique of ['exact', 'header-based', 'timestamp-based'] as ResetStrategy[]) {
      test(`${technique}: each group reads exactly what it had not consumed (latest snapshot; one at the end of the log)`, async () => {
        const groups = [G.mid, G.end, G.start];
        const rep = await resetGroupOffsets({ restore: opts, strategy: technique, groups });
        assert.equal(rep.offsetsFrom.kind, 'snapshot');
        await assertResumes(rep, target, { [G.mid]: { 0: 110, 1: 50 }, [G.end]: { 0: 120, 1: 50 }, [G.start]: { 0: 0 } });
        const end = rep.groups.find((x) => x.groupId === G.end)!;
        assert.deepEqual(
          end.partitions.map((p) => [p.after, p.atEnd]),
          [
            [120, true],
            [50, true],
          ],
        );
      });
    }

    test('timestamp-based on out-of-order timestamps: never skips, and says how many records it may repeat', async () => {
      const rep = await resetGroupOffsets({ restore: opts, strategy: 'timestamp-based', groups: [G.gap] });
      const p = rep.groups[0]!.partitions[0]!;
      // Record 42 is stamped an hour before record 0: ListOffsets lands on 0, so 0..41 are read again.
      assert.equal(p.after, 0);
      assert.equal(p.duplicates, 42);
      assert.equal(p.duplicatesApproximate, true);
      const exact = await resetGroupOffsets({ restore: opts, strategy: 'exact', groups: [G.gap] });
      assert.equal(exact.groups[0]!.partitions[0]!.after, 42);
      assert.equal(exact.groups[0]!.partitions[0]!.before, 0, 'offsets before are reported');
    });
  });

  describe('PITR restore', () => {
    const target = uniqueTopic('offsets-pitr');
    let opts: RestoreOptions;
    const inWindow = (r: KafkaRecord) => Number(r.timestamp) >= tA - 1000 && Number(r.timestamp) <= tMid;
    before(async () => {
      opts = restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: target }, windowStart: tA - 1000, windowEnd: tMid });
      assert.equal((await runRestore(opts)).restored, 95 + 50);
    });

    for (const technique of ['exact', 'header-based', 'timestamp-based'] as ResetStrategy[]) {
      test(`${technique}: groups resume at their position as of the window's end; one committed in a gap left by the window`, async () => {
        const rep = await resetGroupOffsets({ restore: opts, strategy: technique, groups: [G.mid, G.gap, G.end] });
        assert.ok(rep.offsetsFrom.kind === 'snapshot' && rep.offsetsFrom.takenAt <= tMid, 'the snapshot taken before the window end');
        // g-mid was at 60/10 then (110/50 later); g-gap at 42, which the window left out (40..44); g-end at the end.
        await assertResumes(rep, target, { [G.mid]: { 0: 60, 1: 10 }, [G.gap]: { 0: 42 }, [G.end]: { 0: 100, 1: 50 } }, inWindow);
        const gap = rep.groups.find((x) => x.groupId === G.gap)!.partitions[0]!;
        assert.equal(gap.after, 40, 'source 45 is target 40');
      });
    }
  });

  test('a group with an active member on the target is not altered, and the error names it', async () => {
    const target = uniqueTopic('offsets-active');
    const opts = restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: target } });
    await runRestore(opts);
    await admin.commitGroupOffsets(G.active, commitMap(target, { 0: 3 }));
    const consumer = new Consumer({ groupId: G.active, clientId: 'still-running-consumer', bootstrapBrokers: [bootstrap] });
    const stream = await consumer.consume({ topics: [target] });
    try {
      for (let i = 0; i < 100 && (await admin.describeGroups([G.active]))[0]!.members.length === 0; i++) await sleep(100);
      const rep = await resetGroupOffsets({ restore: opts, strategy: 'exact', groups: [G.active, G.start] });
      const active = rep.groups.find((x) => x.groupId === G.active)!;
      assert.equal(active.status, 'refused');
      assert.match(active.reason!, new RegExp(`group ${G.active} has 1 active member.*still-running-consumer`));
      assert.equal(rep.groups.find((x) => x.groupId === G.start)!.status, 'reset', 'other groups are still reset');
      assert.equal((await admin.groupOffsets([G.active]))[0]!.offsets.get(target)!.get(0)!.offset, 3n, 'not altered');
    } finally {
      await stream.close();
      await consumer.close(true);
    }
  });

  test('CLI: reset_consumer_offsets: true with the default strategy resets the groups to the translated offsets (exact), and validate-restore says so', async () => {
    const target = uniqueTopic('offsets-default');
    // The window leaves out source offsets 40..44 of p0 (stamped an hour earlier), so target offsets differ from source ones.
    const cfg = join(dir, 'default-strategy.yaml');
    await writeFile(
      cfg,
      `mode: restore\nbackup_id: ${backupId}\ntarget:\n  bootstrap_servers: [${bootstrap}]\nstorage:\n  backend: filesystem\n  path: ${dir}\nrestore:\n  time_window_start: ${tA}\n  topic_mapping: { ${topic}: ${target} }\n  reset_consumer_offsets: true\n  consumer_groups: [${G.mid}, ${G.gap}]\n`,
    );
    const v = cli(['validate-restore', '--config', cfg]);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    assert.match(
      v.stdout,
      /Consumer offsets:\n {2}reset after the restore with technique exact \(the restore's offset map\) \(reset_consumer_offsets: true with the default strategy\); source positions from the group snapshot taken /,
    );
    assert.match(v.stdout, new RegExp(`groups: ${G.mid}, ${G.gap}\n`));
    const r = cli(['restore', '--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /technique exact/);
    assert.match(r.stdout, new RegExp(`Group ${G.gap}: reset`));
    const live = async (g: string) => (await admin.groupOffsets([g]))[0]!.offsets.get(target);
    // g-gap committed source 42 (left out by the window): the next restored record is source 45, target 40.
    assert.equal((await live(G.gap))?.get(0)?.offset, 40n);
    // g-mid's latest snapshot: p0 at 110 (target 105, five records earlier left out), p1 at 50 (its end).
    assert.equal((await live(G.mid))?.get(0)?.offset, 105n);
    assert.equal((await live(G.mid))?.get(1)?.offset, 50n);
  });

  test('CLI: a consumer-group combination that cannot work is refused when the config is loaded, before any data is written', async () => {
    const target = uniqueTopic('offsets-refused');
    const base = `mode: restore\nbackup_id: ${backupId}\ntarget:\n  bootstrap_servers: [${bootstrap}]\nstorage:\n  backend: filesystem\n  path: ${dir}\nrestore:\n  topic_mapping: { ${topic}: ${target} }\n  reset_consumer_offsets: true\n`;
    for (const [extra, key] of [
      ['  consumer_group_strategy: cluster-scan\n', /restore\.consumer_group_strategy: cluster-scan is not supported/],
      ['  consumer_group_strategy: manual\n', /restore\.consumer_group_strategy: manual needs restore\.manual_offsets/],
      [
        '  partition_mapping: { 1: 0 }\n  consumer_group_strategy: header-based\n',
        /holds records of several source partitions .*use consumer_group_strategy: exact.*nothing was written|nothing was written.*several source partitions/,
      ],
    ] as const) {
      const cfg = join(dir, 'refused.yaml');
      await writeFile(cfg, base + extra);
      const r = cli(['restore', '--config', cfg]);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, key);
      assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
      const topics = await withAdmin(bootstrap, (a) => a.listTopics());
      assert.ok(!topics.includes(target), `target topic ${target} was not created`);
    }
  });

  test('CLI: restore with reset_consumer_offsets, then three-phase-restore resuming at the failed phase', async () => {
    const target = uniqueTopic('offsets-cli');
    const yaml = (extra: string) =>
      `mode: restore\nbackup_id: ${backupId}\ntarget:\n  bootstrap_servers: [${bootstrap}]\nstorage:\n  backend: filesystem\n  path: ${dir}\nrestore:\n  topic_mapping: { ${topic}: ${target} }\n  include_original_offset_header: true\n${extra}`;
    const cfg = join(dir, 'restore.yaml');
    await writeFile(cfg, yaml(`  consumer_group_strategy: exact\n  reset_consumer_offsets: true\n  consumer_groups: [${G.mid}]\n`));
    const r = cli(['restore', '--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Group ${G.mid}: reset`));
    assert.match(r.stdout, /technique exact/);
    assert.equal((await admin.groupOffsets([G.mid]))[0]!.offsets.get(target)!.get(0)!.offset, 110n);

    // three-phase: phase 3 fails (active member), the re-run skips phases 1-2 and succeeds.
    const target2 = uniqueTopic('offsets-3p');
    const cfg2 = join(dir, 'three.yaml');
    await writeFile(cfg2, yaml(`  consumer_group_strategy: header-based\n  consumer_groups: [${G.active}]\n`).replace(target, target2));
    const consumer = new Consumer({ groupId: G.active, clientId: 'blocking-consumer', bootstrapBrokers: [bootstrap] });
    const stream = await consumer.consume({ topics: [topic] });
    for (let i = 0; i < 100 && (await admin.describeGroups([G.active]))[0]!.members.length === 0; i++) await sleep(100);
    const first = cli(['three-phase-restore', '--config', cfg2]);
    await stream.close();
    await consumer.close(true);
    assert.equal(first.code, 1);
    assert.match(first.stdout, /\[PHASE 1\/3\] done: 170 records restored/);
    assert.match(first.stdout, /\[PHASE 2\/3\] done/);
    assert.match(first.stderr, new RegExp(`group ${G.active} has 1 active member.*blocking-consumer`));
    for (let i = 0; i < 100 && (await admin.describeGroups([G.active]))[0]!.members.length > 0; i++) await sleep(100);
    const second = cli(['three-phase-restore', '--config', cfg2]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /\[PHASE 1\/3\] Restoring data with offset headers: already done/);
    assert.match(second.stdout, /\[PHASE 2\/3\] Building the consumer-group offset mapping: already done/);
    assert.match(second.stdout, new RegExp(`Group ${G.active}: reset`));
    assert.equal((await admin.groupOffsets([G.active]))[0]!.offsets.get(target2)!.get(0)!.offset, 5n);

    const map = cli(['show-offset-mapping', '--path', dir, '--backup-id', backupId, '--format', 'json']);
    assert.equal(map.code, 0, map.stderr);
    const entries = (
      JSON.parse(map.stdout) as {
        entries: { target_topic: string; target_partition: number; source_first_offset: number; target_last_offset: number; records: number }[];
      }
    ).entries;
    const e = entries.find((x) => x.target_topic === target2 && x.target_partition === 0)!;
    assert.deepEqual([e.source_first_offset, e.target_last_offset, e.records], [0, 119, 120]);
    const csv = cli(['show-offset-mapping', '--path', dir, '--backup-id', backupId, '--format', 'csv']);
    assert.match(csv.stdout, /^restore_id,target_topic,target_partition,source_topic/);
  });
});
