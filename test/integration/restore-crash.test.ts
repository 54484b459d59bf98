import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import { FsStore } from '../../src/storage/fs.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { testBackupOptions } from '../helpers/options.js';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * Runs the CLI. With `killWhen`, polls the restore's local checkpoint file and SIGKILLs the process
 * `extraMs` after the checkpointed record count first reaches `killWhen`: by then more records
 * have usually been written than the checkpoint knows about, the case that must not duplicate.
 */
function runCli(
  args: string[],
  checkpointFile?: string,
  killWhen?: number,
  extraMs = 0,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll =
      killWhen === undefined || !checkpointFile
        ? undefined
        : setInterval(() => {
            void readFile(checkpointFile, 'utf8')
              .then((text) => {
                const state = JSON.parse(text) as { partitions: Record<string, { produced: number }> };
                const produced = Object.values(state.partitions).reduce((n, p) => n + p.produced, 0);
                if (produced >= killWhen && poll) {
                  clearInterval(poll);
                  setTimeout(() => child.kill('SIGKILL'), extraMs);
                }
              })
              .catch(() => {});
          }, 25);
    child.on('exit', (code, signal) => {
      if (poll) clearInterval(poll);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

let bootstrap: string;
let dir: string;
const topic = uniqueTopic('crash-src');

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-restore-crash-'));
  await createTopic(bootstrap, topic, 2);
  await produce(bootstrap, topic, 0, awkwardRecords(3000, Date.UTC(2024, 10, 10), 11), 'lz4', 20);
  await produce(bootstrap, topic, 1, awkwardRecords(3000, Date.UTC(2024, 10, 10), 12), 'none', 20);
  const store = new FsStore(join(dir, 'backups'));
  await runBackup(testBackupOptions(bootstrap, store, 'crash-backup', [topic], { segmentMaxBytes: 32 * 1024, maxConcurrentPartitions: 2 }));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

test('a restore killed with SIGKILL and run again writes every record of the window exactly once, with an exact offset map', async () => {
  const target = uniqueTopic('crash-dst');
  const all = [...(await consumeAll(bootstrap, topic, 0)), ...(await consumeAll(bootstrap, topic, 1))].map((r) => Number(r.timestamp)).sort((a, b) => a - b);
  const start = all[500]!;
  const end = all[5500]!;
  const cfg = join(dir, 'restore.yaml');
  await writeFile(
    cfg,
    `mode: restore
backup_id: crash-backup
target:
  bootstrap_servers: ["${bootstrap}"]
storage:
  backend: filesystem
  path: ${JSON.stringify(join(dir, 'backups'))}
restore:
  time_window_start: ${start}
  time_window_end: ${end}
  topic_mapping:
    ${topic}: ${target}
  produce_batch_size: 20
  rate_limit_records_per_sec: 600
  checkpoint_interval_secs: 1
  checkpoint_state: ${JSON.stringify(join(dir, 'checkpoint.json'))}
  offset_report: ${JSON.stringify(join(dir, 'offsets.json'))}
`,
  );
  // Kill at three points, each a little after a checkpoint (while un-checkpointed records are in flight).
  const kills: [number, number][] = [
    [1, 350],
    [1500, 700],
    [3000, 150],
  ];
  let logs = '';
  for (const [when, extra] of kills) {
    const r = await runCli(['restore', '--config', cfg], join(dir, 'checkpoint.json'), when, extra);
    assert.equal(r.signal, 'SIGKILL', `the run killed after ${when} records finished first: ${r.stderr}`);
    logs += r.stderr;
  }
  const partial = (await consumeAll(bootstrap, target, 0)).length + (await consumeAll(bootstrap, target, 1)).length;
  assert.ok(partial > 0 && partial < 5001, `the killed runs wrote part of the window (${partial} records)`);
  const final = await runCli(['restore', '--config', cfg, '--format', 'json']);
  assert.equal(final.code, 0, final.stderr);
  logs += final.stderr;
  assert.match(logs, /records reached the target after the last checkpoint/, 'at least one kill landed between a write and its checkpoint');
  const report = JSON.parse(final.stdout) as {
    records_restored: number;
    resumed: boolean;
    offset_map: { source_partition: number; source: number; target: number; count: number }[];
  };
  assert.equal(report.resumed, true);

  let expectedTotal = 0;
  for (const p of [0, 1]) {
    const src = await consumeAll(bootstrap, topic, p);
    const expected = src.filter((r) => r.timestamp >= BigInt(start) && r.timestamp <= BigInt(end));
    const got = await consumeAll(bootstrap, target, p);
    assert.deepEqual(
      got.map((r) => recordKey(r)),
      expected.map((r) => recordKey(r)),
      `partition ${p}: every record of the window exactly once, in order`,
    );
    expectedTotal += expected.length;
    // The offset map names every target record and agrees with its content.
    const bySource = new Map(src.map((r) => [Number(r.offset), r]));
    const byTarget = new Map(got.map((r) => [Number(r.offset), r]));
    let mapped = 0;
    for (const run of report.offset_map.filter((x) => x.source_partition === p)) {
      for (let i = 0; i < run.count; i++) {
        assert.equal(recordKey(byTarget.get(run.target + i)!), recordKey(bySource.get(run.source + i)!));
        mapped++;
      }
    }
    assert.equal(mapped, got.length);
  }
  assert.equal(report.records_restored, expectedTotal);
  const local = JSON.parse(await readFile(join(dir, 'offsets.json'), 'utf8')) as { records_restored: number };
  assert.equal(local.records_restored, expectedTotal);
  assert.ok((await readdir(join(dir, 'backups', 'crash-backup', 'restores'))).length === 1, 'one restore state: the re-runs resumed the same restore');
});
