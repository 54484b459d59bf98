import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { runBackup } from '../../src/backup/engine.js';
import { validateBackup } from '../../src/backup/validate.js';
import { runRestore } from '../../src/restore/engine.js';
import { openStore } from '../../src/storage/index.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { getTestS3, stopTestS3 } from '../helpers/minio.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';

let bootstrap: string;
let store: ObjectStore;
const topic = uniqueTopic('s3-orders');

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  const s3 = await getTestS3();
  const bucket = await s3.freshBucket();
  store = await openStore({ backend: 's3', bucket, prefix: 'production', endpoint: s3.endpoint, region: s3.region, accessKey: s3.accessKey, secretKey: s3.secretKey, allowHttp: true, pathStyle: true });
  await createTopic(bootstrap, topic, 2);
  await produce(bootstrap, topic, 0, awkwardRecords(250, Date.UTC(2024, 10, 10), 7), 'zstd');
  await produce(bootstrap, topic, 1, awkwardRecords(250, Date.UTC(2024, 10, 10), 8), 'none');
});

after(async () => {
  await store.close();
  await stopTestKafka();
  await stopTestS3();
});

test('backup to S3 (MinIO), validate --deep, and a PITR restore from it', async () => {
  const sum = await runBackup(testBackupOptions(bootstrap, store, 's3-backup', [topic], { compression: 'lz4', segmentMaxBytes: 8192, maxConcurrentPartitions: 2, fetchMaxBytes: 32 * 1024 }));
  assert.equal(sum.records, 500);
  const v = await validateBackup(store, 's3-backup', true);
  assert.deepEqual(v.problems, []);
  assert.equal(v.recordsChecked, 500);

  const all = [...(await consumeAll(bootstrap, topic, 0)), ...(await consumeAll(bootstrap, topic, 1))];
  const sorted = all.map((r) => Number(r.timestamp)).sort((a, b) => a - b);
  const start = sorted[100]!;
  const end = sorted[300]!;
  const target = uniqueTopic('s3-pitr');
  const res = await runRestore(testRestoreOptions(bootstrap, store, 's3-backup', { windowStart: start, windowEnd: end, topicMapping: { [topic]: target }, maxConcurrentPartitions: 2, produceBatchSize: 100 }));
  let expectedTotal = 0;
  for (const p of [0, 1]) {
    const expected = (await consumeAll(bootstrap, topic, p)).filter((r) => r.timestamp >= BigInt(start) && r.timestamp <= BigInt(end));
    const got = await consumeAll(bootstrap, target, p);
    assert.deepEqual(got.map((r) => recordKey(r)), expected.map((r) => recordKey(r)));
    expectedTotal += expected.length;
  }
  assert.equal(res.restored, expectedTotal);
});
