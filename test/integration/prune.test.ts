/**
 * Retention and prune (issue 15 item 1) against the real broker and MinIO:
 *
 * - a continuous backup with backup.retention prunes itself while it runs; `prune --execute`
 *   beside it is refused (writer lease), then runs once it stopped; validate, describe and the
 *   restore plan report the pruned ranges; a full restore and a PITR restore of the kept range
 *   are compared record for record with the source; old consumer-group snapshots go too;
 * - a prune SIGKILLed after each of its writes leaves a backup that validates clean and plans a
 *   restore without error, and a second prune finishes the job exactly.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import { validateBackup } from '../../src/backup/validate.js';
import { writeJsonObject } from '../../src/format/json-object.js';
import { keys } from '../../src/format/layout.js';
import { readPartitionIndex } from '../../src/format/partition-index.js';
import { prunedBelow, prunedRangesOf, readPrunedLog } from '../../src/format/pruned.js';
import type { RecordInput } from '../../src/kafka/protocol/record-batch.js';
import type { PruneStage } from '../../src/backup/retention/prune-apply.js';
import { runRestore } from '../../src/restore/engine.js';
import { planRestore } from '../../src/restore/plan.js';
import { openStore } from '../../src/storage/index.js';
import type { StorageSpec } from '../../src/storage/spec.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { sleep } from '../../src/util/time.js';
import { ROOT } from '../../scripts/proc.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { getTestS3, stopTestS3, type TestS3, s3Spec } from '../helpers/minio.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { consumeAll, produce, recordKey } from '../helpers/records.js';
import type { PruneChildConfig } from '../helpers/prune-child.js';
import { runCliAsync } from '../helpers/cli.js';

const DAY = 86_400_000;
const NOW = Date.now();
const OLD_TS = NOW - 40 * DAY;
const NEW_TS = NOW - 3_600_000;

let bootstrap: string;
let s3: TestS3;
let spec: StorageSpec;
let store: ObjectStore;
let url: string;
let cliEnv: NodeJS.ProcessEnv;

function rec(p: number, i: number, ts: number): RecordInput {
  return {
    key: i % 7 === 0 ? null : Buffer.from(`k-${p}-${i}`),
    value: Buffer.from(`v-${p}-${i}-${'x'.repeat(i % 50)}`),
    headers:
      i % 5 === 0
        ? [
            { key: 'h', value: Buffer.from(String(i)) },
            { key: 'h', value: null },
          ]
        : [],
    timestamp: BigInt(ts),
  };
}

/** `n` records starting at index `from`, record i stamped ts0 + (i - from) * 10. */
function recs(p: number, from: number, n: number, ts0: number): RecordInput[] {
  return Array.from({ length: n }, (_, j) => rec(p, from + j, ts0 + j * 10));
}

/** The CLI as a child process, without blocking this process (a backup runs in it meanwhile). */
const cli = (args: string[]) => runCliAsync(args, { env: cliEnv });

async function waitUntil(what: string, cond: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) assert.fail(`timed out waiting for: ${what}`);
    await sleep(250);
  }
}

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  s3 = await getTestS3();
  const bucket = await s3.freshBucket('prune');
  spec = s3Spec(s3, bucket, 'prod');
  store = await openStore(spec);
  url = `s3://${bucket}/prod?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}&path_style=true&allow_http=true`;
  cliEnv = { ...process.env, AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey };
});

after(async () => {
  await store.close();
  await stopTestKafka();
  await stopTestS3();
});

