import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snapshotPartitionShort } from '../../src/format/manifest.js';

test('snapshotPartitionShort: the one rule backup, validate and restore judge a snapshot partition by', () => {
  const p = { log_start_offset: 100, end_offset: 150 };
  assert.equal(snapshotPartitionShort(p, 150), false, 'reached the end offset');
  assert.equal(snapshotPartitionShort(p, 170), false, 'past it (a continuous run went on)');
  assert.equal(snapshotPartitionShort(p, 149), true, 'one offset short');
  assert.equal(snapshotPartitionShort(p, undefined), true, 'no index, records to back up');
  assert.equal(snapshotPartitionShort(p, null), true);
  assert.equal(snapshotPartitionShort(p, 50), true, 'a reach below the log start counts as the log start');
  const empty = { log_start_offset: 100, end_offset: 100 };
  assert.equal(snapshotPartitionShort(empty, undefined), false, 'a partition with no records is never short');
  assert.equal(snapshotPartitionShort(empty, 0), false, 'even with an index that stopped below the log start');
  assert.equal(snapshotPartitionShort(empty, -1), false);
});
