/**
 * Resume of a restore into a replicated target: a 3-node KRaft cluster of this file's own (not the
 * shared broker), target topics with replication factor 3 and min.insync.replicas 2, acks all.
 * The restore runs as a CLI child process and is SIGKILLed mid-write.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKafkaCluster, type KafkaClusterNode, type RunningKafkaCluster } from '../../scripts/kafka.js';
import { waitFor } from '../../scripts/proc.js';
import { runBackup } from '../../src/backup/engine.js';
import { KafkaAdmin, LATEST } from '../../src/kafka/admin.js';
import { KafkaCluster } from '../../src/kafka/cluster.js';
import { logEndOffset } from '../../src/restore/resume.js';
import { FsStore } from '../../src/storage/fs.js';
import { uniqueTopic, withAdmin } from '../helpers/kafka.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { testBackupOptions } from '../helpers/options.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PER_PARTITION = 2500;

interface CliRun {
  child: ChildProcess;
  /** What the process wrote to stderr so far. */
  stderr: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function startCli(args: string[]): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, stderr: () => stderr };
}

async function checkpointed(file: string): Promise<number> {
  try {
    const state = JSON.parse(await readFile(file, 'utf8')) as { partitions: Record<string, { produced: number }> };
    return Object.values(state.partitions).reduce((n, p) => n + p.produced, 0);
  } catch {
    return 0;
  }
}

async function targetCount(topic: string): Promise<number> {
  const admin = new KafkaAdmin({ bootstrapServers: kafka.bootstraps });
  try {
    const ends = await admin.listOffsets(topic, [0, 1], LATEST);
    return Number((ends.get(0) ?? 0n) + (ends.get(1) ?? 0n));
  } finally {
    await admin.close();
  }
}

/**
 * Runs the restore and SIGKILLs it `extraMs` after its checkpoint first counts `killWhen` records:
 * by then more records are on the target than the checkpoint knows of. Returns the target's record
 * count when the kill landed, which must lie strictly between the checkpoint and the whole window.
 */
async function killedRun(
  cfg: string,
  checkpointFile: string,
  killWhen: number,
  extraMs: number,
): Promise<{ checkpoint: number; onTarget: number; stderr: string }> {
  const run = startCli(['restore', '--config', cfg]);
  await waitFor('restore checkpoint', async () => (await checkpointed(checkpointFile)) >= killWhen || run.child.exitCode !== null, {
    timeoutMs: 60_000,
    intervalMs: 25,
  });
  await new Promise((r) => setTimeout(r, extraMs));
  run.child.kill('SIGKILL');
  const r = await run.done;
  assert.equal(r.signal, 'SIGKILL', `the run killed after ${killWhen} records finished first: ${r.stderr}`);
  return { checkpoint: await checkpointed(checkpointFile), onTarget: await targetCount(targetOf(cfg)), stderr: r.stderr };
}

let kafka: RunningKafkaCluster;
let bootstrap: string;
let dir: string;
const source = uniqueTopic('repl-src');
const targets = new Map<string, string>();
const targetOf = (cfg: string): string => targets.get(cfg)!;

