/**
 * cli/gc-tuning.ts: the backup turns V8's incremental marking off at run time, unless node was started
 * with a flag of its own for it. Seen from V8's own GC trace of a child process that allocates buffers
 * as a backup does: with incremental marking, its full collections finalize an incremental marking.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MODULE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'gc-tuning.ts');

/**
 * A run whose full collections show `until` (at most five tries): on a loaded machine V8 may not get to
 * run its incremental marking tasks and collect atomically instead, for external memory pressure.
 */
function gcTrace(nodeFlags: string[], tune: boolean, until: (marks: string[]) => boolean): { set: string; marks: string[] } {
  for (let attempt = 1; ; attempt++) {
    const run = gcTraceOnce(nodeFlags, tune);
    if (until(run.marks) || attempt === 5) return run;
  }
}

const incremental = (marks: string[]): boolean => marks.some((l) => l.includes('finalize incremental marking'));

function gcTraceOnce(nodeFlags: string[], tune: boolean): { set: string; marks: string[] } {
  const script = `
    const { backupGcTuning } = await import(${JSON.stringify(MODULE)});
    const set = ${tune} ? backupGcTuning() : 'untouched';
    const keep = [];
    for (let i = 0; i < 6000; i++) { keep.push(Buffer.allocUnsafe(1 << 20)); if (keep.length > 16) keep.shift(); }
    console.log('set=' + set);`;
  const r = spawnSync(process.execPath, [...nodeFlags, '--trace-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  return { set: lines.find((l) => l.startsWith('set='))!.slice(4), marks: lines.filter((l) => l.includes('Mark-Compact')) };
}

describe('backupGcTuning', () => {
  it('turns incremental marking off', () => {
    const before = gcTrace([], false, incremental);
    assert.ok(before.marks.length > 0, 'the allocation loop causes full collections');
    assert.ok(
      before.marks.some((l) => l.includes('finalize incremental marking')),
      'by default they are incremental',
    );
    const after = gcTrace([], true, (marks) => marks.length > 0);
    assert.equal(after.set, 'true');
    assert.ok(after.marks.length > 0);
    assert.deepEqual(
      after.marks.filter((l) => l.includes('incremental marking')),
      [],
    );
  });

  it('leaves a flag node was started with alone', () => {
    const kept = gcTrace(['--incremental-marking'], true, incremental);
    assert.equal(kept.set, 'false');
    assert.ok(kept.marks.some((l) => l.includes('finalize incremental marking')));
  });
});
