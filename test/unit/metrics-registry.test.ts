import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaBackupMetrics } from '../../src/metrics/registry.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function throughput(m: KafkaBackupMetrics): Promise<number> {
  const g = await m.registry.getSingleMetric('kafka_backup_throughput_records_per_second')!.get();
  return g.values[0]?.value ?? NaN;
}

test('metrics.update_interval_ms: the throughput gauges are recomputed at that interval, and a scrape reads the last value', async () => {
  const fast = new KafkaBackupMetrics({ mode: 'backup', backupId: 'b', maxPartitionLabels: 10, updateIntervalMs: 50 });
  const slow = new KafkaBackupMetrics({ mode: 'backup', backupId: 'b', maxPartitionLabels: 10, updateIntervalMs: 60_000 });
  try {
    for (const m of [fast, slow]) m.recordsRead('t', 0, 1000, 100_000);
    await sleep(200);
    assert.ok((await throughput(fast)) > 0, 'recomputed within a few 50 ms intervals');
    assert.equal(await throughput(slow), 0, 'not recomputed before its 60 s interval: the value of the last update');
  } finally {
    fast.close();
    slow.close();
  }
});

test('distributed backup: the worker gauges (group generation, partitions owned) appear once reported', async () => {
  const m = new KafkaBackupMetrics({ mode: 'backup', backupId: 'b', maxPartitionLabels: 10, updateIntervalMs: 60_000 });
  try {
    assert.equal(m.registry.getSingleMetric('kafka_backup_worker_group_generation'), undefined, 'absent for a single-process run');
    m.workerGroup(7, 12);
    m.workerGroup(8, 9);
    const text = await m.registry.metrics();
    assert.match(text, /^kafka_backup_worker_group_generation 8$/m);
    assert.match(text, /^kafka_backup_worker_partitions_owned 9$/m);
  } finally {
    m.close();
  }
});