/** Two partitions, RF 3, min ISR 2; with `ledBy1`, node 1 is the preferred leader of both. */
async function createReplicated(name: string, ledBy1 = false): Promise<void> {
  await withAdmin(bootstrap, async (admin) => {
    const placement = ledBy1
      ? {
          assignments: [
            { partition: 0, brokers: [1, 2, 3] },
            { partition: 1, brokers: [1, 3, 2] },
          ],
        }
      : { partitions: 2, replicas: 3 };
    await admin.createTopics({ topics: [name], ...placement, configs: [{ name: 'min.insync.replicas', value: '2' }] });
    await waitFor(
      `topic ${name} in sync`,
      async () => {
        const md = await admin.metadata({ topics: [name], forceUpdate: true });
        return md.topics.get(name)?.partitions.every((p) => p.leader >= 0 && p.isr.length === 3) ?? false;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  });
}

/** A restore config of the backup into `target` (created here, RF 3, min ISR 2), slow enough to be killed mid-write. */
async function restoreConfig(name: string, target: string, onlyNode1 = false): Promise<{ cfg: string; checkpointFile: string }> {
  await createReplicated(target, onlyNode1);
  const cfg = join(dir, `${name}.yaml`);
  const checkpointFile = join(dir, `${name}-checkpoint.json`);
  targets.set(cfg, target);
  await writeFile(
    cfg,
    `mode: restore
backup_id: repl-backup
target:
  bootstrap_servers: ${JSON.stringify(onlyNode1 ? [bootstrap] : kafka.bootstraps)}
storage:
  backend: filesystem
  path: ${JSON.stringify(join(dir, 'backups'))}
restore:
  topic_mapping:
    ${source}: ${target}
  produce_acks: all
  produce_timeout_ms: 10000
  produce_batch_size: 20
  rate_limit_records_per_sec: 700
  checkpoint_interval_secs: 1
  checkpoint_state: ${JSON.stringify(checkpointFile)}
  offset_report: ${JSON.stringify(join(dir, `${name}-offsets.json`))}
`,
  );
  return { cfg, checkpointFile };
}

/** Every source record exactly once and in order on the target, and an offset map that says so. */
async function assertExact(target: string, stdout: string): Promise<void> {
  const report = JSON.parse(stdout) as {
    records_restored: number;
    resumed: boolean;
    offset_map: { source_partition: number; source: number; target: number; count: number }[];
  };
  assert.equal(report.resumed, true);
  for (const p of [0, 1]) {
    const src = await consumeAll(bootstrap, source, p);
    const got = await consumeAll(bootstrap, target, p);
    assert.equal(got.length, src.length, `partition ${p}: ${got.length} records on the target for ${src.length} in the source`);
    assert.deepEqual(
      got.map((r) => recordKey(r)),
      src.map((r) => recordKey(r)),
      `partition ${p}: every record exactly once, in order`,
    );
    const bySource = new Map(src.map((r) => [Number(r.offset), r]));
    const byTarget = new Map(got.map((r) => [Number(r.offset), r]));
    let mapped = 0;
    for (const run of report.offset_map.filter((x) => x.source_partition === p)) {
      for (let i = 0; i < run.count; i++) {
        assert.equal(
          recordKey(byTarget.get(run.target + i)!),
          recordKey(bySource.get(run.source + i)!),
          `partition ${p}: offset map entry source ${run.source + i}`,
        );
        mapped++;
      }
    }
    assert.equal(mapped, got.length, `partition ${p}: the offset map names every target record`);
  }
  assert.equal(report.records_restored, 2 * PER_PARTITION);
}

before(async () => {
  // Controllers fence a silent broker after 20 s (default 9): room for the paused-follower test.
  // A paused follower must stay in the ISR until the re-run has looked (the above-high-watermark test): neither
  // fenced by the controller nor dropped by the leader within a minute, even when the machine is slow (a
  // fresh-clone CI run under load took longer than 20 s from the pause to the re-run's check).
  kafka = await startKafkaCluster({ nodes: 3, brokerConfig: { 'broker.session.timeout.ms': 60_000, 'replica.lag.time.max.ms': 60_000 } });
  bootstrap = kafka.bootstraps[0]!;
  dir = await mkdtemp(join(tmpdir(), 'kb-restore-repl-'));
  await createReplicated(source);
  await produce(bootstrap, source, 0, awkwardRecords(PER_PARTITION, Date.UTC(2024, 10, 10), 21), 'lz4', 25);
  await produce(bootstrap, source, 1, awkwardRecords(PER_PARTITION, Date.UTC(2024, 10, 10), 22), 'none', 25);
  await runBackup(
    testBackupOptions(bootstrap, new FsStore(join(dir, 'backups')), 'repl-backup', [source], { segmentMaxBytes: 32 * 1024, maxConcurrentPartitions: 2 }),
  );
});

after(async () => {
  await kafka?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('RF 3, acks all: a restore SIGKILLed twice mid-write and run again writes every record exactly once, with an exact offset map', async () => {
  const target = uniqueTopic('repl-dst');
  const { cfg, checkpointFile } = await restoreConfig('twice', target);
  let logs = '';
  let last = 0;
  for (const [when, extra] of [
    [200, 450],
    [1800, 650],
  ] as const) {
    const k = await killedRun(cfg, checkpointFile, when, extra);
    // Mid-run: records reached the target, more than the previous kill left, and not the whole backup.
    assert.ok(k.onTarget > last && k.onTarget < 2 * PER_PARTITION, `kill after ${when} records landed mid-write (${k.onTarget} records on the target)`);
    last = k.onTarget;
    logs += k.stderr;
  }
  const final = startCli(['restore', '--config', cfg, '--format', 'json']);
  const r = await final.done;
  assert.equal(r.code, 0, r.stderr);
  logs += r.stderr;
  assert.match(
    logs,
    /records reached the target after the last checkpoint; checked to be ours/,
    'a kill landed between a write and its checkpoint, and the re-run recognised those records',
  );
  await assertExact(target, r.stdout);
});

test('a batch of the killed run still above the high watermark is waited for, not written again', async () => {
  const target = uniqueTopic('repl-hw');
  // Node 1 leads both partitions and is the only bootstrap of the restore and of this test's clients:
  // the paused node is a follower only, which accepts connections but answers nothing.
  const { cfg, checkpointFile } = await restoreConfig('above-hw', target, true);
  const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  let paused: KafkaClusterNode | undefined;
  try {
    assert.equal((await cluster.leader(target, 0)).leader, 1);
    assert.equal((await cluster.leader(target, 1)).leader, 1);
    const follower = kafka.nodes.find((n) => n.nodeId === 2)!;
    const run = startCli(['restore', '--config', cfg]);
    await waitFor('first checkpoint', async () => (await checkpointed(checkpointFile)) >= 200, { timeoutMs: 60_000, intervalMs: 25 });
    // One follower stops fetching but stays in the ISR (until the controller fences it): acks=all
    // batches are appended on the leader and wait there, above the high watermark.
    follower.pause();
    paused = follower;
    let leo = 0n;
    let hw = 0n;
    await waitFor(
      'a batch above the high watermark',
      async () => {
        leo = await logEndOffset(cluster, target, 0);
        hw = (await admin.listOffsets(target, [0], LATEST)).get(0) ?? 0n;
        return leo > hw;
      },
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    run.child.kill('SIGKILL');
    assert.equal((await run.done).signal, 'SIGKILL');
    assert.ok(leo > hw, `at the kill the leader held records above the high watermark (LEO ${leo}, HW ${hw})`);

    // The re-run must not take the high watermark as the end while those records are undecided:
    // the follower comes back only once the re-run says it waits (or after 8 s, and the test fails).
    const rerun = startCli(['restore', '--config', cfg, '--format', 'json']);
    await waitFor('the re-run waiting', async () => /waiting for the records above the high watermark/.test(rerun.stderr()), {
      timeoutMs: 8000,
      intervalMs: 50,
    }).catch(() => {});
    follower.resume();
    paused = undefined;
    const r = await rerun.done;
    assert.equal(r.code, 0, r.stderr);
    await assertExact(target, r.stdout);
    assert.match(
      r.stderr,
      /waiting for the records above the high watermark to be replicated/,
      'the re-run saw the records above the high watermark and waited',
    );
    assert.match(r.stderr, /records reached the target after the last checkpoint; checked to be ours/);
  } finally {
    paused?.resume();
    await admin.close();
    await cluster.close();
  }
});

test('a record another producer appended after the crash makes the re-run refuse, naming the partition', async () => {
  const target = uniqueTopic('repl-foreign');
  const { cfg, checkpointFile } = await restoreConfig('foreign', target);
  const k = await killedRun(cfg, checkpointFile, 300, 400);
  assert.ok(k.onTarget > 0 && k.onTarget < 2 * PER_PARTITION, `the kill landed mid-write (${k.onTarget} records on the target)`);
  await produce(bootstrap, target, 1, [
    { key: Buffer.from('intruder'), value: Buffer.from('not from the backup'), headers: [], timestamp: BigInt(Date.now()) },
  ]);
  const endBefore = (await consumeAll(bootstrap, target, 1)).length;

  const r = await startCli(['restore', '--config', cfg]).done;
  assert.notEqual(r.code, 0, 'the re-run refuses');
  assert.match(r.stderr, new RegExp(`${target}/1: the record at offset ${endBefore - 1} is not the record this restore would write there`));
  assert.match(r.stderr, /another producer wrote to the partition/);
  assert.doesNotMatch(r.stderr, /\n\s+at .*\.ts:\d+/, 'a one-line error, no stack trace');
  const after = await consumeAll(bootstrap, target, 1);
  assert.equal(after.length, endBefore, 'nothing more was written to the partition');
  assert.equal(after.at(-1)!.key!.toString(), 'intruder');
});
