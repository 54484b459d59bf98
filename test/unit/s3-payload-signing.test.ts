/**
 * How the S3 store signs upload bodies: over https without hashing them (UNSIGNED-PAYLOAD, TLS
 * protects them and the signed CRC-32 header is checked by the server), over plain http with
 * their SHA-256. Checked on the request as signed, captured just before it would be sent (no
 * server: nothing leaves the process).
 */
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { S3Store } from '../../src/storage/s3.js';

class Captured extends Error {
  constructor(readonly headers: Record<string, string>) {
    super('captured');
  }
}

/** The signed headers of the request `send` would have put on the wire. */
async function signedHeaders(endpoint: string, command: PutObjectCommand | UploadPartCommand): Promise<Record<string, string>> {
  const store = new S3Store({ backend: 's3', bucket: 'b', region: 'us-east-1', endpoint, allowHttp: true, pathStyle: true, accessKey: 'AK', secretKey: 'SK' });
  store.client.middlewareStack.add(
    () => async (args) => {
      throw new Captured({ ...(args.request as { headers: Record<string, string> }).headers });
    },
    { step: 'deserialize', priority: 'low', name: 'captureSigned' },
  );
  try {
    await store.client.send(command as PutObjectCommand);
    assert.fail('the request was not captured');
  } catch (e) {
    if (!(e instanceof Captured)) throw e;
    return e.headers;
  } finally {
    await store.close();
  }
}

const body = Buffer.from('segment bytes');
const sha = createHash('sha256').update(body).digest('hex');
const commands = () => [
  new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: body, ContentLength: body.length }),
  new UploadPartCommand({ Bucket: 'b', Key: 'k', UploadId: 'u', PartNumber: 1, Body: body, ContentLength: body.length }),
];

describe('S3 upload payload signing', () => {
  it('https: PutObject and UploadPart are signed without hashing the body, and carry its CRC-32', async () => {
    for (const c of commands()) {
      const h = await signedHeaders('https://127.0.0.1:9', c);
      assert.equal(h['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD', c.constructor.name);
      assert.ok(h['x-amz-checksum-crc32'], `${c.constructor.name}: no CRC-32 header`);
      assert.match(h.authorization ?? '', /SignedHeaders=[^,]*x-amz-checksum-crc32/, `${c.constructor.name}: the CRC-32 header is not signed`);
    }
  });

  it('plain http: the body stays signed (its SHA-256 in the signature)', async () => {
    for (const c of commands()) {
      const h = await signedHeaders('http://127.0.0.1:9', c);
      assert.equal(h['x-amz-content-sha256'], sha, c.constructor.name);
    }
  });
});
