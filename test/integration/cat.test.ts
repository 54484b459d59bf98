/**
 * `kafka-backup cat` against real backups made from the real broker: the records come back as a
 * consumer sees them (headers with duplicates and nulls, binary values, null vs empty, timestamps
 * and their type, original offsets), through an offset range, a time window and a key filter; only
 * the blocks that overlap the range are read (a store wrapper records every read); encrypted
 * backups read with the key; aborted transactions stay hidden as from a read_committed consumer.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Producer } from '@platformatic/kafka';
import { runBackup } from '../../src/backup/engine.js';
import { readPartitionIndex } from '../../src/format/partition-index.js';
import type { KafkaRecord, RecordInput } from '../../src/kafka/protocol/record-batch.js';
import { catBackup, type CatOptions } from '../../src/restore/index.js';
import { readFooter } from '../../src/restore/segment-source.js';
import { EncryptedStore } from '../../src/storage/encrypted.js';
import { FsStore } from '../../src/storage/fs.js';
import type { ByteRange, ObjectMeta, ObjectStore, PutOptions } from '../../src/storage/store.js';
import { runCli } from '../helpers/cli.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { testBackupOptions } from '../helpers/options.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';

const BASE = Date.UTC(2024, 10, 10, 12, 0, 0);
const BULK = 8000;
const BACKUP = 'cat-1';

type Enc = { encoding: 'utf8' | 'base64'; data: string } | null;
interface JsonRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestamp_iso: string;
  timestamp_type: string | null;
  key: Enc;
  headers: { key: Enc; value: Enc }[];
  value: Enc;
}

const bytesOf = (e: Enc): Buffer | null => (e === null ? null : Buffer.from(e.data, e.encoding === 'utf8' ? 'utf8' : 'base64'));

function fromJson(j: JsonRecord): KafkaRecord {
  return {
    offset: BigInt(j.offset),
    timestamp: BigInt(j.timestamp),
    key: bytesOf(j.key),
    value: bytesOf(j.value),
    headers: j.headers.map((h) => ({ key: bytesOf(h.key)!, value: bytesOf(h.value) })),
  };
}

const keysOf = (rs: KafkaRecord[]): string[] => rs.map((r) => recordKey(r, true));

/** C0/C1 control characters and DEL in `s`, line feeds aside. */
function controlsIn(s: string): string[] {
  return [...s].filter((c) => {
    const n = c.codePointAt(0)!;
    return (n < 0x20 && c !== '\n') || (n >= 0x7f && n <= 0x9f);
  });
}

/** ~1 KB records, one a second, 400 distinct keys: several segments of several 1 MiB blocks. */
function bulk(): RecordInput[] {
  return Array.from({ length: BULK }, (_, i) => ({
    key: Buffer.from(`order-${i % 400}`),
    value: Buffer.from(JSON.stringify({ id: i, pad: randomBytes(380).toString('hex') })),
    headers: [{ key: 'n', value: Buffer.from(String(i)) }],
    timestamp: BigInt(BASE + i * 1000),
  }));
}

/** What a terminal must never receive raw, and values that are not text. */
function hostile(): RecordInput[] {
  const ts = BASE + 10_000_000;
  return [
    {
      key: Buffer.from('order-42'),
      value: Buffer.from('\u001b[2J\u001b]0;owned\u0007 clear screen'),
      headers: [
        { key: 'dup', value: Buffer.from('a') },
        { key: 'dup', value: Buffer.from('b') },
        { key: 'nullv', value: null },
        { key: 'empty', value: Buffer.alloc(0) },
      ],
      timestamp: BigInt(ts),
    },
    {
      key: Buffer.from([0xff, 0xfe, 0x00]),
      value: Buffer.from([0x00, 0x9b, 0x31, 0x6d, 0xc3]),
      headers: [{ key: 'bin', value: Buffer.from([0xde, 0xad, 0xbe, 0xef]) }],
      timestamp: BigInt(ts + 1),
    },
    { key: null, value: null, headers: [], timestamp: BigInt(ts + 2) },
    { key: Buffer.alloc(0), value: Buffer.alloc(0), headers: [], timestamp: BigInt(ts + 3) },
  ];
}

