/**
 * `cat` without servers: the seed tool's three backups (test/fixtures/seed-tool-backups) read
 * record for record against expected.json (whole, by offset range, by time window, by key), the
 * flag parsers' errors, and the renderers' escaping (text) and encoding (JSON).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseKey, parseLimit, parseOffsetRange, parsePartitions, parseTime } from '../../src/cli/commands/cat.js';
import { catJsonHead, catJsonRecord, catJsonTail, catRecordJson, catRecordText, encodeBytes, escapeBytes } from '../../src/cli/render/cat.js';
import { catBackup, type CatOptions, type CatRecord, type CatRun } from '../../src/restore/index.js';
import { FsStore } from '../../src/storage/fs.js';
import { UserError } from '../../src/util/errors.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'seed-tool-backups');

/** C0/C1 control characters and DEL in `s`, line feeds aside. */
function controlsIn(s: string): string[] {
  return [...s].filter((c) => {
    const n = c.codePointAt(0)!;
    return (n < 0x20 && c !== '\n') || (n >= 0x7f && n <= 0x9f);
  });
}

interface ExpectedRecord {
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
}
type Expected = Record<string, Record<string, ExpectedRecord[]>>;

function asExpected(r: CatRecord): ExpectedRecord {
  return {
    offset: r.offset,
    timestamp: r.timestamp,
    key: r.key === null ? null : r.key.toString('base64'),
    value: r.value === null ? null : r.value.toString('base64'),
    headers: r.headers.map((h) => [h.key.toString('utf8'), h.value === null ? null : h.value.toString('base64')]),
  };
}

async function collect(run: CatRun): Promise<CatRecord[]> {
  const out: CatRecord[] = [];
  for await (const r of run.records) out.push(r);
  return out;
}

const store = new FsStore(join(FIXTURES, 'backups'));
const expected = JSON.parse(await readFile(join(FIXTURES, 'expected.json'), 'utf8')) as Expected;
const cat = (o: Omit<CatOptions, 'store'>): Promise<CatRun> => catBackup({ store, ...o });

describe("cat of the seed tool's backups", () => {
  for (const backupId of ['seed-zstd', 'seed-lz4', 'seed-none']) {
    it(`${backupId}: every topic and partition, record for record as the source's consumers read them`, async () => {
      for (const [topic, parts] of Object.entries(expected)) {
        const run = await cat({ backupId, topic });
        assert.equal(run.format, 'seed-tool');
        const got = await collect(run);
        const want = Object.keys(parts)
          .sort((a, b) => Number(a) - Number(b))
          .flatMap((p) => parts[p]!.map((r) => ({ p: Number(p), r })));
        assert.equal(got.length, want.length, `${topic}: record count`);
        got.forEach((r, i) => {
          assert.equal(r.partition, want[i]!.p);
          assert.deepEqual(asExpected(r), want[i]!.r, `${topic}/${r.partition}@${r.offset}`);
          assert.equal(r.timestampType, null, 'the seed format does not keep the timestamp type');
        });
        assert.equal(run.stats.segmentsRead, run.stats.segmentsTotal);
      }
    });
  }

  it('an offset range reads only the segments holding it; a time window and a key filter keep exactly the matching records', async () => {
    const src = expected.orders!['1']!;
    const byOffset = await cat({ backupId: 'seed-zstd', topic: 'orders', partitions: [1], fromOffset: 150, toOffset: 170 });
    assert.deepEqual(
      (await collect(byOffset)).map(asExpected),
      src.filter((r) => r.offset >= 150 && r.offset <= 170),
    );
    assert.ok(byOffset.stats.segmentsRead < byOffset.stats.segmentsTotal, `read ${byOffset.stats.segmentsRead} of ${byOffset.stats.segmentsTotal} segments`);

    // The window is applied per record: out-of-order records inside it come back, those outside do not.
    const ts = src.map((r) => r.timestamp).sort((a, b) => a - b);
    const [from, to] = [ts[100]!, ts[250]!];
    const inWindow = src.filter((r) => r.timestamp >= from && r.timestamp <= to);
    assert.ok(
      inWindow.some((r, i) => i > 0 && r.timestamp < inWindow[i - 1]!.timestamp),
      'the window holds an out-of-order record',
    );
    const byTime = await collect(await cat({ backupId: 'seed-lz4', topic: 'orders', partitions: [1], windowStart: from, windowEnd: to }));
    assert.deepEqual(byTime.map(asExpected), inWindow);

    const key = src.find((r) => r.key !== null)!.key!;
    const byKey = await collect(await cat({ backupId: 'seed-none', topic: 'orders', key: Buffer.from(key, 'base64') }));
    const all = Object.values(expected.orders!).flat();
    assert.deepEqual(
      byKey.map(asExpected),
      all.filter((r) => r.key === key),
    );
    assert.ok(byKey.length >= 1);

    const limited = await collect(await cat({ backupId: 'seed-zstd', topic: 'payments', limit: 3 }));
    assert.deepEqual(limited.map(asExpected), expected.payments!['0']!.slice(0, 3));
  });

  it('a topic or partition not in the backup, a reversed range or a missing backup is a UserError naming it', async () => {
    await assert.rejects(
      cat({ backupId: 'seed-zstd', topic: 'nope' }),
      (e: Error) => e instanceof UserError && /"nope" is not in backup seed-zstd \(it holds: orders, payments\)/.test(e.message),
    );
    await assert.rejects(
      cat({ backupId: 'seed-zstd', topic: 'orders', partitions: [7] }),
      (e: Error) => e instanceof UserError && /orders has no partition 7 .*\(it has 0, 1, 2\)/.test(e.message),
    );
    await assert.rejects(
      cat({ backupId: 'seed-zstd', topic: 'orders', fromOffset: 9, toOffset: 3 }),
      (e: Error) => e instanceof UserError && /start 9 is after end 3/.test(e.message),
    );
    await assert.rejects(
      cat({ backupId: 'seed-zstd', topic: 'orders', windowStart: 20, windowEnd: 10 }),
      (e: Error) => e instanceof UserError && /--from/.test(e.message),
    );
    await assert.rejects(cat({ backupId: 'no-such-backup', topic: 'orders' }), (e: Error) => e instanceof UserError && /no-such-backup/.test(e.message));
  });
});

