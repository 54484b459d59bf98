import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { groupSnapshotSchema } from '../../src/format/group-snapshot.js';
import { partitionIndexSchema } from '../../src/format/partition-index.js';
import { KafkaAdmin } from '../../src/kafka/admin.js';
import { FsStore } from '../../src/storage/fs.js';
import { freePort, ROOT, waitFor } from '../../scripts/proc.js';
import type { BackupChildConfig } from '../helpers/backup-child.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { awkwardRecords, produce } from '../helpers/records.js';
import type { BackupStatus } from '../../src/backup/status.js';
import type { SnapshotGroupsResult } from '../../src/backup/group-snapshot.js';
import type { LiveStatus } from '../../src/metrics/live.js';
import { runCli, type CliResult } from '../helpers/cli.js';

function cli(args: string[]): CliResult {
  return runCli(args);
}

describe('status and snapshot-groups', () => {
  let bootstrap: string;
  let dir: string;

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-status-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  const backupYaml = (id: string, topic: string, extra = ''): string =>
    `mode: backup\nbackup_id: ${id}\nsource:\n  bootstrap_servers: ["${bootstrap}"]\n  topics:\n    include: ["${topic}"]\nstorage:\n  backend: filesystem\n  path: ${join(dir, 'backups')}\nbackup:\n  segment_max_records: 40\n${extra}`;

  test('status of a finished backup: complete, every partition at its end offset; live lag with --bootstrap-servers; snapshot-groups names a group with offsets', async () => {
    const topic = uniqueTopic('status-done');
    await createTopic(bootstrap, topic, 2);
    await produce(bootstrap, topic, 0, awkwardRecords(120, Date.UTC(2024, 10, 10), 1), 'lz4');
    await produce(bootstrap, topic, 1, awkwardRecords(80, Date.UTC(2024, 10, 10), 2));
    const file = join(dir, 'done.yaml');
    await writeFile(file, backupYaml('done', topic, 'metrics:\n  enabled: false\n'));
    const b = cli(['backup', '--config', file]);
    assert.equal(b.code, 0, b.stderr);

    const j = cli(['status', '--path', join(dir, 'backups'), '--backup-id', 'done', '--format', 'json']);
    assert.equal(j.code, 0, j.stderr);
    const s = JSON.parse(j.stdout) as BackupStatus;
    assert.equal(s.status, 'complete');
    assert.equal(s.records, 200);
    assert.equal(s.records_behind, 0);
    assert.ok(s.completed_at !== null && s.updated_at >= s.created_at);
    assert.deepEqual(
      s.partitions.map((p) => [p.partition, p.position, p.end_offset_at_start, p.records_behind]),
      [
        [0, 120, 120, 0],
        [1, 80, 80, 0],
      ],
    );
    assert.ok(s.partitions.every((p) => p.last_segment_at !== null && p.segments >= 2));

    const t = cli(['status', '-p', join(dir, 'backups'), '-b', 'done']);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /Status: +complete/);
    assert.match(t.stdout, /Last checkpoint: \d{4}-/);
    assert.match(t.stdout, new RegExp(`${topic} +0 +120 +120 +0 +120 `));

    await produce(bootstrap, topic, 0, awkwardRecords(15, Date.UTC(2024, 10, 11), 3));
    const live = cli(['status', '-p', join(dir, 'backups'), '-b', 'done', '-f', 'json', '--bootstrap-servers', bootstrap]);
    assert.equal(live.code, 0, live.stderr);
    const ls = JSON.parse(live.stdout) as BackupStatus;
    assert.equal(ls.live_records_behind, 15);
    assert.deepEqual(
      ls.partitions.map((p) => [p.live_end_offset, p.live_records_behind]),
      [
        [135, 15],
        [80, 0],
      ],
    );
    assert.match(cli(['status', '-p', join(dir, 'backups'), '-b', 'done', '--bootstrap-servers', bootstrap]).stdout, /behind the current end offsets: 15/);

    // snapshot-groups: a group that committed offsets on the backed-up topic is in the new snapshot.
    const group = `status-group-${Date.now()}`;
    const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
    try {
      await admin.commitGroupOffsets(
        group,
        new Map([
          [
            topic,
            new Map([
              [0, 70n],
              [1, 33n],
            ]),
          ],
        ]),
      );
    } finally {
      await admin.close();
    }
    const g = cli(['snapshot-groups', '--config', file, '-f', 'json']);
    assert.equal(g.code, 0, g.stderr);
    const r = JSON.parse(g.stdout) as SnapshotGroupsResult;
    assert.deepEqual(r.topics, [topic]);
    assert.deepEqual(
      r.groups.find((x) => x.group_id === group),
      { group_id: group, topics: [topic], partitions: 2 },
    );
    const stored = await readJsonObject(new FsStore(join(dir, 'backups')), r.key, groupSnapshotSchema);
    assert.ok(r.key.startsWith(keys.groupsPrefix('done')));
    assert.deepEqual(stored?.groups.find((x) => x.group_id === group)?.offsets, { [topic]: { '0': 70, '1': 33 } });
    assert.match(cli(['snapshot-groups', '--config', file]).stdout, new RegExp(`${group}: 2 partitions on ${topic}`));
  });

  test('status of an interrupted backup (SIGKILL): still "running" with the resume hint, positions from the indexes', async () => {
    const topic = uniqueTopic('status-killed');
    await createTopic(bootstrap, topic, 2);
    await produce(bootstrap, topic, 0, awkwardRecords(100, Date.UTC(2024, 10, 10), 4));
    await produce(bootstrap, topic, 1, awkwardRecords(60, Date.UTC(2024, 10, 10), 5));
    const backups = join(dir, 'killed');
    const cfg: BackupChildConfig = {
      bootstrap,
      dir: backups,
      backupId: 'killed',
      topics: [topic],
      options: { continuous: true, segmentMaxRecords: 30, segmentMaxIntervalMs: 200 },
    };
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/backup-child.ts'), JSON.stringify(cfg)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const store = new FsStore(backups);
    try {
      await waitFor(
        'every record durable',
        async () => {
          const i0 = await readJsonObject(store, keys.partitionIndex('killed', topic, 0), partitionIndexSchema);
          const i1 = await readJsonObject(store, keys.partitionIndex('killed', topic, 1), partitionIndexSchema);
          return i0?.next_offset === 100 && i1?.next_offset === 60;
        },
        { timeoutMs: 60_000, intervalMs: 50, abort: () => (child.exitCode !== null ? `backup child exited with ${child.exitCode}` : undefined) },
      );
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit').catch(() => {});
    }
    await produce(bootstrap, topic, 1, awkwardRecords(25, Date.UTC(2024, 10, 11), 6));

    const j = cli(['status', '-p', backups, '-b', 'killed', '-f', 'json', '--bootstrap-servers', bootstrap]);
    assert.equal(j.code, 0, j.stderr);
    const s = JSON.parse(j.stdout) as BackupStatus;
    assert.equal(s.status, 'running', 'a killed backup never finalises its manifest');
    assert.equal(s.mode, 'continuous');
    assert.equal(s.records, 160);
    assert.deepEqual(
      s.partitions.map((p) => [p.position, p.end_offset_at_start, p.records_behind, p.live_records_behind]),
      [
        [100, 100, 0, 0],
        [60, 60, 0, 25],
      ],
    );
    assert.equal(s.live_records_behind, 25);
    const t = cli(['status', '-p', backups, '-b', 'killed']);
    assert.match(t.stdout, /Status: +running/);
    assert.match(t.stdout, /interrupted: run the same backup again to resume/);
  });

  test('status --config [--watch] reads the running backup from its metrics endpoint', async () => {
    const topic = uniqueTopic('status-live');
    await createTopic(bootstrap, topic, 1);
    await produce(bootstrap, topic, 0, awkwardRecords(90, Date.UTC(2024, 10, 10), 7));
    const port = await freePort();
    const file = join(dir, 'live.yaml');
    await writeFile(
      file,
      backupYaml('live', topic, `  continuous: true\n  segment_max_interval_ms: 200\nmetrics:\n  port: ${port}\n  bind_address: 127.0.0.1\n`),
    );
    const backup = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), 'backup', '--config', file], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    backup.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      let live: LiveStatus | undefined;
      await waitFor(
        'live status',
        async () => {
          const r = cli(['status', '--config', file, '-f', 'json']);
          if (r.code !== 0) return false;
          live = JSON.parse(r.stdout) as LiveStatus;
          return live.records === 90 && live.lag_records === 0;
        },
        { timeoutMs: 60_000, intervalMs: 300, abort: () => (backup.exitCode !== null ? `backup exited: ${stderr}` : undefined) },
      );
      assert.equal(live?.mode, 'backup');
      assert.equal(live?.backup_id, 'live');
      assert.equal(live?.health?.status, 'healthy');
      assert.deepEqual(
        live?.partitions.map((p) => [p.topic, p.partition, p.offset, p.lag]),
        [[topic, '0', 90, 0]],
      );
      assert.match(cli(['status', '--config', file]).stdout, /Records: 90 .*\n.*Lag: 0 records/);

      const watch = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), 'status', '--config', file, '--watch', '--interval', '0.5'], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      watch.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor('three refreshes', async () => (out.match(/kafka-backup backup of live: healthy/g) ?? []).length >= 3, {
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      watch.kill('SIGINT');
      const [code] = (await once(watch, 'exit')) as [number | null];
      assert.equal(code, 0);
    } finally {
      backup.kill('SIGTERM');
      await once(backup, 'exit');
    }
    assert.equal(cli(['status', '--config', file]).code, 1, 'nothing answers once the backup stopped');
    assert.equal(cli(['status', '--config', file, '-p', dir]).code, 1);
    assert.match(cli(['status', '--watch', '-p', dir, '-b', 'x']).stderr, /--watch needs --config/);
  });

  test("status --db-path (the Rust tool's local offsets database) is refused with the reason and the alternative", () => {
    const r = cli(['status', '--db-path', './offsets.db', '-p', dir, '-b', 'x']);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      "error: status --db-path: this tool keeps no local offsets database (the Rust tool's SQLite file); a backup's progress is in the backup itself: use status --path URL --backup-id ID, or --config FILE for the running job\n",
    );
  });
});
