import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fingerprintDifferences, protocolName } from '../../src/backup/workers/group.js';
import { mergeTopics } from '../../src/backup/workers/shared-manifest.js';
import { workerStatusKey } from '../../src/backup/workers/status.js';
import { checkSegmentKey, keys } from '../../src/format/layout.js';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import { backupOptions } from '../../src/cli/config-mapping.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { ConfigError } from '../../src/util/errors.js';

describe('distributed backup: pure parts', () => {
  it('the group protocol name is a fingerprint of the shared settings: equal settings, equal name; any difference, another name', () => {
    const a = { backup_id: 'b', storage: 's3://x', compression: 'zstd', mode: 'continuous' };
    assert.equal(protocolName(a), protocolName({ mode: 'continuous', compression: 'zstd', storage: 's3://x', backup_id: 'b' }));
    assert.notEqual(protocolName(a), protocolName({ ...a, compression: 'lz4' }));
    assert.match(protocolName(a), /^kafka-backup-[0-9a-f]{16}$/);
  });

  it('config drift names each differing key with both values', () => {
    const d = fingerprintDifferences(
      { storage: 's3://a', compression: 'zstd', topics_include: 'orders' },
      { storage: 's3://b', compression: 'zstd', topics_include: 'orders,payments' },
    );
    assert.deepEqual(d, ['storage: "s3://a" here, "s3://b" in the group', 'topics_include: "orders" here, "orders,payments" in the group']);
  });

  it('manifest merge: union of topics and partitions, stored offsets kept, the larger index pin wins', () => {
    const stored = [{ name: 'a', partition_count: 2, configs: {}, partitions: [{ partition: 0, log_start_offset: 0, end_offset: 5, index_generation: 9 }] }];
    const mine = [
      {
        name: 'a',
        partition_count: 2,
        configs: {},
        partitions: [
          { partition: 0, log_start_offset: 3, end_offset: 50 },
          { partition: 1, log_start_offset: 0, end_offset: 7 },
        ],
      },
      { name: 'b', partition_count: 1, configs: {}, partitions: [{ partition: 0, log_start_offset: 0, end_offset: 1 }] },
    ];
    const out = mergeTopics(stored, mine, (t, p) => (t === 'a' && p === 0 ? 4 : t === 'a' && p === 1 ? 2 : 0));
    assert.deepEqual(
      out.map((t) => t.name),
      ['a', 'b'],
    );
    assert.deepEqual(out[0]!.partitions, [
      { partition: 0, log_start_offset: 0, end_offset: 5, index_generation: 9 },
      { partition: 1, log_start_offset: 0, end_offset: 7, index_generation: 2 },
    ]);
    assert.equal(stored[0]!.partitions.length, 1, 'the input is not modified');
  });

  it('segment keys of an ownership epoch are accepted by readers; anything else still refused', () => {
    const k = keys.streamedSegment('b', 't', 3, 42, 7);
    assert.equal(k, 'b/topics/t/3/00000000000000000042.e7.kbseg');
    assert.equal(checkSegmentKey('b', 't', 3, k, 42, 50), k);
    assert.throws(() => checkSegmentKey('b', 't', 3, 'b/topics/t/3/00000000000000000042.ex.kbseg', 42, 50));
    assert.throws(() => checkSegmentKey('b', 't', 3, 'b/topics/t/3/00000000000000000041.e7.kbseg', 42, 50));
  });

  it('a worker status key is a safe object key whatever the member id', () => {
    assert.equal(workerStatusKey('b', 'kafka-backup-worker-1a2b/..'), 'b/workers/kafka-backup-worker-1a2b_...json');
  });

  it('the shipped Kubernetes manifest: its config is valid and enables workers; its probes use the metrics server routes', () => {
    const docs = parseAllDocuments(readFileSync(new URL('../../deploy/kubernetes/backup-workers.yaml', import.meta.url), 'utf8')).map(
      (d) => d.toJS() as Record<string, unknown>,
    );
    const cm = docs.find((d) => d['kind'] === 'ConfigMap') as { data: Record<string, string> };
    const cfg = parseConfigText(cm.data['backup.yaml']!, 'backup.yaml');
    const o = backupOptions(cfg, new MemoryStore());
    assert.equal(o.workers?.groupId, 'kafka-backup-orders');
    assert.equal(o.workers?.sessionTimeoutMs, 30_000);
    assert.equal(o.continuous, true);
    const dep = JSON.stringify(docs.find((d) => d['kind'] === 'Deployment'));
    assert.match(dep, /"path":"\/health"/);
    assert.match(dep, /"path":"\/ready"/);
  });

  it('backup.workers: defaults from the session timeout; timeouts without group_id are refused, naming the key', () => {
    const base = 'mode: backup\nbackup_id: b\nsource: { bootstrap_servers: ["k:9092"], topics: { include: [t] } }\nstorage: { backend: memory }\n';
    const o = backupOptions(parseConfigText(base + 'backup: { workers: { group_id: g, session_timeout_ms: 20000 } }\n', 'f.yaml'), new MemoryStore());
    assert.deepEqual(o.workers, { groupId: 'g', sessionTimeoutMs: 20_000, heartbeatIntervalMs: 2_000, rebalanceTimeoutMs: 60_000 });
    assert.equal(backupOptions(parseConfigText(base, 'f.yaml'), new MemoryStore()).workers, undefined);
    assert.throws(
      () => backupOptions(parseConfigText(base + 'backup: { workers: { session_timeout_ms: 20000 } }\n', 'f.yaml'), new MemoryStore()),
      (e: unknown) => e instanceof ConfigError && /backup\.workers\.session_timeout_ms is set but backup\.workers\.group_id is not/.test(e.message),
    );
    assert.throws(() => parseConfigText(base + 'backup: { workers: { group_id: g, session_timeout_ms: 100 } }\n', 'f.yaml'), /session_timeout_ms/);
    assert.throws(
      () =>
        backupOptions(
          parseConfigText(base + 'backup: { continuous: true, retention: { max_age: 30d }, workers: { group_id: g } }\n', 'f.yaml'),
          new MemoryStore(),
        ),
      (e: unknown) => e instanceof ConfigError && /backup\.retention cannot be combined with backup\.workers\.group_id/.test(e.message),
    );
  });
});