describe('retention of a running continuous backup, and prune', () => {
  const topic = uniqueTopic('prune-live');
  const BID = 'live-retention';

  test('backup.retention prunes while the backup runs; prune --execute is refused beside it and works after; full and PITR restores match the source record for record', async () => {
    await createTopic(bootstrap, topic, 2);
    for (const p of [0, 1]) {
      await produce(bootstrap, topic, p, recs(p, 0, 200, OLD_TS), 'none', 20); // offsets 0..199, 40 days old
      await produce(bootstrap, topic, p, recs(p, 200, 40, NEW_TS), 'zstd', 20); // 200..239, an hour old
    }
    // Consumer-group snapshots from before the kept data (as an older run would have taken them).
    const oldest = keys.groupSnapshot(BID, OLD_TS - DAY);
    const newestBefore = keys.groupSnapshot(BID, OLD_TS + 10);
    await writeJsonObject(store, oldest, { taken_at: OLD_TS - DAY, groups: [] });
    await writeJsonObject(store, newestBefore, { taken_at: OLD_TS + 10, groups: [] });

    const ac = new AbortController();
    const running = runBackup({
      ...testBackupOptions(bootstrap, store, BID, [topic], {
        continuous: true,
        segmentMaxRecords: 20,
        segmentMaxIntervalMs: 300,
        syncIntervalSecs: 1,
        pollIntervalMs: 50,
      }),
      retention: { maxAgeMs: 30 * DAY },
      signal: ac.signal,
    });
    try {
      // Each segment is one 20-record batch: the ten 40-day-old ones of each partition go.
      await waitUntil('backup.retention pruned offsets 0..199 of both partitions', async () => {
        const log = await readPrunedLog(store, BID);
        if (prunedBelow(log, topic, 0) !== 200 || prunedBelow(log, topic, 1) !== 200) return false;
        // Recorded first, unindexed right after (by the partition's worker).
        for (const p of [0, 1]) if ((await readPartitionIndex(store, BID, topic, p))?.segments[0]?.first_offset !== 200) return false;
        return true;
      });
      for (const p of [0, 1]) {
        const idx = await readPartitionIndex(store, BID, topic, p);
        assert.equal(idx?.segments[0]?.first_offset, 200, `partition ${p}: the index starts at the first kept segment`);
        const r = prunedRangesOf(await readPrunedLog(store, BID), topic, p);
        assert.deepEqual(
          r.map((x) => [x.from_offset, x.to_offset, x.segments, x.records, x.reason, x.by]),
          [[0, 200, 10, 200, 'max_age', 'backup']],
        );
      }

      const plan = await cli(['prune', '--path', url, '--backup-id', BID, '--older-than', '1d', '--format', 'json']);
      assert.equal(plan.code, 0, plan.stderr);
      assert.equal((JSON.parse(plan.stdout) as { executed: boolean }).executed, false);
      const refused = await cli(['prune', '--path', url, '--backup-id', BID, '--older-than', '1d', '--execute']);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /prune refused: backup "live-retention" is being written by another process/);
      assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');

      for (const p of [0, 1]) await produce(bootstrap, topic, p, recs(p, 240, 40, NEW_TS + 1000), 'lz4', 20); // 240..279
      await waitUntil('the backup reached offset 280 of both partitions', async () => {
        for (const p of [0, 1]) if (((await readPartitionIndex(store, BID, topic, p))?.next_offset ?? 0) < 280) return false;
        return true;
      });
    } finally {
      ac.abort();
      await running;
    }

    // Stopped: prune --execute takes the lease and removes the first new segment (newest record NEW_TS + 190).
    const done = await cli(['prune', '--path', url, '--backup-id', BID, '--before', String(NEW_TS + 200), '--execute', '--format', 'json']);
    assert.equal(done.code, 0, done.stderr);
    const report = JSON.parse(done.stdout) as {
      executed: boolean;
      segments: number;
      partitions: { partition: number; offsets: number[]; kept_from_offset: number }[];
      consumer_group_snapshots: string[];
    };
    assert.equal(report.executed, true);
    assert.deepEqual(report.partitions.map((p) => [p.partition, p.offsets, p.kept_from_offset]).sort(), [
      [0, [200, 219], 220],
      [1, [200, 219], 220],
    ]);
    // backup.retention already removed the snapshots older than the kept data, except the newest of them.
    assert.deepEqual(report.consumer_group_snapshots, []);
    assert.equal(await store.exists(oldest), false);
    assert.equal(await store.exists(newestBefore), true);
    for (const p of [0, 1]) {
      const objects: string[] = [];
      for await (const o of store.list(keys.partitionPrefix(BID, topic, p))) if (o.key.endsWith('.kbseg')) objects.push(o.key);
      assert.equal(objects.length, 3, `partition ${p}: only the kept segments' objects are left (220..279)`);
    }

    const v = await cli(['validate', '--path', url, '--backup-id', BID, '--deep', '--format', 'json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const vj = JSON.parse(v.stdout) as { valid: boolean; problems: unknown[]; pruned: string[]; warnings: string[] };
    assert.deepEqual(vj.problems, []);
    assert.equal(vj.pruned.length, 4, "two ranges per partition: the backup's max_age and the prune's --before");
    assert.ok(
      vj.pruned.every((l) => / pruned by (backup\.retention|kafka-backup prune) /.test(l)),
      vj.pruned.join('\n'),
    );
    assert.equal(vj.warnings.filter((w) => /pruned/.test(w)).length, 0);
    const d = await cli(['describe', '--path', url, '--backup-id', BID, '--format', 'json']);
    assert.equal(d.code, 0, d.stderr);
    const dj = JSON.parse(d.stdout) as {
      pruned_segments: number;
      topics: { partitions: { pruned: { from_offset: number; to_offset: number; by: string }[] }[] }[];
    };
    assert.equal(dj.pruned_segments, 22);
    assert.deepEqual(
      dj.topics[0]!.partitions[0]!.pruned.map((r) => [r.from_offset, r.to_offset, r.by]),
      [
        [0, 200, 'backup'],
        [200, 220, 'prune'],
      ],
    );

    // Full restore: exactly the source's records from offset 220 on.
    const full = uniqueTopic('prune-full');
    const res = await runRestore(testRestoreOptions(bootstrap, store, BID, { topicMapping: { [topic]: full } }));
    assert.ok(
      res.warnings.some((w) => /offsets 0\.\.219 .* were pruned by retention .* what remains starts at offset 220/.test(w)),
      res.warnings.join('\n'),
    );
    let total = 0;
    for (const p of [0, 1]) {
      const expected = (await consumeAll(bootstrap, topic, p)).filter((r) => r.offset >= 220n);
      assert.equal(expected.length, 60);
      assert.deepEqual(
        (await consumeAll(bootstrap, full, p)).map((r) => recordKey(r)),
        expected.map((r) => recordKey(r)),
      );
      total += expected.length;
    }
    assert.equal(res.restored, total);

    // PITR of part of the kept range.
    const [start, end] = [NEW_TS + 250, NEW_TS + 1000 + 150];
    const pitr = uniqueTopic('prune-pitr');
    const pres = await runRestore(testRestoreOptions(bootstrap, store, BID, { topicMapping: { [topic]: pitr }, windowStart: start, windowEnd: end }));
    for (const p of [0, 1]) {
      const expected = (await consumeAll(bootstrap, topic, p)).filter((r) => r.timestamp >= BigInt(start) && r.timestamp <= BigInt(end));
      assert.equal(expected.length, 15 + 16);
      assert.deepEqual(
        (await consumeAll(bootstrap, pitr, p)).map((r) => recordKey(r)),
        expected.map((r) => recordKey(r)),
      );
    }
    assert.ok(!pres.warnings.some((w) => /pruned/.test(w)), 'a window after the pruned time is not warned about');

    // A window reaching into pruned time says so, and what remains.
    const into = await planRestore(testRestoreOptions(bootstrap, store, BID, { windowStart: OLD_TS, windowEnd: NEW_TS + 300 }));
    assert.deepEqual(into.errors, []);
    assert.ok(
      into.warnings.some((w) => /the window starting .* reaches into pruned time; what remains starts at offset 220/.test(w)),
      into.warnings.join('\n'),
    );
  });
});

describe('a prune killed part-way', () => {
  const topic = uniqueTopic('prune-kill');

  before(async () => {
    await createTopic(bootstrap, topic, 1);
    await produce(bootstrap, topic, 0, recs(0, 0, 100, OLD_TS), 'none', 20); // 0..99: five old segments
    await produce(bootstrap, topic, 0, recs(0, 100, 40, NEW_TS), 'none', 20); // 100..139: two kept
  });

  function pruneChild(cfg: PruneChildConfig): Promise<{ code: number | null; stopped: string; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/prune-child.ts'), JSON.stringify(cfg)], { cwd: ROOT });
      let stdout = '';
      let stderr = '';
      let stopped = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /^STOPPED .*$/m.exec(stdout);
        if (m && !stopped) {
          stopped = m[0];
          child.kill('SIGKILL');
        }
      });
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stopped, stdout, stderr }));
    });
  }

  const points: [PruneStage, number][] = [
    ['recorded', 1],
    ['index-written', 1],
    ['manifest-written', 1],
    ['segment-deleted', 2],
  ];
  for (const [stage, nth] of points) {
    test(`SIGKILL after ${stage} #${nth}: validate is clean, a restore plans without error, and a second prune finishes the job`, async () => {
      const BID = `kill-${stage}`;
      await runBackup(testBackupOptions(bootstrap, store, BID, [topic], { segmentMaxRecords: 20 }));
      const policy = { maxAgeMs: 30 * DAY };
      const killed = await pruneChild({ spec, backupId: BID, policy, stopAt: stage, stopAfter: nth });
      assert.match(killed.stopped, new RegExp(`^STOPPED ${stage} `), killed.stdout + killed.stderr);
      assert.equal(killed.code, null, 'killed by the signal');

      const v = await validateBackup(store, BID, true);
      assert.deepEqual(v.problems, [], 'never an index naming a missing object');
      const plan = await planRestore(testRestoreOptions(bootstrap, store, BID));
      assert.deepEqual(plan.errors, []);
      if (stage === 'recorded') {
        assert.ok(
          v.warnings.some((w) => /5 segment\(s\) below offset 100 are recorded as pruned but still indexed: a prune stopped part-way/.test(w)),
          v.warnings.join('\n'),
        );
        assert.equal(plan.recordsInBackup, 140, 'the data of the unfinished prune is still readable');
      }

      const second = await pruneChild({ spec, backupId: BID, policy });
      assert.equal(second.code, 0, second.stderr);
      const idx = await readPartitionIndex(store, BID, topic, 0);
      assert.deepEqual(
        idx?.segments.map((s) => s.first_offset),
        [100, 120],
      );
      const objects: string[] = [];
      for await (const o of store.list(keys.partitionPrefix(BID, topic, 0))) if (o.key.endsWith('.kbseg')) objects.push(o.key);
      assert.deepEqual(
        objects,
        idx?.segments.map((s) => s.key),
        'no orphan left',
      );
      const ranges = prunedRangesOf(await readPrunedLog(store, BID), topic, 0);
      assert.deepEqual(
        ranges.map((r) => [r.from_offset, r.to_offset, r.segments, r.records]),
        [[0, 100, 5, 100]],
        'recorded once, never twice',
      );
      const again = await validateBackup(store, BID, true);
      assert.deepEqual(again.problems, []);
      assert.deepEqual(
        again.warnings.filter((w) => /prune/.test(w)),
        [],
      );
      assert.equal(again.pruned.length, 1);
    });
  }
});

