/** The storage contract against a real S3 server (MinIO), plus S3-specific behaviour. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openStore, parseStorageUrl } from '../../src/storage/index.js';
import type { StorageSpec } from '../../src/storage/spec.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { StorageError } from '../../src/util/errors.js';
import { runStorageContract } from '../helpers/storage-contract.js';
import { getTestS3, stopTestS3, type TestS3, s3Spec } from '../helpers/minio.js';

let s3: TestS3 | undefined;
let bucket = '';
const spec = (): StorageSpec => {
  if (!s3) throw new Error('MinIO not started');
  return s3Spec(s3, bucket);
};

before(async () => {
  s3 = await getTestS3();
  bucket = await s3.freshBucket('kb-storage');
});
after(async () => {
  await stopTestS3();
});

runStorageContract('s3 (MinIO)', () => openStore(spec()));
runStorageContract('s3 (MinIO) with prefix', () => openStore({ ...spec(), prefix: 'some/prefix/' } as StorageSpec));

describe('s3 backend specifics', () => {
  it('opens from a URL, with credentials from the default chain (env vars)', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = s3!.accessKey;
    process.env.AWS_SECRET_ACCESS_KEY = s3!.secretKey;
    let store: ObjectStore | undefined;
    try {
      const parsed = parseStorageUrl(
        `s3://${bucket}/via-url/?region=${s3!.region}&endpoint=${encodeURIComponent(s3!.endpoint)}&path_style=true&allow_http=true`,
      );
      store = await openStore(parsed);
      assert.equal(store.url, `s3://${bucket}/via-url`);
      await store.put('k', Buffer.from('v'));
      const direct = await openStore(spec());
      assert.equal((await direct.get('via-url/k')).toString(), 'v');
      await direct.close();
    } finally {
      await store?.close();
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      else process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  });

  it('wrong credentials: ACCESS_DENIED StorageError that does not leak the secret', async () => {
    const secret = 'super-secret-value-1234567890';
    const store = await openStore({ ...spec(), accessKey: 'nobody', secretKey: secret } as StorageSpec);
    try {
      const err = await store.put('x', Buffer.from('x')).then(
        () => assert.fail('expected failure'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof StorageError, String(err));
      assert.equal(err.code, 'ACCESS_DENIED');
      assert.equal(err.key, 'x');
      assert.ok(!err.message.includes(secret));
      assert.ok(!JSON.stringify(err.context).includes(secret));
    } finally {
      await store.close();
    }
  });

  it('missing bucket: NO_SUCH_BUCKET, not NotFound', async () => {
    const store = await openStore({ ...spec(), bucket: `${bucket}-missing` } as StorageSpec);
    try {
      await assert.rejects(store.get('x'), (e: unknown) => e instanceof StorageError && e.code === 'NO_SUCH_BUCKET');
    } finally {
      await store.close();
    }
  });

  it('multipart putStream with ifNotExists creates once, then conflicts', async () => {
    const store = await openStore(spec());
    const big = Buffer.alloc(9 * 1024 * 1024 + 1, 9);
    async function* gen(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < big.length; i += 1 << 20) yield big.subarray(i, i + (1 << 20));
    }
    try {
      assert.deepEqual(await store.putStream('mp/once', gen(), { ifNotExists: true }), { size: big.length });
      await assert.rejects(store.putStream('mp/once', gen(), { ifNotExists: true }), { code: 'ALREADY_EXISTS' });
      assert.ok((await store.get('mp/once')).equals(big));
    } finally {
      await store.close();
    }
  });
});
