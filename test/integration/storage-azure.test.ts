/** The storage contract against Azurite (the Azure Storage emulator from npm). */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { openStore, parseStorageUrl } from '../../src/storage/index.js';
import type { StorageSpec } from '../../src/storage/spec.js';
import { runStorageContract } from '../helpers/storage-contract.js';

// Azurite's well-known development account (public, documented by Microsoft).
const ACCOUNT = 'devstoreaccount1';
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

let proc: ChildProcess | undefined;
let dir = '';
let endpoint = '';
const container = `kb-${Date.now().toString(36)}`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'kb-azurite-'));
  const port = await freePort();
  const bin = path.resolve('node_modules/.bin/azurite-blob');
  proc = spawn(bin, ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', dir, '--silent', '--skipApiVersionCheck', '--loose'], {
    stdio: 'ignore',
  });
  // The runner may force-exit before `after` completes: never leave Azurite behind.
  process.once('exit', () => proc?.kill('SIGKILL'));
  endpoint = `http://127.0.0.1:${port}/${ACCOUNT}`;
  const client = new ContainerClient(`${endpoint}/${container}`, new StorageSharedKeyCredential(ACCOUNT, KEY));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await client.createIfNotExists();
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
});

after(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc!.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
  await rm(dir, { recursive: true, force: true });
});

const spec = (): StorageSpec => ({ backend: 'azure', accountName: ACCOUNT, container, endpoint, accountKey: KEY, allowHttp: true });
runStorageContract('azure (Azurite)', () => openStore(spec()));
runStorageContract('azure (Azurite) with prefix', () => openStore({ ...spec(), prefix: 'pre/fix' } as StorageSpec));

// The reference's URL form az://ACCOUNT/CONTAINER names the same place as the config's account and container.
test('az://ACCOUNT/CONTAINER/prefix (the reference form) reads and writes the container of that account', async () => {
  const saved = process.env.AZURE_STORAGE_KEY;
  process.env.AZURE_STORAGE_KEY = KEY;
  const viaUrl = await openStore(parseStorageUrl(`az://${ACCOUNT}/${container}/via-url?endpoint=${encodeURIComponent(endpoint)}&allow_http=true`));
  const direct = await openStore(spec());
  try {
    await viaUrl.put('k', Buffer.from('v'));
    assert.equal((await direct.get('via-url/k')).toString(), 'v');
  } finally {
    await viaUrl.close();
    await direct.close();
    if (saved === undefined) delete process.env.AZURE_STORAGE_KEY;
    else process.env.AZURE_STORAGE_KEY = saved;
  }
});
