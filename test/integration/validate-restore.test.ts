import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import { runRestore } from '../../src/restore/engine.js';
import type { RestoreOptions } from '../../src/restore/options.js';
import { countExactly } from '../../src/restore/count.js';
import { loadIndex, planRestore, refineWithFooters } from '../../src/restore/plan.js';
import { FsStore } from '../../src/storage/fs.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { produce } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';

let bootstrap: string;
let dir: string;
let store: FsStore;
const topic = uniqueTopic('estimates');
const T0 = Date.UTC(2024, 10, 10, 0, 0, 0);

function opts(extra: Partial<RestoreOptions>): RestoreOptions {
  return testRestoreOptions(bootstrap, store, 'est', {
    topicMapping: { [topic]: uniqueTopic('est-dst') },
    maxConcurrentPartitions: 2,
    produceBatchSize: 500,
    checkpointIntervalSecs: 5,
    ...extra,
  });
}

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-est-'));
  store = new FsStore(dir);
  await createTopic(bootstrap, topic, 1);
  // One record per second, 2000 records, 100 per batch.
  const records = Array.from({ length: 2000 }, (_, i) => ({
    key: Buffer.from(`k${i}`),
    value: Buffer.alloc(200, i % 251),
    headers: [],
    timestamp: BigInt(T0 + i * 1000),
  }));
  await produce(bootstrap, topic, 0, records, 'none', 100);
  await runBackup(
    testBackupOptions(bootstrap, store, 'est', [topic], {
      compression: 'none',
      segmentMaxBytes: 100 * 1024,
      maxConcurrentPartitions: 1,
      fetchMaxBytes: 32 * 1024,
    }),
  );
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

test('validate-restore: exact count when the window falls on segment boundaries, and the real count within the stated bounds otherwise', async () => {
  const segs = (await loadIndex({ store, backupId: 'est' }, topic, 0))!.segments;
  assert.ok(segs.length >= 4, `several segments (${segs.length})`);
  const start = segs[1]!.min_timestamp!;
  const end = segs[3]!.max_timestamp!;
  const plan = await planRestore(opts({ windowStart: start, windowEnd: end }));
  assert.equal(plan.recordsLowerBound, plan.recordsUpperBound);
  const res = await runRestore(opts({ windowStart: start, windowEnd: end }));
  assert.equal(plan.recordsEstimate, res.restored);
  assert.equal(res.restored, segs[1]!.record_count + segs[2]!.record_count + segs[3]!.record_count);

  for (const [a, b] of [
    [T0 + 123_456, T0 + 777_777],
    [T0 + 5_500, T0 + 9_200],
    [T0 + 1_000_500, T0 + 1_999_000],
  ] as const) {
    const coarse = await planRestore(opts({ windowStart: a, windowEnd: b }));
    const fine = await planRestore(opts({ windowStart: a, windowEnd: b }));
    await refineWithFooters(fine, store);
    const res = await runRestore(opts({ windowStart: a, windowEnd: b }));
    const actual = res.restored;
    // Batches (100 records, 100 s each) wholly inside a window are sent as stored, not rebuilt.
    if (b - a > 300_000) assert.ok(res.reusedBatches > 0, `reused ${res.reusedBatches}, rebuilt ${res.rebuiltBatches}`);
    const inWindow = Math.floor((b - T0) / 1000) - Math.ceil((a - T0) / 1000) + 1;
    assert.equal(actual, inWindow);
    for (const p of [coarse, fine]) {
      assert.ok(p.recordsLowerBound <= actual && actual <= p.recordsUpperBound, `${p.recordsLowerBound} <= ${actual} <= ${p.recordsUpperBound}`);
    }
    assert.ok(fine.recordsUpperBound - fine.recordsLowerBound <= coarse.recordsUpperBound - coarse.recordsLowerBound);
    // With evenly spread timestamps the linear estimate is within one batch of the truth per cut edge.
    assert.ok(Math.abs(fine.recordsEstimate - actual) <= 200, `estimate ${fine.recordsEstimate} vs ${actual}`);
  }
});

test('validate-restore counts exactly what the restore writes: footers for whole blocks, decoding only the blocks the window cuts', async () => {
  const ROOT = join(import.meta.dirname, '..', '..');
  const cli = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  for (const [a, b] of [
    [T0 + 123_456, T0 + 777_777],
    [T0 + 5_500, T0 + 9_200],
    [T0 + 1_000_500, T0 + 1_999_000],
  ] as const) {
    const inWindow = Math.floor((b - T0) / 1000) - Math.ceil((a - T0) / 1000) + 1; // one record per second
    const plan = await planRestore(opts({ windowStart: a, windowEnd: b }));
    const cost = await countExactly(plan, store);
    assert.equal(plan.recordsEstimate, inWindow);
    assert.equal(plan.recordsLowerBound, inWindow);
    assert.equal(plan.recordsUpperBound, inWindow);
    assert.ok(cost.blocksDecoded >= 1 && cost.blocksDecoded <= 4, `only the cut blocks are decoded (${cost.blocksDecoded})`);
    assert.equal(cost.partitionsStreamed, 0);

    const target = uniqueTopic('exact-dst');
    const cfg = join(dir, 'exact.yaml');
    await writeFile(
      cfg,
      `mode: restore\nbackup_id: est\ntarget:\n  bootstrap_servers: [${bootstrap}]\nstorage:\n  backend: filesystem\n  path: ${dir}\nrestore:\n  time_window_start: ${a}\n  time_window_end: ${b}\n  topic_mapping: { ${topic}: ${target} }\n`,
    );
    const text = cli(['validate-restore', '--config', cfg]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`  Records in window: ${inWindow.toLocaleString('en-US')}\\n`), text.stdout);
    assert.match(text.stdout, new RegExp(`→ ${target}\\s+\\(${inWindow.toLocaleString('en-US')} records\\)`));
    const json = cli(['validate-restore', '--config', cfg, '--format', 'json']);
    const v = JSON.parse(json.stdout) as {
      records_to_restore: number;
      records_lower_bound: number;
      records_upper_bound: number;
      records_counted: string;
      topics_to_restore: { partitions: { records: number }[] }[];
    };
    assert.deepEqual([v.records_to_restore, v.records_lower_bound, v.records_upper_bound, v.records_counted], [inWindow, inWindow, inWindow, 'exact']);
    assert.equal(v.topics_to_restore[0]!.partitions[0]!.records, inWindow);
    // --estimate keeps the footer-only figure, with its bounds.
    const est = JSON.parse(cli(['validate-restore', '--config', cfg, '--format', 'json', '--estimate']).stdout) as typeof v;
    assert.equal(est.records_counted, 'estimate');
    assert.ok(est.records_lower_bound < inWindow && inWindow < est.records_upper_bound);
    // And the restore then writes exactly that many.
    const r = cli(['restore', '--config', cfg, '--format', 'json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { records_restored: number }).records_restored, inWindow);
  }
});
