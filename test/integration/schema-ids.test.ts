/**
 * restore.rewrite_schema_ids (issue 19 item 1): Confluent wire-format schema ids in keys and values
 * rewritten on restore, against the real broker; the registry-to-registry mapping against a small
 * Schema Registry stand-in (node:http), since no real registry is available here.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import type { KafkaRecord, RecordInput } from '../../src/kafka/protocol/record-batch.js';
import { runRestore } from '../../src/restore/engine.js';
import { FsStore } from '../../src/storage/fs.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { consumeAll, produce, recordKey } from '../helpers/records.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { runCliAsync } from '../helpers/cli.js';

let bootstrap: string;
let dir: string;
let store: FsStore;
let registry: Server;
let registryUrl: string;
const topic = uniqueTopic('sid');
const BASE_TS = Date.UTC(2025, 5, 1);
const MAPPING = { 1: 101, 2: 102, 3: 103 } as const;

function wire(id: number, payload: string): Buffer {
  const b = Buffer.alloc(5 + Buffer.byteLength(payload));
  b.writeUInt32BE(id, 1);
  b.write(payload, 5);
  return b;
}

/** Per partition: a batch of plain records only (sent as stored), then records in the wire format mixed with others. */
function records(p: number): { plain: RecordInput[]; mixed: RecordInput[] } {
  const ts = (i: number) => BigInt(BASE_TS + p * 1000 + i);
  const plain = Array.from({ length: 20 }, (_, i) => ({
    key: Buffer.from(`plain-${i}`),
    value: Buffer.from(JSON.stringify({ i })),
    headers: [{ key: 'h', value: Buffer.from(String(i)) }],
    timestamp: ts(i),
  }));
  const mixed: RecordInput[] = Array.from({ length: 60 }, (_, j) => {
    const i = 20 + j;
    const kind = j % 6;
    return {
      key: kind === 0 ? wire(3, `key-${i}`) : kind === 1 ? null : Buffer.from(`k-${i}`),
      value: kind === 2 ? null : kind === 3 ? Buffer.from([0, 1, 2]) : kind === 4 ? Buffer.from(`text-${i}`) : wire(j % 2 === 0 ? 1 : 2, `payload-${i}`),
      headers: [
        { key: 'dup', value: Buffer.from('a') },
        { key: 'dup', value: null },
        { key: 'schema', value: wire(1, 'header values are never touched') },
      ],
      timestamp: ts(i),
    };
  });
  return { plain, mixed };
}

/** What the restore must produce from a source record: ids replaced in wire-format keys and values only. */
function expected(r: KafkaRecord): KafkaRecord {
  const map = (b: Buffer | null): Buffer | null => {
    if (b === null || b.length < 5 || b[0] !== 0) return b;
    const out = Buffer.from(b);
    out.writeUInt32BE(MAPPING[b.readUInt32BE(1) as keyof typeof MAPPING], 1);
    return out;
  };
  return { ...r, key: map(r.key), value: map(r.value) };
}

/** The CLI as a child process, awaited without blocking this process (which serves the registry stand-in). */
const cli = (args: string[], env: NodeJS.ProcessEnv) => runCliAsync(args, { env });

/** A Schema Registry stand-in: the source numbers the schemas 1, 2, 3; the target 101, 102, 103 (and has one more). */
function registryStandIn(): Server {
  const avro = (name: string, fields: string[]) => ({ type: 'record', name, fields: fields.map((f) => ({ name: f, type: 'string' })) });
  const v1 = avro('Order', ['id']);
  const v2 = avro('Order', ['id', 'note']);
  const k = avro('OrderKey', ['id']);
  type Sv = { subject: string; version: number; id: number; schema: string };
  const sides: Record<string, Sv[]> = {
    source: [
      { subject: `${topic}-value`, version: 1, id: 1, schema: JSON.stringify(v1) },
      { subject: `${topic}-value`, version: 2, id: 2, schema: JSON.stringify(v2) },
      { subject: `${topic}-key`, version: 1, id: 3, schema: JSON.stringify(k) },
    ],
    // Same schemas, formatted differently, other ids and versions, plus a schema the source does not have.
    target: [
      { subject: `${topic}-value`, version: 4, id: 77, schema: JSON.stringify(avro('Other', ['x'])) },
      { subject: `${topic}-value`, version: 5, id: 101, schema: JSON.stringify(v1, null, 2) },
      { subject: `${topic}-value`, version: 6, id: 102, schema: JSON.stringify(v2, null, 1) },
      { subject: `${topic}-key`, version: 1, id: 103, schema: JSON.stringify(k) },
    ],
  };
  return createServer((req, res) => {
    const [, side, ...rest] = (req.url ?? '').split('/');
    const all = sides[side ?? ''];
    // The target registry wants Basic authentication (taken from the URL's user:password).
    if (side === 'target' && req.headers.authorization !== `Basic ${Buffer.from('reg-user:s3cret').toString('base64')}`) {
      res.writeHead(401).end('{"error_code":401}');
      return;
    }
    const send = (body: unknown) => res.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' }).end(JSON.stringify(body));
    const path = rest.map((s) => decodeURIComponent(s));
    if (!all) res.writeHead(404).end();
    else if (path.length === 1 && path[0] === 'subjects') send([...new Set(all.map((s) => s.subject))]);
    else if (path.length === 3 && path[2] === 'versions') send(all.filter((s) => s.subject === path[1]).map((s) => s.version));
    else if (path.length === 4 && path[2] === 'versions') {
      const sv = all.find((s) => s.subject === path[1] && String(s.version) === path[3]);
      if (sv) send(sv);
      else res.writeHead(404).end('{"error_code":40402}');
    } else res.writeHead(404).end();
  });
}

