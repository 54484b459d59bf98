/**
 * Bad input against the real broker: damaged or forged backup objects (segments, indexes,
 * manifests), hostile names, bad configs and impossible mappings. Each must give a clear error
 * naming the object or key, and change nothing: the backup directory hashes the same before and
 * after (file by file; a restore that fails mid-way may only add its own restores/ state), and the
 * target topic's end offsets do not move.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import { validateBackup } from '../../src/backup/validate.js';
import { EARLIEST, KafkaAdmin, LATEST } from '../../src/kafka/admin.js';
import { runRestore } from '../../src/restore/engine.js';
import { ForwardingStore } from '../../src/storage/forwarding.js';
import { FsStore } from '../../src/storage/fs.js';
import type { ByteRange, ObjectStore } from '../../src/storage/store.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { runCli, type CliResult } from '../helpers/cli.js';

const ID = 'bad-in';

function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  return runCli(args, { env });
}

async function* walk(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

/** relative path → sha256 of every file under `dir`. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const f of walk(dir))
    out.set(
      relative(dir, f),
      createHash('sha256')
        .update(await readFile(f))
        .digest('hex'),
    );
  return out;
}

/** Every file that existed is unchanged; new files only where `allowNew` says. */
function assertUnchanged(before: Map<string, string>, after: Map<string, string>, allowNew: (path: string) => boolean = () => false): void {
  for (const [p, h] of before) assert.equal(after.get(p), h, `${p} changed or vanished`);
  for (const p of after.keys()) if (!before.has(p)) assert.ok(allowNew(p), `new file ${p}`);
}

/** A store that records every key read, to prove that a forged key is refused, not read. */
class SpyStore extends ForwardingStore {
  readonly reads: string[] = [];
  override get(key: string, range?: ByteRange): Promise<Buffer> {
    this.reads.push(key);
    return this.inner.get(key, range);
  }
  override getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    this.reads.push(key);
    return this.inner.getStream(key, range);
  }
  override head(key: string): ReturnType<ObjectStore['head']> {
    this.reads.push(key);
    return this.inner.head(key);
  }
  override getVersioned(key: string): ReturnType<ObjectStore['getVersioned']> {
    this.reads.push(key);
    return this.inner.getVersioned(key);
  }
}

interface IndexJson {
  segments: { key: string; first_offset: number; last_offset: number }[];
  [k: string]: unknown;
}
interface ManifestJson {
  backup_id: string;
  topics: { name: string; partition_count: number; partitions: { partition: number; log_start_offset: number; end_offset: number }[] }[];
  [k: string]: unknown;
}

