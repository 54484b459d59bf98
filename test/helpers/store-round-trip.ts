/** One scenario run on each remote backend: back up a topic, validate it deeply, restore a time window of it. */
import assert from 'node:assert/strict';
import { runBackup } from '../../src/backup/engine.js';
import { runRestore } from '../../src/restore/engine.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { validateBackup } from '../../src/backup/validate.js';
import { uniqueTopic } from './kafka.js';
import { testBackupOptions, testRestoreOptions } from './options.js';
import { consumeAll, recordKey } from './records.js';

/**
 * Backs up `topic` (2 partitions, 500 records) into `store` with small lz4 segments, checks `validate --deep`,
 * then restores the records between the 101st and the 301st timestamp and compares them record for record.
 */
export async function backupValidateAndRestoreWindow(bootstrap: string, store: ObjectStore, backupId: string, topic: string): Promise<void> {
  const sum = await runBackup(
    testBackupOptions(bootstrap, store, backupId, [topic], { compression: 'lz4', segmentMaxBytes: 8192, maxConcurrentPartitions: 2, fetchMaxBytes: 32 * 1024 }),
  );
  assert.equal(sum.records, 500);
  const v = await validateBackup(store, backupId, true);
  assert.deepEqual(v.problems, []);
  assert.equal(v.recordsChecked, 500);

  const source = [await consumeAll(bootstrap, topic, 0), await consumeAll(bootstrap, topic, 1)];
  const sorted = source
    .flat()
    .map((r) => Number(r.timestamp))
    .sort((a, b) => a - b);
  const start = sorted[100]!;
  const end = sorted[300]!;
  const target = uniqueTopic(`${backupId}-pitr`);
  const res = await runRestore(
    testRestoreOptions(bootstrap, store, backupId, {
      windowStart: start,
      windowEnd: end,
      topicMapping: { [topic]: target },
      maxConcurrentPartitions: 2,
      produceBatchSize: 100,
    }),
  );
  let expectedTotal = 0;
  for (const p of [0, 1]) {
    const expected = source[p]!.filter((r) => r.timestamp >= BigInt(start) && r.timestamp <= BigInt(end));
    const got = await consumeAll(bootstrap, target, p);
    assert.deepEqual(
      got.map((r) => recordKey(r)),
      expected.map((r) => recordKey(r)),
    );
    expectedTotal += expected.length;
  }
  assert.equal(res.restored, expectedTotal);
}
