// Thousands of partitions on one broker with a common file-descriptor limit: a connection per
// partition failed here with EMFILE. Fetches share a few connections per broker (one Fetch request
// for many partitions) and produce requests a few lanes, so 2,000 partitions back up and restore
// under `ulimit -n 1024`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EARLIEST, KafkaAdmin, LATEST } from '../../src/kafka/admin.js';
import { KafkaCluster } from '../../src/kafka/cluster.js';
import { RawProducer } from '../../src/kafka/producer.js';
import { encodeBatch } from '../../src/kafka/protocol/record-batch.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';

const ROOT = join(import.meta.dirname, '..', '..');
const TOPICS = 4;
const PARTITIONS = 500;
const FD_LIMIT = 1024;

/** The CLI in a shell whose open-file limit is FD_LIMIT. */
function cliLimited(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('sh', ['-c', `ulimit -n ${FD_LIMIT} && exec "$0" "$@"`, process.execPath, '--import', 'tsx', join(ROOT, 'src/cli/run.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function endOffsets(bootstrap: string, topic: string): Promise<number[]> {
  const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
  try {
    const parts = Array.from({ length: PARTITIONS }, (_, i) => i);
    const start = await admin.listOffsets(topic, parts, EARLIEST);
    const end = await admin.listOffsets(topic, parts, LATEST);
    return parts.map((p) => Number((end.get(p) ?? 0n) - (start.get(p) ?? 0n)));
  } finally {
    await admin.close();
  }
}

describe(`${TOPICS * PARTITIONS} partitions under ulimit -n ${FD_LIMIT}`, () => {
  let dir: string;
  let bootstrap: string;
  const prefix = uniqueTopic('many');
  const topics = Array.from({ length: TOPICS }, (_, i) => `${prefix}-${i}`);

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-many-'));
    const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
    try {
      for (const t of topics) await createTopic(bootstrap, t, PARTITIONS);
      await cluster.refresh();
      const producer = await RawProducer.create(cluster);
      // 1 to 3 records per partition, so a partition's count says which partition it came from.
      for (const t of topics) {
        await Promise.all(
          Array.from({ length: PARTITIONS }, (_, p) =>
            producer.send(t, p, [
              encodeBatch(
                Array.from({ length: 1 + (p % 3) }, (_, j) => ({
                  offsetDelta: j,
                  key: Buffer.from(`${t}-${p}-${j}`),
                  value: Buffer.from(`v${j}`),
                  headers: [],
                  timestamp: BigInt(Date.UTC(2024, 0, 1) + j),
                })),
              ),
            ]),
          ),
        );
      }
    } finally {
      await cluster.close();
    }
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('backup and restore complete; every partition restored with its records', async () => {
    const backups = join(dir, 'backups');
    const backupCfg = join(dir, 'backup.yaml');
    await writeFile(
      backupCfg,
      `mode: backup\nbackup_id: many\nsource:\n  bootstrap_servers: ["${bootstrap}"]\n  topics:\n    include: ["${prefix}-*"]\nstorage:\n  backend: filesystem\n  path: ${backups}\nbackup:\n  max_concurrent_partitions: 64\n`,
    );
    const b = cliLimited(['backup', '--config', backupCfg, '--format', 'json']);
    assert.equal(b.code, 0, b.stderr.slice(-3000));
    const rep = JSON.parse(b.stdout) as { status: string; partitions: number; records: number };
    const expected = TOPICS * Array.from({ length: PARTITIONS }, (_, p) => 1 + (p % 3)).reduce((a, c) => a + c, 0);
    assert.deepEqual([rep.status, rep.partitions, rep.records], ['complete', TOPICS * PARTITIONS, expected]);

    const mapping = topics.map((t) => `"${t}": "${t}-r"`).join(', ');
    const restoreCfg = join(dir, 'restore.yaml');
    await writeFile(
      restoreCfg,
      `mode: restore\nbackup_id: many\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${backups}\nrestore:\n  topic_mapping: { ${mapping} }\n  max_concurrent_partitions: 64\n`,
    );
    const r = cliLimited(['restore', '--config', restoreCfg, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.equal((JSON.parse(r.stdout) as { records_restored: number }).records_restored, expected);
    for (const t of topics)
      assert.deepEqual(
        await endOffsets(bootstrap, `${t}-r`),
        Array.from({ length: PARTITIONS }, (_, p) => 1 + (p % 3)),
        t,
      );
  });
});
