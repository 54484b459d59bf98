import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackup } from '../../src/backup/engine.js';
import type { MetricsConfig } from '../../src/config/types.js';
import { KafkaBackupMetrics, MetricsServer, PartitionLabels, withMetrics } from '../../src/metrics/index.js';
import { parsePromText, sumOf, type PromSample } from '../../src/metrics/prom-text.js';
import { FsStore } from '../../src/storage/fs.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { BrokerUnreachableError, KafkaError, StorageError } from '../../src/util/errors.js';
import { waitFor } from '../../scripts/proc.js';
import { childOptions } from '../helpers/backup-child.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { awkwardRecords, produce } from '../helpers/records.js';
import { runCli } from '../helpers/cli.js';

const cfg = (over: Partial<MetricsConfig> = {}): MetricsConfig => ({
  enabled: true,
  port: 0,
  bind_address: '127.0.0.1',
  path: '/prom',
  update_interval_ms: 500,
  keep_alive_seconds: 0,
  max_partition_labels: 100,
  ...over,
});

async function scrape(base: string, path = '/metrics'): Promise<PromSample[]> {
  const res = await fetch(base + path);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  return parsePromText(await res.text());
}

describe('metrics endpoint', () => {
  let bootstrap: string;
  let dir: string;

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-metrics-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('during a continuous backup: records grow, lag reaches 0, segments and storage bytes counted, /health 200', async () => {
    const topic = uniqueTopic('metrics');
    await createTopic(bootstrap, topic, 2);
    await produce(bootstrap, topic, 0, awkwardRecords(150, Date.UTC(2024, 10, 10), 1), 'lz4');
    await produce(bootstrap, topic, 1, awkwardRecords(50, Date.UTC(2024, 10, 10), 2));
    const ac = new AbortController();
    let base = '';
    const store = new FsStore(join(dir, 'continuous'));
    const opts = childOptions({ bootstrap, dir: join(dir, 'continuous'), backupId: 'metrics-run', topics: [topic] }, ac.signal);
    const running = withMetrics(cfg(), { mode: 'backup', backupId: 'metrics-run' }, store, ac.signal, (m) => {
      assert.ok(m.server && m.metrics);
      base = m.server.url;
      return runBackup({ ...opts, store: m.store, metrics: m.metrics });
    });
    try {
      await waitFor('server', async () => base !== '', { timeoutMs: 10_000, intervalMs: 20 });
      const records = async (): Promise<number> => sumOf(await scrape(base), 'kafka_backup_records_total', { topic });
      await waitFor('200 records backed up', async () => (await records()) === 200, { timeoutMs: 30_000, intervalMs: 100 });
      await waitFor(
        'lag 0',
        async () => {
          const s = await scrape(base);
          const lags = s.filter((x) => x.name === 'kafka_backup_lag_records' && x.labels.topic === topic);
          return lags.length === 2 && lags.every((x) => x.value === 0);
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );

      // More records: the counter grows while the backup keeps running.
      await produce(bootstrap, topic, 1, awkwardRecords(100, Date.UTC(2024, 10, 11), 3), 'zstd');
      await waitFor('300 records backed up', async () => (await records()) === 300, { timeoutMs: 30_000, intervalMs: 100 });
      await waitFor('segments written', async () => sumOf(await scrape(base), 'kafka_backup_segments_written_total', { topic }) > 0, {
        timeoutMs: 30_000,
        intervalMs: 100,
      });

      const s = await scrape(base, '/prom');
      const offsets = s
        .filter((x) => x.name === 'kafka_backup_partition_offset' && x.labels.topic === topic)
        .map((x) => [x.labels.partition, x.value])
        .sort();
      assert.deepEqual(offsets, [
        ['0', 150],
        ['1', 150],
      ]);
      assert.ok(sumOf(s, 'kafka_backup_kafka_bytes_total', { topic }) > 0);
      assert.ok(sumOf(s, 'kafka_backup_stored_bytes_total', { topic }) > 0);
      assert.ok(sumOf(s, 'kafka_backup_storage_bytes_total', { direction: 'write' }) >= sumOf(s, 'kafka_backup_stored_bytes_total'));
      assert.ok(sumOf(s, 'kafka_backup_storage_operation_duration_seconds_count', { operation: 'put' }) > 0, 'index and manifest puts are timed');
      assert.equal(sumOf(s, 'kafka_backup_info', { mode: 'backup', backup_id: 'metrics-run' }), 1);
      assert.equal(sumOf(s, 'kafka_backup_up'), 1);
      assert.ok(s.some((x) => x.name === 'kafka_backup_throughput_records_per_second'));
      assert.ok(
        s.every((x) => x.name.startsWith('kafka_backup_')),
        'every metric is named kafka_backup_*',
      );

      for (const p of ['/health', '/healthz']) {
        const h = await fetch(base + p);
        assert.equal(h.status, 200);
        const body = (await h.json()) as { status: string; mode: string; backup_id: string; state: string };
        assert.deepEqual([body.status, body.mode, body.backup_id, body.state], ['healthy', 'backup', 'metrics-run', 'running']);
      }
      for (const p of ['/ready', '/readyz']) assert.equal((await fetch(base + p)).status, 200, `${p} while the backup runs`);
      const index = await fetch(base + '/');
      assert.equal(index.status, 200);
      assert.match(await index.text(), /href="\/prom"/);
      assert.equal((await fetch(base + '/nope')).status, 404);
      assert.equal((await fetch(base + '/metrics', { method: 'POST' })).status, 405);
    } finally {
      ac.abort();
    }
    const sum = await running;
    assert.equal(sum.status, 'stopped');
    assert.equal(sum.records, 300);
    await assert.rejects(fetch(base + '/metrics'), 'the server is closed after the run');
  });

  test('a failed run answers 503 on /health during keep_alive_seconds, then closes', async () => {
    let base = '';
    const running = withMetrics(cfg({ keep_alive_seconds: 2 }), { mode: 'restore', backupId: 'broken' }, new MemoryStore(), undefined, async (m) => {
      base = m.server!.url;
      throw new Error('boom');
    });
    const settled = running.then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    await waitFor('server', async () => base !== '', { timeoutMs: 5_000, intervalMs: 20 });
    const h = await fetch(base + '/health');
    assert.equal(h.status, 503);
    const body = (await h.json()) as { status: string; state: string; error: string };
    assert.deepEqual([body.status, body.state, body.error], ['unhealthy', 'failed', 'Error'], 'the class, not the message');
    assert.equal((await fetch(base + '/ready')).status, 503, 'a failed run is not ready');
    assert.equal(sumOf(await scrape(base), 'kafka_backup_errors_total', { operation: 'run' }), 1);
    assert.equal(await settled, 'boom');
    await assert.rejects(fetch(base + '/health'));
  });

  test('/health of a failed run shows the error class only: no bucket URL, object key, broker address or message', async () => {
    const secrets = ['s3://acme-prod-backups', 'prod-1/topics/payments/0/00000000000000000042.kbseg', '10.20.30.40:9093', 'sasl_password'];
    const failures: [Error, string][] = [
      [
        new StorageError(
          'ACCESS_DENIED',
          `s3 put s3://acme-prod-backups/prod-1/topics/payments/0/00000000000000000042.kbseg failed: AccessDenied (sasl_password)`,
          'prod-1/topics/payments/0/00000000000000000042.kbseg',
        ),
        'StorageError ACCESS_DENIED',
      ],
      [new BrokerUnreachableError('cannot reach Kafka broker 10.20.30.40:9093: ECONNREFUSED'), 'BrokerUnreachableError BROKER_UNREACHABLE'],
      [new KafkaError('broker 10.20.30.40:9093 answered UNKNOWN_TOPIC_OR_PARTITION for payments', 3), 'KafkaError 3'],
      [Object.assign(new Error('s3://acme-prod-backups unreachable'), { name: 'bad name\n10.20.30.40:9093' }), 'Error'],
    ];
    for (const [err, expected] of failures) {
      let base = '';
      const running = withMetrics(cfg({ keep_alive_seconds: 1 }), { mode: 'backup', backupId: 'prod-1' }, new MemoryStore(), undefined, async (m) => {
        base = m.server!.url;
        throw err;
      }).catch((e: unknown) => e);
      await waitFor('server', async () => base !== '', { timeoutMs: 5_000, intervalMs: 20 });
      const h = await fetch(base + '/health');
      const text = await h.text();
      assert.equal(h.status, 503);
      assert.equal((JSON.parse(text) as { error: string }).error, expected);
      for (const s of secrets) assert.ok(!text.includes(s), `/health shows ${s}: ${text}`);
      assert.equal(await running, err, 'the run still fails with the full error for the operator');
    }
  });

  test('partition labels are capped by max_partition_labels; the rest are summed under _other', async () => {
    const labels = new PartitionLabels(2);
    assert.deepEqual(labels.labels('a', 0), { topic: 'a', partition: '0' });
    assert.deepEqual(labels.labels('a', 1), { topic: 'a', partition: '1' });
    assert.deepEqual(labels.labels('b', 0), { topic: '_other', partition: '_other' });
    assert.deepEqual(labels.labels('a', 0), { topic: 'a', partition: '0' });
    assert.deepEqual(new PartitionLabels(0).labels('z', 99), { topic: 'z', partition: '99' }, '0 = unlimited');

    const m = new KafkaBackupMetrics({ mode: 'backup', backupId: 'cap', maxPartitionLabels: 1 });
    try {
      m.recordsRead('t', 0, 10, 100);
      m.recordsRead('t', 1, 5, 50);
      m.recordsRead('t', 2, 7, 70);
      m.position('t', 1, 5, 8);
      m.position('t', 2, 7, 9);
      const s = parsePromText(await m.registry.metrics());
      assert.equal(sumOf(s, 'kafka_backup_records_total', { topic: 't', partition: '0' }), 10);
      assert.equal(sumOf(s, 'kafka_backup_records_total', { topic: '_other', partition: '_other' }), 12);
      assert.equal(sumOf(s, 'kafka_backup_lag_records', { topic: '_other' }), 5, 'lag of the capped partitions is summed');
      assert.equal(new Set(s.filter((x) => x.name === 'kafka_backup_records_total').map((x) => x.labels.partition)).size, 2);
    } finally {
      m.close();
    }
  });

  test('a taken port is a warning: the backup runs without metrics', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const m = new KafkaBackupMetrics({ mode: 'backup', backupId: 'x', maxPartitionLabels: 10 });
      assert.equal(await MetricsServer.start(m, { port, bindAddress: '127.0.0.1', path: '/metrics' }), undefined);
      m.close();

      const topic = uniqueTopic('metrics-port');
      await createTopic(bootstrap, topic, 1);
      await produce(bootstrap, topic, 0, awkwardRecords(20, Date.UTC(2024, 10, 10), 4));
      const file = join(dir, 'busy.yaml');
      await writeFile(
        file,
        `mode: backup\nbackup_id: busy\nsource:\n  bootstrap_servers: ["${bootstrap}"]\n  topics:\n    include: ["${topic}"]\nstorage:\n  backend: filesystem\n  path: ${join(dir, 'busy')}\nmetrics:\n  port: ${port}\n  bind_address: 127.0.0.1\n`,
      );
      const r = runCli(['backup', '--config', file], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Records: 20\b/);
      assert.match(r.stderr, /metrics server not started \(port \d+ is already in use\); continuing without metrics/);
    } finally {
      blocker.close();
    }
  });
});