describe('prune by size on an encrypted backup', () => {
  test('prune --max-total-bytes respects --keep-segments, then reaches the size; validate --deep and a full restore match', async () => {
    const topic = uniqueTopic('prune-enc');
    const BID = 'enc-size';
    process.env.KB_PRUNE_KEY = 'ab'.repeat(32);
    cliEnv = { ...cliEnv, KB_PRUNE_KEY: process.env.KB_PRUNE_KEY };
    const enc = await openStore({ ...spec, encryption: { keyEnv: 'KB_PRUNE_KEY' } });
    try {
      await createTopic(bootstrap, topic, 1);
      await produce(bootstrap, topic, 0, recs(0, 0, 100, NEW_TS), 'none', 20); // five 20-record segments
      await runBackup(testBackupOptions(bootstrap, enc, BID, [topic], { segmentMaxRecords: 20 }));
      const segs = (await readPartitionIndex(enc, BID, topic, 0))!.segments;
      assert.equal(segs.length, 5);
      const total = segs.reduce((n, s) => n + s.stored_bytes, 0);
      const limit = total - segs[0]!.stored_bytes - segs[1]!.stored_bytes;
      const env = ['--encryption-key-env', 'KB_PRUNE_KEY'];

      const capped = await cli([
        'prune',
        '--path',
        url,
        '--backup-id',
        BID,
        '--max-total-bytes',
        String(limit),
        '--keep-segments',
        '4',
        '--execute',
        '--format',
        'json',
        ...env,
      ]);
      assert.equal(capped.code, 0, capped.stderr);
      const cj = JSON.parse(capped.stdout) as { partitions: { offsets: number[]; reasons: string[] }[]; warnings: string[] };
      assert.deepEqual(
        cj.partitions.map((p) => [p.offsets, p.reasons]),
        [[[0, 19], ['max_total_bytes']]],
      );
      assert.match(cj.warnings.join('\n'), /over max_total_bytes .*only the newest 4 segment\(s\) of each partition are left, and those are kept/);

      const sized = await cli(['prune', '--path', url, '--backup-id', BID, '--max-total-bytes', String(limit), '--execute', '--format', 'json', ...env]);
      assert.equal(sized.code, 0, sized.stderr);
      assert.deepEqual(
        (JSON.parse(sized.stdout) as { partitions: { offsets: number[] }[] }).partitions.map((p) => p.offsets),
        [[20, 39]],
      );

      const v = await cli(['validate', '--path', url, '--backup-id', BID, '--deep', '--format', 'json', ...env]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.deepEqual((JSON.parse(v.stdout) as { pruned: string[] }).pruned.length, 1, 'one merged range 0..39');
      const target = uniqueTopic('prune-enc-restore');
      await runRestore(testRestoreOptions(bootstrap, enc, BID, { topicMapping: { [topic]: target } }));
      const expected = (await consumeAll(bootstrap, topic, 0)).filter((r) => r.offset >= 40n);
      assert.equal(expected.length, 60);
      assert.deepEqual(
        (await consumeAll(bootstrap, target, 0)).map((r) => recordKey(r)),
        expected.map((r) => recordKey(r)),
      );
    } finally {
      await enc.close();
    }
  });
});
