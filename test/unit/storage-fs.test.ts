import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm, writeFile, mkdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DIR_MODE, FILE_MODE, FsStore } from '../../src/storage/fs.js';
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
  for (const umask of [0o022, 0o002, 0o027, 0o077]) {
    it(`objects are 0600 and the directories the store makes 0700 under umask ${umask.toString(8).padStart(3, '0')}; an existing root keeps its mode`, async () => {
      const parent = path.join(dir, `modes-${umask.toString(8)}`);
      await mkdir(parent);
      await chmod(parent, 0o755);
      const old = process.umask(umask);
      try {
        const s = new FsStore(path.join(parent, 'root'));
        await s.put('b1/manifest.json', Buffer.from('{}'));
        await s.putStream(
          'b1/topics/t/0/seg',
          (async function* () {
            yield Buffer.from('x');
          })(),
        );
        await s.put('b1/lease.json', Buffer.from('{}'), { ifNotExists: true });
        const mode = async (...p: string[]) => ((await stat(path.join(parent, ...p))).mode & 0o777).toString(8);
        const file = (FILE_MODE & ~umask).toString(8);
        const folder = (DIR_MODE & ~umask).toString(8);
        assert.deepEqual([file, folder], ['600', '700'], 'no usual umask loosens them');
        for (const f of [
          ['root', 'b1', 'manifest.json'],
          ['root', 'b1', 'topics', 't', '0', 'seg'],
          ['root', 'b1', 'lease.json'],
        ])
          assert.equal(await mode(...f), file, f.join('/'));
        for (const d of [['root'], ['root', 'b1'], ['root', 'b1', 'topics'], ['root', 'b1', 'topics', 't', '0']])
          assert.equal(await mode(...d), folder, d.join('/'));
        await s.put('b1/manifest.json', Buffer.from('{"v":2}'));
        assert.equal(await mode('root', 'b1', 'manifest.json'), file, 'an overwrite stays private');
      } finally {
        process.umask(old);
      }
      assert.equal(((await stat(parent)).mode & 0o777).toString(8), '755', 'a directory that existed keeps its mode');
    });
  }

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
