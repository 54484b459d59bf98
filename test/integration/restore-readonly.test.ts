// Disaster-recovery credentials are often read-only. The backup directory is bind-mounted read-only
// (a real EROFS from the kernel, as root in CI): without restore.checkpoint_state the restore stops
// before touching the target and names the key; with it, the restore runs, keeps its state and the
// offset map in local files, says where, and a second run resumes from the local state.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import { FsStore } from '../../src/storage/fs.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic, withAdmin } from '../helpers/kafka.js';
import { testBackupOptions } from '../helpers/options.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { runCli, type CliResult } from '../helpers/cli.js';

function cli(args: string[]): CliResult {
  return runCli(args);
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (this test needs root to bind-mount a read-only directory): ${r.stderr}`);
}

describe('restore from read-only backup storage', () => {
  let dir: string;
  let ro: string;
  let bootstrap: string;
  const topic = uniqueTopic('ro-src');

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-ro-'));
    const rw = join(dir, 'backups');
    await createTopic(bootstrap, topic, 2);
    for (let p = 0; p < 2; p++) await produce(bootstrap, topic, p, awkwardRecords(150, Date.UTC(2024, 10, 10), 80 + p), 'lz4');
    await runBackup(testBackupOptions(bootstrap, new FsStore(rw), 'ro', [topic]));
    ro = join(dir, 'ro');
    mkdirSync(ro);
    sh('mount', ['--bind', rw, ro]);
    sh('mount', ['-o', 'remount,ro,bind', ro]);
  });
  after(async () => {
    if (ro) spawnSync('umount', [ro]);
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  function config(name: string, target: string, extra = ''): string {
    const f = join(dir, `${name}.yaml`);
    writeFileSync(
      f,
      `mode: restore\nbackup_id: ro\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${ro}\nrestore:\n  topic_mapping: { "${topic}": "${target}" }\n${extra}`,
    );
    return f;
  }

  test('the mount really refuses writes', () => {
    assert.throws(() => writeFileSync(join(ro, 'probe'), 'x'), /EROFS/);
  });

  test('without checkpoint_state: one error naming the key, the target untouched', async () => {
    const target = `${topic}-refused`;
    const r = cli(['restore', '--config', config('refused', target)]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /^error: the backup storage refuses writes .*set restore\.checkpoint_state: /m);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.ok(!(await withAdmin(bootstrap, (a) => a.listTopics())).includes(target), 'no target topic created');
  });

  test('with checkpoint_state: restored exactly, state and offset map in local files, said in the report; a re-run resumes from them', async () => {
    const target = `${topic}-restored`;
    const stateFile = join(dir, 'local', 'restore-state.json');
    const cfg = config('local', target, `  checkpoint_state: ${stateFile}\n`);
    const r = cli(['restore', '--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
    const reportFile = join(dir, 'local', 'restore-state.report.json');
    assert.match(r.stdout, new RegExp(`Offset map: \\d+ runs, stored with the restore report in ${reportFile.replace(/[.]/g, '\\.')}`));
    assert.match(r.stdout, /\[WARN\] the backup storage refuses writes/);
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { records_restored: number; offset_map: { count: number }[] };
    assert.equal(report.records_restored, 300);
    assert.equal(
      report.offset_map.reduce((n, x) => n + x.count, 0),
      300,
    );
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { completed_at: number | null };
    assert.ok(state.completed_at !== null);
    assert.equal(existsSync(join(ro, 'ro', 'restores')), false, 'nothing written into the backup');
    for (let p = 0; p < 2; p++) {
      assert.deepEqual(
        (await consumeAll(bootstrap, target, p)).map((x) => recordKey(x, true)),
        (await consumeAll(bootstrap, topic, p)).map((x) => recordKey(x, true)),
      );
    }
    // The same config again: the local state says it is done, so nothing is written twice.
    const again = cli(['restore', '--config', cfg, '--format', 'json']);
    assert.equal(again.code, 0, again.stderr);
    const rep = JSON.parse(again.stdout) as {
      resumed: boolean;
      records_restored: number;
      report_location: { store_key: string | null; local_file: string | null };
    };
    assert.deepEqual([rep.resumed, rep.records_restored, rep.report_location], [true, 300, { store_key: null, local_file: reportFile }]);
    for (let p = 0; p < 2; p++) assert.equal((await consumeAll(bootstrap, target, p)).length, 150);
  });
});