describe('cat through the CLI', () => {
  it('a reader that closes the pipe early (`| head -1`) stops the read and ends the command quietly with exit status 0', () => {
    const root = join(import.meta.dirname, '..', '..');
    const cmd = `"${process.execPath}" --import tsx src/cli/run.ts cat -p ${join(FIXTURES, 'backups')} -b seed-none -t orders 2>"$ERR" | head -1; echo "status=\${PIPESTATUS[0]}"; cat "$ERR"`;
    const r = spawnSync('bash', ['-c', `ERR=$(mktemp); ${cmd}; rm -f "$ERR"`], { cwd: root, encoding: 'utf8' });
    const [first, status, ...stderr] = r.stdout.split('\n');
    assert.match(first!, /^orders\/0@0 /);
    assert.equal(status, 'status=0', r.stdout);
    assert.doesNotMatch(stderr.join('\n'), /EPIPE|error|at /, 'no error, no stack');
    // It stopped reading: its summary counts fewer than the topic's 1,200 records (~370 KB of text).
    const summary = JSON.parse(stderr.find((l) => l.includes('"stats"'))!) as { stats: { records: number } };
    assert.ok(summary.stats.records < 1200, `printed ${summary.stats.records} records before noticing`);
  });
});

describe('cat flags', () => {
  it('--offset takes A..B, A.., ..B and N; anything else is a one-line error naming the forms', () => {
    assert.deepEqual(parseOffsetRange('10..20'), { fromOffset: 10, toOffset: 20 });
    assert.deepEqual(parseOffsetRange('10..'), { fromOffset: 10 });
    assert.deepEqual(parseOffsetRange('..20'), { toOffset: 20 });
    assert.deepEqual(parseOffsetRange('7'), { fromOffset: 7, toOffset: 7 });
    for (const bad of ['', '..', 'a..b', '-1..3', '5..2', '1.5', '3 4', '99999999999999999999..'])
      assert.throws(
        () => parseOffsetRange(bad),
        (e: Error) => e instanceof UserError && /^--offset: /.test(e.message) && !e.message.includes('\n'),
        bad,
      );
  });

  it('--from/--to take epoch ms or ISO-8601 with a zone, and refuse seconds and zone-less times', () => {
    assert.equal(parseTime('--from', '2024-11-10T14:31:00Z'), Date.UTC(2024, 10, 10, 14, 31));
    assert.equal(parseTime('--to', '1731249060000'), 1731249060000);
    assert.throws(() => parseTime('--from', '1731249060'), /--from: .*looks like seconds/);
    assert.throws(() => parseTime('--to', '2024-11-10T14:31:00'), /--to: .*no time zone/);
    assert.throws(() => parseTime('--from', 'yesterday'), /--from: /);
  });

  it('--key is UTF-8 text, --key-base64 any bytes; not both, and not malformed base64', () => {
    assert.deepEqual(parseKey('order-42', undefined), Buffer.from('order-42'));
    assert.deepEqual(parseKey(undefined, '/wAB'), Buffer.from([0xff, 0x00, 0x01]));
    assert.equal(parseKey(undefined, undefined), undefined);
    assert.throws(() => parseKey('a', 'YQ=='), /--key and --key-base64 both given/);
    assert.throws(() => parseKey(undefined, 'not base64!'), /--key-base64: "not base64!" is not base64/);
    assert.throws(() => parseKey(undefined, 'YQ'), /--key-base64/);
  });

  it('--partition and --limit take whole numbers', () => {
    assert.deepEqual(parsePartitions(['0', '2']), [0, 2]);
    assert.deepEqual(parsePartitions(['2', '0', '2']), [2, 0]);
    assert.throws(() => parsePartitions(['x']), /--partition: "x"/);
    assert.equal(parseLimit('5'), 5);
    assert.throws(() => parseLimit('0'), /--limit/);
  });
});

