import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { awkwardRecords, produce } from '../helpers/records.js';
import { runCli, type CliResult } from '../helpers/cli.js';

function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  return runCli(args, { env });
}

/** A user mistake: exit 1, one `error:` line naming the problem, no stack trace. */
function assertUserError(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace for a user mistake');
}

describe('the kafka-backup command', () => {
  let dir: string;
  let bootstrap: string;
  const topic = uniqueTopic('cli');

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-cli-'));
    await createTopic(bootstrap, topic, 2);
    await produce(bootstrap, topic, 0, awkwardRecords(200, Date.UTC(2024, 10, 10), 3), 'lz4');
    await produce(bootstrap, topic, 1, awkwardRecords(200, Date.UTC(2024, 10, 10), 4), 'zstd');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('--help lists every command', () => {
    const r = cli(['--help']);
    assert.equal(r.code, 0);
    for (const c of ['backup', 'restore', 'validate-restore', 'describe', 'list', 'validate']) assert.match(r.stdout, new RegExp(`\\b${c}\\b`));
  });

  test('bad storage URL, unknown config key and unreachable broker are one-line errors', async () => {
    assertUserError(cli(['describe', '--path', 'ftp://somewhere/x', '--backup-id', 'b']), /ftp:\/\/somewhere/);
    const cfg = join(dir, 'typo.yaml');
    await writeFile(
      cfg,
      `mode: restore\nbackup_id: b\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${dir}\nrestore:\n  time_window_ends: 1731250800000\n`,
    );
    assertUserError(cli(['validate-restore', '--config', cfg]), /restore\.time_window_ends.*did you mean restore\.time_window_end/);
    const secs = join(dir, 'secs.yaml');
    await writeFile(
      secs,
      `mode: restore\nbackup_id: b\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${dir}\nrestore:\n  time_window_start: 1731236400\n`,
    );
    assertUserError(cli(['restore', '--config', secs]), /seconds/);
    const down = join(dir, 'down.yaml');
    await writeFile(down, `mode: backup\nbackup_id: b\nsource:\n  bootstrap_servers: ["127.0.0.1:1"]\nstorage:\n  backend: filesystem\n  path: ${dir}\n`);
    assertUserError(cli(['backup', '--config', down]), /127\.0\.0\.1:1/);
  });

  test('backup, describe and validate through the CLI; validate finds a flipped byte and a deleted segment', async () => {
    const backups = join(dir, 'backups');
    const cfg = join(dir, 'backup.yaml');
    await writeFile(
      cfg,
      `mode: backup\nbackup_id: cli-backup\nsource:\n  bootstrap_servers: ["\${BROKERS}"]\n  topics:\n    include: ["${topic}"]\nstorage:\n  backend: filesystem\n  path: ${backups}\nbackup:\n  segment_max_bytes: 1024\n`,
    );
    const b = cli(['backup', '--config', cfg], { BROKERS: bootstrap });
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /Records: 400/);
    // Run again with a JSON report: the complete backup is resumed, nothing is fetched twice.
    const again = cli(['backup', '--config', cfg, '--format', 'json'], { BROKERS: bootstrap });
    assert.equal(again.code, 0, again.stderr);
    const rep = JSON.parse(again.stdout) as { backup_id: string; status: string; records: number; partitions: number; segments: number; duration_ms: number };
    assert.deepEqual([rep.backup_id, rep.status, rep.records, rep.partitions], ['cli-backup', 'complete', 400, 2]);
    assert.ok(rep.segments >= 2 && Number.isInteger(rep.duration_ms), again.stdout);
    const d = cli(['describe', '-p', backups, '-b', 'cli-backup', '-f', 'json']);
    assert.equal(d.code, 0, d.stderr);
    const desc = JSON.parse(d.stdout) as { records: number; topics: { name: string; partition_count: number }[] };
    assert.equal(desc.records, 400);
    assert.deepEqual(
      desc.topics.map((t) => [t.name, t.partition_count]),
      [[topic, 2]],
    );
    const text = cli(['describe', '-p', backups, '-b', 'cli-backup']);
    assert.match(text.stdout, /Earliest Message: {2}2024-11-/);
    assert.equal(cli(['validate', '-p', backups, '-b', 'cli-backup', '--deep']).code, 0);

    const pdir = join(backups, 'cli-backup', 'topics', topic, '0');
    const segs = (await readdir(pdir)).filter((f) => f.endsWith('.kbseg')).sort();
    assert.ok(segs.length >= 2);
    const flipped = join(pdir, segs[0]!);
    const bytes = await readFile(flipped);
    bytes[10] = bytes[10]! ^ 0xff;
    await writeFile(flipped, bytes);
    await unlink(join(pdir, segs[1]!));
    const v = cli(['validate', '-p', backups, '-b', 'cli-backup']);
    assert.equal(v.code, 1);
    assert.match(v.stdout, new RegExp(`${segs[0]}: CRC-32C mismatch`));
    assert.match(v.stdout, new RegExp(`${segs[1]}: segment object is missing`));
  });
});
