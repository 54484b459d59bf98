// A snapshot backup stopped part-way (SIGTERM, as Ctrl-C or a pod shutdown sends) must never pass
// for complete: non-zero exit naming what is missing, manifest `incomplete`, describe/list/validate
// show it, restore refuses it unless allowed, and the same config run again completes it exactly once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaCluster } from '../../src/kafka/cluster.js';
import { RawProducer } from '../../src/kafka/producer.js';
import { encodeBatch } from '../../src/kafka/protocol/record-batch.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic, withAdmin } from '../helpers/kafka.js';
import { consumeAll, recordKey } from '../helpers/records.js';
import { sleep } from '../helpers/ports.js';
import { runCli, type CliResult } from '../helpers/cli.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = [process.execPath, '--import', 'tsx', join(ROOT, 'src/cli/run.ts')] as const;
const PARTITIONS = 4;
const PER_PARTITION = 20_000;

function cli(args: string[]): CliResult {
  return runCli(args);
}

interface BackupReport {
  status: string;
  records: number;
  missing: { topic: string; partition: number; backed_up_to: number; end_offset: number }[];
}

async function produceAll(bootstrap: string, topic: string): Promise<void> {
  const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
  try {
    const producer = await RawProducer.create(cluster);
    for (let p = 0; p < PARTITIONS; p++) {
      for (let i = 0; i < PER_PARTITION; i += 50) {
        const recs = Array.from({ length: 50 }, (_, j) => ({
          offsetDelta: j,
          key: Buffer.from(`k-${p}-${i + j}`),
          value: Buffer.from(`v-${p}-${i + j}-${'z'.repeat(((i + j) * 31) % 250)}`),
          headers:
            j % 7 === 0
              ? [
                  { key: 'h', value: null },
                  { key: 'h', value: Buffer.alloc(0) },
                ]
              : [],
          timestamp: BigInt(Date.UTC(2025, 0, 1) + (i + j) * 1000),
        }));
        await producer.send(topic, p, [encodeBatch(recs, { compression: 'none' })]);
      }
    }
  } finally {
    await cluster.close();
  }
}