before(async () => {
  bootstrap = (await getTestKafka()).bootstrap;
  dir = await mkdtemp(join(tmpdir(), 'kb-sid-'));
  store = new FsStore(join(dir, 'backups'));
  await createTopic(bootstrap, topic, 2);
  for (const p of [0, 1]) {
    const r = records(p);
    await produce(bootstrap, topic, p, r.plain, 'lz4', 20);
    await produce(bootstrap, topic, p, r.mixed, p === 0 ? 'gzip' : 'none', 15);
  }
  await runBackup(testBackupOptions(bootstrap, store, 'sid', [topic]));
  registry = registryStandIn();
  await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
  registryUrl = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
});

after(async () => {
  registry?.close();
  await rm(dir, { recursive: true, force: true });
  await stopTestKafka();
});

/** Every target record is the expected rewrite of the source record the offset map names, in order, each once. */
async function checkRestored(target: string, offsetMap: { source_partition: number; source: number; target: number; count: number }[]): Promise<void> {
  for (const p of [0, 1]) {
    const src = await consumeAll(bootstrap, topic, p);
    const dst = await consumeAll(bootstrap, target, p);
    assert.equal(dst.length, src.length, `partition ${p}: record count`);
    assert.deepEqual(
      dst.map((r) => recordKey(r)),
      src.map((r) => recordKey(expected(r))),
      `partition ${p}: ids rewritten, everything else (timestamps, headers, order) kept`,
    );
    const bySource = new Map(src.map((r) => [Number(r.offset), r]));
    const byTarget = new Map(dst.map((r) => [Number(r.offset), r]));
    let mapped = 0;
    for (const run of offsetMap.filter((m) => m.source_partition === p)) {
      for (let i = 0; i < run.count; i++, mapped++)
        assert.equal(
          recordKey(byTarget.get(run.target + i)!),
          recordKey(expected(bySource.get(run.source + i)!)),
          `partition ${p}: offset map ${run.source + i} -> ${run.target + i}`,
        );
    }
    assert.equal(mapped, src.length, `partition ${p}: every record in the offset map`);
  }
}

test('schema_id_mapping: wire-format ids in keys and values rewritten, other records and headers untouched, offsets mapped exactly; only affected batches rebuilt', async () => {
  const target = uniqueTopic('sid-map');
  const res = await runRestore(
    testRestoreOptions(bootstrap, store, 'sid', {
      topicMapping: { [topic]: target },
      rewriteSchemaIds: true,
      schemaIdMapping: { '1': 101, '2': 102, '3': 103 },
    }),
  );
  assert.equal(res.restored, 2 * 80);
  await checkRestored(target, res.offsetMap);
  assert.ok(res.reusedBatches >= 2, `the plain-only batches are sent as stored (${res.reusedBatches})`);
  assert.ok(res.rebuiltBatches >= 8, `the batches with ids are rebuilt (${res.rebuiltBatches})`);
});

test('an id missing from the mapping stops the restore with an error naming it; the same restore with the id added resumes and completes exactly', async () => {
  const target = uniqueTopic('sid-unmapped');
  await assert.rejects(
    runRestore(
      testRestoreOptions(bootstrap, store, 'sid', { topicMapping: { [topic]: target }, rewriteSchemaIds: true, schemaIdMapping: { '1': 101, '2': 102 } }),
    ),
    (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`^restore\\.rewrite_schema_ids: schema id 3 \\(key of ${topic}/[01] offset 20\\) has no target id; add it to restore\\.schema_id_mapping`),
      );
      return true;
    },
  );
  const res = await runRestore(
    testRestoreOptions(bootstrap, store, 'sid', {
      topicMapping: { [topic]: target },
      rewriteSchemaIds: true,
      schemaIdMapping: { '1': 101, '2': 102, '3': 103 },
    }),
  );
  assert.equal(res.resumed, true);
  await checkRestored(target, res.offsetMap);
});

test('source_schema_registry_url / target_schema_registry_url: the mapping comes from the two registries (restore --config)', async () => {
  const target = uniqueTopic('sid-reg');
  const cfg = join(dir, 'reg.yaml');
  await writeFile(
    cfg,
    `mode: restore\nbackup_id: sid\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${JSON.stringify(join(dir, 'backups'))}\nmetrics:\n  enabled: false\nrestore:\n  topic_mapping:\n    ${topic}: ${target}\n  rewrite_schema_ids: true\n  source_schema_registry_url: ${registryUrl}/source\n  target_schema_registry_url: "http://reg-user:\${REG_PASSWORD}@${registryUrl.slice('http://'.length)}/target"\n`,
  );
  const r = await cli(['restore', '--config', cfg, '--format', 'json'], { REG_PASSWORD: 's3cret' });
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { offset_map: { source_partition: number; source: number; target: number; count: number }[] };
  await checkRestored(target, res.offset_map);

  // A registry that refuses (wrong password) fails before anything is written, naming the key and the status.
  const bad = await cli(['restore', '--config', cfg], { REG_PASSWORD: 'wrong' });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error: restore\.target_schema_registry_url: GET http:\/\/127\.0\.0\.1:\d+\/target\/subjects: HTTP 401/m);
  assert.doesNotMatch(bad.stderr, /wrong|s3cret/, 'no password in the message');
});
