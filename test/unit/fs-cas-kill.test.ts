import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../../scripts/proc.js';
import { FsStore } from '../../src/storage/fs.js';

describe('filesystem compare-and-swap: a writer SIGKILLed at any moment', () => {
  it('never leaves a lock the next writer waits on (the lock appears with its holder in it)', { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kb-cas-kill-'));
    try {
      const store = new FsStore(dir);
      for (let round = 0; round < 12; round++) {
        const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/cas-child.ts'), dir, 'k.json'], {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        const exited = once(child, 'exit');
        await once(child.stdout!, 'data');
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 60));
        child.kill('SIGKILL');
        await exited;
        const started = Date.now();
        const cur = await store.getVersioned('k.json');
        await store.putIfMatch('k.json', Buffer.from(`parent-${round}`), cur?.version ?? null);
        assert.ok(Date.now() - started < 3_000, `round ${round}: the write after the kill took ${Date.now() - started} ms`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