describe('an interrupted snapshot backup', () => {
  let dir: string;
  let bootstrap: string;
  const topic = uniqueTopic('interrupted');
  let backupCfg: string;
  let backups: string;
  const backupId = 'snap-interrupted';

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-interrupted-'));
    backups = join(dir, 'backups');
    await createTopic(bootstrap, topic, PARTITIONS);
    await produceAll(bootstrap, topic);
    backupCfg = join(dir, 'backup.yaml');
    // One partition at a time, small fetches and segments: the run takes long enough to be stopped inside.
    await writeFile(
      backupCfg,
      `mode: backup\nbackup_id: ${backupId}\nsource:\n  bootstrap_servers: ["${bootstrap}"]\n  topics:\n    include: ["${topic}"]\n` +
        `storage:\n  backend: filesystem\n  path: ${backups}\nbackup:\n  continuous: false\n  max_concurrent_partitions: 1\n  fetch_max_bytes: 16384\n  segment_max_bytes: 65536\n  compression: none\n`,
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  function restoreCfg(name: string, target: string, extra = ''): string {
    const f = join(dir, `${name}.yaml`);
    writeFileSync(
      f,
      `mode: restore\nbackup_id: ${backupId}\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${backups}\nrestore:\n  topic_mapping: { "${topic}": "${target}" }\n${extra}`,
    );
    return f;
  }

  test('SIGTERM mid-run: exit 130, the report and manifest say incomplete, and what is missing', async () => {
    const child = spawn(CLI[0], [...CLI.slice(1), 'backup', '--config', backupCfg, '--format', 'json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Stop once the first partition has stored a segment: it is then part-way through its 20,000 records.
    const firstIndex = join(backups, backupId, 'topics', topic, '0', 'index.json');
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && child.exitCode === null) {
      if (existsSync(firstIndex) && (JSON.parse(readFileSync(firstIndex, 'utf8')) as { segments: unknown[] }).segments.length > 0) break;
      await sleep(20);
    }
    assert.equal(child.exitCode, null, `the backup ended before it could be stopped: ${stderr}`);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 130, stderr);
    const rep = JSON.parse(stdout) as BackupReport;
    assert.equal(rep.status, 'incomplete');
    // The kill landed mid-run: some records stored, some partitions short (at least the ones never started).
    assert.ok(rep.records > 0 && rep.records < PARTITIONS * PER_PARTITION, `records ${rep.records}`);
    assert.ok(rep.missing.length >= 1, stdout);
    for (const m of rep.missing) assert.ok(m.backed_up_to < m.end_offset && m.end_offset === PER_PARTITION, JSON.stringify(m));
    const manifest = JSON.parse(readFileSync(join(backups, backupId, 'manifest.json'), 'utf8')) as { status: string; completed_at: number | null };
    assert.equal(manifest.status, 'incomplete');
    assert.equal(manifest.completed_at, null);
  });

  test('describe, list and validate show it; validate fails naming the short partitions', () => {
    const d = cli(['describe', '-p', backups, '-b', backupId]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /Status: +incomplete \(snapshot stopped/);
    const l = cli(['list', '-p', backups]);
    assert.match(l.stdout, /incomplete/);
    const v = cli(['validate', '-p', backups, '-b', backupId]);
    assert.equal(v.code, 1, v.stdout + v.stderr);
    assert.match(v.stdout + v.stderr, new RegExp(`${topic}/\\d+/index\\.json.*reaches offset \\d+ of the snapshot's end offset ${PER_PARTITION}`));
  });

  test('restore refuses it, writing nothing; with allow_incomplete_backup it restores what is there and says how far each partition reaches', async () => {
    const refusedTarget = `${topic}-refused`;
    const refused = cli(['restore', '--config', restoreCfg('refused', refusedTarget)]);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /incomplete snapshot \(status incomplete\).*restore\.allow_incomplete_backup: true/s);
    const topics = await withAdmin(bootstrap, (a) => a.listTopics());
    assert.ok(!topics.includes(refusedTarget), 'nothing created on the target');
    const vr = cli(['validate-restore', '--config', restoreCfg('refused', refusedTarget)]);
    assert.equal(vr.code, 1);
    assert.match(vr.stdout + vr.stderr, /incomplete snapshot/);

    const partialTarget = `${topic}-partial`;
    const r = cli(['restore', '--config', restoreCfg('partial', partialTarget, '  allow_incomplete_backup: true\n')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`\\[WARN\\] incomplete: ${topic}/\\d+ reaches offset`));
    let restored = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const got = (await consumeAll(bootstrap, partialTarget, p)).map((x) => recordKey(x, true));
      const src = (await consumeAll(bootstrap, topic, p)).map((x) => recordKey(x, true));
      assert.deepEqual(got, src.slice(0, got.length), `partition ${p}: a prefix of the source, unchanged`);
      restored += got.length;
    }
    assert.ok(restored > 0 && restored < PARTITIONS * PER_PARTITION);
  });

  test('the same backup config run again completes it; every record restored exactly once', async () => {
    const again = cli(['backup', '--config', backupCfg, '--format', 'json']);
    assert.equal(again.code, 0, again.stderr);
    const rep = JSON.parse(again.stdout) as BackupReport;
    assert.deepEqual([rep.status, rep.records, rep.missing], ['complete', PARTITIONS * PER_PARTITION, []]);
    assert.equal(cli(['validate', '-p', backups, '-b', backupId, '--deep']).code, 0);
    const target = `${topic}-full`;
    const r = cli(['restore', '--config', restoreCfg('full', target)]);
    assert.equal(r.code, 0, r.stderr);
    for (let p = 0; p < PARTITIONS; p++) {
      const got = (await consumeAll(bootstrap, target, p)).map((x) => recordKey(x, true));
      const src = (await consumeAll(bootstrap, topic, p)).map((x) => recordKey(x, true));
      assert.equal(got.length, PER_PARTITION);
      assert.deepEqual(got, src);
    }
  });
});
