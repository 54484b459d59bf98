/**
 * erase against a real broker and MinIO: a key spread over several segments of two partitions is
 * erased from a plain (filesystem) and an encrypted (MinIO) backup; everything else is compared
 * record for record, offsets included, in the backup and after a restore.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Producer } from '@platformatic/kafka';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import { BackupLease, LeaseHeldError } from '../../src/backup/lease.js';
import { validateBackup } from '../../src/backup/validate.js';
import { erasureLogKey, entryMatchesKey, readErasureLog } from '../../src/format/erasure-log.js';
import { pinnedIndexGeneration } from '../../src/format/generations.js';
import { readJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { manifestSchema } from '../../src/format/manifest.js';
import { readPartitionIndex } from '../../src/format/partition-index.js';
import { runErase } from '../../src/lifecycle/erase.js';
import { runRestore } from '../../src/restore/engine.js';
import { EncryptedStore, openStore } from '../../src/storage/index.js';
import type { ObjectStore } from '../../src/storage/store.js';
import type { KafkaRecord, RecordInput } from '../../src/kafka/protocol/record-batch.js';
import { backupRecords } from '../helpers/backup-read.js';
import { runCli } from '../helpers/cli.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { getTestS3, stopTestS3, s3Spec } from '../helpers/minio.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';

const KEY = 'customer-42';
let bootstrap: string;
let dir: string;
const topic = uniqueTopic('erase-src');
const source: KafkaRecord[][] = [];

/** awkwardRecords with every 60th record keyed KEY (and a run of 12 in a row: whole batches of it). */
function withKey(n: number, seed: number): RecordInput[] {
  return awkwardRecords(n, Date.UTC(2025, 0, 1), seed).map((r, i) => (i % 60 === 4 || (i >= 100 && i < 112) ? { ...r, key: Buffer.from(KEY) } : r));
}

const isKey = (r: KafkaRecord): boolean => r.key?.toString('utf8') === KEY;

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-erase-'));
  await createTopic(bootstrap, topic, 2);
  await produce(bootstrap, topic, 0, withKey(400, 3), 'zstd', 6);
  await produce(bootstrap, topic, 1, withKey(300, 4), 'none', 6);
  for (const p of [0, 1]) source.push(await consumeAll(bootstrap, topic, p));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
  await stopTestS3();
});

/** The backup holds exactly the source minus the key's records, offsets included; validate --deep passes; no object is left that no index names. */
async function assertErased(store: ObjectStore, backupId: string): Promise<void> {
  const v = await validateBackup(store, backupId, true);
  assert.deepEqual(v.problems, [], 'validate --deep passes after the erase');
  for (const p of [0, 1]) {
    const got = await backupRecords(store, backupId, topic, p);
    assert.deepEqual(
      got.map((r) => recordKey(r, true)),
      source[p]!.filter((r) => !isKey(r)).map((r) => recordKey(r, true)),
      `${topic}/${p}: every other record kept with its offset, timestamp, headers, in order`,
    );
    const idx = (await readPartitionIndex(store, backupId, topic, p))!;
    const manifest = (await readJsonObject(store, keys.manifest(backupId), manifestSchema))!;
    assert.equal(pinnedIndexGeneration(manifest, topic, p), idx.generation, 'the manifest pins the rewritten index (an older one put back is a rollback)');
    const named = new Set(idx.segments.map((s) => s.key));
    for await (const o of store.list(keys.partitionPrefix(backupId, topic, p))) {
      if (o.key.endsWith('.kbseg')) assert.ok(named.has(o.key), `${o.key}: a replaced segment object is deleted`);
    }
  }
}

async function assertRestoreClean(store: ObjectStore, backupId: string): Promise<void> {
  const target = uniqueTopic('erase-restored');
  await runRestore(testRestoreOptions(bootstrap, store, backupId, { topicMapping: { [topic]: target } }));
  for (const p of [0, 1]) {
    const got = await consumeAll(bootstrap, target, p);
    assert.ok(!got.some(isKey), 'the restore holds no record with the key');
    assert.deepEqual(
      got.map((r) => recordKey(r)),
      source[p]!.filter((r) => !isKey(r)).map((r) => recordKey(r)),
      `restored ${target}/${p} record for record`,
    );
  }
}

