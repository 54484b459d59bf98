import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eraseKeys } from '../../src/cli/commands/erase.js';
import { UserError } from '../../src/util/errors.js';

describe('erase: --key / --keys-file / --key-encoding', () => {
  it('keys from flags and file, blank lines and CRs dropped, duplicates once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kb-keys-'));
    try {
      const f = join(dir, 'keys.txt');
      await writeFile(f, 'customer-42\r\n\n  \ncustomer-43\ncustomer-42\n');
      const keys = await eraseKeys({ key: ['customer-1'], keysFile: f, keyEncoding: 'utf8' });
      assert.deepEqual(
        keys.map((k) => k.toString()),
        ['customer-1', 'customer-42', 'customer-43'],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('hex and base64 keys are bytes; malformed ones and unknown encodings are one-line errors naming them', async () => {
    assert.deepEqual(await eraseKeys({ key: ['00ff'], keyEncoding: 'hex' }), [Buffer.from([0, 255])]);
    assert.deepEqual(await eraseKeys({ key: ['AP8='], keyEncoding: 'BASE64' }), [Buffer.from([0, 255])]);
    await assert.rejects(eraseKeys({ key: ['0g'], keyEncoding: 'hex' }), (e: Error) => e instanceof UserError && /^--key: "0g" is not hex/.test(e.message));
    await assert.rejects(eraseKeys({ key: ['a'], keyEncoding: 'base64' }), /--key: "a" is not base64/);
    await assert.rejects(eraseKeys({ key: ['a'], keyEncoding: 'latin1' }), /--key-encoding: "latin1" is not one of utf8, hex, base64/);
    await assert.rejects(eraseKeys({ key: [], keyEncoding: 'utf8' }), /give the key\(s\) to erase with --key K/);
  });
});
