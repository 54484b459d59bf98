/** Keys from the seed tool's later releases (issue 19 items 1, 3, 4, 5, 7): parsing, mapping, and the pure logic behind them. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AbortedBatchFilter } from '../../src/backup/isolation.js';
import { backupOptions, restoreOptions } from '../../src/cli/config-mapping.js';
import { ConfigFileError, parseConfigText } from '../../src/config/index.js';
import { decodeBatch, encodeBatch } from '../../src/kafka/protocol/record-batch.js';
import { SchemaIdRewriter } from '../../src/restore/schema-ids.js';
import { registryMapping } from '../../src/restore/schema-registry.js';
import type { ObjectStore } from '../../src/storage/store.js';

const BACKUP = 'mode: backup\nbackup_id: b1\nsource:\n  bootstrap_servers: [localhost:9092]\nstorage:\n  backend: memory\n';
const RESTORE = 'mode: restore\nbackup_id: b1\ntarget:\n  bootstrap_servers: [localhost:9092]\nstorage:\n  backend: memory\n';
const store = {} as ObjectStore;

function parse(text: string) {
  return parseConfigText(text, 'test.yaml', { env: {}, onWarning: () => {} });
}

function problems(text: string): string[] {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigFileError, String(err));
    return err.problems.map((p) => p.message);
  }
  return assert.fail('expected the file to be refused');
}

describe('backup keys', () => {
  test('defaults: read_uncommitted, no rate limits, on_missing_topic fail', () => {
    const o = backupOptions(parse(BACKUP), store);
    assert.deepEqual(
      [o.isolationLevel, o.rateLimitRecordsPerSec, o.rateLimitBytesPerSec, o.onMissingTopic],
      ['read_uncommitted', undefined, undefined, 'fail'],
    );
  });

  test('set: isolation_level (any case), rate limits, on_missing_topic', () => {
    const o = backupOptions(
      parse(
        `${BACKUP}backup:\n  isolation_level: READ_COMMITTED\n  rate_limit_records_per_sec: 5000\n  rate_limit_bytes_per_sec: 1048576\n  on_missing_topic: warn\n`,
      ),
      store,
    );
    assert.deepEqual([o.isolationLevel, o.rateLimitRecordsPerSec, o.rateLimitBytesPerSec, o.onMissingTopic], ['read_committed', 5000, 1048576, 'warn']);
  });

  test('bad values are refused naming the key and what is accepted', () => {
    const p = problems(`${BACKUP}backup:\n  isolation_level: committed\n  rate_limit_records_per_sec: 0\n  on_missing_topic: ignore\n`);
    assert.equal(p.length, 3, p.join('\n'));
    assert.match(p[0]!, /backup\.isolation_level: expected one of read_uncommitted, read_committed, got "committed"/);
    assert.match(p[1]!, /backup\.rate_limit_records_per_sec: /);
    assert.match(p[2]!, /backup\.on_missing_topic: expected one of fail, warn, got "ignore"/);
  });
});

describe('restore keys', () => {
  test('rewrite_schema_ids with a mapping (quoted or unquoted ids) and registry URLs', () => {
    const o = restoreOptions(
      parse(
        `${RESTORE}restore:\n  rewrite_schema_ids: true\n  schema_id_mapping:\n    1: 101\n    "2": 102\n  source_schema_registry_url: http://src:8081\n  target_schema_registry_url: https://dst:8081/api\n`,
      ),
      store,
    );
    assert.deepEqual(
      [o.rewriteSchemaIds, o.schemaIdMapping, o.sourceSchemaRegistryUrl, o.targetSchemaRegistryUrl],
      [true, { 1: 101, 2: 102 }, 'http://src:8081', 'https://dst:8081/api'],
    );
  });

  test('strip_offset_headers keeps its name', () => {
    assert.equal(restoreOptions(parse(`${RESTORE}restore:\n  strip_offset_headers: true\n`), store).stripOffsetHeaders, true);
  });

  test('rewrite_schema_ids without ids, ids without rewrite_schema_ids, one registry alone, bad ids and URLs are refused', () => {
    assert.match(
      problems(`${RESTORE}restore:\n  rewrite_schema_ids: true\n`).join('\n'),
      /restore\.rewrite_schema_ids: needs restore\.schema_id_mapping .* or both restore\.source_schema_registry_url and restore\.target_schema_registry_url/,
    );
    assert.match(
      problems(`${RESTORE}restore:\n  schema_id_mapping: {1: 2}\n`).join('\n'),
      /restore\.schema_id_mapping: has no effect without restore\.rewrite_schema_ids: true/,
    );
    assert.match(
      problems(`${RESTORE}restore:\n  rewrite_schema_ids: true\n  source_schema_registry_url: http://a:1\n`).join('\n'),
      /restore\.target_schema_registry_url: required together with the other registry URL/,
    );
    const p = problems(
      `${RESTORE}restore:\n  rewrite_schema_ids: true\n  schema_id_mapping:\n    abc: 1\n    5: -1\n  target_schema_registry_url: ftp://x\n  source_schema_registry_url: http://a:1\n`,
    ).join('\n');
    assert.match(p, /restore\.schema_id_mapping\.abc: schema id "abc" is not an integer/);
    assert.match(p, /restore\.schema_id_mapping\.5: must be at least 0, got -1/);
    assert.match(p, /restore\.target_schema_registry_url: expected an http\(s\) URL of a Schema Registry/);
  });
});

describe('AbortedBatchFilter (read_committed at backup time)', () => {
  const batch = (base: number, last: number, producerId: number, flags: { txn?: boolean; control?: boolean } = {}) => ({
    baseOffset: BigInt(base),
    lastOffsetDelta: last - base,
    producerId: BigInt(producerId),
    isTransactional: flags.txn ?? true,
    isControl: flags.control ?? false,
  });

  test('drops the data of an aborted transaction until its marker, as a read_committed consumer does', () => {
    const f = new AbortedBatchFilter([{ producerId: 7n, firstOffset: 10n }]);
    assert.equal(f.isAborted(batch(0, 4, 7)), false, 'an earlier (committed) transaction of the same producer');
    assert.equal(f.isAborted(batch(5, 5, 7, { control: true })), false, 'its commit marker');
    assert.equal(f.isAborted(batch(10, 14, 7)), true, 'the aborted transaction');
    assert.equal(f.isAborted(batch(15, 19, 8)), false, 'another producer meanwhile');
    assert.equal(f.isAborted(batch(20, 24, 9, { txn: false })), false, 'a non-transactional batch');
    assert.equal(f.isAborted(batch(25, 25, 7, { control: true })), false, 'the abort marker is kept (it holds no record)');
    assert.equal(f.isAborted(batch(26, 30, 7)), false, 'the next transaction of the producer');
  });

  test('a transaction that began before the fetched range is aborted from the first batch on', () => {
    const f = new AbortedBatchFilter([
      { producerId: 3n, firstOffset: 2n },
      { producerId: 4n, firstOffset: 50n },
    ]);
    assert.equal(f.isAborted(batch(40, 44, 3)), true);
    assert.equal(f.isAborted(batch(45, 49, 4)), false, 'producer 4 aborts only from offset 50');
    assert.equal(f.isAborted(batch(50, 51, 4)), true);
  });
});

describe('SchemaIdRewriter', () => {
  const wire = (id: number, payload = 'x') =>
    Buffer.concat([Buffer.from([0]), Buffer.from([id >>> 24, (id >>> 16) & 255, (id >>> 8) & 255, id & 255]), Buffer.from(payload)]);
  const r = new SchemaIdRewriter(
    new Map([
      [1, 70000],
      [2, 2],
    ]),
  );
  const at = () => 'value of t/0 offset 5';

  test('rewrites the id of the wire format and nothing else', () => {
    const out = r.rewrite(wire(1, 'payload'), at)!;
    assert.deepEqual(out, wire(70000, 'payload'));
    for (const same of [null, Buffer.alloc(0), Buffer.from([0, 0, 0, 1]), Buffer.from('{"json":1}'), Buffer.from([1, 0, 0, 0, 9, 9])])
      assert.equal(r.rewrite(same, at), same);
    const kept = wire(2);
    assert.equal(r.rewrite(kept, at), kept, 'an id mapped to itself is left as is');
  });

  test('an id without a target id is an error naming it and the record', () => {
    assert.throws(() => r.rewrite(wire(9), at), /restore\.rewrite_schema_ids: schema id 9 \(value of t\/0 offset 5\) has no target id/);
  });

  test('affects(): only batches with an id to change are rebuilt', () => {
    const b = (values: Buffer[]) =>
      encodeBatch(
        values.map((v, i) => ({ key: null, value: v, headers: [], timestamp: 1n, offsetDelta: i })),
        { compression: 'none' },
      );
    assert.equal(r.affects(b([Buffer.from('a'), wire(2)]), 't', 0), false);
    assert.equal(r.affects(b([Buffer.from('a'), wire(1)]), 't', 0), true);
    assert.throws(() => r.affects(b([wire(3)]), 't', 0), /schema id 3 \(value of t\/0 offset 0\)/);
    assert.equal(decodeBatch(b([wire(1)])).records.length, 1);
  });
});

describe('registryMapping', () => {
  const standIn = (sides: Record<string, { subject: string; version: number; id: number; schema: string; schemaType?: string }[]>): typeof fetch =>
    (async (input: string | URL | Request) => {
      const u = new URL(String(input));
      const [, side, , subject, , version] = u.pathname.split('/').map(decodeURIComponent);
      const all = sides[side!]!;
      const body =
        subject === undefined
          ? [...new Set(all.map((s) => s.subject))]
          : version === undefined
            ? all.filter((s) => s.subject === subject).map((s) => s.version)
            : all.find((s) => s.subject === subject && String(s.version) === version);
      return new Response(JSON.stringify(body), { status: 200 });
    }) as typeof fetch;

  test('same subject and schema (JSON formatting aside) maps; a schema the target lacks stays unmapped; ids set by hand are left alone', async () => {
    const f = standIn({
      src: [
        { subject: 's', version: 1, id: 1, schema: '{"type":"string"}' },
        { subject: 's', version: 2, id: 2, schema: '{"type":"int"}' },
        { subject: 'p', version: 1, id: 3, schema: 'syntax = "proto3";', schemaType: 'PROTOBUF' },
        { subject: 'q', version: 1, id: 4, schema: '{"type":"long"}' },
      ],
      dst: [
        { subject: 's', version: 1, id: 11, schema: '{ "type": "string" }' },
        { subject: 'p', version: 3, id: 13, schema: 'syntax = "proto3";', schemaType: 'PROTOBUF' },
        { subject: 'q', version: 1, id: 14, schema: '{"type":"long"}' },
      ],
    });
    const m = await registryMapping('http://reg/src', 'http://reg/dst', new Set([4]), f);
    assert.deepEqual([...m].sort(), [
      [1, 11],
      [3, 13],
    ]);
  });

  test('an HTTP error names the key, the request and the status', async () => {
    const f = (async () => new Response('nope', { status: 503 })) as typeof fetch;
    await assert.rejects(
      registryMapping('http://reg/src', 'http://reg/dst', new Set(), f),
      /restore\.(source|target)_schema_registry_url: GET http:\/\/reg\/(src|dst)\/subjects: HTTP 503 nope/,
    );
  });
});
