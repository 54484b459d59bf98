import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FsStore } from '../../src/storage/fs.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { openStore } from '../../src/storage/index.js';
import { runStorageContract } from '../helpers/storage-contract.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'kb-storage-fs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

runStorageContract('filesystem', async () => new FsStore(path.join(dir, 'root')));
runStorageContract('memory', async () => new MemoryStore());

describe('filesystem backend specifics', () => {
  it('never writes outside its root, and leaves no temp files', async () => {
    const root = path.join(dir, 'confined', 'root');
    const s = await openStore({ backend: 'filesystem', path: root });
    await s.put('a/b/c', Buffer.from('x'));
    await assert.rejects(s.put('../escape', Buffer.from('x')));
    assert.deepEqual(await readdir(path.join(dir, 'confined')), ['root']);
    assert.deepEqual(await readdir(path.join(root, 'a', 'b')), ['c']);
    await assert.rejects(s.put('a/b/c', Buffer.from('y'), { ifNotExists: true }));
    assert.deepEqual(await readdir(path.join(root, 'a', 'b')), ['c']);
    assert.equal(await readFile(path.join(root, 'a', 'b', 'c'), 'utf8'), 'x');
  });

  it('list skips leftover temp files; missing root lists empty and gets NotFound', async () => {
    const root = path.join(dir, 'tmpfiles');
    await mkdir(root, { recursive: true });
    await writeFile(path.join(root, '.obj.kbtmp-123-abc'), 'partial');
    await writeFile(path.join(root, 'obj'), 'whole');
    const s = new FsStore(root);
    const got: string[] = [];
    for await (const m of s.list('')) got.push(m.key);
    assert.deepEqual(got, ['obj']);
    const missing = new FsStore(path.join(dir, 'does-not-exist'));
    for await (const m of missing.list('')) assert.fail(`unexpected ${m.key}`);
    await assert.rejects(missing.get('x'), { code: 'NOT_FOUND' });
  });

  it('openStore gives a fresh memory store each time and the fs url is the absolute path', async () => {
    const a = await openStore({ backend: 'memory' });
    await a.put('k', Buffer.from('v'));
    const b = await openStore({ backend: 'memory' });
    assert.equal(await b.exists('k'), false);
    const f = await openStore({ backend: 'filesystem', path: './rel/dir' });
    assert.equal(f.url, path.resolve('./rel/dir'));
  });
});
