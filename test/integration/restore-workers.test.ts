/**
 * Distributed restore (restore.workers): three worker processes restore one backup into the
 * target, partitions assigned by a group on the target cluster; one worker is SIGKILLed mid-way.
 * At the end the target holds exactly the source records once for a read_committed consumer
 * (record for record; the workers write in transactions), the offset map in the report is exact
 * (every target record mapped once, to the source record it copies), and exactly one worker
 * finished the restore (the one that runs the consumer-group offset phase).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import { readJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { type RestorePartitionState, restorePartitionStateSchema } from '../../src/format/restore-partition-state.js';
import { restoreReportSchema } from '../../src/format/restore-report.js';
import { restoreStateSchema } from '../../src/format/restore-state.js';
import { restoreIdFor } from '../../src/restore/engine.js';
import { FsStore } from '../../src/storage/fs.js';
import { ROOT } from '../../scripts/proc.js';
import { runCli } from '../helpers/cli.js';
import type { RestoreChildConfig } from '../helpers/restore-child.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic, withAdmin } from '../helpers/kafka.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { consumeAll, produce, recordKey } from '../helpers/records.js';

const PARTITIONS = 9;
const PER_PARTITION = 2_000;

let bootstrap = '';
let dir = '';

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-restore-workers-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

interface Worker {
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
}

function startWorker(cfg: RestoreChildConfig, env: Record<string, string> = {}, logFile?: string): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/restore-child.ts'), JSON.stringify(cfg)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', ...env },
  });
  let out = '';
  // Also kept in a file (KB_TEST_WORKER_LOGS=dir): a worker that hangs leaves its log behind for a post-mortem.
  const keep = (d: Buffer): void => {
    out += d.toString();
    if (logFile) appendFileSync(logFile, d);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, exited, output: () => out };
}

async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Three workers restore one backup; `disrupt` is done to worker 0 (started with `victimEnv`) once it is
 * mid-way through a partition of its own. The workers named in `survivors` must exit 0; then everything is checked.
 */