describe('cat rendering', () => {
  const rec: CatRecord = {
    topic: 't',
    partition: 2,
    offset: 42,
    timestamp: Date.UTC(2024, 10, 10, 14, 31, 0, 5),
    timestampType: 'CreateTime',
    key: Buffer.from('order-42'),
    value: Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0xff, 0x00]), // ESC [2J (clear screen) then bytes that are not UTF-8
    headers: [
      { key: Buffer.from('dup'), value: Buffer.from('a') },
      { key: Buffer.from('dup'), value: Buffer.from('b') },
      { key: Buffer.from('nullv'), value: null },
      { key: Buffer.from('empty'), value: Buffer.alloc(0) },
    ],
  };

  it('text: one line, null and empty told apart, duplicates in order, no control byte reaches the terminal', () => {
    const line = catRecordText(rec);
    assert.equal(
      line,
      't/2@42  2024-11-10T14:31:00.005Z (CreateTime)  key="order-42"  headers=["dup"="a", "dup"="b", "nullv"=null, "empty"=""]  value="\\x1b[2J\\xff\\x00"',
    );
    assert.equal(escapeBytes(Buffer.from('a\u001b]0;x\u0007\n"\\\u202e')), '"a\\x1b]0;x\\x07\\n\\"\\\\\\u{202e}"');
    assert.equal(escapeBytes(Buffer.from('€ ok')), '"€ ok"');
    assert.deepEqual(controlsIn(catRecordText({ ...rec, key: Buffer.from([0x9b, 0x31, 0x6d]) })), []);
  });

  it('json: every byte field is null or {encoding, data} and decodes back to the same bytes', () => {
    const j = catRecordJson(rec) as { key: unknown; value: { encoding: string; data: string }; headers: { key: unknown; value: unknown }[] };
    assert.deepEqual(j.key, { encoding: 'utf8', data: 'order-42' });
    assert.equal(j.value.encoding, 'base64');
    assert.deepEqual(Buffer.from(j.value.data, 'base64'), rec.value);
    assert.deepEqual(j.headers, [
      { key: { encoding: 'utf8', data: 'dup' }, value: { encoding: 'utf8', data: 'a' } },
      { key: { encoding: 'utf8', data: 'dup' }, value: { encoding: 'utf8', data: 'b' } },
      { key: { encoding: 'utf8', data: 'nullv' }, value: null },
      { key: { encoding: 'utf8', data: 'empty' }, value: { encoding: 'utf8', data: '' } },
    ]);
    assert.equal(encodeBytes(null), null);
    assert.deepEqual(Object.keys(catRecordJson(rec)), [
      'topic',
      'partition',
      'offset',
      'timestamp',
      'timestamp_iso',
      'timestamp_type',
      'key',
      'headers',
      'value',
    ]);
  });

  it('the streamed JSON document parses, with or without records', () => {
    const run = {
      backupId: 'b',
      topic: 't',
      partitions: [2],
      format: 'kafka-backup',
      warnings: [],
      stats: { segmentsTotal: 1, segmentsRead: 1, blocksRead: 1, bytesRead: 10, recordsScanned: 2, recordsMatched: 2, abortedSkipped: 0 },
    } as unknown as CatRun;
    const two = JSON.parse(catJsonHead(run) + catJsonRecord(rec, true) + catJsonRecord(rec, false) + catJsonTail(run, true)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(two), ['backup_id', 'topic', 'partitions', 'format', 'records', 'stats', 'warnings']);
    assert.equal((two.records as unknown[]).length, 2);
    const none = JSON.parse(catJsonHead(run) + catJsonTail(run, false)) as Record<string, unknown>;
    assert.deepEqual(none.records, []);
  });
});
