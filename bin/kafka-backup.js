#!/usr/bin/env node
// Runs the compiled CLI (an installed package, or a checkout after `npm run build`); falls back to the
// TypeScript sources through tsx in a checkout. Plain JavaScript with dynamic imports, so that an old
// Node reaches the version check below instead of failing on syntax or a missing API.
import { existsSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Node's on-disk cache of compiled code (docs/performance.md, "Start-up"), in the user's cache directory:
 * $XDG_CACHE_HOME or ~/.cache, os.tmpdir() without a home. NODE_COMPILE_CACHE, when set, chooses instead
 * and NODE_DISABLE_COMPILE_CACHE=1 turns it off. Node keeps one cache per Node version and checks each
 * entry against its source, so an upgraded tool or Node never runs stale code. A directory that cannot be
 * created or written (read-only home, another user's) only loses the cache.
 */
async function enableCompileCache() {
  try {
    let dir;
    if (!process.env.NODE_COMPILE_CACHE) {
      const home = homedir();
      dir = join(process.env.XDG_CACHE_HOME || (home && home !== '/' ? join(home, '.cache') : tmpdir()), 'kafka-backup', 'compile-cache');
    }
    const { enableCompileCache: enable } = await import('node:module');
    enable?.(dir);
  } catch {
    // Runs uncached.
  }
}

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  process.stderr.write(`error: kafka-backup needs Node.js 22.22 or newer; this is ${process.version} (${process.execPath})\n`);
  process.exit(1);
}

await enableCompileCache();

const compiled = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
let mod;
if (existsSync(compiled)) {
  mod = await import(compiled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import('../src/cli/main.ts');
}
process.exitCode = await mod.main(process.argv);
