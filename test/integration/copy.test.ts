/**
 * copy against a real broker and MinIO: a filesystem backup copied to MinIO, interrupted and
 * resumed, restored from the copy record for record; a second copy transfers only what is new;
 * re-encryption with another key; an erase at the source reaches the copy.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import { validateBackup } from '../../src/backup/validate.js';
import { entryMatchesKey, readErasureLog } from '../../src/format/erasure-log.js';
import { keys } from '../../src/format/layout.js';
import { readPartitionIndex } from '../../src/format/partition-index.js';
import { runCopy } from '../../src/lifecycle/copy.js';
import { runErase } from '../../src/lifecycle/erase.js';
import { runRestore } from '../../src/restore/engine.js';
import { EncryptedStore, openStore } from '../../src/storage/index.js';
import type { ObjectStore } from '../../src/storage/store.js';
import type { KafkaRecord } from '../../src/kafka/protocol/record-batch.js';
import { backupRecords } from '../helpers/backup-read.js';
import { runCli } from '../helpers/cli.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { getTestS3, listObjectKeys, stopTestS3, type TestS3, s3Spec } from '../helpers/minio.js';
import { sleep } from '../helpers/ports.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';

let bootstrap: string;
let dir: string;
let s3: TestS3;
let bucket: string;
let srcPath: string;
let src: ObjectStore;
let copy: ObjectStore;
let url: string;
let env: NodeJS.ProcessEnv;
const topic = uniqueTopic('copy-src');
const ID = 'c1';

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  s3 = await getTestS3();
  bucket = await s3.freshBucket('kb-copy');
  dir = await mkdtemp(join(tmpdir(), 'kb-copy-'));
  srcPath = join(dir, 'src');
  src = await openStore({ backend: 'filesystem', path: srcPath });
  copy = await openStore(s3Spec(s3, bucket, 'offsite'));
  url = `s3://${bucket}/offsite?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}&path_style=true&allow_http=true`;
  env = { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey };
  await createTopic(bootstrap, topic, 2);
  await produce(bootstrap, topic, 0, awkwardRecords(300, Date.UTC(2025, 1, 1), 11), 'lz4', 5);
  await produce(bootstrap, topic, 1, awkwardRecords(200, Date.UTC(2025, 1, 1), 12), 'none', 5);
  await backup();
});

after(async () => {
  await src.close();
  await copy.close();
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
  await stopTestS3();
});

async function backup(): Promise<void> {
  await runBackup(testBackupOptions(bootstrap, src, ID, [topic], { segmentMaxBytes: 2048, fetchMaxBytes: 2048 }));
}

async function segmentCount(store: ObjectStore): Promise<number> {
  let n = 0;
  for (const p of [0, 1]) n += (await readPartitionIndex(store, ID, topic, p))?.segments.length ?? 0;
  return n;
}

/** The copy holds exactly what the source backup holds, offsets included, and validate --deep passes on it. */
async function assertSameBackup(from: ObjectStore, to: ObjectStore): Promise<void> {
  assert.deepEqual((await validateBackup(to, ID, true)).problems, []);
  for (const p of [0, 1]) {
    const a = await backupRecords(from, ID, topic, p);
    const b = await backupRecords(to, ID, topic, p);
    assert.ok(a.length > 0);
    assert.deepEqual(
      b.map((r) => recordKey(r, true)),
      a.map((r) => recordKey(r, true)),
      `${topic}/${p} record for record`,
    );
  }
}

