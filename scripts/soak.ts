/**
 * npm run soak [-- --minutes N] [-- --topics 100] [-- --partitions 10] [-- --rate 2000] [-- --bootstrap host:port] [-- --keep]
 *
 * Load soak (on demand, not part of `npm test`): a continuous backup of T topics x P partitions
 * (default 100 x 10) while a steady producer writes `rate` records/s spread over every partition,
 * for N minutes (default 10). The backup runs in its own process (test/helpers/backup-child.ts,
 * filesystem store), so its memory is its own: every 15 s the soak prints the backup's RSS and
 * its lag (records produced but not yet in a stored segment: end offset - index next_offset, summed
 * and worst partition). At the end it stops the producer, waits for the backup to catch up, stops
 * the backup (SIGTERM: flush, manifest stopped), runs validate --deep and compares, partition by
 * partition, the records in the backup with the broker's (end offset - log start): nothing lost.
 * Exit code 0 only if nothing was lost and validate found no problem. A broker is started for the
 * run unless --bootstrap is given. Results also go to .run/soak-<time>/result.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKafka, type RunningKafka } from './kafka.js';
import { ROOT, RUN_DIR } from './proc.js';
import { EARLIEST, KafkaAdmin, LATEST } from '../src/kafka/admin.js';
import { KafkaCluster } from '../src/kafka/cluster.js';
import { RawProducer } from '../src/kafka/producer.js';
import { encodeBatch } from '../src/kafka/protocol/record-batch.js';
import { readPartitionIndex, summarize } from '../src/format/partition-index.js';
import { validateBackup } from '../src/backup/validate.js';
import { FsStore } from '../src/storage/fs.js';
import type { BackupChildConfig } from '../test/helpers/backup-child.js';

interface Args {
  minutes: number;
  topics: number;
  partitions: number;
  rate: number;
  recordBytes: number;
  bootstrap?: string;
  keep: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { minutes: 10, topics: 100, partitions: 10, rate: 2000, recordBytes: 200, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    const num = (): number => {
      const n = Number(argv[++i]);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${v} needs a positive number`);
      return n;
    };
    if (v === '--minutes') a.minutes = num();
    else if (v === '--topics') a.topics = num();
    else if (v === '--partitions') a.partitions = num();
    else if (v === '--rate') a.rate = num();
    else if (v === '--record-bytes') a.recordBytes = num();
    else if (v === '--bootstrap') a.bootstrap = argv[++i];
    else if (v === '--keep') a.keep = true;
    else throw new Error(`unknown option ${v} (see the top of scripts/soak.ts)`);
  }
  return a;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const fmtMb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface Sample {
  t: number;
  produced: number;
  backedUp: number;
  lag: number;
  maxLag: number;
  rss: number;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const runDir = join(RUN_DIR, `soak-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(runDir, { recursive: true });
  let kafka: RunningKafka | undefined;
  let child: ChildProcess | undefined;
  try {
    if (!args.bootstrap) {
      kafka = await startKafka({ heap: '1g', brokerConfig: { 'num.io.threads': 8, 'num.network.threads': 3 } });
      console.log(`soak: broker ${kafka.bootstrap}`);
    }
    const bootstrap = args.bootstrap ?? kafka!.bootstrap;
    const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
    const stamp = Date.now().toString(36);
    const topics = Array.from({ length: args.topics }, (_, i) => `soak-${stamp}-${String(i).padStart(3, '0')}`);
    for (const t of topics) await admin.createTopic(t, args.partitions, 1, {});
    const cluster = await KafkaCluster.connect({ bootstrapServers: [bootstrap] });
    for (let i = 0; i < 100; i++) {
      const meta = await cluster.refresh();
      if (topics.every((t) => meta.topics.get(t)?.partitions.length === args.partitions && meta.topics.get(t)!.partitions.every((p) => p.leader >= 0))) break;
      await sleep(200);
    }
    const all = topics.flatMap((t) => Array.from({ length: args.partitions }, (_, p) => ({ topic: t, partition: p })));
    console.log(
      `soak: ${topics.length} topics x ${args.partitions} partitions = ${all.length} partitions; producing ${args.rate} records/s of ${args.recordBytes} B for ${args.minutes} min`,
    );

    // The backup, in its own process, with one fetch slot per partition (as measured in docs/reliability.md).
    const backupDir = join(runDir, 'backups');
    const cfg: BackupChildConfig = {
      bootstrap,
      dir: backupDir,
      backupId: 'soak',
      topics: [`soak-${stamp}-*`],
      options: {
        maxConcurrentPartitions: all.length,
        segmentMaxBytes: 1024 * 1024,
        segmentMaxIntervalMs: 5000,
        fetchMaxBytes: 256 * 1024,
        pollIntervalMs: 200,
        syncIntervalSecs: 30,
        compression: 'zstd',
      },
    };
    child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/backup-child.ts'), JSON.stringify(cfg)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let childOut = '';
    let childErr = '';
    child.stdout!.on('data', (d: Buffer) => (childOut += d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      childErr += d.toString();
      if (childErr.length > 1_000_000) childErr = childErr.slice(-200_000);
    });
    const childExit = new Promise<number | null>((res) => child!.once('exit', (c) => res(c)));
    const pid = child.pid!;

    // Steady producer: every 100 ms, rate/10 records as batches of 10 to the next partitions in turn.
    const producer = await RawProducer.create(cluster);
    const value = Buffer.alloc(args.recordBytes, 'v');
    let produced = 0;
    let produceErrors = 0;
    let cursor = 0;
    let producing = true;
    const perTick = Math.max(1, Math.round(args.rate / 10));
    const busy = new Set<number>();
    const producerLoop = (async () => {
      let next = Date.now();
      while (producing) {
        next += 100;
        const sends: Promise<void>[] = [];
        for (let left = perTick; left > 0; ) {
          const n = Math.min(10, left);
          left -= n;
          const idx = cursor++ % all.length;
          if (busy.has(idx)) continue; // one send at a time per partition (the producer's contract)
          const { topic, partition } = all[idx]!;
          const ts = BigInt(Date.now());
          const batch = encodeBatch(
            Array.from({ length: n }, (_, j) => ({ key: Buffer.from(`${idx}-${produced + j}`), value, headers: [], timestamp: ts, offsetDelta: j })),
          );
          busy.add(idx);
          sends.push(
            producer.send(topic, partition, [batch]).then(
              () => {
                produced += n;
                busy.delete(idx);
              },
              (err: unknown) => {
                produceErrors++;
                busy.delete(idx);
                console.error(`soak: produce ${topic}/${partition}: ${(err as Error).message}`);
              },
            ),
          );
        }
        void Promise.all(sends);
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait);
      }
      while (busy.size) await sleep(50);
    })();

    const store = new FsStore(backupDir);
    const measure = async (): Promise<{ lag: number; maxLag: number; backedUp: number; total: number; lost: string[] }> => {
      let lag = 0;
      let maxLag = 0;
      let backedUp = 0;
      let total = 0;
      const lost: string[] = [];
      for (const t of topics) {
        const parts = Array.from({ length: args.partitions }, (_, p) => p);
        const [starts, ends] = await Promise.all([admin.listOffsets(t, parts, EARLIEST), admin.listOffsets(t, parts, LATEST)]);
        await Promise.all(
          parts.map(async (p) => {
            const end = Number(ends.get(p) ?? 0n);
            const start = Number(starts.get(p) ?? 0n);
            const idx = await readPartitionIndex(store, 'soak', t, p).catch(() => undefined);
            const next = idx?.next_offset ?? 0;
            const records = idx ? summarize(idx).records : 0;
            const l = Math.max(0, end - next);
            lag += l;
            maxLag = Math.max(maxLag, l);
            backedUp += records;
            total += end - start;
            if (records !== end - start) lost.push(`${t}/${p}: backup ${records}, broker ${end - start}`);
          }),
        );
      }
      return { lag, maxLag, backedUp, total, lost };
    };

    const samples: Sample[] = [];
    const t0 = Date.now();
    const endAt = t0 + args.minutes * 60_000;
    console.log('soak:   time   produced   backed-up        lag   worst-partition-lag   backup RSS');
    while (Date.now() < endAt) {
      await sleep(Math.min(15_000, Math.max(0, endAt - Date.now())));
      if (child.exitCode !== null) throw new Error(`the backup exited early (code ${child.exitCode}):\n${childErr.slice(-4000)}`);
      const m = await measure();
      const s: Sample = { t: Math.round((Date.now() - t0) / 1000), produced, backedUp: m.backedUp, lag: m.lag, maxLag: m.maxLag, rss: rssOf(pid) };
      samples.push(s);
      console.log(
        `soak: ${String(s.t).padStart(5)}s ${String(s.produced).padStart(10)} ${String(s.backedUp).padStart(11)} ${String(s.lag).padStart(10)} ${String(s.maxLag).padStart(21)}   ${fmtMb(s.rss)}`,
      );
    }
    producing = false;
    await producerLoop;
    console.log(`soak: producer stopped after ${produced} records (${produceErrors} failed sends); waiting for the backup to catch up`);
    const catchStart = Date.now();
    let m = await measure();
    while (m.lag > 0 && Date.now() - catchStart < 120_000) {
      await sleep(2000);
      m = await measure();
    }
    const catchUpMs = Date.now() - catchStart;
    const finalRss = rssOf(pid);
    child.kill('SIGTERM');
    const code = await Promise.race([childExit, sleep(60_000).then(() => 'timeout' as const)]);
    if (code !== 0) throw new Error(`the backup did not stop cleanly (${String(code)}):\n${childErr.slice(-4000)}`);
    const summary = JSON.parse(childOut.trim().split('\n').pop() ?? '{}') as { records?: number; segments?: number; storedBytes?: number };
    m = await measure();
    const v0 = Date.now();
    const v = await validateBackup(store, 'soak', true);
    const validateMs = Date.now() - v0;
    const rss = samples.map((s) => s.rss).filter((x) => x > 0);
    const result = {
      minutes: args.minutes,
      topics: args.topics,
      partitions: all.length,
      rate: args.rate,
      produced,
      produceErrors,
      brokerRecords: m.total,
      backupRecords: m.backedUp,
      recordsChecked: v.recordsChecked,
      segments: summary.segments,
      storedBytes: summary.storedBytes,
      lost: m.lost,
      validateProblems: v.problems.slice(0, 20),
      catchUpMs,
      validateMs,
      rss: { first: rss[0] ?? 0, max: Math.max(0, ...rss), last: finalRss },
      lag: { max: Math.max(0, ...samples.map((s) => s.lag)), maxPartition: Math.max(0, ...samples.map((s) => s.maxLag)), final: m.lag },
      samples,
    };
    writeFileSync(join(runDir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
    console.log(`soak: backup RSS first ${fmtMb(result.rss.first)}, max ${fmtMb(result.rss.max)}, last ${fmtMb(result.rss.last)}`);
    console.log(
      `soak: lag (records not yet in a stored segment) max ${result.lag.max} total, ${result.lag.maxPartition} worst partition; caught up ${(catchUpMs / 1000).toFixed(1)} s after the producer stopped`,
    );
    console.log(
      `soak: broker ${m.total} records, backup ${m.backedUp} (validate --deep decoded ${v.recordsChecked} in ${(validateMs / 1000).toFixed(1)} s, ${v.problems.length} problems); ${m.lost.length} partitions differ`,
    );
    for (const l of m.lost.slice(0, 10)) console.log(`soak:   ${l}`);
    for (const p of v.problems.slice(0, 10)) console.log(`soak:   ${p.object}: ${p.problem}`);
    console.log(`soak: results in ${join(runDir, 'result.json')}`);
    const ok = m.lost.length === 0 && v.problems.length === 0 && m.backedUp === m.total && v.recordsChecked === m.total;
    console.log(ok ? 'soak: PASS: nothing lost' : 'soak: FAIL');
    await admin.close();
    await cluster.close();
    process.exitCode = ok ? 0 : 1;
    if (!args.keep) rmSync(backupDir, { recursive: true, force: true });
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await kafka?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
