import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { GroupReset, ResetReport } from '../../src/offsets/report.js';
import { offsetResetScript } from '../../src/offsets/script.js';

/**
 * The generated script is run with `sh` (dash here) and with bash, with a stub
 * `kafka-consumer-groups` on PATH that records its arguments: the values the script passes must be
 * exactly the plan's, and nothing else in the script may run.
 */
function runScript(script: string, shell: 'sh' | 'bash'): { status: number | null; calls: string[][]; stderr: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kb-script-'));
  const log = join(dir, 'calls');
  // Every argument NUL-terminated; a call is its argument count first, so any id survives the framing.
  writeFileSync(join(dir, 'kafka-consumer-groups'), `#!/bin/sh\n{ printf '%s\\0' "$#"; for a in "$@"; do printf '%s\\0' "$a"; done; } >> '${log}'\n`);
  chmodSync(join(dir, 'kafka-consumer-groups'), 0o755);
  writeFileSync(join(dir, 'reset.sh'), script);
  const r = spawnSync(shell, [join(dir, 'reset.sh')], { cwd: dir, encoding: 'utf8', env: { PATH: `${dir}:${process.env.PATH}`, HOME: dir } });
  const raw = existsSync(log) ? readFileSync(log, 'utf8') : '';
  const fields = raw.split('\0').slice(0, -1);
  const calls: string[][] = [];
  for (let i = 0; i < fields.length; i += 1 + Number(fields[i])) calls.push(fields.slice(i + 1, i + 1 + Number(fields[i])));
  return { status: r.status, calls, stderr: r.stderr, dir };
}

function group(groupId: string, topic = 'orders-restored'): GroupReset {
  return {
    groupId,
    technique: 'exact',
    status: 'planned',
    partitions: [
      {
        targetTopic: topic,
        targetPartition: 0,
        sources: [{ topic: 'orders', partition: 0, offset: 5 }],
        before: null,
        after: 12,
        duplicates: 0,
        duplicatesApproximate: false,
        atEnd: false,
      },
    ],
  };
}

function report(groups: GroupReset[], over: Partial<ResetReport> = {}): ResetReport {
  return {
    backupId: 'b1',
    restoreId: 'r1',
    technique: 'exact',
    offsetsFrom: { kind: 'snapshot', takenAt: 0, key: 'k' },
    dryRun: true,
    warnings: [],
    groups,
    ...over,
  };
}

const expectedCall = (id: string, topic = 'orders-restored') => [
  '--bootstrap-server',
  'localhost:9092',
  '--group',
  id,
  '--topic',
  `${topic}:0`,
  '--reset-offsets',
  '--to-offset',
  '12',
  '--execute',
];

describe('offset-reset script: hostile values', () => {
  const marker = (dir: string, n: number) => join(dir, `pwned${n}`);

  for (const shell of ['sh', 'bash'] as const) {
    test(`${shell}: newlines, $(…), backticks and quotes in group ids, restore ids, topics and warnings run nothing; every group is reset with its exact id`, () => {
      const hostile = [`evil\ntouch pwned1\n#`, `x$(touch pwned2)'$(touch pwned3)'\`touch pwned4\``, `\r\ntouch pwned5;\u2028\u202e`, `a'b"c\\d`];
      const rep = report(
        [
          group('honest'),
          ...hostile.map((h) => group(h)),
          { groupId: 'idle\ntouch pwned6', technique: 'exact', status: 'no-offsets', reason: 'none\ntouch pwned7', partitions: [] },
        ],
        {
          backupId: 'b1\ntouch pwned8',
          restoreId: 'r1\ntouch pwned9',
          warnings: ['restore x\ntouch pwned10'],
        },
      );
      const script = offsetResetScript(rep, { bootstrapServers: ['localhost:9092'], restoreChoice: 'restore r\ntouch pwned11 (completed …)', generatedAt: 0 });
      const r = runScript(script, shell);
      try {
        assert.equal(r.status, 0, `${r.stderr}\n${script}`);
        for (let i = 1; i <= 11; i++) assert.equal(existsSync(marker(r.dir, i)), false, `pwned${i} was executed:\n${script}`);
        assert.deepEqual(r.calls, [expectedCall('honest'), ...hostile.map((h) => expectedCall(h))]);
        assert.ok(script.includes('# group "evil\\ntouch pwned1\\n#": 1 partition(s)'), script);
      } finally {
        rmSync(r.dir, { recursive: true, force: true });
      }
    });
  }

  test('any group id: the stub receives exactly that id, nothing else runs (property, sh)', () => {
    const id = fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }).filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(id, (g) => {
        const r = runScript(offsetResetScript(report([group(g), group('honest')]), { bootstrapServers: ['localhost:9092'] }), 'sh');
        try {
          assert.equal(r.status, 0, r.stderr);
          assert.deepEqual(r.calls, [expectedCall(g), expectedCall('honest')]);
        } finally {
          rmSync(r.dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 60 },
    );
  });

  test('a NUL in a group id: left out with a warning comment, the other groups still scripted', () => {
    const script = offsetResetScript(report([group('nul\0id'), group('honest')]), { bootstrapServers: ['localhost:9092'] });
    assert.match(script, /# WARNING: group "nul\\x00id" is not in this script/);
    const r = runScript(script, 'sh');
    try {
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.calls, [expectedCall('honest')]);
    } finally {
      rmSync(r.dir, { recursive: true, force: true });
    }
  });

  test('without bootstrap servers the script stops when $BOOTSTRAP_SERVERS is unset (sh)', () => {
    const r = runScript(offsetResetScript(report([group('honest')]), { bootstrapServers: [] }), 'sh');
    try {
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /set BOOTSTRAP_SERVERS/);
      assert.deepEqual(r.calls, []);
    } finally {
      rmSync(r.dir, { recursive: true, force: true });
    }
  });
});