/** Every read the reader makes, by object key and range. */
class RecordingStore implements ObjectStore {
  readonly reads: { op: 'get' | 'getStream'; key: string; range?: ByteRange }[] = [];
  constructor(private readonly inner: ObjectStore) {}
  get url(): string {
    return this.inner.url;
  }
  put(key: string, data: Uint8Array, opts?: PutOptions): Promise<void> {
    return this.inner.put(key, data, opts);
  }
  putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<{ size: number }> {
    return this.inner.putStream(key, body, opts);
  }
  get(key: string, range?: ByteRange): Promise<Buffer> {
    this.reads.push({ op: 'get', key, ...(range ? { range } : {}) });
    return this.inner.get(key, range);
  }
  getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    this.reads.push({ op: 'getStream', key, ...(range ? { range } : {}) });
    return this.inner.getStream(key, range);
  }
  head(key: string): Promise<ObjectMeta | undefined> {
    return this.inner.head(key);
  }
  exists(key: string): Promise<boolean> {
    return this.inner.exists(key);
  }
  list(prefix: string): AsyncIterable<ObjectMeta> {
    return this.inner.list(prefix);
  }
  getVersioned(key: string): ReturnType<ObjectStore['getVersioned']> {
    return this.inner.getVersioned(key);
  }
  putIfMatch(key: string, data: Uint8Array, expected: string | null): Promise<string> {
    return this.inner.putIfMatch(key, data, expected);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('cat: a real backup, read without a cluster', () => {
  let bootstrap: string;
  let dir: string;
  let root: string;
  let store: FsStore;
  const topic = uniqueTopic('cat-orders');
  const txTopic = uniqueTopic('cat-txn');
  const latTopic = uniqueTopic('cat-lat');
  let source: KafkaRecord[][];

  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runCli(['cat', '--path', root, '--backup-id', BACKUP, ...args], { env, maxBuffer: 64 * 1024 * 1024 });
  const jsonl = (stdout: string): JsonRecord[] =>
    stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as JsonRecord);

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-cat-'));
    root = join(dir, 'backups');
    store = new FsStore(root);
    await createTopic(bootstrap, topic, 2);
    await produce(bootstrap, topic, 0, bulk(), 'none', 100);
    await produce(bootstrap, topic, 1, [...awkwardRecords(300, BASE, 3), ...hostile()], 'lz4', 40);

    // Transactions: committed, aborted, committed; a read_committed consumer sees only the committed ones.
    await createTopic(bootstrap, txTopic, 1);
    const p = new Producer({ clientId: 'kb-cat-tx', bootstrapBrokers: [bootstrap], idempotent: true, transactionalId: `${txTopic}-tx` });
    try {
      for (const [tag, commit] of [
        ['c1', true],
        ['ab', false],
        ['c2', true],
      ] as const) {
        const t = await p.beginTransaction();
        await t.send({
          messages: Array.from({ length: 5 }, (_, i) => ({
            topic: txTopic,
            partition: 0,
            key: Buffer.from(`${tag}-${i}`),
            value: Buffer.from(`${tag}-${i}`),
            timestamp: BigInt(BASE + i),
          })),
        });
        if (commit) await t.commit();
        else await t.abort();
      }
    } finally {
      await p.close();
    }

    // LogAppendTime: the broker's append time is what consumers see.
    await createTopic(bootstrap, latTopic, 1, { 'message.timestamp.type': 'LogAppendTime' });
    await produce(
      bootstrap,
      latTopic,
      0,
      Array.from({ length: 5 }, (_, i) => ({ key: null, value: Buffer.from(`lat-${i}`), timestamp: BigInt(BASE + i) })),
    );

    const sum = await runBackup(
      testBackupOptions(bootstrap, store, BACKUP, [topic, txTopic, latTopic], {
        compression: 'zstd',
        segmentMaxBytes: 3 * 1024 * 1024,
        fetchMaxBytes: 1024 * 1024,
      }),
    );
    assert.equal(sum.status, 'complete');
    source = [await consumeAll(bootstrap, topic, 0), await consumeAll(bootstrap, topic, 1)];
    assert.equal(source[0]!.length, BULK);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('jsonl: a whole partition record for record as the consumer read it (duplicate, null and empty headers, binary values, null vs empty)', () => {
    const r = cli(['--topic', topic, '--partition', '1', '--format', 'jsonl']);
    assert.equal(r.code, 0, r.stderr);
    const got = jsonl(r.stdout);
    assert.deepEqual(keysOf(got.map(fromJson)), keysOf(source[1]!));
    assert.ok(
      got.every((j) => j.topic === topic && j.partition === 1 && j.timestamp_type === 'CreateTime' && j.timestamp_iso === new Date(j.timestamp).toISOString()),
    );
    const h = got.find((j) => j.headers.length === 4 && j.headers[0]!.key?.data === 'dup')!;
    assert.deepEqual(
      h.headers.map((x) => [x.key?.data, x.value]),
      [
        ['dup', { encoding: 'utf8', data: 'a' }],
        ['dup', { encoding: 'utf8', data: 'b' }],
        ['nullv', null],
        ['empty', { encoding: 'utf8', data: '' }],
      ],
    );
    const bin = got.find((j) => j.headers[0]?.key?.data === 'bin')!;
    assert.deepEqual([bin.key?.encoding, bin.value?.encoding, bin.headers[0]!.value?.encoding], ['base64', 'base64', 'base64']);
    assert.ok(got.some((j) => j.key === null && j.value === null) && got.some((j) => j.key?.data === '' && j.value?.data === ''), 'null and empty both kept');
  });

  test('text: one line per record, nothing a terminal would act on, null and empty told apart', () => {
    const r = cli(['--topic', topic, '--partition', '1']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, source[1]!.length);
    assert.deepEqual(controlsIn(r.stdout), [], 'no control character reaches stdout');
    assert.ok(
      lines.some((l) =>
        l.includes('key="order-42"  headers=["dup"="a", "dup"="b", "nullv"=null, "empty"=""]  value="\\x1b[2J\\x1b]0;owned\\x07 clear screen"'),
      ),
    );
    assert.ok(lines.some((l) => l.includes('key=null  headers=[]  value=null')) && lines.some((l) => l.includes('key=""  headers=[]  value=""')));
    assert.match(lines[0]!, new RegExp(`^${topic}/1@0  \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(CreateTime\\)  key=`));
    assert.match(r.stderr, /records .*from \d+ of \d+ segments/);
  });

  test('an offset range, a time window and a key filter give exactly the matching records', () => {
    const range = cli(['--topic', topic, '-P', '0', '--offset', '2500..2600', '--format', 'json']);
    assert.equal(range.code, 0, range.stderr);
    const doc = JSON.parse(range.stdout) as {
      backup_id: string;
      topic: string;
      partitions: number[];
      format: string;
      records: JsonRecord[];
      stats: { records: number; segments_read: number; segments_total: number };
      warnings: string[];
    };
    assert.deepEqual([doc.backup_id, doc.topic, doc.partitions, doc.format], [BACKUP, topic, [0], 'kafka-backup']);
    assert.deepEqual(keysOf(doc.records.map(fromJson)), keysOf(source[0]!.filter((x) => x.offset >= 2500n && x.offset <= 2600n)));
    assert.equal(doc.stats.records, 101);
    assert.ok(doc.stats.segments_read < doc.stats.segments_total, JSON.stringify(doc.stats));

    const from = BASE + 4000 * 1000;
    const to = BASE + 4321 * 1000;
    const win = cli(['--topic', topic, '--from', new Date(from).toISOString(), '--to', String(to), '--format', 'jsonl']);
    assert.equal(win.code, 0, win.stderr);
    const inWindow = (x: KafkaRecord): boolean => x.timestamp >= BigInt(from) && x.timestamp <= BigInt(to);
    const got = jsonl(win.stdout);
    assert.deepEqual(keysOf(got.filter((j) => j.partition === 0).map(fromJson)), keysOf(source[0]!.filter(inWindow)));
    assert.deepEqual(keysOf(got.filter((j) => j.partition === 1).map(fromJson)), keysOf(source[1]!.filter(inWindow)));
    assert.equal(got.filter((j) => j.partition === 0).length, 322);

    const byKey = cli(['--topic', topic, '--key', 'order-42', '--format', 'jsonl']);
    assert.equal(byKey.code, 0, byKey.stderr);
    const keyed = jsonl(byKey.stdout);
    const isKey = (x: KafkaRecord): boolean => x.key?.toString() === 'order-42';
    assert.deepEqual(keysOf(keyed.map(fromJson)), keysOf([...source[0]!.filter(isKey), ...source[1]!.filter(isKey)]));
    assert.equal(keyed.length, BULK / 400 + 1);

    // A key that is not text, by its bytes.
    const binKey = Buffer.from([0xff, 0xfe, 0x00]);
    const byBytes = jsonl(cli(['--topic', topic, '--key-base64', binKey.toString('base64'), '--format', 'jsonl']).stdout);
    assert.deepEqual(keysOf(byBytes.map(fromJson)), keysOf(source[1]!.filter((x) => x.key?.equals(binKey) === true)));
    assert.equal(byBytes.length, 1);

    const limited = cli(['--topic', topic, '-P', '0', '--key', 'order-7', '--limit', '3', '--format', 'jsonl']);
    assert.deepEqual(
      jsonl(limited.stdout).map((j) => j.offset),
      [7, 407, 807],
    );
  });

  /** The blocks of partition 0 that hold a record the range may want, by the footers (what the reader is allowed to read). */
  async function overlappingBlocks(
    meets: (b: { firstOffset: bigint; lastOffset: bigint; minTimestamp: bigint; maxTimestamp: bigint }) => boolean,
  ): Promise<{ key: string; start: number; end: number }[]> {
    const idx = (await readPartitionIndex(store, BACKUP, topic, 0))!;
    assert.ok(idx.segments.length >= 3, `several segments: ${idx.segments.length}`);
    const out: { key: string; start: number; end: number }[] = [];
    let multiBlock = 0;
    for (const s of idx.segments) {
      const { footer } = await readFooter(store, s);
      if (footer.blocks.length > 1) multiBlock++;
      for (const b of footer.blocks) if (meets(b)) out.push({ key: s.key, start: b.storedOffset, end: b.storedOffset + b.storedLength });
    }
    assert.ok(multiBlock >= 2, 'segments of several blocks');
    return out;
  }

  async function readsFor(
    o: Omit<CatOptions, 'store' | 'backupId' | 'topic'>,
  ): Promise<{ reads: RecordingStore['reads']; records: number; blocksRead: number }> {
    const rec = new RecordingStore(store);
    const run = await catBackup({ store: rec, backupId: BACKUP, topic, partitions: [0], ...o });
    let records = 0;
    for await (const _ of run.records) records++;
    return { reads: rec.reads.filter((r) => r.key.endsWith('.kbseg')), records, blocksRead: run.stats.blocksRead };
  }

  /**
   * Each read is a segment's tail (the footer; from a start to the end) or one wanted block's exact
   * range; every wanted block not inside its segment's tail read is fetched exactly once.
   */
  function assertOnly(reads: RecordingStore['reads'], wanted: { key: string; start: number; end: number }[]): void {
    const tails = reads.filter((r) => r.op === 'get' && r.range !== undefined && r.range.end === undefined);
    const blocks = reads.filter((r) => r.range?.end !== undefined).map((r) => ({ key: r.key, start: r.range!.start, end: r.range!.end! }));
    assert.equal(tails.length + blocks.length, reads.length, `only tail and block reads: ${JSON.stringify(reads)}`);
    for (const b of blocks)
      assert.ok(
        wanted.some((w) => w.key === b.key && w.start === b.start && w.end === b.end),
        `${b.key} [${b.start}, ${b.end}) is not a wanted block`,
      );
    const inTail = (w: { key: string; start: number }): boolean => tails.some((t) => t.key === w.key && t.range!.start <= w.start);
    assert.deepEqual(
      blocks,
      wanted.filter((w) => !inTail(w)),
      'each wanted block outside the tail read once, in order',
    );
  }

  test('only the footers and the blocks that overlap the range are read (a store wrapper records every read)', async () => {
    const idx = (await readPartitionIndex(store, BACKUP, topic, 0))!;
    const mid = idx.segments[1]!;
    const a = mid.first_offset + Math.floor((mid.last_offset - mid.first_offset) / 2);
    const wanted = await overlappingBlocks((b) => b.lastOffset >= BigInt(a) && b.firstOffset <= BigInt(a + 10));
    assert.equal(wanted.length, 1, 'a range of 11 records in the middle of a segment lies in one block');
    const byOffset = await readsFor({ fromOffset: a, toOffset: a + 10 });
    assert.equal(byOffset.records, 11);
    assert.equal(byOffset.blocksRead, 1);
    assert.ok(
      byOffset.reads.every((r) => r.op === 'get' && r.key === mid.key),
      `only ranged reads of ${mid.key}: ${JSON.stringify(byOffset.reads)}`,
    );
    assertOnly(byOffset.reads, wanted);
    const fetched = byOffset.reads.reduce((n, r) => n + ((r.range?.end ?? mid.stored_bytes) - (r.range?.start ?? 0)), 0);
    assert.ok(fetched < mid.stored_bytes, `read ${fetched} of the segment's ${mid.stored_bytes} bytes`);

    // A time window across a segment boundary: the blocks on both sides, nothing else.
    const s2 = idx.segments[2]!;
    const [from, to] = [s2.min_timestamp! - 5000, s2.min_timestamp! + 5000];
    const across = await overlappingBlocks((b) => b.maxTimestamp >= BigInt(from) && b.minTimestamp <= BigInt(to));
    assert.equal(across.length, 2);
    const byTime = await readsFor({ windowStart: from, windowEnd: to });
    assert.equal(byTime.records, 11);
    assert.equal(byTime.blocksRead, 2);
    assertOnly(byTime.reads, across);
    assert.ok(byTime.reads.every((r) => r.op === 'get' && (r.key === idx.segments[1]!.key || r.key === s2.key)));

    // A range that covers whole segments streams them (SHA-256 checked), and only them.
    const whole = await readsFor({ fromOffset: idx.segments[0]!.first_offset, toOffset: idx.segments[0]!.last_offset });
    assert.deepEqual(
      whole.reads.filter((r) => r.op === 'getStream').map((r) => r.key),
      [idx.segments[0]!.key],
    );
  });

  test('aborted transactions stay hidden and LogAppendTime records carry the append time, as consumers saw them', async () => {
    const tx = cli(['--topic', txTopic, '--format', 'json']);
    assert.equal(tx.code, 0, tx.stderr);
    const doc = JSON.parse(tx.stdout) as { records: JsonRecord[]; stats: Record<string, number> };
    // The helper returns the log up to the last stable offset, aborted batches included: drop them by their values.
    const committed = (await consumeAll(bootstrap, txTopic, 0, true)).filter((r) => !r.value?.toString().startsWith('ab-'));
    assert.deepEqual(keysOf(doc.records.map(fromJson)), keysOf(committed));
    assert.deepEqual(
      doc.records.map((j) => j.value?.data),
      ['c1-0', 'c1-1', 'c1-2', 'c1-3', 'c1-4', 'c2-0', 'c2-1', 'c2-2', 'c2-3', 'c2-4'],
    );
    assert.equal(doc.stats.aborted_records_skipped, 5);

    const lat = jsonl(cli(['--topic', latTopic, '--format', 'jsonl']).stdout);
    const seen = await consumeAll(bootstrap, latTopic, 0);
    assert.deepEqual(keysOf(lat.map(fromJson)), keysOf(seen));
    assert.ok(
      lat.every((j) => j.timestamp_type === 'LogAppendTime' && j.timestamp > BASE + 10_000_000),
      'the broker append time, not the producer time',
    );
  });

  test('an encrypted backup reads with --encryption-key-file; without the key it is a one-line error', async () => {
    const keyHex = randomBytes(32).toString('hex');
    const keyFile = join(dir, 'cat.key');
    await writeFile(keyFile, keyHex + '\n', { mode: 0o600 });
    const encRoot = join(dir, 'encrypted');
    const enc = new EncryptedStore(new FsStore(encRoot), Buffer.from(keyHex, 'hex'), { keyId: 'cat-key' });
    await runBackup(
      testBackupOptions(bootstrap, enc, 'cat-enc', [topic], { compression: 'lz4', segmentMaxBytes: 3 * 1024 * 1024, fetchMaxBytes: 1024 * 1024 }),
    );
    const args = ['cat', '--path', encRoot, '--backup-id', 'cat-enc', '--topic', topic, '--offset', '3990..4010', '--format', 'jsonl'];
    const r = runCli(['--encryption-key-file', keyFile, ...args]);
    assert.equal(r.code, 0, r.stderr);
    const got = jsonl(r.stdout);
    const inRange = (x: KafkaRecord): boolean => x.offset >= 3990n && x.offset <= 4010n;
    assert.deepEqual(keysOf(got.map(fromJson)), keysOf([...source[0]!.filter(inRange), ...source[1]!.filter(inRange)]));
    const nokey = runCli(args);
    assert.equal(nokey.code, 1);
    assert.match(nokey.stderr, /^error: .*encrypted with key id "cat-key"/);
    assert.equal(nokey.stderr.trim().split('\n').length, 1, nokey.stderr);
  });

  test('a topic or partition not in the backup, or a malformed flag, is a one-line error and prints no record', () => {
    for (const [args, msg] of [
      [['--topic', 'nope'], /error: --topic: "nope" is not in backup cat-1 \(it holds: /],
      [['--topic', topic, '--partition', '9'], /error: --partition: .* has no partition 9 .*\(it has 0, 1\)/],
      [['--topic', topic, '--offset', '5-9'], /error: --offset: "5-9" is not A\.\.B/],
      [['--topic', topic, '--from', '1731249060'], /error: --from: .*looks like seconds/],
      [['--topic', topic, '--format', 'xml'], /error: --format: "xml" is not one of text, json, jsonl/],
    ] as const) {
      const r = cli([...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    }
  });
});