async function scenario(
  name: string,
  disrupt: (victim: Worker, workers: Worker[], partState: (p: number) => Promise<RestorePartitionState | undefined>) => Promise<void>,
  survivors: number[],
  after?: (victim: Worker) => void | Promise<void>,
  victimEnv: Record<string, string> = {},
): Promise<void> {
  {
    const topic = uniqueTopic(name);
    const target = `${topic}-restored`;
    await createTopic(bootstrap, topic, PARTITIONS);
    await Promise.all(
      Array.from({ length: PARTITIONS }, (_, p) =>
        produce(
          bootstrap,
          topic,
          p,
          Array.from({ length: PER_PARTITION }, (_, i) => ({
            key: Buffer.from(`k-${p}-${i}`),
            value: Buffer.from(`v-${p}-${i}-${'x'.repeat(i % 50)}`),
            timestamp: BigInt(1_700_000_000_000 + i),
            headers: i % 7 === 0 ? [{ key: Buffer.from('h'), value: Buffer.from(String(i)) }] : [],
          })),
        ),
      ),
    );
    const store = new FsStore(dir);
    const backupId = `${name}-backup`;
    await runBackup(testBackupOptions(bootstrap, store, backupId, [topic], { segmentMaxBytes: 16 * 1024 }));

    // Slow enough (rate limit, small batches) that the kill lands mid-way through each worker's partitions.
    const options: RestoreChildConfig['options'] = {
      topicMapping: { [topic]: target },
      produceBatchSize: 100,
      rateLimitRecordsPerSec: 1_500,
      maxConcurrentPartitions: 3,
      workers: { groupId: `${topic}-restorers`, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 10_000 },
    };
    const cfg: RestoreChildConfig = { bootstrap, dir, backupId, options };
    const restoreId = restoreIdFor(testRestoreOptions(bootstrap, store, backupId, options));
    const logs = process.env.KB_TEST_WORKER_LOGS;
    const logOf = (i: number): string | undefined => (logs ? join(logs, `${name}-worker-${i}.log`) : undefined);
    const workers = [startWorker(cfg, victimEnv, logOf(0)), startWorker(cfg, {}, logOf(1)), startWorker(cfg, {}, logOf(2))];
    try {
      // Kill the first worker once it has written part (not all) of a partition it owns.
      const victim = workers[0]!;
      const partState = (p: number) => readJsonObject(store, keys.restorePartitionState(backupId, restoreId, target, p), restorePartitionStateSchema);
      await until(
        'worker 0 to be mid-way through a partition',
        async () => {
          for (let p = 0; p < PARTITIONS; p++) {
            const s = await partState(p);
            if (s && s.owner?.pid === victim.child.pid && s.state.produced > 0 && !s.done) return true;
          }
          return false;
        },
        120_000,
      );
      await disrupt(victim, workers, partState);
      for (const i of survivors) assert.equal(await workers[i]!.exited, 0, `worker ${i} exits 0:\n${workers[i]!.output().slice(-3000)}`);
      await after?.(victim);
      // The victim counts too when it came back and exited 0 (a zombie that rejoined may have finished the restore).
      const results = [...new Set([...survivors, ...(victim.child.exitCode === 0 ? [0] : [])])]
        .map((i) => workers[i]!)
        .map(
          (w) =>
            JSON.parse(
              w
                .output()
                .trim()
                .split('\n')
                .filter((l) => l.startsWith('{"restoreId"'))
                .pop()!,
            ) as { finisher: boolean; warnings: string[] },
        );
      assert.equal(results.filter((r) => r.finisher).length, 1, 'exactly one worker finishes the restore (and would run the offset phase)');
      for (const r of results) assert.deepEqual(r.warnings, [], 'no warning (no record past the restore on any target partition)');

      // The victim's partition was taken over (epoch raised) and resumed from its stored progress.
      const finals = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => partState(p)));
      assert.ok(
        finals.every((s) => s?.done),
        'every partition state is done',
      );
      assert.ok(
        finals.some((s) => s!.epoch >= 2),
        'at least one partition was taken over from another worker',
      );

      // Record for record, and the offset map exact.
      const state = await readJsonObject(store, keys.restoreState(backupId, restoreId), restoreStateSchema);
      assert.ok(state?.completed_at, 'state.json is completed');
      const report = await readJsonObject(store, keys.restoreReport(backupId, restoreId), restoreReportSchema);
      assert.ok(report, 'the report is stored');
      assert.equal(report.records_restored, PARTITIONS * PER_PARTITION);
      for (let p = 0; p < PARTITIONS; p++) {
        const src = await consumeAll(bootstrap, topic, p);
        // As a read_committed consumer: the workers write in transactions (a killed owner's open one is aborted).
        const dst = await consumeAll(bootstrap, target, p, true);
        assert.equal(src.length, PER_PARTITION);
        assert.deepEqual(
          dst.map((r) => recordKey(r)),
          src.map((r) => recordKey(r)),
          `partition ${p}: the target holds exactly the source records, once, in order`,
        );
        const bySource = new Map(src.map((r) => [Number(r.offset), r]));
        const mapped = new Map<number, number>();
        for (const run of report.offset_map.filter((r) => r.source_topic === topic && r.source_partition === p)) {
          for (let i = 0; i < run.count; i++) {
            assert.ok(!mapped.has(run.target + i), `partition ${p}: target offset ${run.target + i} mapped once`);
            mapped.set(run.target + i, run.source + i);
          }
        }
        assert.equal(mapped.size, dst.length, `partition ${p}: every target record is in the offset map`);
        for (const r of dst) {
          const s = mapped.get(Number(r.offset));
          assert.ok(s !== undefined, `partition ${p}: target offset ${r.offset} is mapped`);
          assert.equal(recordKey(bySource.get(s)!), recordKey(r), `partition ${p}: target offset ${r.offset} copies source offset ${s}`);
        }
      }
    } finally {
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
  }
}

/**
 * A zombie woken at a random point: each of its partitions learns it lost them either from the store (its state
 * swap refused: it carries on and exits 0) or, when a transaction of that partition was open or a request was
 * under way, from the broker (fenced: it stops and exits non-zero, saying so). Never a write that lands.
 */
