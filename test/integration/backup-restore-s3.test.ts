import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/storage/index.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { getTestS3, listObjectKeys, stopTestS3, s3Spec } from '../helpers/minio.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { backupValidateAndRestoreWindow } from '../helpers/store-round-trip.js';
import { runCli } from '../helpers/cli.js';

let bootstrap: string;
let store: ObjectStore;
const topic = uniqueTopic('s3-orders');

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  const s3 = await getTestS3();
  const bucket = await s3.freshBucket();
  store = await openStore(s3Spec(s3, bucket, 'production'));
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
  await backupValidateAndRestoreWindow(bootstrap, store, 's3-backup', topic);
});

test('CLI: an S3 endpoint given by host name, without path_style, uses path-style requests: backup and restore work', async () => {
  const cli = (args: string[]) => runCli(args);
  const s3 = await getTestS3();
  const bucket = await s3.freshBucket('kb-pathstyle');
  const endpoint = new URL(s3.endpoint);
  endpoint.hostname = 'localhost'; // a name, not an IP: virtual-hosted requests would go to <bucket>.localhost
  const dir = await mkdtemp(join(tmpdir(), 'kb-pathstyle-'));
  try {
    // As the reference writes it: endpoint, no path_style key.
    const storage = `storage:\n  backend: s3\n  bucket: ${bucket}\n  prefix: ps\n  endpoint: ${endpoint.origin}\n  region: ${s3.region}\n  access_key: ${s3.accessKey}\n  secret_key: ${s3.secretKey}\n  allow_http: true\nmetrics:\n  enabled: false\n`;
    await writeFile(
      join(dir, 'b.yaml'),
      `mode: backup\nbackup_id: ps-1\nsource:\n  bootstrap_servers: [${bootstrap}]\n  topics: { include: [${topic}] }\n${storage}`,
    );
    const b = cli(['backup', '--config', join(dir, 'b.yaml')]);
    assert.equal(b.code, 0, b.stderr);
    assert.ok(
      (await listObjectKeys(s3, bucket)).some((k) => k.startsWith('ps/ps-1/')),
      'objects under the prefix, in the bucket named in the path',
    );
    const target = uniqueTopic('s3-pathstyle');
    await writeFile(
      join(dir, 'r.yaml'),
      `mode: restore\nbackup_id: ps-1\ntarget:\n  bootstrap_servers: [${bootstrap}]\n${storage}restore:\n  topic_mapping: { ${topic}: ${target} }\n`,
    );
    const r = cli(['restore', '--config', join(dir, 'r.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    for (const p of [0, 1]) {
      assert.deepEqual(
        (await consumeAll(bootstrap, target, p)).map((x) => recordKey(x)),
        (await consumeAll(bootstrap, topic, p)).map((x) => recordKey(x)),
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
