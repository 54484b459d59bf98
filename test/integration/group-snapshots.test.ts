/**
 * Consumer-group snapshots in a long-running backup (issue 19 item 10), against the real broker:
 * a continuous backup writes a snapshot object only when committed offsets changed since the last
 * one it wrote, and with backup.consumer_group_snapshot_min_interval_secs no sooner than that after
 * it (the end of the run writes a changed state whatever the interval).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import type { BackupSummary } from '../../src/backup/options.js';
import { KafkaAdmin } from '../../src/kafka/admin.js';
import { FsStore } from '../../src/storage/fs.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { awkwardRecords, produce } from '../helpers/records.js';
import { testBackupOptions } from '../helpers/options.js';
import { sleep } from '../helpers/ports.js';

let bootstrap: string;
let dir: string;
let store: FsStore;
let admin: KafkaAdmin;

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-group-snapshots-'));
  store = new FsStore(join(dir, 'backups'));
  admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
});

after(async () => {
  await admin?.close();
  await store?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

interface Snap {
  taken_at: number;
  groups: { group_id: string; offsets: Record<string, Record<string, number>> }[];
}

async function snapshots(backupId: string): Promise<Snap[]> {
  const d = join(dir, 'backups', backupId, 'consumer-groups');
  const names = (await readdir(d).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
  return Promise.all(names.map(async (n) => JSON.parse(await readFile(join(d, n), 'utf8')) as Snap));
}

async function commit(group: string, topic: string, offset: number): Promise<void> {
  await admin.commitGroupOffsets(group, new Map([[topic, new Map([[0, BigInt(offset)]])]]));
}

/** A continuous backup with a 1 s sync, run while `during` does its work, then stopped. */
async function continuousWhile(
  backupId: string,
  topic: string,
  extra: { groupSnapshotMinIntervalSecs?: number },
  during: () => Promise<void>,
): Promise<BackupSummary> {
  const ac = new AbortController();
  const run = runBackup({
    ...testBackupOptions(bootstrap, store, backupId, [topic], { continuous: true, syncIntervalSecs: 1, segmentMaxIntervalMs: 500, ...extra }),
    signal: ac.signal,
    lease: false,
  });
  try {
    await during();
  } finally {
    ac.abort();
  }
  return run;
}

describe('consumer-group snapshots of a continuous backup', () => {
  test('written only when committed offsets changed: 6 s of syncs with still offsets leave one object; a commit adds one', { timeout: 120_000 }, async () => {
    const topic = uniqueTopic('grp-snap');
    const group = `g-${topic}`;
    await createTopic(bootstrap, topic, 1);
    await produce(bootstrap, topic, 0, awkwardRecords(50, Date.now(), 1));
    await commit(group, topic, 10);
    let duringQuiet = 0;
    const sum = await continuousWhile('still', topic, {}, async () => {
      await sleep(6000);
      duringQuiet = (await snapshots('still')).length;
      await commit(group, topic, 25);
      await sleep(3000);
    });
    assert.equal(sum.status, 'stopped');
    assert.equal(duringQuiet, 1, 'six syncs with unchanged offsets: only the snapshot taken at the start');
    const all = await snapshots('still');
    assert.equal(all.length, 2, 'the commit made one more, and the end of the run (no change since) none');
    assert.deepEqual(
      all.map((s) => s.groups.find((g) => g.group_id === group)?.offsets[topic]?.['0']),
      [10, 25],
    );
    assert.equal(sum.groupsSnapshotted, 1);
  });

  test('consumer_group_snapshot_min_interval_secs: offsets moving every 500 ms give no snapshot within the interval; the end of the run writes the last state', {
    timeout: 120_000,
  }, async () => {
    const topic = uniqueTopic('grp-snap-min');
    const group = `g-${topic}`;
    await createTopic(bootstrap, topic, 1);
    await produce(bootstrap, topic, 0, awkwardRecords(50, Date.now(), 2));
    await commit(group, topic, 1);
    let during = 0;
    await continuousWhile('min', topic, { groupSnapshotMinIntervalSecs: 3600 }, async () => {
      await sleep(1500);
      for (let o = 2; o <= 10; o++) {
        await commit(group, topic, o);
        await sleep(500);
      }
      during = (await snapshots('min')).length;
    });
    assert.equal(during, 1, 'only the snapshot of the start within the hour');
    const all = await snapshots('min');
    assert.equal(all.length, 2);
    assert.equal(all.at(-1)!.groups.find((g) => g.group_id === group)?.offsets[topic]?.['0'], 10, 'the end of the run stored the latest offsets');
  });
});
