import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { openStore, parseStorageUrl } from '../../src/storage/index.js';
import type { StorageSpec } from '../../src/storage/spec.js';
import { UserError } from '../../src/util/errors.js';

function withEnv<T>(name: string, value: string | undefined, fn: () => T): T {
  const saved = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
}

describe('parseStorageUrl', () => {
  const ok: Array<[string, StorageSpec]> = [
    ['/var/backups/kafka', { backend: 'filesystem', path: '/var/backups/kafka' }],
    ['./rel', { backend: 'filesystem', path: './rel' }],
    ['rel/dir', { backend: 'filesystem', path: 'rel/dir' }],
    ['file:///var/backups/kafka', { backend: 'filesystem', path: '/var/backups/kafka' }],
    ['file:///tmp/with%20space', { backend: 'filesystem', path: '/tmp/with space' }],
    ['memory://', { backend: 'memory' }],
    ['s3://bucket', { backend: 's3', bucket: 'bucket' }],
    ['s3://bucket/', { backend: 's3', bucket: 'bucket' }],
    ['s3://bucket/prefix/deeper/', { backend: 's3', bucket: 'bucket', prefix: 'prefix/deeper' }],
    ['s3a://bucket/p', { backend: 's3', bucket: 'bucket', prefix: 'p' }],
    [
      's3://bkt/p?region=eu-west-1&endpoint=http://127.0.0.1:9000&path_style=true&allow_http=true',
      { backend: 's3', bucket: 'bkt', prefix: 'p', region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', pathStyle: true, allowHttp: true },
    ],
    ['s3://bkt?endpoint=https://minio.example:9000', { backend: 's3', bucket: 'bkt', endpoint: 'https://minio.example:9000' }],
    [
      'azure://acct/c?endpoint=http://127.0.0.1:10000/acct&allow_http=true',
      { backend: 'azure', accountName: 'acct', container: 'c', endpoint: 'http://127.0.0.1:10000/acct', allowHttp: true },
    ],
    ['s3://bkt?path_style=false&allow_http=true', { backend: 's3', bucket: 'bkt', pathStyle: false, allowHttp: true }],
    ['azure://myacct/container', { backend: 'azure', accountName: 'myacct', container: 'container' }],
    ['azure://myacct.blob.core.windows.net/container/pre/fix', { backend: 'azure', accountName: 'myacct', container: 'container', prefix: 'pre/fix' }],
    ['az://container@acct2/pre', { backend: 'azure', accountName: 'acct2', container: 'container', prefix: 'pre' }],
    ['gs://bucket/prefix', { backend: 'gcs', bucket: 'bucket', prefix: 'prefix' }],
    ['gcs://bucket', { backend: 'gcs', bucket: 'bucket' }],
    [
      'gs://bucket/p?endpoint=http://localhost:4443&allow_http=true',
      { backend: 'gcs', bucket: 'bucket', prefix: 'p', endpoint: 'http://localhost:4443', allowHttp: true },
    ],
  ];
  for (const [url, spec] of ok) {
    it(`parses ${url}`, () => assert.deepEqual(parseStorageUrl(url), spec));
  }

  it('az://ACCOUNT/CONTAINER is the reference form (as azure://), whatever AZURE_STORAGE_ACCOUNT says', () => {
    for (const env of ['envacct', undefined]) {
      withEnv('AZURE_STORAGE_ACCOUNT', env, () => {
        assert.deepEqual(parseStorageUrl('az://myacct/container'), { backend: 'azure', accountName: 'myacct', container: 'container' });
        assert.deepEqual(parseStorageUrl('az://myacct.blob.core.windows.net/container/pre/fix'), {
          backend: 'azure',
          accountName: 'myacct',
          container: 'container',
          prefix: 'pre/fix',
        });
        assert.throws(() => parseStorageUrl('az://container'), /missing container: az:\/\/ACCOUNT\/CONTAINER/);
      });
    }
  });

  const bad: Array<[string, RegExp]> = [
    ['s3://', /missing bucket/],
    ['s3:///prefix', /missing bucket/],
    ['ftp://x', /unsupported scheme "ftp:"/],
    ['gs://', /missing bucket/],
    ['azure://acct', /missing container/],
    ['azure://', /missing storage account/],
    ['s3://bucket/../x', /bad prefix/],
    ['s3://bucket/a//b', /bad prefix/],
    ['s3://bucket?colour=blue', /unknown query parameter "colour"/],
    ['s3://bucket?path_style=maybe', /path_style must be true or false/],
    ['s3://bucket?endpoint=notaurl', /endpoint must be/],
    // Plain HTTP only when asked for: a signature, SAS token or bearer token would travel in clear text.
    ['s3://bucket?endpoint=http://minio:9000', /endpoint is plain http:\/\/.*add &allow_http=true/],
    ['s3://bucket?endpoint=HTTP://minio:9000', /endpoint is plain http:\/\//],
    ['s3://bucket?endpoint=http://minio:9000&allow_http=false', /endpoint is plain http:\/\//],
    ['azure://acct/c?endpoint=http://127.0.0.1:10000/acct', /endpoint is plain http:\/\/.*allow_http=true/],
    ['gs://bucket?endpoint=http://localhost:4443', /endpoint is plain http:\/\/.*allow_http=true/],
    ['s3://bucket:9000/p', /no port/],
    ['file://remotehost/x', /must be local/],
    ['memory://something', /takes no bucket/],
    ['s3:bucket', /expected s3:\/\//],
    ['', /empty/],
  ];
  for (const [url, why] of bad) {
    it(`rejects ${JSON.stringify(url)} with a one-line UserError naming it`, () => {
      assert.throws(
        () => parseStorageUrl(url),
        (e: unknown) => {
          assert.ok(e instanceof UserError, String(e));
          assert.equal(e.code, 'BAD_STORAGE_URL');
          assert.ok(!e.message.includes('\n'));
          assert.ok(e.message.includes(`"${url}"`), e.message);
          assert.match(e.message, why);
          assert.match(e.message, /accepted forms: .*s3:\/\/bucket.*az:\/\/.*azure:\/\/.*gs:\/\/.*memory:\/\//);
          return true;
        },
      );
    });
  }

  it('never echoes credentials embedded in a URL', () => {
    assert.throws(
      () => parseStorageUrl('s3://AKIAXXXX:topsecret@bucket/p'),
      (e: unknown) => e instanceof UserError && !e.message.includes('topsecret') && /credentials do not belong/.test(e.message),
    );
    assert.throws(
      () => parseStorageUrl('azure://acct/c?sig=topsecret'),
      (e: unknown) => e instanceof UserError && !e.message.includes('topsecret'),
    );
  });
});

describe('openStore', () => {
  it('constructs every backend without network access, applying prefixes', async () => {
    const fsStore = await openStore(parseStorageUrl('./some/rel'));
    assert.equal(fsStore.url, path.resolve('./some/rel'));
    const s3 = await openStore({ backend: 's3', bucket: 'b', prefix: 'p/q', region: 'us-east-1', accessKey: 'a', secretKey: 's' });
    assert.equal(s3.url, 's3://b/p/q');
    await s3.close();
    const az = await openStore({ backend: 'azure', accountName: 'acct', container: 'c', prefix: 'x', accountKey: Buffer.from('k').toString('base64') });
    assert.equal(az.url, 'azure://acct/c/x');
    await az.close();
    const azSas = await openStore({ backend: 'azure', accountName: 'acct', container: 'c', sasToken: '?sv=1&sig=secret' });
    assert.ok(!azSas.url.includes('secret'));
    const azDefault = await withEnv('AZURE_STORAGE_KEY', undefined, () => openStore({ backend: 'azure', accountName: 'acct', container: 'c' }));
    assert.equal(azDefault.url, 'azure://acct/c');
    const gcs = await openStore({
      backend: 'gcs',
      bucket: 'gb',
      prefix: 'pre',
      serviceAccountJson: JSON.stringify({ client_email: 'x@y.iam.gserviceaccount.com', private_key: 'k' }),
    });
    assert.equal(gcs.url, 'gs://gb/pre');
    await gcs.close();
    await openStore(parseStorageUrl('gs://gb'));
  });

  it('rejects inconsistent configs with UserError', async () => {
    await assert.rejects(openStore({ backend: 's3', bucket: 'b', accessKey: 'only-id' }), UserError);
    await assert.rejects(openStore({ backend: 's3', bucket: 'b', endpoint: 'http://x:1', allowHttp: false }), UserError);
    // Without allow_http (not only with it false): every backend, whichever front end built the spec.
    const plain = /storage\.endpoint http:\/\/x:1 \((s3|azure|gcs)\) is plain http: .*storage\.allow_http: true/;
    await assert.rejects(openStore({ backend: 's3', bucket: 'b', endpoint: 'http://x:1' }), plain);
    await assert.rejects(openStore({ backend: 'azure', accountName: 'a', container: 'c', endpoint: 'http://x:1/a', sasToken: 'sig=S' }), plain);
    await assert.rejects(openStore({ backend: 'gcs', bucket: 'b', endpoint: 'http://x:1' }), plain);
    await assert.rejects(openStore({ backend: 's3', bucket: 'b', endpoint: 'ftp://x' }), UserError);
    await assert.rejects(openStore({ backend: 'azure', accountName: 'a', container: 'c', clientId: 'id' }), UserError);
    await assert.rejects(
      openStore({ backend: 'gcs', bucket: 'b', serviceAccountJson: '{not json' }),
      (e: unknown) => e instanceof UserError && !e.message.includes('{not json'),
    );
  });

  it('rejects invalid keys before any network call', async () => {
    const s3 = await openStore({
      backend: 's3',
      bucket: 'b',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:1',
      accessKey: 'a',
      secretKey: 's',
      allowHttp: true,
    });
    await assert.rejects(s3.get('../x'), { code: 'INVALID_KEY' });
    await s3.close();
  });
});
