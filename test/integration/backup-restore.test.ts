import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import { KafkaCluster } from '../../src/kafka/cluster.js';
import { fetchPartition } from '../../src/kafka/fetcher.js';
import { ClientClosedError } from '../../src/util/errors.js';
import type { BackupOptions } from '../../src/backup/options.js';
import { inspectBackup } from '../../src/format/backup-view.js';
import { readPartitionIndex } from '../../src/format/partition-index.js';
import { crc32c } from '../../src/kafka/protocol/crc32c.js';
import { validateBackup } from '../../src/backup/validate.js';
import { runRestore } from '../../src/restore/engine.js';
import { planRestore } from '../../src/restore/plan.js';
import { partitionFor } from '../../src/restore/repartition.js';
import { DIR_MODE, FILE_MODE, FsStore } from '../../src/storage/fs.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { getTestKafka, createTopic, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { assertBackupExact, backupRecords } from '../helpers/backup-read.js';

function backupOpts(bootstrap: string, store: ObjectStore, backupId: string, topics: string[], extra: Partial<BackupOptions> = {}): BackupOptions {
  return testBackupOptions(bootstrap, store, backupId, topics, { segmentMaxBytes: 16 * 1024, ...extra });
}

const restoreOpts = testRestoreOptions;

describe('backup and restore against the real broker', () => {
  let bootstrap: string;
  let dir: string;
  let store: FsStore;
  const topic = uniqueTopic('orders');
  const codecs = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
  const base = Date.UTC(2024, 10, 10, 10, 0, 0);
  const backupId = 'it-backup-1';

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-it-'));
    store = new FsStore(dir);
    await createTopic(bootstrap, topic, codecs.length);
    for (let p = 0; p < codecs.length; p++) await produce(bootstrap, topic, p, awkwardRecords(300, base + p * 7, p + 1), codecs[p]);
    const sum = await runBackup(backupOpts(bootstrap, store, backupId, [topic]));
    assert.equal(sum.status, 'complete');
    assert.equal(sum.records, 300 * codecs.length);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('a closed Kafka client never reconnects: a fetch after close (a backup prefetch in flight at the end) fails at once', async () => {
    const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
    const first = await fetchPartition(cluster, topic, 0, 0n);
    assert.ok(first.records.length > 0);
    await cluster.close();
    let retries = 0;
    await assert.rejects(fetchPartition(cluster, topic, 0, 0n, { onRetry: () => retries++ }), ClientClosedError);
    await assert.rejects(cluster.refresh(), ClientClosedError);
    assert.equal(retries, 0, 'not retried');
  });

  test('open segments over the memory budget roll early; the backup still holds every record exactly once', async () => {
    const id = 'it-backup-budget';
    // Small fetches and 1 MiB segments: with the default budget, one segment per partition.
    const opts = { segmentMaxBytes: 1024 * 1024, fetchMaxBytes: 2048 };
    const roomy = await runBackup(backupOpts(bootstrap, store, `${id}-roomy`, [topic], opts));
    assert.equal(roomy.segments, codecs.length);
    const sum = await runBackup(backupOpts(bootstrap, store, id, [topic], { ...opts, openSegmentBudgetBytes: 8 * 1024 }));
    assert.equal(sum.records, 300 * codecs.length);
    assert.ok(sum.segments > roomy.segments, `${sum.segments} segments: the budget rolled none early`);
    assert.equal(await assertBackupExact(bootstrap, store, id, topic, codecs.length), 300 * codecs.length);
  });

  test('the broker returns what was produced: null and empty keys and values, duplicate and null headers, explicit timestamps', async () => {
    for (let p = 0; p < codecs.length; p++) {
      const produced = awkwardRecords(300, base + p * 7, p + 1);
      const consumed = await consumeAll(bootstrap, topic, p);
      assert.equal(consumed.length, produced.length);
      consumed.forEach((r, i) => {
        const e = produced[i]!;
        assert.equal(r.offset, BigInt(i));
        assert.equal(r.timestamp, e.timestamp);
        assert.deepEqual(r.key, e.key);
        assert.deepEqual(r.value, e.value);
        assert.deepEqual(
          r.headers,
          (e.headers ?? []).map((h) => ({ key: Buffer.isBuffer(h.key) ? h.key : Buffer.from(h.key), value: h.value })),
        );
      });
    }
  });

  test('the backup holds every record byte for byte, with original offsets, as a consumer reads them', async () => {
    for (let p = 0; p < codecs.length; p++) {
      const fromBroker = await consumeAll(bootstrap, topic, p);
      const fromBackup = await backupRecords(store, backupId, topic, p);
      assert.equal(fromBroker.length, 300, `partition ${p}`);
      assert.deepEqual(
        fromBackup.map((r) => recordKey(r, true)),
        fromBroker.map((r) => recordKey(r, true)),
        `partition ${p} (${codecs[p]})`,
      );
    }
  });

  test('describe reports the time range and counts, validate passes and --deep agrees with the indexes', async () => {
    const view = await inspectBackup(store, backupId);
    assert.equal(view.records, 1500);
    assert.equal(view.topics[0]!.partitionCount, codecs.length);
    const all = (await Promise.all(codecs.map((_, p) => consumeAll(bootstrap, topic, p)))).flat();
    assert.equal(view.minTimestamp, Math.min(...all.map((r) => Number(r.timestamp))));
    assert.equal(view.maxTimestamp, Math.max(...all.map((r) => Number(r.timestamp))));
    assert.ok(view.segments > codecs.length, 'small segment_max_bytes gives several segments per partition');
    const v = await validateBackup(store, backupId, true);
    assert.deepEqual(v.problems, []);
    assert.equal(v.recordsChecked, 1500);
  });

  test('the backup on disk is private to its owner: files 0600, the directories it made 0700 (umask only stricter)', async () => {
    const umask = process.umask();
    const seen = { files: 0, dirs: 0 };
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        const mode = (await stat(p)).mode & 0o777;
        if (e.isDirectory()) {
          seen.dirs++;
          assert.equal(mode.toString(8), (DIR_MODE & ~umask).toString(8), p);
          await walk(p);
        } else {
          seen.files++;
          assert.equal(mode.toString(8), (FILE_MODE & ~umask).toString(8), p);
        }
      }
    };
    await walk(join(dir, backupId));
    assert.ok(seen.files > codecs.length * 2 && seen.dirs > codecs.length, `walked ${seen.files} files, ${seen.dirs} directories`);
  });

  test('segment digest: CRC-32C by default, SHA-256 (with the CRC) on request; validate --deep passes and a restore reads both', async () => {
    const dflt = (await readPartitionIndex(store, backupId, topic, 0))!;
    assert.ok(
      dflt.segments.every((s) => /^[0-9a-f]{8}$/.test(s.crc32c ?? '') && s.sha256 === undefined),
      'the default backup records CRC-32C only',
    );
    const shaId = 'it-backup-sha256';
    const sum = await runBackup(backupOpts(bootstrap, store, shaId, [topic], { segmentDigest: 'sha256' }));
    assert.equal(sum.records, 1500);
    let segments = 0;
    for (let p = 0; p < codecs.length; p++) {
      for (const s of (await readPartitionIndex(store, shaId, topic, p))!.segments) {
        const bytes = await store.get(s.key);
        assert.equal(s.sha256, createHash('sha256').update(bytes).digest('hex'), s.key);
        assert.equal(s.crc32c, crc32c(bytes).toString(16).padStart(8, '0'), s.key);
        segments++;
      }
    }
    assert.ok(segments > codecs.length);
    for (const id of [backupId, shaId]) {
      const v = await validateBackup(store, id, true);
      assert.deepEqual(v.problems, [], id);
      assert.equal(v.recordsChecked, 1500, id);
    }
    const target = uniqueTopic('orders-sha256');
    const res = await runRestore(restoreOpts(bootstrap, store, shaId, { topicMapping: { [topic]: target } }));
    assert.equal(res.restored, 1500);
    for (let p = 0; p < codecs.length; p++) {
      assert.deepEqual(
        (await consumeAll(bootstrap, target, p)).map((r) => recordKey(r)),
        (await consumeAll(bootstrap, topic, p)).map((r) => recordKey(r)),
        `partition ${p}`,
      );
    }
  });

  test('full restore: same records in the same order per partition, and an exact offset map', async () => {
    const target = uniqueTopic('orders-restored');
    const res = await runRestore(restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: target } }));
    assert.equal(res.restored, 1500);
    for (let p = 0; p < codecs.length; p++) {
      const src = await consumeAll(bootstrap, topic, p);
      const dst = await consumeAll(bootstrap, target, p);
      assert.deepEqual(
        dst.map((r) => recordKey(r)),
        src.map((r) => recordKey(r)),
        `partition ${p}`,
      );
      const bySource = new Map(src.map((r) => [Number(r.offset), r]));
      for (const run of res.offsetMap.filter((r) => r.source_partition === p)) {
        for (let i = 0; i < run.count; i++) {
          const t = dst.find((r) => Number(r.offset) === run.target + i)!;
          assert.equal(recordKey(t), recordKey(bySource.get(run.source + i)!));
        }
      }
    }
  });

  test('PITR: random windows restore exactly the records whose timestamps are inside, in source order', async () => {
    const all = (await Promise.all(codecs.map((_, p) => consumeAll(bootstrap, topic, p)))).flat();
    const lo = Math.min(...all.map((r) => Number(r.timestamp)));
    const hi = Math.max(...all.map((r) => Number(r.timestamp)));
    let seed = 42;
    const rnd = (): number => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    for (let k = 0; k < 3; k++) {
      const a = Math.floor(lo + rnd() * (hi - lo));
      const b = Math.floor(a + rnd() * (hi - a) * 0.3);
      const target = uniqueTopic('orders-pitr');
      const res = await runRestore(restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: target }, windowStart: a, windowEnd: b }));
      let total = 0;
      for (let p = 0; p < codecs.length; p++) {
        const expected = (await consumeAll(bootstrap, topic, p)).filter((r) => r.timestamp >= BigInt(a) && r.timestamp <= BigInt(b));
        const got = await consumeAll(bootstrap, target, p);
        assert.deepEqual(
          got.map((r) => recordKey(r)),
          expected.map((r) => recordKey(r)),
          `window ${a}..${b} partition ${p}`,
        );
        total += expected.length;
      }
      assert.equal(res.restored, total);
      const plan = await planRestore(restoreOpts(bootstrap, store, backupId, { windowStart: a, windowEnd: b }));
      assert.ok(plan.recordsUpperBound >= total, 'the plan never promises fewer records than the window holds');
    }
  });

  test('partition merge, source partition selection and offset headers', async () => {
    const target = uniqueTopic('merged');
    const res = await runRestore(
      restoreOpts(bootstrap, store, backupId, {
        topicMapping: { [topic]: target },
        sourcePartitions: [1, 2],
        partitionMapping: { 1: 0, 2: 0 },
        includeOriginalOffsetHeader: true,
      }),
    );
    assert.equal(res.restored, 600);
    const got = await consumeAll(bootstrap, target, 0);
    const expected = [...(await consumeAll(bootstrap, topic, 1)), ...(await consumeAll(bootstrap, topic, 2))];
    assert.equal(got.length, expected.length);
    got.forEach((r, i) => {
      const e = expected[i]!;
      const hdr = (name: string): Buffer | null | undefined => r.headers.find((h) => h.key.toString() === name)?.value;
      assert.equal(hdr('x-original-offset')!.readBigInt64LE(), e.offset);
      assert.equal(hdr('x-original-timestamp')!.readBigInt64LE(), e.timestamp);
      assert.equal(hdr('x-source-partition')!.readInt32LE(), i < 300 ? 1 : 2);
      assert.deepEqual(r.headers.slice(0, e.headers.length), e.headers);
      assert.equal(recordKey({ ...r, headers: e.headers }), recordKey(e));
    });
  });

  test('repartitioning: records re-spread by murmur2 of the key (null keys round-robin), source order kept per target partition', async () => {
    const target = uniqueTopic('repart');
    const res = await runRestore(
      restoreOpts(bootstrap, store, backupId, {
        topicMapping: { [topic]: target },
        repartitioning: { [target]: { strategy: 'murmur2', target_partitions: 3 } },
      }),
    );
    assert.equal(res.restored, 1500);
    const source = (await Promise.all(codecs.map((_, p) => consumeAll(bootstrap, topic, p)))).flat();
    const expected: string[][] = [[], [], []];
    source.forEach((r, i) => {
      expected[partitionFor('murmur2', r.key, i, 3)]!.push(recordKey(r));
    });
    for (let p = 0; p < 3; p++) {
      const got = await consumeAll(bootstrap, target, p);
      assert.deepEqual(
        got.map((r) => recordKey(r)),
        expected[p],
        `target partition ${p}`,
      );
    }
    const plan = await planRestore(
      restoreOpts(bootstrap, store, backupId, {
        topicMapping: { [topic]: target },
        repartitioning: { [target]: { strategy: 'automatic', target_partitions: 2 } },
      }),
    );
    assert.equal(plan.topics[0]!.requiredTargetPartitions, 2);
  });

  test('purge_topics empties the target partitions before restoring', async () => {
    const target = uniqueTopic('purge');
    await runRestore(restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: target }, sourcePartitions: [0] }));
    assert.equal((await consumeAll(bootstrap, target, 0)).length, 300);
    const all = await consumeAll(bootstrap, topic, 0);
    const cut = Number(all[150]!.timestamp);
    await assert.rejects(
      runRestore(restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: target }, sourcePartitions: [0], windowStart: cut })),
      /already holds 300 records/,
    );
    const res = await runRestore(
      restoreOpts(bootstrap, store, backupId, { topicMapping: { [topic]: target }, sourcePartitions: [0], windowStart: cut, purgeTopics: true }),
    );
    const got = await consumeAll(bootstrap, target, 0);
    assert.deepEqual(
      got.map((r) => recordKey(r)),
      all.filter((r) => r.timestamp >= BigInt(cut)).map((r) => recordKey(r)),
    );
    assert.equal(res.restored, got.length);
    assert.ok(res.warnings.some((w) => /deleted 300 records/.test(w)));
  });

  test('a non-empty target partition is refused unless allowed', async () => {
    await assert.rejects(runRestore(restoreOpts(bootstrap, store, backupId, { topicMapping: {} })), /already holds 300 records/);
  });
});
