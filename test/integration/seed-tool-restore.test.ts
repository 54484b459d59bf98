/**
 * Backups written by the seed tool (osodevops/kafka-backup 0.17.4; test/fixtures/seed-tool-backups,
 * see its README) are read wherever ours are: each of the three (zstd, lz4, none) is restored into
 * the real broker and compared record for record with expected.json, what the source's consumers
 * read; describe, list, validate and validate-restore run on them through the CLI; a point-in-time
 * restore with a partition mapping and offset headers checks the window and the source offsets.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaRecord } from '../../src/kafka/protocol/record-batch.js';
import { runCli } from '../helpers/cli.js';
import { getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { consumeAll } from '../helpers/records.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'seed-tool-backups');

interface ExpectedRecord {
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
}
type Expected = Record<string, Record<string, ExpectedRecord[]>>;

let bootstrap: string;
let dir: string;
let root: string;
let expected: Expected;

function asExpected(r: KafkaRecord): ExpectedRecord {
  return {
    offset: Number(r.offset),
    timestamp: Number(r.timestamp),
    key: r.key === null ? null : r.key.toString('base64'),
    value: r.value === null ? null : r.value.toString('base64'),
    headers: r.headers.map((h) => [h.key.toString('utf8'), h.value === null ? null : h.value.toString('base64')]),
  };
}

async function restoreConfig(name: string, backupId: string, restore: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    `mode: restore\nbackup_id: ${backupId}\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${root}\nrestore:\n  create_topics: true\n${restore}`,
  );
  return file;
}

function ok(args: string[]): string {
  const r = runCli(args);
  assert.equal(r.code, 0, `kafka-backup ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-seed-'));
  root = join(dir, 'backups');
  // A copy: a restore keeps its state and report under the backup's prefix.
  await cp(join(FIXTURES, 'backups'), root, { recursive: true });
  expected = JSON.parse(await readFile(join(FIXTURES, 'expected.json'), 'utf8')) as Expected;
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

describe('restore of seed-tool backups', () => {
  for (const id of ['seed-zstd', 'seed-lz4', 'seed-none']) {
    it(`${id}: every record comes back as the source's consumers read it (key, value, headers, timestamp, partition, offset)`, async () => {
      const orders = uniqueTopic(`${id}-orders`);
      const payments = uniqueTopic(`${id}-payments`);
      const cfg = await restoreConfig(id, id, `  topic_mapping: { orders: ${orders}, payments: ${payments} }\n`);
      const report = JSON.parse(ok(['restore', '--config', cfg, '--format', 'json'])) as { records_restored: number };
      assert.equal(report.records_restored, 2000, JSON.stringify(report).slice(0, 400));
      for (const [source, target] of [
        ['orders', orders],
        ['payments', payments],
      ] as const) {
        for (const [p, want] of Object.entries(expected[source]!)) {
          // Into a new topic: target offsets are the source offsets (the source had no gaps).
          assert.deepEqual((await consumeAll(bootstrap, target, Number(p))).map(asExpected), want, `${id} ${source}/${p}`);
        }
      }
    });
  }
});

describe('reading seed-tool backups without restoring', () => {
  it('list, describe and validate --deep read them', async () => {
    const list = JSON.parse(ok(['list', '--path', root, '--format', 'json'])) as { backup_id: string; records: number; topics: string[] }[];
    assert.deepEqual(
      list.map((b) => [b.backup_id, b.records, b.topics]),
      ['seed-lz4', 'seed-none', 'seed-zstd'].map((id) => [id, 2000, ['orders', 'payments']]),
    );
    const d = JSON.parse(ok(['describe', '--path', root, '--backup-id', 'seed-zstd', '--format', 'json'])) as {
      compression: string;
      tool_version: string;
      topics: { name: string; partitions: { partition: number; records: number; first_offset: number; last_offset: number }[] }[];
    };
    assert.equal(d.compression, 'zstd');
    assert.match(d.tool_version, /seed tool/);
    assert.deepEqual(
      d.topics.map((t) => [t.name, t.partitions.map((p) => [p.partition, p.records, p.first_offset, p.last_offset])]),
      Object.entries(expected).map(([name, parts]) => [name, Object.entries(parts).map(([p, rs]) => [Number(p), rs.length, rs[0]!.offset, rs.at(-1)!.offset])]),
    );
    assert.match(ok(['describe', '--path', root, '--backup-id', 'seed-lz4']), /Format: +the seed tool's/);
    const v = JSON.parse(ok(['validate', '--path', root, '--backup-id', 'seed-none', '--deep', '--format', 'json'])) as {
      valid: boolean;
      records_checked: number;
    };
    assert.equal(v.valid, true);
    assert.equal(v.records_checked, 2000);
  });
});

describe('point-in-time restore of a seed-tool backup', () => {
  // Around the end of payments/1's first segment, whose last record was moved back in time: the
  // seed manifest's end_timestamp is its last record's, earlier than the window, yet the segment
  // holds records inside it.
  const start = 1730703000000;
  const end = 1730790000000;

  it('restores exactly the records in the window, with partition mapping and the source offsets in x-original-offset', async () => {
    const orders = uniqueTopic('pitr-orders');
    const payments = uniqueTopic('pitr-payments');
    const restore = `  time_window_start: ${start}\n  time_window_end: ${end}\n  topic_mapping: { orders: ${orders}, payments: ${payments} }\n  partition_mapping: { 0: 1, 1: 0 }\n  include_original_offset_header: true\n`;
    const cfg = await restoreConfig('pitr', 'seed-lz4', restore);
    const inWindow = (rs: ExpectedRecord[]) => rs.filter((r) => r.timestamp >= start && r.timestamp <= end);
    const want = Object.values(expected).flatMap((parts) => Object.values(parts).flatMap(inWindow)).length;
    const plan = JSON.parse(ok(['validate-restore', '--config', cfg, '--format', 'json'])) as { records_to_restore: number; records_counted: string };
    assert.deepEqual([plan.records_to_restore, plan.records_counted], [want, 'exact']);
    ok(['restore', '--config', cfg]);
    const mapped: Record<string, number> = { 0: 1, 1: 0, 2: 2 };
    for (const [source, target] of [
      ['orders', orders],
      ['payments', payments],
    ] as const) {
      for (const [p, all] of Object.entries(expected[source]!)) {
        const got = await consumeAll(bootstrap, target, mapped[p]!);
        const origin = got.map((r) => {
          const h = r.headers.find((x) => x.key.toString() === 'x-original-offset');
          const part = r.headers.find((x) => x.key.toString() === 'x-source-partition');
          return [Number(h!.value!.readBigInt64LE()), part!.value!.readInt32LE()];
        });
        const wanted = inWindow(all);
        assert.deepEqual(
          origin,
          wanted.map((r) => [r.offset, Number(p)]),
          `${source}/${p}: source offsets and partition`,
        );
        const user = got.map((r) => ({ ...asExpected(r), offset: 0, headers: asExpected(r).headers.filter(([k]) => !k.startsWith('x-')) }));
        assert.deepEqual(
          user,
          wanted.map((r) => ({ ...r, offset: 0 })),
          `${source}/${p}: records`,
        );
      }
    }
  });
});