async function backupOf(store: ObjectStore, backupId: string): Promise<void> {
  await runBackup(testBackupOptions(bootstrap, store, backupId, [topic], { segmentMaxBytes: 4096, fetchMaxBytes: 4096 }));
  const idx = await readPartitionIndex(store, backupId, topic, 0);
  assert.ok(idx && idx.segments.length >= 4, `several segments per partition (${idx?.segments.length})`);
}

const expectedCount = (): number => source.flat().filter(isKey).length;

describe('erase a key', () => {
  test('plain filesystem backup, through the CLI: plan changes nothing; --execute rewrites only the segments holding the key', async () => {
    const path = join(dir, 'plain');
    const store = await openStore({ backend: 'filesystem', path });
    try {
      await backupOf(store, 'b1');
      const before = (await readPartitionIndex(store, 'b1', topic, 0))!;
      const before1 = (await readPartitionIndex(store, 'b1', topic, 1))!;

      const plan = runCli(['erase', '--path', path, '--backup-id', 'b1', '--topic', topic, '--key', KEY, '--format', 'json']);
      assert.equal(plan.code, 0, plan.stderr);
      const pj = JSON.parse(plan.stdout) as { executed: boolean; records: number; partitions: { segments: unknown[] }[] };
      assert.equal(pj.executed, false);
      assert.equal(pj.records, expectedCount());
      assert.deepEqual(await readPartitionIndex(store, 'b1', topic, 0), before, 'plan only: the index is untouched');
      assert.ok(!(await store.exists(erasureLogKey('b1'))), 'plan only: no erasure log');
      const text = runCli(['erase', '--path', path, '--backup-id', 'b1', '--topic', topic, '--key', KEY]);
      assert.match(
        text.stdout,
        new RegExp(
          `^Erase plan \\(nothing changed; add --execute to erase\\): b1 topic ${topic}, 1 key\\(s\\)\n  Segments scanned: \\d+   holding the key\\(s\\): \\d+   records: ${expectedCount()}\n`,
        ),
        text.stdout,
      );

      const ex = runCli(['erase', '--path', path, '--backup-id', 'b1', '--topic', topic, '--key', KEY, '--execute', '--format', 'json']);
      assert.equal(ex.code, 0, ex.stderr);
      const ej = JSON.parse(ex.stdout) as {
        executed: boolean;
        records: number;
        segments_rewritten: number;
        segments_scanned: number;
        partitions: { partition: number }[];
      };
      assert.equal(ej.records, expectedCount());
      assert.deepEqual(
        ej.partitions.map((p) => p.partition),
        [0, 1],
        'the key was in both partitions',
      );
      assert.ok(
        ej.segments_rewritten >= 3 && ej.segments_rewritten < ej.segments_scanned,
        `only the segments holding the key are rewritten (${ej.segments_rewritten} of ${ej.segments_scanned})`,
      );
      let untouched = 0;
      for (const [p, b] of [
        [0, before],
        [1, before1],
      ] as const) {
        const a = (await readPartitionIndex(store, 'b1', topic, p))!;
        assert.equal(a.segments.length, b.segments.length);
        assert.deepEqual(
          a.segments.map((s) => [s.first_offset, s.last_offset]),
          b.segments.map((s) => [s.first_offset, s.last_offset]),
          'segments keep their offset ranges',
        );
        assert.equal(a.next_offset, b.next_offset);
        untouched += a.segments.filter(
          (s, i) => s.key === b.segments[i]!.key && s.sha256 === b.segments[i]!.sha256 && s.crc32c === b.segments[i]!.crc32c,
        ).length;
      }
      assert.equal(untouched, ej.segments_scanned - ej.segments_rewritten, 'segments without the key are not rewritten');

      await assertErased(store, 'b1');
      const log = await readErasureLog(store, 'b1');
      assert.equal(log.entries.length, 1);
      assert.equal(log.entries[0]!.status, 'complete');
      assert.equal(log.entries[0]!.records, expectedCount());
      assert.ok(entryMatchesKey(log.entries[0]!, topic, Buffer.from(KEY)));
      assert.ok(!(await store.get(erasureLogKey('b1'))).includes(Buffer.from(KEY)), 'the log holds the key only as a salted hash');

      const again = runCli(['erase', '--path', path, '--backup-id', 'b1', '--topic', topic, '--key', KEY, '--format', 'json']);
      assert.equal((JSON.parse(again.stdout) as { records: number }).records, 0, 'nothing left to erase');
      const v = runCli(['validate', '--path', path, '--backup-id', 'b1', '--deep']);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      await assertRestoreClean(store, 'b1');
    } finally {
      await store.close();
    }
  });

  test('bad input: unknown topic and a missing keys file are one-line errors naming them', async () => {
    const path = join(dir, 'plain');
    const r1 = runCli(['erase', '--path', path, '--backup-id', 'b1', '--topic', 'nope', '--key', KEY]);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /^error: erase --topic nope: backup "b1" has no such topic \(it has: .*\)\n$/);
    const r2 = runCli(['erase', '--path', path, '--backup-id', 'b1', '--topic', topic, '--keys-file', join(dir, 'missing.txt')]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /^error: --keys-file .*missing\.txt: cannot read \(no such file\)\n$/);
    // A damaged erasure log is a validate problem naming it (nothing records the erasure otherwise).
    const store = await openStore({ backend: 'filesystem', path });
    try {
      const good = await store.get(erasureLogKey('b1'));
      await store.put(erasureLogKey('b1'), Buffer.from('{"format_version":1,"entries":"x"}'));
      const v = await validateBackup(store, 'b1', false);
      assert.equal(v.problems.length, 1);
      assert.equal(v.problems[0]!.object, 'b1/erasure-log.json');
      await store.put(erasureLogKey('b1'), good);
    } finally {
      await store.close();
    }
  });

  test('encrypted backup on MinIO: erase under the lease, interrupted at each step and finished by a second run', async () => {
    const s3 = await getTestS3();
    const bucket = await s3.freshBucket('kb-erase');
    const key = randomBytes(32);
    const inner = await openStore(s3Spec(s3, bucket, 'enc'));
    const store = new EncryptedStore(inner, key);
    try {
      await backupOf(store, 'e1');
      const keysFile = join(dir, 'keys.txt');
      await writeFile(keysFile, `${KEY}\n\ncustomer-nobody\n`);

      // A running writer holds the lease: erase refuses and changes nothing.
      const held = await BackupLease.acquire(store, 'e1');
      await assert.rejects(runErase({ store, backupId: 'e1', topic, keys: [Buffer.from(KEY)], execute: true }), LeaseHeldError);
      await held.release();

      // Crash after the new segments are written, before the index switch: the backup stays valid and unchanged.
      const before = await backupRecords(store, 'e1', topic, 0);
      await assert.rejects(
        runErase({
          store,
          backupId: 'e1',
          topic,
          keys: [Buffer.from(KEY)],
          execute: true,
          afterStep: (s) => {
            if (s === 'segments-written') throw new Error('crash');
          },
        }),
        /crash/,
      );
      assert.deepEqual((await validateBackup(store, 'e1', true)).problems, []);
      assert.deepEqual(
        (await backupRecords(store, 'e1', topic, 0)).map((r) => recordKey(r, true)),
        before.map((r) => recordKey(r, true)),
      );

      // Crash after partition 0's index switch, before its old objects are deleted: valid, partition 0 erased.
      await assert.rejects(
        runErase({
          store,
          backupId: 'e1',
          topic,
          keys: [Buffer.from(KEY)],
          execute: true,
          afterStep: (s) => {
            if (s === 'index-switched') throw new Error('crash');
          },
        }),
        /crash/,
      );
      const vi = await validateBackup(store, 'e1', true);
      assert.deepEqual(vi.problems, []);
      assert.ok(
        vi.warnings.some((w) => w.startsWith('e1/erasure-log.json: an erase of a key from ') && w.includes('did not finish')),
        'validate names the unfinished erase',
      );
      assert.ok(!(await backupRecords(store, 'e1', topic, 0)).some(isKey));

      // The second run, through the CLI with the key file: finishes partition 1, removes the leftovers, completes the log entry.
      const keyFile = join(dir, 'enc.key');
      await writeFile(keyFile, key.toString('hex'));
      const url = `s3://${bucket}/enc?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}&path_style=true&allow_http=true`;
      const env = { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey };
      const r = runCli(
        [
          'erase',
          '--path',
          url,
          '--backup-id',
          'e1',
          '--topic',
          topic,
          '--keys-file',
          keysFile,
          '--execute',
          '--encryption-key-file',
          keyFile,
          '--format',
          'json',
        ],
        { env },
      );
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as { records: number; leftovers_removed: string[]; keys: number };
      assert.equal(j.keys, 2);
      assert.equal(j.records, source[1]!.filter(isKey).length, 'the second run erases what the first did not reach');
      assert.ok(j.leftovers_removed.length > 0, 'objects of the interrupted runs are removed');
      await assertErased(store, 'e1');
      const log = await readErasureLog(store, 'e1');
      const mine = log.entries.filter((e) => entryMatchesKey(e, topic, Buffer.from(KEY)));
      assert.equal(mine.length, 1, 'the interrupted entry is completed, not duplicated');
      assert.equal(mine[0]!.status, 'complete');
      assert.equal(mine[0]!.records, expectedCount());
      assert.ok(log.entries.every((e) => e.status === 'complete'));
      assert.ok(!(await store.inner.get(erasureLogKey('e1'))).includes(Buffer.from('"topic"')), 'the log is stored encrypted');
      const v = runCli(['validate', '--path', url, '--backup-id', 'e1', '--deep', '--encryption-key-file', keyFile], { env });
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.ok(!v.stdout.includes('did not finish'));
      await assertRestoreClean(store, 'e1');
    } finally {
      await store.close();
    }
  });

  test('transactional topic: a key erased from committed and aborted transactions; the restore still drops the aborted ones', async () => {
    const txTopic = uniqueTopic('erase-txn');
    await createTopic(bootstrap, txTopic, 1);
    const committed: string[] = [];
    const producer = new Producer({
      clientId: 'kb-erase-txn',
      bootstrapBrokers: [bootstrap],
      idempotent: true,
      transactionalId: `${txTopic}-a`,
      compression: 'snappy',
    });
    let n = 0;
    try {
      for (const [round, commit] of [
        [0, true],
        [1, false],
        [2, true],
        [3, false],
        [4, true],
      ] as const) {
        const t = await producer.beginTransaction();
        const messages = Array.from({ length: 8 }, () => {
          const i = n++;
          return {
            topic: txTopic,
            partition: 0,
            key: Buffer.from(`k-${i % 5}`),
            value: Buffer.from(`r${round}-${i}`),
            timestamp: BigInt(Date.UTC(2025, 2, 1) + i),
          };
        });
        await t.send({ messages });
        if (commit) {
          await t.commit();
          committed.push(...messages.filter((m) => m.key.toString() !== 'k-2').map((m) => m.value.toString()));
        } else await t.abort();
      }
    } finally {
      await producer.close();
    }
    const store = await openStore({ backend: 'filesystem', path: join(dir, 'txn') });
    try {
      await runBackup(testBackupOptions(bootstrap, store, 't1', [txTopic], { segmentMaxRecords: 8 }));
      const all = await consumeAll(bootstrap, txTopic, 0);
      const e = await runErase({ store, backupId: 't1', topic: txTopic, keys: [Buffer.from('k-2')], execute: true });
      assert.equal(e.records, all.filter((r) => r.key?.toString() === 'k-2').length, 'erased from committed and aborted transactions alike');
      assert.deepEqual((await validateBackup(store, 't1', true)).problems, []);
      const got = await backupRecords(store, 't1', txTopic, 0);
      assert.deepEqual(
        got.map((r) => recordKey(r, true)),
        all.filter((r) => r.key?.toString() !== 'k-2').map((r) => recordKey(r, true)),
      );
      const target = uniqueTopic('erase-txn-restored');
      await runRestore(testRestoreOptions(bootstrap, store, 't1', { topicMapping: { [txTopic]: target } }));
      assert.deepEqual(
        (await consumeAll(bootstrap, target, 0)).map((r) => r.value!.toString()),
        committed,
        'committed records without the key, in order; aborted ones still dropped',
      );
    } finally {
      await store.close();
    }
  });
});