describe('bad input is refused clearly and changes nothing', () => {
  let bootstrap: string;
  let root: string;
  let pristine: string;
  const topic = uniqueTopic('bad-src');
  const target = uniqueTopic('bad-target');
  let n = 0;

  async function endOffsets(t: string): Promise<string> {
    const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
    try {
      const ends = await admin.listOffsets(t, [0, 1], LATEST);
      const starts = await admin.listOffsets(t, [0, 1], EARLIEST);
      return JSON.stringify([[...starts], [...ends]], (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    } finally {
      await admin.close();
    }
  }

  /** A fresh copy of the pristine backup, damaged by `mutate`. */
  async function damaged(mutate: (base: string) => Promise<void>): Promise<string> {
    const dir = join(root, `case-${++n}`);
    await cp(pristine, dir, { recursive: true });
    await mutate(join(dir, ID));
    return dir;
  }

  function partDir(base: string, p: number): string {
    return join(base, 'topics', topic, String(p));
  }
  async function segFiles(base: string, p: number): Promise<string[]> {
    return (await readdir(partDir(base, p))).filter((f) => f.endsWith('.kbseg')).sort();
  }
  async function editJson<T>(file: string, edit: (j: T) => void): Promise<void> {
    const j = JSON.parse(await readFile(file, 'utf8')) as T;
    edit(j);
    await writeFile(file, JSON.stringify(j, null, 2));
  }

  /**
   * Restore (into an existing target that already holds records, appending allowed) and validate
   * must both fail naming `object`; the backup files and the target's offsets stay as they were.
   */
  async function expectRefused(
    dir: string,
    restorePattern: RegExp,
    validatePattern: RegExp = restorePattern,
    opts: { skipValidate?: boolean } = {},
  ): Promise<void> {
    const before = await snapshot(dir);
    const offsets = await endOffsets(target);
    const store = new FsStore(dir);
    await assert.rejects(
      runRestore(testRestoreOptions(bootstrap, store, ID, { topicMapping: { [topic]: target }, allowNonEmptyTarget: true })),
      (err: Error) => {
        assert.match(err.message, restorePattern);
        return true;
      },
    );
    if (!opts.skipValidate) {
      const v = await validateBackup(store, ID, true);
      const text = v.problems.map((p) => `${p.object}: ${p.problem}`).join('\n');
      assert.match(text, validatePattern);
    }
    assertUnchanged(before, await snapshot(dir));
    assert.equal(await endOffsets(target), offsets, 'target end offsets unchanged');
  }

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    root = await mkdtemp(join(tmpdir(), 'kb-bad-'));
    pristine = join(root, 'pristine');
    await createTopic(bootstrap, topic, 2);
    await produce(bootstrap, topic, 0, awkwardRecords(200, Date.UTC(2024, 10, 10), 41), 'zstd');
    await produce(bootstrap, topic, 1, awkwardRecords(200, Date.UTC(2024, 10, 10), 42), 'lz4');
    const sum = await runBackup(testBackupOptions(bootstrap, new FsStore(pristine), ID, [topic], { segmentMaxBytes: 2048, fetchMaxBytes: 2048 }));
    assert.equal(sum.records, 400);
    assert.ok((await segFiles(join(pristine, ID), 0)).length >= 2, JSON.stringify(await readdir(join(pristine, ID, 'topics', topic, '0'))));
    // The target exists and already holds records: a refused restore must leave them alone.
    await createTopic(bootstrap, target, 2);
    await produce(bootstrap, target, 0, awkwardRecords(10, Date.UTC(2024, 0, 1), 1));
    await produce(bootstrap, target, 1, awkwardRecords(10, Date.UTC(2024, 0, 1), 2));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('truncated segment: restore refuses before writing (size check), validate names it', async () => {
    let seg = '';
    const dir = await damaged(async (b) => {
      seg = (await segFiles(b, 0))[1]!;
      const f = join(partDir(b, 0), seg);
      const { size } = await import('node:fs/promises').then((m) => m.stat(f));
      await truncate(f, size - 100);
    });
    await expectRefused(dir, new RegExp(`${seg}: segment object is \\d+ bytes, its partition index records`), new RegExp(`${seg}: size \\d+ differs`));
  });

  test('missing segment: restore refuses before writing, validate names it', async () => {
    let seg = '';
    const dir = await damaged(async (b) => {
      seg = (await segFiles(b, 1)).at(-1)!;
      await unlink(join(partDir(b, 1), seg));
    });
    await expectRefused(dir, new RegExp(`${seg}: segment object is missing`));
  });

  test('missing partition index: restore refuses (the backup is complete), validate names it', async () => {
    const dir = await damaged(async (b) => unlink(join(partDir(b, 1), 'index.json')));
    await expectRefused(dir, new RegExp(`topics/${topic}/1/index\\.json: missing partition index`));
  });

  test('truncated and garbage partition index: not valid JSON, naming the index', async () => {
    for (const mutate of [
      async (f: string) => truncate(f, 40),
      async (f: string) => writeFile(f, Buffer.from([0xff, 0x00, 0x7b, 0x22])),
      async (f: string) => writeFile(f, '[]'),
    ]) {
      const dir = await damaged(async (b) => mutate(join(partDir(b, 0), 'index.json')));
      await expectRefused(dir, new RegExp(`topics/${topic}/0/index\\.json: `));
    }
  });

  test('segments listed out of order in an index: refused, naming the index', async () => {
    const dir = await damaged(async (b) =>
      editJson<IndexJson>(join(partDir(b, 0), 'index.json'), (j) => {
        j.segments = [j.segments[1]!, j.segments[0]!, ...j.segments.slice(2)];
      }),
    );
    await expectRefused(dir, new RegExp(`topics/${topic}/0/index\\.json: segments\\.1: segment .* out of order`));
  });

  test('an index whose segment key points outside its partition is refused, not read', async () => {
    const forged = [
      `../../outside/00000000000000000000.kbseg`,
      `${ID}/topics/${topic}/1/00000000000000000000.kbseg`,
      `${ID}/manifest.json`,
      `other-backup/topics/${topic}/0/00000000000000000000.kbseg`,
      `${ID}/topics/${topic}/0/../1/00000000000000000000.kbseg`,
    ];
    for (const key of forged) {
      const dir = await damaged(async (b) => {
        await mkdir(join(b, '..', 'other-backup', 'topics', topic, '0'), { recursive: true });
        await writeFile(join(b, '..', 'other-backup', 'topics', topic, '0', '00000000000000000000.kbseg'), 'planted');
        await editJson<IndexJson>(join(partDir(b, 0), 'index.json'), (j) => {
          j.segments[0]!.key = key;
        });
      });
      const spy = new SpyStore(new FsStore(dir));
      const before = await snapshot(dir);
      const offsets = await endOffsets(target);
      await assert.rejects(
        runRestore(testRestoreOptions(bootstrap, spy, ID, { topicMapping: { [topic]: target }, allowNonEmptyTarget: true })),
        (err: Error) => {
          assert.match(err.message, new RegExp(`topics/${topic}/0/index\\.json: segment key ".*" is not the key of offsets .* refusing to read it`));
          return true;
        },
      );
      const v = await validateBackup(spy, ID, true);
      assert.match(v.problems.map((p) => p.problem).join('\n'), /refusing to read it/);
      // (The manifest itself is read anyway, to find the topics.)
      assert.deepEqual(
        spy.reads.filter((k) => (k === key && key !== `${ID}/manifest.json`) || !k.startsWith(`${ID}/`)),
        [],
        `never read ${key}`,
      );
      assert.ok(!spy.reads.some((k) => k.endsWith('.kbseg') && !k.startsWith(`${ID}/topics/${topic}/`)), 'no segment outside the topic is read');
      assertUnchanged(before, await snapshot(dir));
      assert.equal(await endOffsets(target), offsets);
    }
  });

  test('impossible manifests: partition_count 0 or 10^9, negative offsets, partitions beyond the count, duplicates, another backup_id', async () => {
    const cases: [string, (m: ManifestJson) => void, RegExp][] = [
      ['partition_count 0', (m) => (m.topics[0]!.partition_count = 0), /topics\.0\.partition_count: must be between 1 and 100000/],
      ['partition_count 1e9', (m) => (m.topics[0]!.partition_count = 1e9), /topics\.0\.partition_count: must be between 1 and 100000/],
      ['negative log start', (m) => (m.topics[0]!.partitions[0]!.log_start_offset = -5), /topics\.0\.partitions\.0\.log_start_offset: must be >= 0/],
      ['negative end', (m) => (m.topics[0]!.partitions[1]!.end_offset = -1), /topics\.0\.partitions\.1\.end_offset: must be >= 0/],
      ['partition beyond count', (m) => (m.topics[0]!.partitions[1]!.partition = 7), /partition 7 of .* is not below its partition_count 2/],
      ['duplicate partition', (m) => (m.topics[0]!.partitions[1]!.partition = 0), /partition 0 of .* is listed twice/],
      ['duplicate topic', (m) => m.topics.push(structuredClone(m.topics[0]!)), /is listed twice/],
      ['another backup id', (m) => (m.backup_id = 'someone-else'), /manifest is for backup_id "someone-else", not "bad-in"/],
      ['unsafe number', (m) => (m.topics[0]!.partitions[0]!.end_offset = 2 ** 60), /end_offset: .*(safe integer|Too big)/],
    ];
    for (const [name, edit, pattern] of cases) {
      const dir = await damaged(async (b) => editJson<ManifestJson>(join(b, 'manifest.json'), edit));
      await expectRefused(dir, new RegExp(`${ID}/manifest\\.json: .*${pattern.source}`), undefined).catch((e: Error) => {
        throw new Error(`${name}: ${e.message}`);
      });
    }
  });

  test('topic names with /, .., backslash or NUL in a manifest are refused; nothing is written outside the backup', async () => {
    for (const bad of ['../../escape', 'a/b', '..', '.', 'a\\b', 'x\u0000y', '', 'ok/../../../../tmp/x']) {
      const dir = await damaged(async (b) =>
        editJson<ManifestJson>(join(b, 'manifest.json'), (m) => {
          m.topics[0]!.name = bad;
        }),
      );
      const outsideBefore = (await readdir(root)).sort();
      await expectRefused(dir, /manifest\.json: topics\.0\.name: is not a valid Kafka topic name/, undefined);
      assert.deepEqual((await readdir(root)).sort(), outsideBefore, `nothing created next to the backup for ${JSON.stringify(bad)}`);
    }
  });

  test('corrupted segment (same size, a flipped byte): validate names it; restore stops at it, and resumes without duplicates once repaired', async () => {
    let seg = '';
    let good: Buffer = Buffer.alloc(0);
    const dir = await damaged(async (b) => {
      seg = (await segFiles(b, 0)).at(-1)!;
      const f = join(partDir(b, 0), seg);
      good = await readFile(f);
      const bytes = Buffer.from(good);
      bytes[20] = bytes[20]! ^ 0x55;
      await writeFile(f, bytes);
    });
    const before = await snapshot(dir);
    const store = new FsStore(dir);
    const v = await validateBackup(store, ID, false);
    assert.match(v.problems.map((p) => `${p.object}: ${p.problem}`).join('\n'), new RegExp(`${seg}: CRC-32C mismatch`)); // the whole-object digest (default: CRC-32C)
    const fresh = uniqueTopic('bad-corrupt-restore');
    const opts = testRestoreOptions(bootstrap, store, ID, { topicMapping: { [topic]: fresh }, maxConcurrentPartitions: 1 });
    // The block CRC-32C catches it as the segment streams in (the whole object's digest would, at its end).
    await assert.rejects(runRestore(opts), new RegExp(`${seg}: (block 0: )?CRC-32C mismatch`));
    // Only the restore's own state was added; the backup's objects are untouched.
    assertUnchanged(before, await snapshot(dir), (p) => p.startsWith(`${ID}/restores/`));
    // What was written is a prefix of partition 0, never a record of the damaged segment.
    const src0 = (await consumeAll(bootstrap, topic, 0)).map((r) => recordKey(r));
    const got0 = (await consumeAll(bootstrap, fresh, 0)).map((r) => recordKey(r));
    assert.deepEqual(got0, src0.slice(0, got0.length));
    assert.ok(got0.length < src0.length);
    // Repaired: the same restore resumes and finishes with every record exactly once.
    await writeFile(join(dir, ID, 'topics', topic, '0', seg), good);
    const res = await runRestore(opts);
    assert.equal(res.resumed, true);
    for (const p of [0, 1]) {
      const src = (await consumeAll(bootstrap, topic, p)).map((r) => recordKey(r));
      const got = (await consumeAll(bootstrap, fresh, p)).map((r) => recordKey(r));
      assert.deepEqual(got, src, `partition ${p}`);
    }
  });

  test('partition_mapping into partitions the existing target topic does not have: refused, target unchanged', async () => {
    const dir = await damaged(async () => {});
    const before = await snapshot(dir);
    const offsets = await endOffsets(target);
    await assert.rejects(
      runRestore(
        testRestoreOptions(bootstrap, new FsStore(dir), ID, { topicMapping: { [topic]: target }, partitionMapping: { 0: 5 }, allowNonEmptyTarget: true }),
      ),
      new RegExp(`target topic ${target} has 2 partitions.*writes into partition 5`),
    );
    assertUnchanged(before, await snapshot(dir));
    assert.equal(await endOffsets(target), offsets);
  });

  describe('through the CLI: one-line errors naming the key or object, nothing changed', () => {
    function assertOneLine(r: { code: number; stderr: string }, pattern: RegExp): void {
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }

    test('backup ids with ../ or separators are refused before any storage access', async () => {
      const dir = await damaged(async () => {});
      const before = await snapshot(dir);
      for (const id of ['../bad-in', '..', 'a/b', 'x\\y']) {
        for (const cmd of [
          ['describe', '-p', dir, '-b', id],
          ['validate', '-p', dir, '-b', id],
        ])
          assertOneLine(cli(cmd), /backup_id|backup id/i);
        const cfg = join(root, 'bad-id.yaml');
        await writeFile(
          cfg,
          `mode: restore\nbackup_id: ${JSON.stringify(id)}\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${dir}\nmetrics:\n  enabled: false\n`,
        );
        assertOneLine(cli(['restore', '--config', cfg]), /backup_id/);
      }
      assertUnchanged(before, await snapshot(dir));
      assert.deepEqual(
        (await readdir(root)).filter((f) => !f.startsWith('case-') && f !== 'pristine' && !f.endsWith('.yaml') && f !== 'other-backup'),
        [],
      );
    });

    test('a damaged manifest is one line naming manifest.json (restore, validate-restore, describe)', async () => {
      const dir = await damaged(async (b) => editJson<ManifestJson>(join(b, 'manifest.json'), (m) => (m.topics[0]!.name = '../../etc')));
      const cfg = join(root, 'damaged.yaml');
      await writeFile(
        cfg,
        `mode: restore\nbackup_id: ${ID}\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${dir}\nrestore:\n  topic_mapping: { "${topic}": "${target}" }\n  allow_non_empty_target: true\nmetrics:\n  enabled: false\n`,
      );
      const offsets = await endOffsets(target);
      for (const args of [
        ['restore', '--config', cfg],
        ['validate-restore', '--config', cfg],
        ['describe', '-p', dir, '-b', ID],
      ])
        assertOneLine(cli(args), new RegExp(`${ID}/manifest\\.json: topics\\.0\\.name`));
      assert.equal(await endOffsets(target), offsets);
    });

    test('YAML with wrong types, unknown keys, contradictions and seconds: each named, nothing stored or restored', async () => {
      const dir = await damaged(async () => {});
      const before = await snapshot(dir);
      const offsets = await endOffsets(target);
      const head = `mode: restore\nbackup_id: ${ID}\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${dir}\nmetrics:\n  enabled: false\n`;
      const backupHead = `mode: backup\nbackup_id: ${ID}\nsource:\n  bootstrap_servers: ["${bootstrap}"]\n  topics:\n    include: ["${topic}"]\nstorage:\n  backend: filesystem\n  path: ${dir}\nmetrics:\n  enabled: false\n`;
      const cases: [string, string, string, RegExp][] = [
        ['restore', head, `restore:\n  max_concurrent_partitions: "4"\n`, /restore\.max_concurrent_partitions/],
        ['restore', head, `restore:\n  dry_run: yes\n`, /restore\.dry_run/],
        ['restore', head, `restore:\n  topic_mapping: [a, b]\n`, /restore\.topic_mapping/],
        ['restore', head, `restore:\n  partition_mapping:\n    "0": 1\n`, /restore\.partition_mapping/],
        ['restore', head, `restore:\n  partition_mapping:\n    0: -1\n`, /restore\.partition_mapping/],
        ['restore', head, `restore:\n  time_window_ends: 1731250800000\n`, /restore\.time_window_ends.*did you mean/],
        ['restore', head, `restorer:\n  dry_run: true\n`, /restorer/],
        ['restore', head, `restore:\n  time_window_start: 1731236400\n`, /restore\.time_window_start.*seconds/],
        ['restore', head, `restore:\n  time_window_end: 1731236400\n`, /restore\.time_window_end.*seconds/],
        ['restore', head, `restore:\n  time_window_start: 1731236400000000\n`, /restore\.time_window_start.*microseconds/],
        [
          'restore',
          head,
          `restore:\n  time_window_start: 1731250800000\n  time_window_end: 1731236400000\n`,
          /time_window_start.*time_window_end|time_window_end.*time_window_start/,
        ],
        ['backup', backupHead, `backup:\n  continuous: true\n  stop_at_current_offsets: true\n`, /stop_at_current_offsets/],
        ['backup', backupHead, `backup:\n  compression: brotli\n`, /backup\.compression/],
        ['backup', backupHead, `backup:\n  segment_max_bytes: -1\n`, /backup\.segment_max_bytes/],
        ['backup', backupHead.replace('  path:', '  bucket: x\n  path:'), ``, /storage\.bucket/],
        ['restore', head.replace('mode: restore', 'mode: backup'), ``, /mode/],
      ];
      for (const [cmd, h, extra, pattern] of cases) {
        const cfg = join(root, `yaml-${++n}.yaml`);
        await writeFile(cfg, h + extra);
        assertOneLine(cli([cmd, '--config', cfg]), pattern);
      }
      assertUnchanged(before, await snapshot(dir));
      assert.equal(await endOffsets(target), offsets);
    });
  });
});
