/**
 * Stalls and leaderless partitions (issue 19 item 6), against real brokers:
 *  - an open transaction holds the last stable offset: a continuous backup's fetches of that
 *    partition come back empty below the high watermark; after backup.empty_fetch_retry_secs it
 *    says so, naming the partition, the offset and the reason, and carries on; once the
 *    transaction commits it catches up (source.connection.fetch_max_wait_ms set, read from the file);
 *  - a 3-node cluster where the only replica of a partition is on a node stopped hard (SIGSTOP:
 *    fenced by the controller, the partition has no leader): the backup waits for it with a warning
 *    naming it, the process keeps running and the other partitions carry on; once the node is back
 *    the backup catches up, exact. A restore of that backup into the cluster creates its topic and
 *    waits for every new partition's leader before producing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Producer } from '@platformatic/kafka';
import { KafkaAdmin, LATEST } from '../../src/kafka/admin.js';
import { KafkaCluster } from '../../src/kafka/cluster.js';
import { readJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { partitionIndexSchema } from '../../src/format/partition-index.js';
import { runRestore } from '../../src/restore/engine.js';
import { FsStore } from '../../src/storage/fs.js';
import { startKafkaCluster, type RunningKafkaCluster } from '../../scripts/kafka.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { assertBackupExact } from '../helpers/backup-read.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { testRestoreOptions } from '../helpers/options.js';
import { sleep } from '../helpers/ports.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = [process.execPath, '--import', 'tsx', join(ROOT, 'src/cli/run.ts')] as const;

let dir: string;
let store: FsStore;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kb-stalls-'));
  store = new FsStore(join(dir, 'backups'));
});

after(async () => {
  await store?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

interface Child {
  proc: ChildProcess;
  stderr: () => string;
}

function startBackup(config: string): Child {
  const proc = spawn(CLI[0], [...CLI.slice(1), 'backup', '--config', config], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { proc, stderr: () => err };
}

async function stop(child: Child): Promise<number | null> {
  if (child.proc.exitCode !== null) return child.proc.exitCode;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 60_000);
  const [code] = (await once(child.proc, 'exit')) as [number | null];
  clearTimeout(timer);
  return code;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.equal(child.proc.exitCode, null, `the backup exited while waiting for ${what}: ${child.stderr()}`);
    assert.ok(Date.now() < deadline, `${what}: not within ${timeoutMs} ms\n${child.stderr()}`);
    await sleep(250);
  }
}

async function caughtUp(bootstraps: string[], backupId: string, topic: string, partitions: number): Promise<boolean> {
  const admin = new KafkaAdmin({ bootstrapServers: bootstraps });
  try {
    const parts = [...Array(partitions).keys()];
    const ends = await admin.listOffsets(topic, parts, LATEST, true);
    for (const p of parts) {
      const idx = await readJsonObject(store, keys.partitionIndex(backupId, topic, p), partitionIndexSchema);
      if ((idx?.next_offset ?? -1) < Number(ends.get(p) ?? 0n)) return false;
    }
    return true;
  } finally {
    await admin.close();
  }
}

function config(backupId: string, bootstraps: string[], topic: string, extra: string): string {
  return (
    `mode: backup\nbackup_id: ${backupId}\nsource:\n  bootstrap_servers: [${bootstraps.join(', ')}]\n  topics: { include: [${topic}] }\n` +
    `  connection:\n    request_timeout_ms: 5000\n    fetch_max_wait_ms: 200\n` +
    `storage:\n  backend: filesystem\n  path: ${join(dir, 'backups')}\n` +
    `backup:\n  continuous: true\n  segment_max_interval_ms: 500\n  poll_interval_ms: 100\n  sync_interval_secs: 2\n${extra}metrics:\n  enabled: false\n`
  );
}

describe('stalls and leaderless partitions', () => {
  test('an open transaction stalls a partition: after empty_fetch_retry_secs a warning names it and why; the commit lets it catch up', {
    timeout: 180_000,
  }, async () => {
    const bootstrap = (await getTestKafka()).bootstrap;
    const topic = uniqueTopic('stall-txn');
    await createTopic(bootstrap, topic, 2);
    await produce(bootstrap, topic, 0, awkwardRecords(30, Date.now(), 1));
    await produce(bootstrap, topic, 1, awkwardRecords(30, Date.now(), 2));
    const file = join(dir, 'stall.yaml');
    await writeFile(file, config('stall', [bootstrap], topic, '  empty_fetch_retry_secs: 2\n'));
    const producer = new Producer({ clientId: 'kb-stall', bootstrapBrokers: [bootstrap], idempotent: true, transactionalId: `${topic}-txn` });
    const child = startBackup(file);
    try {
      await waitFor('the records before the transaction', () => caughtUp([bootstrap], 'stall', topic, 2), child, 60_000);
      const txn = await producer.beginTransaction();
      await txn.send({
        messages: Array.from({ length: 10 }, (_, i) => ({ topic, partition: 0, key: Buffer.from(`t${i}`), value: Buffer.from(`in-txn-${i}`) })),
      });
      const warning =
        /"msg":"[^"]*\/0: no records fetched at offset 30 although the high watermark is 4\d \(an open transaction holds the last stable offset at 30\); waiting"/;
      await waitFor('the stall warning', () => warning.test(child.stderr()), child, 30_000);
      await produce(bootstrap, topic, 1, awkwardRecords(20, Date.now(), 3));
      await waitFor('partition 1 carrying on', () => partitionReached(topic, 1, 'stall', 50), child, 30_000);
      await txn.commit();
      // The 10 records and the commit marker (the LSO moves once the coordinator has written the marker).
      await waitFor('catching up after the commit', () => partitionReached(topic, 0, 'stall', 41), child, 60_000);
      assert.equal(await stop(child), 0, child.stderr());
      assert.match(child.stderr(), /partition moving again/);
      await assertBackupExact(bootstrap, store, 'stall', topic, 2);
    } finally {
      await producer.close().catch(() => {});
      if (child.proc.exitCode === null) child.proc.kill('SIGKILL');
    }
  });

  describe('a 3-node cluster', () => {
    let cluster: RunningKafkaCluster | undefined;
    before(async () => {
      cluster = await startKafkaCluster({ nodes: 3 });
    });
    after(async () => {
      for (const n of cluster?.nodes ?? []) n.resume();
      await cluster?.stop();
    });

    test('a partition whose only broker is stopped hard has no leader: waited for with a warning naming it, the others carry on; back, exact; a restore waits for new leaders', {
      timeout: 400_000,
    }, async () => {
      const k = cluster!;
      const topic = uniqueTopic('leaderless');
      const admin = new KafkaAdmin({ bootstrapServers: k.bootstraps });
      await admin.createTopic(topic, 3, 1, {});
      await admin.close();
      const meta = await KafkaCluster.connect({ bootstrapServers: k.bootstraps });
      let leaders: Map<number, number>;
      try {
        for (;;) {
          const t = (await meta.refresh()).topics.get(topic);
          if (t && t.partitions.length === 3 && t.partitions.every((p) => p.leader >= 0)) {
            leaders = new Map(t.partitions.map((p) => [p.partition, p.leader]));
            break;
          }
          await sleep(200);
        }
      } finally {
        await meta.close();
      }
      for (let p = 0; p < 3; p++) await produce(k.bootstraps[0]!, topic, p, awkwardRecords(40, Date.now(), p + 1));
      // Stop the node leading partition 0; bootstrap on the other two so the client always finds metadata.
      const victim = k.nodes.find((n) => n.nodeId === leaders.get(0))!;
      const others = k.nodes.filter((n) => n !== victim).map((n) => n.bootstrap);
      const file = join(dir, 'leaderless.yaml');
      await writeFile(file, config('leaderless', others, topic, '  empty_fetch_retry_secs: 5\n'));
      const child = startBackup(file);
      try {
        await waitFor('the first records', () => caughtUp(others, 'leaderless', topic, 3), child, 90_000);
        victim.pause();
        const warning = new RegExp(
          `"msg":"${topic}/0 has no leader \\(its broker may be down\\): waiting for the cluster to elect one; the other partitions carry on"`,
        );
        await waitFor('the no-leader warning', () => warning.test(child.stderr()), child, 150_000);
        // A partition on another node keeps being backed up meanwhile.
        const other = [...leaders].find(([, node]) => node !== victim.nodeId)![0];
        await produceRetrying(others[0]!, topic, other, awkwardRecords(25, Date.now(), 9));
        await waitFor(`partition ${other} carrying on`, () => partitionReached(topic, other, 'leaderless', 65), child, 60_000);
        await sleep(5000);
        assert.equal(child.proc.exitCode, null, child.stderr());
        victim.resume();
        await produceRetrying(others[0]!, topic, 0, awkwardRecords(15, Date.now(), 11));
        await waitFor('catching up once the node is back', () => caughtUp(others, 'leaderless', topic, 3), child, 120_000);
        assert.equal(await stop(child), 0, child.stderr());
        await assertBackupExact(others[0]!, store, 'leaderless', topic, 3);
      } finally {
        victim.resume();
        if (child.proc.exitCode === null) child.proc.kill('SIGKILL');
      }
      const target = uniqueTopic('leaderless-restored');
      const res = await runRestore(testRestoreOptions(k.bootstraps[0]!, store, 'leaderless', { topicMapping: { [topic]: target } }));
      assert.equal(res.restored, 40 * 3 + 25 + 15);
      for (let p = 0; p < 3; p++) {
        assert.deepEqual(
          (await consumeAll(k.bootstraps[0]!, target, p)).map((r) => recordKey(r)),
          (await consumeAll(k.bootstraps[0]!, topic, p)).map((r) => recordKey(r)),
        );
      }
    });
  });
});

async function partitionReached(topic: string, partition: number, backupId: string, offset: number): Promise<boolean> {
  const idx = await readJsonObject(store, keys.partitionIndex(backupId, topic, partition), partitionIndexSchema);
  return (idx?.next_offset ?? -1) >= offset;
}

/**
 * The test's own producer, retried while the cluster fails over: the stopped node may have led the
 * transaction-state partition, and its new leader answers InitProducerId with
 * COORDINATOR_LOAD_IN_PROGRESS for longer than the producer's own retries wait.
 */
async function produceRetrying(bootstrap: string, topic: string, partition: number, records: Parameters<typeof produce>[3]): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      return await produce(bootstrap, topic, partition, records);
    } catch (err) {
      if (Date.now() > deadline || !/COORDINATOR|coordinator/.test((err as Error).message)) throw err;
      await sleep(1000);
    }
  }
}
