import assert from 'node:assert/strict';
import { validateBackup } from '../../src/backup/validate.js';
import { decodeBatch, readBatchHeader, type KafkaRecord } from '../../src/kafka/protocol/record-batch.js';
import { planRestore } from '../../src/restore/plan.js';
import { readSegmentBatches } from '../../src/restore/segment-source.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { testRestoreOptions } from './options.js';
import { consumeAll, recordKey } from './records.js';

/** Every data record in the backup of one partition, in stored order, with its original offset. */
export async function backupRecords(store: ObjectStore, backupId: string, topic: string, partition: number): Promise<KafkaRecord[]> {
  const plan = await planRestore(testRestoreOptions('127.0.0.1:1', store, backupId, { topics: { include: [topic], exclude: [] } }));
  const pp = plan.topics[0]?.partitions.find((p) => p.sourcePartition === partition);
  const out: KafkaRecord[] = [];
  for (const s of pp?.segments ?? []) {
    for await (const { batch } of readSegmentBatches(store, s.entry)) {
      if (readBatchHeader(batch).isControl) continue;
      out.push(...decodeBatch(batch).records);
    }
  }
  return out;
}

/** validate --deep passes and the backup holds each source record exactly once, offsets included. */
export async function assertBackupExact(bootstrap: string, store: ObjectStore, backupId: string, topic: string, partitions: number): Promise<number> {
  const v = await validateBackup(store, backupId, true);
  assert.deepEqual(v.problems, [], 'validate --deep finds no problem');
  let total = 0;
  for (let p = 0; p < partitions; p++) {
    const src = await consumeAll(bootstrap, topic, p);
    const got = await backupRecords(store, backupId, topic, p);
    assert.equal(got.length, src.length, `${topic}/${p}: ${got.length} records in the backup, ${src.length} in the source`);
    assert.deepEqual(
      got.map((r) => recordKey(r, true)),
      src.map((r) => recordKey(r, true)),
      `${topic}/${p}: nothing lost, nothing duplicated`,
    );
    total += src.length;
  }
  assert.equal(v.recordsChecked, total);
  return total;
}
