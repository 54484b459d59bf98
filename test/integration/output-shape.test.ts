/**
 * The `--format json` reports have the shape docs/output.md documents: for backup, restore,
 * validate-restore, describe, list, validate and status (against the real broker), every top-level
 * field the document lists is present and none it does not list appears. And the logs: JSON lines on
 * a non-terminal stderr by default, human lines with --log-format text, only warnings with --quiet;
 * and the restore engine's record count for the progress display.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRestore } from '../../src/restore/index.js';
import { FsStore } from '../../src/storage/fs.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { testRestoreOptions } from '../helpers/options.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { awkwardRecords, produce } from '../helpers/records.js';

const DOC = join(import.meta.dirname, '..', '..', 'docs', 'output.md');
const BASE = Date.UTC(2024, 10, 10);

interface Documented {
  required: Set<string>;
  optional: Set<string>;
}

/**
 * The top-level fields of each command's report: the rows `| \`field\` | type | meaning |` of the
 * table under `### \`command\``; "optional" in the type cell marks a field that may be absent.
 */
function documentedFields(md: string): Map<string, Documented> {
  const out = new Map<string, Documented>();
  let current: Documented | undefined;
  for (const line of md.split('\n')) {
    const h = /^### `([a-z-]+)`/.exec(line);
    if (h) {
      current = { required: new Set(), optional: new Set() };
      out.set(h[1]!, current);
      continue;
    }
    if (/^#{1,3} /.test(line)) current = undefined;
    const row = /^\| `([a-z_]+)` \| ([^|]*)\|/.exec(line);
    if (row && current) (/optional/.test(row[2]!) ? current.optional : current.required).add(row[1]!);
  }
  return out;
}

function assertShape(command: string, doc: Map<string, Documented>, value: unknown): void {
  const d = doc.get(command);
  assert.ok(d && d.required.size > 0, `docs/output.md documents ${command}`);
  assert.equal(typeof value, 'object');
  const keys = new Set(Object.keys(value as object));
  for (const k of d.required) assert.ok(keys.has(k), `${command}: documented field ${k} is missing from the JSON report`);
  for (const k of keys) assert.ok(d.required.has(k) || d.optional.has(k), `${command}: field ${k} is in the JSON report but not in docs/output.md`);
}

describe('--format json reports and the log output', () => {
  let bootstrap: string;
  let dir: string;
  let doc: Map<string, Documented>;
  const topic = uniqueTopic('shape');
  let backupCfg: string;
  let restoreCfg: string;
  let root: string;

  const json = (r: CliResult): unknown => {
    assert.equal(r.code, 0, r.stderr + r.stdout);
    return JSON.parse(r.stdout) as unknown;
  };

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    doc = documentedFields(await readFile(DOC, 'utf8'));
    dir = await mkdtemp(join(tmpdir(), 'kb-shape-'));
    root = join(dir, 'backups');
    await createTopic(bootstrap, topic, 2);
    for (const p of [0, 1]) await produce(bootstrap, topic, p, awkwardRecords(200, BASE, p + 1));
    backupCfg = join(dir, 'backup.yaml');
    await writeFile(
      backupCfg,
      `mode: backup\nbackup_id: shape-1\nsource:\n  bootstrap_servers: ["${bootstrap}"]\n  topics: { include: ["${topic}"] }\nstorage:\n  backend: filesystem\n  path: ${root}\nbackup:\n  segment_max_bytes: 8192\nmetrics:\n  enabled: false\n`,
    );
    restoreCfg = join(dir, 'restore.yaml');
    await writeFile(
      restoreCfg,
      `mode: restore\nbackup_id: shape-1\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${root}\nrestore:\n  topic_mapping: { ${topic}: ${topic}-restored }\n  time_window_start: ${BASE + 50_000}\n`,
    );
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('every documented top-level field is in the report of backup, restore, validate-restore, describe, list, validate and status, and nothing else is', () => {
    const backup = runCli(['backup', '--config', backupCfg, '--format', 'json']);
    assertShape('backup', doc, json(backup));
    // Not a terminal: the logs on stderr are JSON lines.
    const logLines = backup.stderr.split('\n').filter(Boolean);
    assert.ok(logLines.length > 0, 'the backup logs something');
    for (const l of logLines) assert.ok(typeof (JSON.parse(l) as { level?: unknown }).level === 'number', `a JSON log line: ${l}`);

    assertShape('validate-restore', doc, json(runCli(['validate-restore', '--config', restoreCfg, '--format', 'json'])));
    assertShape('restore', doc, json(runCli(['restore', '--config', restoreCfg, '--format', 'json'])));
    assertShape('describe', doc, json(runCli(['describe', '--path', root, '--backup-id', 'shape-1', '--format', 'json'])));
    const list = json(runCli(['list', '--path', root, '--format', 'json'])) as unknown[];
    assert.equal(list.length, 1);
    assertShape('list', doc, list[0]);
    assertShape('validate', doc, json(runCli(['validate', '--path', root, '--backup-id', 'shape-1', '--format', 'json'])));
    assertShape('status', doc, json(runCli(['status', '--path', root, '--backup-id', 'shape-1', '--format', 'json'])));
    assertShape('cat', doc, json(runCli(['cat', '--path', root, '--backup-id', 'shape-1', '--topic', topic, '--limit', '2', '--format', 'json'])));
  });

  test("restore gives its progress display the plan's record count (exact for a whole restore), so the bar and ETA are by records", async () => {
    const calls: [number, boolean][] = [];
    const sink = {
      partitionsPlanned: () => {},
      restored: () => {},
      partitionDone: () => {},
      error: () => {},
      recordsPlanned: (n: number, exact: boolean) => calls.push([n, exact]),
    };
    const res = await runRestore(testRestoreOptions(bootstrap, new FsStore(root), 'shape-1', { topicMapping: { [topic]: `${topic}-planned` }, metrics: sink }));
    assert.equal(res.restored, 400);
    assert.deepEqual(calls, [[400, true]]);
  });

  test('--log-format text gives human lines; --quiet leaves only warnings and errors; a bad --log-format is a one-line error', () => {
    const args = ['cat', '--path', root, '--backup-id', 'shape-1', '--topic', topic, '--limit', '1', '--format', 'jsonl'];
    const text = runCli(['--log-format', 'text', ...args]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stderr, /^\d\d:\d\d:\d\d\.\d{3}Z {2}INFO {3}1 records \(1 decoded\) from \d+ of \d+ segments.* {2}stats=\{"records":1,/m);
    assert.doesNotMatch(text.stderr, /"level":/);
    const env = runCli(args, { env: { KAFKA_BACKUP_LOG_FORMAT: 'text' } });
    assert.match(env.stderr, /Z {2}INFO {3}1 records/);

    const quiet = runCli(['--quiet', ...args]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '', 'nothing but warnings and errors');
    assert.equal(quiet.stdout.split('\n').filter(Boolean).length, 1, 'the records still go to stdout');
    const quietBackup = runCli(['-q', 'backup', '--config', backupCfg, '--format', 'json']);
    assert.equal(quietBackup.code, 0, quietBackup.stderr);
    assert.equal(quietBackup.stderr, '');

    const bad = runCli(['--log-format', 'pretty', ...args]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'error: --log-format: "pretty" is not one of auto, text, json\n');
  });
});
