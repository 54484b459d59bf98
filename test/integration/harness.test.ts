/**
 * Checks the test harness itself: the shared Kafka broker (PLAINTEXT, SASL/SCRAM,
 * TLS listeners) and MinIO are up and usable. Runs under `npm test` or alone:
 *   node --import tsx --test test/integration/harness.test.ts
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { Admin } from '@platformatic/kafka';
import { createTopic, deleteTopics, getTestKafka, stopTestKafka, tlsClientOptions, uniqueTopic, withAdmin } from '../helpers/kafka.js';
import { bucketExists, getTestS3, listObjectKeys, s3Request, stopTestS3 } from '../helpers/minio.js';

after(async () => {
  await stopTestKafka();
  await stopTestS3();
});

/** True if any error in the (Aggregate/cause) tree has this code. */
function hasErrorCode(err: unknown, code: string, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 10) return false;
  const e = err as { code?: unknown; errors?: unknown[]; cause?: unknown };
  if (e.code === code) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => hasErrorCode(x, code, depth + 1))) return true;
  return hasErrorCode(e.cause, code, depth + 1);
}

async function listWith(opts: ConstructorParameters<typeof Admin>[0]): Promise<string[]> {
  const admin = new Admin({ retries: 0, ...opts });
  try {
    return await admin.listTopics();
  } finally {
    await admin.close().catch(() => {});
  }
}

describe('kafka test broker', () => {
  it('creates and lists a topic with the requested partitions and configs', async () => {
    const { bootstrap } = await getTestKafka();
    assert.match(bootstrap, /^127\.0\.0\.1:\d+$/);
    const topic = uniqueTopic('harness');
    await createTopic(bootstrap, topic, 3, { 'cleanup.policy': 'compact' });
    try {
      await withAdmin(bootstrap, async (admin) => {
        const topics = await admin.listTopics();
        assert.ok(topics.includes(topic), `${topic} not in ${topics.join(',')}`);
        const md = await admin.metadata({ topics: [topic], forceUpdate: true });
        assert.equal(md.topics.get(topic)?.partitionsCount, 3);
        assert.equal(md.brokers.size, 1);
        const cfg = await admin.describeConfigs({ resources: [{ resourceType: 2, resourceName: topic, configurationKeys: ['cleanup.policy'] }] });
        const entry = cfg[0]?.configs.find((c) => c.name === 'cleanup.policy');
        assert.equal(entry?.value, 'compact');
      });
    } finally {
      await deleteTopics(bootstrap, [topic]);
    }
  });

  it('uniqueTopic gives distinct valid names', () => {
    const names = new Set(Array.from({ length: 100 }, () => uniqueTopic('a b/c')));
    assert.equal(names.size, 100);
    for (const n of names) assert.match(n, /^[a-zA-Z0-9._-]+$/);
  });

  it('SASL/SCRAM-SHA-512 listener accepts the right password', async () => {
    const { sasl, bootstrap } = await getTestKafka();
    assert.ok(sasl, 'test broker has a SASL listener');
    assert.notEqual(sasl.bootstrap, bootstrap);
    const topic = uniqueTopic('harness-sasl');
    await createTopic(bootstrap, topic);
    try {
      const topics = await listWith({
        clientId: 'harness-sasl-ok',
        bootstrapBrokers: [sasl.bootstrap],
        sasl: { mechanism: 'SCRAM-SHA-512', username: sasl.username, password: sasl.password },
      });
      assert.ok(topics.includes(topic));
    } finally {
      await deleteTopics(bootstrap, [topic]);
    }
  });

  it('SASL/SCRAM-SHA-512 listener refuses a wrong password and an unknown user', async () => {
    const { sasl } = await getTestKafka();
    assert.ok(sasl);
    for (const [username, password] of [
      [sasl.username, `${sasl.password}-wrong`],
      ['nobody', sasl.password],
    ] as const) {
      await assert.rejects(
        listWith({ clientId: 'harness-sasl-bad', bootstrapBrokers: [sasl.bootstrap], sasl: { mechanism: 'SCRAM-SHA-512', username, password } }),
        (err) => hasErrorCode(err, 'PLT_KFK_AUTHENTICATION'),
      );
    }
  });

  it('SASL listener refuses clients that do not authenticate', async () => {
    const { sasl } = await getTestKafka();
    assert.ok(sasl);
    await assert.rejects(listWith({ clientId: 'harness-sasl-none', bootstrapBrokers: [sasl.bootstrap], connectTimeout: 3000, requestTimeout: 3000 }));
  });

  it('TLS listener works with the test CA (with and without a client certificate)', async () => {
    const { tls } = await getTestKafka();
    assert.ok(tls, 'test broker has a TLS listener');
    for (const withCert of [true, false]) {
      const topics = await listWith({ clientId: 'harness-tls', bootstrapBrokers: [tls.bootstrap], tls: tlsClientOptions(tls, withCert) });
      assert.ok(Array.isArray(topics));
    }
    // Without the test CA the broker certificate is not trusted.
    await assert.rejects(listWith({ clientId: 'harness-tls-untrusted', bootstrapBrokers: [tls.bootstrap], tls: {}, connectTimeout: 3000 }));
  });
});

describe('minio test server', () => {
  it('is live and healthy', async () => {
    const s3 = await getTestS3();
    assert.match(s3.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(s3.region, 'us-east-1');
    const res = await fetch(`${s3.endpoint}/minio/health/live`);
    assert.equal(res.status, 200);
  });

  it('creates a fresh bucket and stores, lists and reads an object', async () => {
    const s3 = await getTestS3();
    const bucket = await s3.freshBucket('harness');
    assert.equal(await bucketExists(s3, bucket), true);
    assert.deepEqual(await listObjectKeys(s3, bucket), []);
    const key = 'dir one/obj+1 (x).txt';
    const put = await s3Request(s3, { method: 'PUT', path: `${bucket}/${key}`, body: 'hello harness' });
    assert.equal(put.status, 200, await put.text());
    assert.deepEqual(await listObjectKeys(s3, bucket), [key]);
    const get = await s3Request(s3, { path: `${bucket}/${key}` });
    assert.equal(await get.text(), 'hello harness');
    const other = await s3.freshBucket('harness');
    assert.notEqual(other, bucket);
  });

  it('rejects requests signed with a wrong secret', async () => {
    const s3 = await getTestS3();
    const res = await s3Request({ ...s3, secretKey: `${s3.secretKey}x` }, { path: '' });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /SignatureDoesNotMatch/);
  });
});