describe('copy between stores', () => {
  test('filesystem → MinIO: interrupted after 5 segments, resumed by the CLI without transferring them again, then restored from the copy record for record', async () => {
    const total = await segmentCount(src);
    assert.ok(total >= 12, `enough segments (${total})`);
    const ac = new AbortController();
    let copied = 0;
    const first = await runCopy({
      from: src,
      to: copy,
      backupId: ID,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.action === 'copied' && ++copied === 5) ac.abort();
      },
    });
    assert.equal(first.backups[0]!.complete, false);
    assert.equal(first.backups[0]!.segmentsCopied, 5);
    assert.ok(!(await copy.exists(keys.manifest(ID))), 'no manifest on the destination until everything it names is there');

    const r = runCli(['copy', '--from', srcPath, '--to', url, '--backup-id', ID, '--format', 'json'], { env });
    assert.equal(r.code, 0, r.stderr);
    const j = (
      JSON.parse(r.stdout) as { backups: { complete: boolean; segments_copied: number; segments_verified_in_place: number; segments_unchanged: number }[] }
    ).backups[0]!;
    assert.equal(j.complete, true);
    assert.equal(j.segments_verified_in_place, 5, 'the 5 segments of the interrupted run are verified on the destination, not transferred again');
    assert.equal(j.segments_copied, total - 5);
    await assertSameBackup(src, copy);
    const v = runCli(['validate', '--path', url, '--backup-id', ID, '--deep'], { env });
    assert.equal(v.code, 0, v.stdout + v.stderr);

    const target = uniqueTopic('copy-restored');
    await runRestore(testRestoreOptions(bootstrap, copy, ID, { topicMapping: { [topic]: target } }));
    for (const p of [0, 1]) {
      const want: KafkaRecord[] = await consumeAll(bootstrap, topic, p);
      assert.deepEqual(
        (await consumeAll(bootstrap, target, p)).map((x) => recordKey(x)),
        want.map((x) => recordKey(x)),
        `restored from the copy: ${target}/${p}`,
      );
    }
  });

  test('a second copy transfers only the segments backed up since', async () => {
    const before = await segmentCount(src);
    await produce(bootstrap, topic, 0, awkwardRecords(120, Date.UTC(2025, 1, 2), 13), 'zstd', 10);
    await backup();
    const added = (await segmentCount(src)) - before;
    assert.ok(added > 0);
    // Stopped right after the first index is replaced: the copy still holds the previous manifest.
    const ac = new AbortController();
    const r = await runCopy({
      from: src,
      to: copy,
      backupId: ID,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.action === 'index') ac.abort();
      },
    });
    const b = r.backups[0]!;
    assert.equal(b.complete, false);
    assert.equal(b.segmentsCopied, added);
    assert.equal(b.segmentsVerified, 0);
    const mid = await validateBackup(copy, ID, true);
    assert.deepEqual(mid.problems, [], 'mid-copy, the destination is a consistent backup (no generation mismatch): a restore from it works');
    const rest = (await runCopy({ from: src, to: copy, backupId: ID })).backups[0]!;
    assert.equal(rest.complete, true);
    assert.equal(rest.segmentsCopied, 0);
    assert.equal(rest.segmentsUnchanged, before + added, 'every segment is on the copy; none transferred again');
    await assertSameBackup(src, copy);
    const again = (await runCopy({ from: src, to: copy, backupId: ID })).backups[0]!;
    assert.deepEqual([again.segmentsCopied, again.bytesCopied, again.segmentsUnchanged], [0, 0, before + added], 'nothing new: nothing transferred');
  });

  test('encryption changed: MinIO (plain) → filesystem under key A → filesystem under key B; the old key no longer reads the last copy', async () => {
    const keyA = join(dir, 'a.key');
    const keyB = join(dir, 'b.key');
    const a = randomBytes(32);
    const b = randomBytes(32);
    await writeFile(keyA, a.toString('hex'));
    await writeFile(keyB, b.toString('hex'));
    const encA = join(dir, 'enc-a');
    const encB = join(dir, 'enc-b');
    const r1 = runCli(['copy', '--from', url, '--to', encA, '--backup-id', ID, '--to-encryption-key-file', keyA], { env });
    assert.equal(r1.code, 0, r1.stderr);
    assert.ok(r1.stdout.startsWith('Copy ') && r1.stdout.includes(` → ${encA}\n  c1: complete\n`), r1.stdout);
    assert.match(r1.stdout, /\n {4}Segments copied: \d+ \(.*, digest verified on the destination\)/);
    const r2 = runCli([
      'copy',
      '--from',
      encA,
      '--to',
      encB,
      '--encryption-key-file',
      keyA,
      '--to-encryption-key-file',
      keyB,
      '--to-encryption-key-id',
      'offsite-b',
    ]);
    assert.equal(r2.code, 0, r2.stderr);
    const storeB = new EncryptedStore(await openStore({ backend: 'filesystem', path: encB }), b);
    try {
      await assertSameBackup(src, storeB);
    } finally {
      await storeB.close();
    }
    const withA = runCli(['validate', '--path', encB, '--backup-id', ID, '--encryption-key-file', keyA]);
    assert.equal(withA.code, 1);
    assert.match(withA.stderr + withA.stdout, /offsite-b/, 'the error names the key id the copy was written with');
    const noKey = runCli(['copy', '--from', encB, '--to', join(dir, 'x'), '--backup-id', ID]);
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /^error: .*manifest\.json is encrypted with key id "offsite-b"; configure the key/);
  });

  test('an erase at the source reaches the copy on the next copy: replaced segments are removed there', async () => {
    const victim = (await consumeAll(bootstrap, topic, 1)).find((r) => r.key && r.key.length > 0)!.key!;
    const e = await runErase({ store: src, backupId: ID, topic, keys: [victim], execute: true });
    assert.ok(e.records > 0);
    const r = (await runCopy({ from: src, to: copy, backupId: ID })).backups[0]!;
    assert.equal(r.segmentsCopied, e.segmentsRewritten);
    assert.equal(r.removed.length, e.segmentsRewritten, 'the old segment objects holding the key are deleted from the copy');
    await assertSameBackup(src, copy);
    assert.ok(!(await backupRecords(copy, ID, topic, 1)).some((x) => x.key?.equals(victim)));
    const log = await readErasureLog(copy, ID);
    assert.equal(log.entries.length, 1, 'the erasure log is copied');
    assert.ok(entryMatchesKey(log.entries[0]!, topic, victim));
  });

  test('a copy killed (SIGKILL) part-way resumes: what is on the destination is verified in place, the rest copied', async (t) => {
    const ROOT = join(import.meta.dirname, '..', '..');
    const killedUrl = url.replace('/offsite?', '/killed?');
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), 'copy', '--from', srcPath, '--to', killedUrl, '--backup-id', ID], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: 'ignore',
    });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    let objects: string[] = [];
    for (let i = 0; i < 3000 && child.exitCode === null; i++) {
      objects = (await listObjectKeys(s3, bucket, 'killed/')).filter((k) => k.endsWith('.kbseg'));
      if (objects.length >= 3) break;
      await sleep(10);
    }
    child.kill('SIGKILL');
    await exited;
    const killed = await openStore(s3Spec(s3, bucket, 'killed'));
    try {
      const total = await segmentCount(src);
      const present = (await listObjectKeys(s3, bucket, 'killed/')).filter((k) => k.endsWith('.kbseg')).length;
      const finished = await killed.exists(keys.manifest(ID));
      t.diagnostic(`killed with ${present} of ${total} segments on the destination${finished ? ' (the copy had already finished)' : ''}`);
      // The lease of the killed process (dead pid on this host) is taken over at once.
      const r = runCli(['copy', '--from', srcPath, '--to', killedUrl, '--backup-id', ID, '--format', 'json'], { env });
      assert.equal(r.code, 0, r.stderr);
      const j = (
        JSON.parse(r.stdout) as { backups: { complete: boolean; segments_copied: number; segments_verified_in_place: number; segments_unchanged: number }[] }
      ).backups[0]!;
      assert.equal(j.complete, true);
      assert.equal(j.segments_copied + j.segments_verified_in_place + j.segments_unchanged, total);
      if (!finished) {
        assert.ok(present > 0 && present < total, `killed part-way (${present} of ${total})`);
        assert.equal(j.segments_copied, total - present - j.segments_unchanged, 'only the segments missing on the destination are transferred');
      }
      await assertSameBackup(src, killed);
    } finally {
      await killed.close();
    }
  });
});
