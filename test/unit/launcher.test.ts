import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LAUNCHER = join(ROOT, 'bin', 'kafka-backup');

describe('bin/kafka-backup launcher', () => {
  it('runs the CLI with two malloc arenas unless told otherwise, also through a relative symlink', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kb-launcher-'));
    try {
      // A stand-in `node` that shows what the launcher hands it.
      const fakeBin = join(dir, 'bin');
      spawnSync('mkdir', [fakeBin]);
      writeFileSync(join(fakeBin, 'node'), '#!/bin/sh\necho "arenas=$MALLOC_ARENA_MAX args=$*"\n');
      chmodSync(join(fakeBin, 'node'), 0o755);
      // Relative, as npm links node_modules/.bin/kafka-backup to ../kafka-backup/bin/kafka-backup.
      const link = join(dir, 'kafka-backup');
      symlinkSync(relative(dir, LAUNCHER), link);
      const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${fakeBin}:${process.env.PATH ?? ''}` };
      delete env.MALLOC_ARENA_MAX;
      const viaLink = spawnSync(link, ['describe', '--path', 'a b'], { env, encoding: 'utf8' });
      assert.equal(viaLink.status, 0, viaLink.stderr);
      const [arenas, script, ...rest] = viaLink.stdout.trim().split(' ');
      assert.equal(arenas, 'arenas=2');
      assert.equal(realpathSync(script!.replace(/^args=/, '')), realpathSync(join(ROOT, 'bin', 'kafka-backup.js')));
      assert.deepEqual(rest, ['describe', '--path', 'a', 'b']);
      const own = spawnSync(LAUNCHER, ['--version'], { env: { ...env, MALLOC_ARENA_MAX: '4' }, encoding: 'utf8' });
      assert.equal(own.stdout.trim(), `arenas=4 args=${join(ROOT, 'bin', 'kafka-backup.js')} --version`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sizes libuv's thread pool to the cores (2 to 4) unless UV_THREADPOOL_SIZE is set", () => {
    const dir = mkdtempSync(join(tmpdir(), 'kb-launcher-'));
    try {
      const fakeBin = join(dir, 'bin');
      spawnSync('mkdir', [fakeBin]);
      writeFileSync(join(fakeBin, 'node'), '#!/bin/sh\necho "pool=$UV_THREADPOOL_SIZE"\n');
      chmodSync(join(fakeBin, 'node'), 0o755);
      const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${fakeBin}:${process.env.PATH ?? ''}` };
      delete env.UV_THREADPOOL_SIZE;
      const sized = spawnSync(LAUNCHER, ['--version'], { env, encoding: 'utf8' });
      assert.equal(sized.status, 0, sized.stderr);
      // nproc and availableParallelism both count the CPUs this process may run on.
      assert.equal(sized.stdout.trim(), `pool=${Math.min(4, Math.max(2, availableParallelism()))}`);
      const own = spawnSync(LAUNCHER, ['--version'], { env: { ...env, UV_THREADPOOL_SIZE: '16' }, encoding: 'utf8' });
      assert.equal(own.stdout.trim(), 'pool=16');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs the real CLI', () => {
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    const r = spawnSync(LAUNCHER, ['--version'], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^kafka-backup \d+\.\d+\.\d+/);
  });

  it('keeps compiled code in the user cache directory, and runs without it where that cannot be written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kb-cache-'));
    try {
      const base: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
      delete base.NODE_COMPILE_CACHE;
      delete base.NODE_DISABLE_COMPILE_CACHE;
      const cached = spawnSync(LAUNCHER, ['--version'], { env: { ...base, XDG_CACHE_HOME: dir }, encoding: 'utf8', timeout: 60_000 });
      assert.equal(cached.status, 0, cached.stderr);
      const cache = join(dir, 'kafka-backup', 'compile-cache');
      assert.ok(existsSync(cache) && readdirSync(cache, { recursive: true }).length > 0, `compiled code cached in ${cache}`);
      // A cache directory under a regular file cannot be created: the command runs as before, silently.
      const file = join(dir, 'not-a-dir');
      writeFileSync(file, '');
      const uncached = spawnSync(LAUNCHER, ['--version'], { env: { ...base, XDG_CACHE_HOME: file }, encoding: 'utf8', timeout: 60_000 });
      assert.equal(uncached.status, 0, uncached.stderr);
      assert.match(uncached.stdout, /^kafka-backup \d+\.\d+\.\d+/);
      assert.equal(uncached.stderr, '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
