/**
 * What people read: the human log line (log-format.ts), loggers taken at module load following
 * -v/--quiet/--log-format (logger.ts), and the progress display (live block, periodic lines, off).
 * The CLI's non-terminal default (JSON lines) and --quiet are checked through the CLI in
 * test/integration/output-shape.test.ts; a real pseudo-terminal is not used.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { BackupProgress } from '../../src/backup/options.js';
import { bar, BackupProgressDisplay, RestoreProgressDisplay, setProgressMode } from '../../src/cli/progress.js';
import { formatLogLine } from '../../src/util/log-format.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('human log lines', () => {
  const t = Date.UTC(2026, 0, 2, 7, 12, 3, 45);

  it('time of day in UTC, level, message, then every other field as key=value', () => {
    const line = formatLogLine(
      JSON.stringify({
        level: 40,
        time: t,
        module: 'restore',
        err: 'connection reset',
        attempt: 2,
        ok: false,
        where: { topic: 'orders', partition: 3 },
        msg: 'checkpoint failed; will retry',
      }),
    );
    assert.equal(
      line,
      '07:12:03.045Z  WARN   checkpoint failed; will retry  module=restore  err="connection reset"  attempt=2  ok=false  where={"topic":"orders","partition":3}\n',
    );
  });

  it('every level has its name; the level is coloured only when asked', () => {
    const names = [10, 20, 30, 40, 50, 60].map((level) =>
      formatLogLine(JSON.stringify({ level, time: t, msg: 'm' }))
        .split('  ')[1]!
        .trim(),
    );
    assert.deepEqual(names, ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']);
    assert.equal(formatLogLine(JSON.stringify({ level: 50, time: t, msg: 'm' }), true), '07:12:03.045Z  \x1b[31mERROR\x1b[0m  m\n');
    assert.ok(!formatLogLine(JSON.stringify({ level: 50, time: t, msg: 'm' })).includes('\x1b'));
  });

  it('control characters in the message and in values are escaped; quotes and = force quoting', () => {
    const line = formatLogLine(JSON.stringify({ level: 30, time: t, key: 'a\u001b[2Jb', eq: 'x=y', q: 'say "hi"', msg: 'line1\nline2\u0007' }));
    assert.equal(line, '07:12:03.045Z  INFO   line1\\nline2\\x07  key=a\\x1b[2Jb  eq="x=y"  q="say \\"hi\\""\n');
    assert.equal(line.split('\n').length, 2, 'one line');
  });

  it('a line that is not JSON passes through unchanged', () => {
    assert.equal(formatLogLine('plain words'), 'plain words\n');
  });
});

describe('loggers taken at module load follow configureLogger (-v, --quiet, --log-format)', () => {
  it('a module logger created before configureLogger writes with the new level and format', () => {
    const script = [
      "import { configureLogger, logger } from './src/util/logger.ts';",
      "const early = logger('early');",
      "configureLogger(0, { format: 'text' });",
      "early.info({ n: 1 }, 'human after reconfigure');",
      "early.debug('hidden at info');",
      "configureLogger(1, { format: 'json' });",
      "early.debug('debug with -v');",
      "configureLogger(0, { format: 'json', quiet: true });",
      "early.info('hidden by quiet');",
      "early.warn('warning kept by quiet');",
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, LOG_LEVEL: '' },
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 3, r.stderr);
    assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3}Z {2}INFO {3}human after reconfigure {2}module=early {2}n=1$/);
    assert.deepEqual(JSON.parse(lines[1]!), { ...JSON.parse(lines[1]!), level: 20, module: 'early', msg: 'debug with -v' });
    assert.equal((JSON.parse(lines[2]!) as { msg: string }).msg, 'warning kept by quiet');
  });
});

describe('progress display', () => {
  let written: string[] = [];
  const realWrite = process.stderr.write.bind(process.stderr);
  const capture = (): void => {
    written = [];
    process.stderr.write = ((s: string | Uint8Array) => {
      written.push(String(s));
      return true;
    }) as typeof process.stderr.write;
  };
  afterEach(() => {
    process.stderr.write = realWrite;
    setProgressMode('lines');
  });

  const progress = (position: number, done: boolean): BackupProgress => ({
    startedAt: 0,
    partitions: [
      { topic: 'orders', partition: 0, position, target: 1000, records: position, rawBytes: position * 100, storedBytes: position * 40, segments: 1, done },
      { topic: 'orders', partition: 1, position: 1000, target: 1000, records: 1000, rawBytes: 100_000, storedBytes: 40_000, segments: 1, done: true },
      { topic: 'payments', partition: 0, position: 0, target: 0, records: 0, rawBytes: 0, storedBytes: 0, segments: 0, done: true },
    ],
  });

  it('bar: the share as a bar and a percentage', () => {
    assert.equal(bar(0, 10), '[░░░░░░░░░░]   0%');
    assert.equal(bar(0.5, 10), '[█████░░░░░]  50%');
    assert.equal(bar(1.7, 10), '[██████████] 100%');
  });

  it('live: a bar with records, bytes, rate, partitions and one line per topic, redrawn in place', (t) => {
    setProgressMode('live');
    // The rate and the ETA need two samples at different times: a clock of the test's own.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    capture();
    const d = new BackupProgressDisplay(false);
    d.update(progress(0, false));
    t.mock.timers.tick(1000);
    d.update(progress(500, false));
    d.done();
    process.stderr.write = realWrite;
    assert.equal(written.length, 2);
    const [first, second] = written as [string, string];
    assert.match(
      first,
      /^\[░+\] {3}0% {2}1,000 records, 100\.0 KB, 0 rec\/s, 2\/3 partitions done\n {2}orders {4}\[░+\] {3}0% {2}1,000 records, 1\/2 partitions done\n {2}payments {2}\[█+\] 100% {2}0 records, 1\/1 partitions done\n$/,
    );
    // The second frame first moves up over the three lines of the first and clears them.
    assert.ok(second.startsWith('\x1b[3F\x1b[J'), JSON.stringify(second.slice(0, 10)));
    assert.match(second, /\[█{12}░{12}\] {2}50% {2}1,500 records, 150\.0 KB, [\d,]+ rec\/s, ETA [^,]+, 2\/3 partitions done/);
  });

  it('a continuous backup has no bar and no ETA; off (--quiet) writes nothing', () => {
    setProgressMode('live');
    capture();
    const c = new BackupProgressDisplay(true);
    c.update(progress(0, false));
    c.update(progress(10, false));
    assert.doesNotMatch(written.join(''), /%|ETA/);
    setProgressMode('off');
    written = [];
    new BackupProgressDisplay(false).update(progress(10, false));
    const r = new RestoreProgressDisplay();
    r.partitionsPlanned(2);
    r.restored('t', 0, 10, 100);
    r.partitionDone('t', 0);
    assert.deepEqual(written, []);
  });

  it("restore: counts the engine's calls and passes each one on to the metrics sink", () => {
    setProgressMode('live');
    capture();
    const calls: string[] = [];
    const sink = {
      partitionsPlanned: (n: number) => calls.push(`planned ${n}`),
      restored: (t: string, p: number, n: number, b: number) => calls.push(`restored ${t}/${p} ${n} ${b}`),
      partitionDone: (t: string, p: number) => calls.push(`done ${t}/${p}`),
      error: (op: string) => calls.push(`error ${op}`),
    };
    const r = new RestoreProgressDisplay().teeTo(sink);
    r.partitionsPlanned(2);
    r.restored('a', 0, 1000, 50_000);
    r.partitionDone('a', 0);
    r.restored('b', 0, 500, 1_000);
    r.partitionDone('b', 0);
    r.error('produce');
    r.done();
    process.stderr.write = realWrite;
    assert.deepEqual(calls, ['planned 2', 'restored a/0 1000 50000', 'done a/0', 'restored b/0 500 1000', 'done b/0', 'error produce']);
    const last = written.at(-1)!;
    // No record count from the engine: the bar is by partitions.
    assert.match(last, /\[█+\] 100% {2}1,500 records restored, 51\.0 KB, [\d,]+ rec\/s, 2\/2 partitions done\n {2}a {2}1,000 records\n {2}b {2}500 records\n$/);
  });

  it("restore: with the plan's record count, a bar by records and an ETA (marked ~ when the count is an estimate)", () => {
    setProgressMode('live');
    capture();
    const calls: string[] = [];
    const r = new RestoreProgressDisplay().teeTo({
      partitionsPlanned: () => {},
      restored: () => {},
      partitionDone: () => {},
      error: () => {},
      recordsPlanned: (n, exact) => calls.push(`${n} ${exact}`),
    });
    r.partitionsPlanned(2);
    r.recordsPlanned(4000, false);
    r.restored('a', 0, 1000, 50_000);
    r.partitionDone('a', 0);
    r.done();
    process.stderr.write = realWrite;
    assert.deepEqual(calls, ['4000 false']);
    assert.match(written.at(-1)!, /\[█{6}░{18}\] {2}25% {2}1,000 of ~4,000 records restored, 50\.0 KB, [\d,]+ rec\/s, ETA ~[^,]+, 1\/2 partitions done\n$/);
  });
});
