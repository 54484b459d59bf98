/**
 * The README's demo: the seed's point-in-time-recovery story end to end on a local broker.
 * Starts Kafka, produces `orders` (6 partitions) and `payments` (3) with timestamps spread over
 * Nov 1-15 2024, backs them up to .run/demo/backups, then runs `describe`, `validate-restore`,
 * `timeline` (the page .run/demo/timeline.html) and a PITR `restore` of Nov 10 10:00-14:00 UTC into orders_pitr_restore / payments_pitr_restore,
 * and prints a few restored records. Everything it starts is stopped at the end.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kafkaInstalled, startKafka } from './kafka.js';
import { ROOT } from './proc.js';
import { KafkaAdmin } from '../src/kafka/admin.js';
import { encodeBatch } from '../src/kafka/protocol/record-batch.js';
import { KafkaCluster } from '../src/kafka/cluster.js';
import { RawProducer } from '../src/kafka/producer.js';
import { consumeAll } from '../test/helpers/records.js';

const START = Date.UTC(2024, 10, 1);
const END = Date.UTC(2024, 10, 16) - 1000;

function cli(args: string[]): void {
  console.log(`\n$ kafka-backup ${args.join(' ')}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), ...args], { stdio: 'inherit', cwd: ROOT });
  if (r.status !== 0) throw new Error(`kafka-backup ${args[0]} exited with ${r.status}`);
}

async function produceTopic(bootstrap: string, topic: string, partitions: number, perPartition: number): Promise<void> {
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  await admin.createTopic(topic, partitions, 1, {});
  await admin.close();
  const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
  const producer = await RawProducer.create(cluster);
  for (let p = 0; p < partitions; p++) {
    for (let i = 0; i < perPartition; i += 100) {
      const records = [];
      for (let j = i; j < Math.min(i + 100, perPartition); j++) {
        const ts = START + Math.floor(((END - START) * j) / perPartition) + ((j * 7919) % 60_000);
        const id = `${topic}-${p}-${j}`;
        records.push({
          key: Buffer.from(`customer-${(j * 31 + p) % 997}`),
          value: Buffer.from(JSON.stringify({ id, amount: ((j * 37) % 10_000) / 100, at: new Date(ts).toISOString() })),
          headers: [{ key: 'source', value: Buffer.from('demo') }],
          timestamp: BigInt(ts),
          offsetDelta: j - i,
        });
      }
      await producer.send(topic, p, [encodeBatch(records, { compression: 'lz4' })]);
    }
  }
  await cluster.close();
}

async function main(): Promise<void> {
  if (!kafkaInstalled()) execFileSync('bash', [join(ROOT, 'scripts/install-kafka.sh')], { stdio: 'inherit' });
  const work = join(ROOT, '.run', 'demo');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  console.log('Starting a local Kafka broker (KRaft, single node)...');
  const kafka = await startKafka();
  try {
    console.log(`Broker at ${kafka.bootstrap}. Producing orders (6 partitions) and payments (3 partitions), Nov 1-15 2024...`);
    await produceTopic(kafka.bootstrap, 'orders', 6, 2000);
    await produceTopic(kafka.bootstrap, 'payments', 3, 2000);
    const backups = join(work, 'backups');
    writeFileSync(
      join(work, 'backup.yaml'),
      `mode: backup
backup_id: "production-backup-001"
source:
  bootstrap_servers: ["${kafka.bootstrap}"]
  topics:
    include: [orders, payments]
storage:
  backend: filesystem
  path: ${JSON.stringify(backups)}
backup:
  compression: zstd
  segment_max_bytes: 262144
`,
    );
    writeFileSync(
      join(work, 'pitr-restore.yaml'),
      `mode: restore
backup_id: "production-backup-001"
target:
  bootstrap_servers: ["${kafka.bootstrap}"]
storage:
  backend: filesystem
  path: ${JSON.stringify(backups)}
restore:
  # Point-in-Time Recovery window
  time_window_start: 1731232800000  # Nov 10, 2024 10:00:00 UTC
  time_window_end: 1731247200000    # Nov 10, 2024 14:00:00 UTC
  topic_mapping:
    orders: orders_pitr_restore
    payments: payments_pitr_restore
  include_original_offset_header: true
  consumer_group_strategy: skip
`,
    );
    cli(['backup', '--config', join(work, 'backup.yaml')]);
    cli(['describe', '--path', backups, '--backup-id', 'production-backup-001']);
    cli(['validate-restore', '--config', join(work, 'pitr-restore.yaml')]);
    cli(['timeline', '--config', join(work, 'pitr-restore.yaml'), '--output', join(work, 'timeline.html')]);
    cli(['restore', '--config', join(work, 'pitr-restore.yaml')]);
    console.log('\nA few restored records (orders_pitr_restore, partition 0):');
    const restored = await consumeAll(kafka.bootstrap, 'orders_pitr_restore', 0);
    for (const r of restored.slice(0, 5)) {
      const orig = r.headers.find((h) => h.key.toString() === 'x-original-offset')?.value?.readBigInt64LE();
      console.log(
        `  offset ${r.offset}  ${new Date(Number(r.timestamp)).toISOString()}  key=${r.key?.toString()}  original offset ${orig}  ${r.value?.toString()}`,
      );
    }
    const outside = restored.filter((r) => r.timestamp < 1731232800000n || r.timestamp > 1731247200000n).length;
    console.log(`\n${restored.length} records in orders_pitr_restore/0, ${outside} outside the window.`);
    console.log(`Config files and the backup are in ${work}`);
  } finally {
    await kafka.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