function assertRefusedZombie(zombie: Worker, code: number | null): void {
  const out = zombie.output();
  if (code === 0) assert.match(out, /write was refused by the store/, "the zombie's fenced write was refused by the store");
  else
    assert.match(
      out,
      /fenced: .* refused by the broker \((INVALID_PRODUCER_EPOCH|PRODUCER_FENCED)\)/,
      `the zombie exits 0 or says it was fenced:\n${out.slice(-3000)}`,
    );
}

describe('distributed restore (restore.workers)', () => {
  test(
    '3 workers, one SIGKILLed mid-way: the target holds every source record exactly once, the offset map is exact, one worker finishes',
    {
      timeout: 600_000,
    },
    () =>
      scenario(
        'rworkers-kill',
        async (victim) => {
          victim.child.kill('SIGKILL');
          await victim.exited;
        },
        [1, 2],
      ),
  );

  test(
    '3 workers, one SIGSTOPped past the session timeout then SIGCONTed (a zombie): its late writes are refused, every record exactly once',
    {
      timeout: 600_000,
    },
    () =>
      scenario(
        'rworkers-zombie',
        async (victim) => {
          victim.child.kill('SIGSTOP');
          // Past the session timeout and the takeover wait: the others own its partitions when it wakes.
          await new Promise((r) => setTimeout(r, 15_000));
          victim.child.kill('SIGCONT');
        },
        [1, 2],
        async (zombie) => assertRefusedZombie(zombie, await zombie.exited),
      ),
  );
  /*
    The zombie and crash cases, deterministic: worker 0 stops itself (KAFKA_BACKUP_TEST_STOP, src/restore/workers/test-stop.ts)
    at one step of a chunk's transaction on a partition it is half way through; the other two take its partitions over
    after the session timeout and finish the whole restore; then worker 0 is SIGCONTed.
  */
  const stops: { step: string; title: string; check: (zombie: Worker, code: number | null, partition: string, survivors: Worker[]) => Promise<void> }[] = [
    {
      step: 'before-produce',
      title: 'stopped after its state write with its batch in hand (transaction open, produce not sent): its late batch is refused by the partition leader',
      check: async (zombie, code, p) => {
        const out = zombie.output();
        assert.notEqual(code, 0, `the zombie exits non-zero:\n${out.slice(-3000)}`);
        // The batch itself reached the leader and was refused: the new owner's InitProducerId aborted the zombie's
        // transaction, writing the abort marker with the raised epoch, which the leader holds since.
        assert.match(out, new RegExp(`produce ${p} refused by the broker \\((INVALID_PRODUCER_EPOCH|PRODUCER_FENCED)\\)`), out.slice(-3000));
        assert.match(out, /fenced/, 'the zombie says it was fenced');
      },
    },
    {
      step: 'before-add',
      title: 'stopped right after its state write (before AddPartitionsToTxn): its transaction is refused by the coordinator',
      check: async (zombie, code, p) => {
        const out = zombie.output();
        assert.notEqual(code, 0, `the zombie exits non-zero:\n${out.slice(-3000)}`);
        assert.match(out, new RegExp(`AddPartitionsToTxn ${p} refused by the broker \\((PRODUCER_FENCED|INVALID_PRODUCER_EPOCH)\\)`), out.slice(-3000));
        assert.match(out, /fenced/, 'the zombie says it was fenced');
      },
    },
    {
      step: 'before-commit',
      title: 'stopped with its chunk appended but not committed: the new owner aborts it (invisible to read_committed) and the zombie’s commit is refused',
      check: async (zombie, code, p) => {
        const out = zombie.output();
        assert.notEqual(code, 0, `the zombie exits non-zero:\n${out.slice(-3000)}`);
        assert.match(out, new RegExp(`EndTxn ${p} refused by the broker \\((PRODUCER_FENCED|INVALID_PRODUCER_EPOCH)\\)`), out.slice(-3000));
        // The aborted chunk is on the log (a read_uncommitted consumer sees it): the case really happened.
        const cut = p.lastIndexOf('/');
        const all = await consumeAll(bootstrap, p.slice(0, cut), Number(p.slice(cut + 1)), false);
        assert.ok(all.length > PER_PARTITION, `${p}: the zombie's aborted chunk is on the log (${all.length} records read uncommitted)`);
      },
    },
    {
      step: 'after-commit',
      title: 'stopped with its chunk committed but not in its stored state: the new owner finds it by content and maps it, not written again',
      check: async (zombie, code, p, survivors) => {
        // Nothing of this partition to fence at the broker: its next state write is refused by the store.
        assertRefusedZombie(zombie, code);
        const resumed = survivors
          .flatMap((w) => w.output().split('\n'))
          .some((l) => l.includes(`"partition":"${p}"`) && l.includes('records reached the target after the last checkpoint'));
        assert.ok(resumed, `${p}: the new owner found the zombie's committed chunk past the stored state`);
      },
    },
  ];
  for (const { step, title, check } of stops) {
    test(`the zombie case, deterministic (${step}): ${title}`, { timeout: 600_000 }, async (t) => {
      const marker = join(dir, `zombie-stopped-${step}`);
      let stoppedOn = '';
      let all: Worker[] = [];
      await scenario(
        `rworkers-${step}`,
        async (victim, workers, partState) => {
          all = workers;
          await until(`worker 0 to stop itself (${step})`, async () => (await readFile(marker, 'utf8').catch(() => '')) !== '', 120_000);
          stoppedOn = await readFile(marker, 'utf8');
          // Another worker takes that partition over after the session timeout and finishes it. (Not the whole restore:
          // the stopped worker may hold the filesystem store's lock of another partition's state, which only its resumption frees.)
          const p = Number(stoppedOn.slice(stoppedOn.lastIndexOf('/') + 1));
          await until(
            `${stoppedOn} to be finished by another worker`,
            async () => {
              const st = await partState(p);
              return st?.done === true && st.owner?.pid !== victim.child.pid;
            },
            120_000,
          );
          victim.child.kill('SIGCONT');
        },
        [1, 2],
        async (zombie) => {
          await check(zombie, await zombie.exited, stoppedOn, all.slice(1));
          // Which refusals the zombie met, per partition, for the record (docs/operations.md names them).
          const seen = [...zombie.output().matchAll(/fenced: (\S+) (\S+) refused by the broker \((\w+)\)/g)].map((m) => `${m[1]} ${m[2]}: ${m[3]}`);
          const store = zombie
            .output()
            .split('\n')
            .filter((l) => l.includes('write was refused by the store')).length;
          t.diagnostic(`stopped on ${stoppedOn}; broker refusals: ${seen.join(', ') || 'none'}; store refusals: ${store}`);
        },
        { KAFKA_BACKUP_TEST_STOP: `${step}:${marker}` },
      );
    });
  }

  test('through the CLI: restore.workers from the YAML (a group of one restores everything and finishes); purge_topics with workers is refused, naming the key', {
    timeout: 300_000,
  }, async () => {
    const topic = uniqueTopic('rworkers-cli');
    await createTopic(bootstrap, topic, 2);
    for (let p = 0; p < 2; p++)
      await produce(
        bootstrap,
        topic,
        p,
        Array.from({ length: 300 }, (_, i) => ({
          key: Buffer.from(`k${i}`),
          value: Buffer.from(`v${p}-${i}`),
          timestamp: BigInt(1_700_000_000_000 + i),
          headers: [],
        })),
      );
    const backupId = `${topic}-b`;
    await runBackup(testBackupOptions(bootstrap, new FsStore(dir), backupId, [topic]));
    const target = `${topic}-restored`;
    const yaml = (extra: string): string =>
      `mode: restore\nbackup_id: ${backupId}\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${dir}\nrestore:\n  topic_mapping: { ${topic}: ${target} }\n  workers: { group_id: ${topic}-g, session_timeout_ms: 6000 }\n${extra}`;
    const refused = join(dir, `${topic}-purge.yaml`);
    await writeFile(refused, yaml('  purge_topics: true\n'));
    const r1 = runCli(['restore', '--config', refused]);
    assert.notEqual(r1.code, 0);
    assert.match(r1.stderr, /restore\.purge_topics cannot be combined with restore\.workers\.group_id/);
    assert.doesNotMatch(r1.stderr, /\n\s+at /, 'no stack trace');
    const cfg = join(dir, `${topic}.yaml`);
    await writeFile(cfg, yaml(''));
    const r2 = runCli(['restore', '--config', cfg, '--format', 'json']);
    assert.equal(r2.code, 0, r2.stderr.slice(-3000));
    const out = JSON.parse(r2.stdout) as { records_restored: number; report_location: { store_key: string | null } };
    assert.equal(out.records_restored, 600);
    assert.ok(out.report_location.store_key, 'the only worker finished the restore and stored the report');
    for (let p = 0; p < 2; p++) {
      const src = await consumeAll(bootstrap, topic, p);
      const dst = await consumeAll(bootstrap, target, p);
      assert.deepEqual(
        dst.map((r) => recordKey(r)),
        src.map((r) => recordKey(r)),
      );
    }
  });

  test('a worker started with other settings (window, mapping) is refused before it writes anything, each difference named', {
    timeout: 300_000,
  }, async () => {
    const topic = uniqueTopic('rworkers-drift');
    const target = `${topic}-restored`;
    await createTopic(bootstrap, topic, 3);
    for (let p = 0; p < 3; p++)
      await produce(
        bootstrap,
        topic,
        p,
        Array.from({ length: 1_000 }, (_, i) => ({ key: Buffer.from(`k-${i}`), value: Buffer.from(`v-${i}`), timestamp: BigInt(1_700_000_000_000 + i) })),
      );
    const store = new FsStore(dir);
    const backupId = `${topic}-backup`;
    await runBackup(testBackupOptions(bootstrap, store, backupId, [topic]));
    const options: RestoreChildConfig['options'] = {
      topicMapping: { [topic]: target },
      produceBatchSize: 50,
      rateLimitRecordsPerSec: 200, // slow: worker a is still in the group when the others start
      workers: { groupId: `${topic}-restorers`, sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 10_000 },
    };
    const restoreId = restoreIdFor(testRestoreOptions(bootstrap, store, backupId, options));
    const a = startWorker({ bootstrap, dir, backupId, options });
    try {
      await until(
        'worker a to own a partition',
        async () => {
          const s = await readJsonObject(store, keys.restorePartitionState(backupId, restoreId, target, 0), restorePartitionStateSchema);
          return s?.owner?.pid === a.child.pid && (s?.state.produced ?? 0) > 0;
        },
        120_000,
      );
      // Another window: refused, the keys named, and no restore state of its own written.
      const windowed = { ...options, windowEnd: 1_700_000_000_500 };
      const b = startWorker({ bootstrap, dir, backupId, options: windowed });
      assert.equal(await b.exited, 1, b.output());
      assert.match(b.output(), /WORKER_CONFIG_DRIFT|runs another restore/);
      assert.match(b.output(), /time_window_end: 1700000000500 here, null in the group/);
      const otherId = restoreIdFor(testRestoreOptions(bootstrap, store, backupId, windowed));
      assert.equal(await store.exists(keys.restoreState(backupId, otherId)), false, 'the refused worker wrote no restore state');
      // Another target topic: refused, named, and the topic is not created.
      const elsewhere = `${topic}-elsewhere`;
      const c = startWorker({ bootstrap, dir, backupId, options: { ...options, topicMapping: { [topic]: elsewhere } } });
      assert.equal(await c.exited, 1, c.output());
      assert.match(c.output(), new RegExp(`topic_mapping: .*${elsewhere}.* here, .*${target}.* in the group`));
      const topics = await withAdmin(bootstrap, (admin) => admin.listTopics());
      assert.ok(!topics.includes(elsewhere), 'the refused worker created no target topic');
      assert.equal(a.child.exitCode, null, 'worker a runs on');
    } finally {
      a.child.kill('SIGTERM');
      await a.exited;
    }
  });
});
