/**
 * npm run bench [-- --quick] [-- --size-mb N] [-- --no-s3] [-- --no-curve] [-- --no-restore] [-- --no-workers] [-- --variants] [-- --fetch-mb N] [-- --profile] [-- --keep] [-- --startup N] [-- --values random|json]
 *   [-- --ab N [--ab-restore] [--b-env K=V] [--b-yaml 'key: value'] [--b-node-arg ARG] [--b-root DIR]]
 *
 * Measures kafka-backup against Apache Kafka's own tools on the same broker, in one run:
 *   1. starts a local broker (and MinIO for the S3 case);
 *   2. loads the data set with ProducerPerformance (the produce baseline): three topics, 14
 *      partitions, 1 KiB values with keys and two headers (bench/java/BenchInterceptor.java),
 *      compression lz4 and none, synthetic timestamps 1 ms apart per topic;
 *   3. ConsumerPerformance on the same topics (the consume baseline);
 *   4. `kafka-backup backup` (snapshot) to the filesystem and to S3, `restore` of the whole backup
 *      and of a 1 % PITR window into new topics, a backup curve for max_concurrent_partitions, and the same
 *      snapshot by 1, 2 and 3 worker processes (backup.workers) started together.
 * `--startup N` adds N alternating rounds of the 1 % PITR restore and of `--version` as built by
 * `npm run build` (Kafka bundle, compile cache) against tsc's output alone (docs/performance.md, "Start-up").
 * Each tool runs as a child process under /usr/bin/time -v (peak RSS, CPU seconds). Prints a table
 * and writes bench/results/latest.json. It checks nothing: it is a measurement, not a test.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { kafkaInstalled, KAFKA_JARS_DIR, startKafka, type RunningKafka } from '../scripts/kafka.js';
import { createBucket, minioInstalled, startMinio, type RunningMinio } from '../scripts/minio.js';
import { bundleKafka } from '../scripts/bundle-kafka.js';
import { ROOT } from '../scripts/proc.js';
import { KafkaAdmin } from '../src/kafka/admin.js';

interface Args {
  quick: boolean;
  sizeMb: number;
  s3: boolean;
  curve: boolean;
  keep: boolean;
  profile: boolean;
  /** backup.fetch_max_bytes in MiB (default: the tool's default). */
  fetchMb?: number;
  /** Extra backup runs showing what each part costs (compression none, zstd level 1). */
  variants: boolean;
  /** Skip the restores (backup-only iterations). */
  restore: boolean;
  /** The 1/2/3-worker rows (backup.workers). */
  workers: boolean;
  /** Rounds of the start-up comparison (0: none). */
  startup: number;
  /** Record values: ProducerPerformance's random letters, or 1 KiB JSON events (bench/java/BenchInterceptor.java). */
  values: 'random' | 'json';
  /** A/B rounds of the default filesystem backup against variant B, each round with its own ConsumerPerformance (0: none). */
  ab: number;
  /** A/B rounds also restore the first backup in full, as A and as B. */
  abRestore: boolean;
  /** Variant B: extra environment (`--b-env K=V`), extra backup-section YAML lines (`--b-yaml 'k: v'`), another checkout's code (`--b-root DIR`). */
  bEnv: Record<string, string>;
  bYaml: string[];
  /** Extra node options for B (`--b-node-arg --trace-gc`; NODE_OPTIONS refuses some). */
  bNodeArgs: string[];
  bRoot?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    quick: false,
    sizeMb: 2048,
    s3: true,
    curve: true,
    keep: false,
    profile: false,
    variants: false,
    restore: true,
    workers: true,
    startup: 0,
    values: 'random',
    ab: 0,
    abRestore: false,
    bEnv: {},
    bYaml: [],
    bNodeArgs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--help' || v === '-h') {
      // The usage is this file's opening comment.
      const head = readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!;
      process.stdout.write(`${head.replace(/^\/\*\*\n?/, '').replace(/^ \* ?/gm, '')}\nOptions are described in docs/performance.md.\n`);
      process.exit(0);
    }
    if (v === '--quick') a.quick = true;
    else if (v === '--size-mb') a.sizeMb = Number(argv[++i]);
    else if (v === '--no-s3') a.s3 = false;
    else if (v === '--no-curve') a.curve = false;
    else if (v === '--keep') a.keep = true;
    else if (v === '--profile') a.profile = true;
    else if (v === '--fetch-mb') a.fetchMb = Number(argv[++i]);
    else if (v === '--variants') a.variants = true;
    else if (v === '--no-restore') a.restore = false;
    else if (v === '--no-workers') a.workers = false;
    else if (v === '--startup') a.startup = Number(argv[++i]);
    else if (v === '--ab') a.ab = Number(argv[++i]);
    else if (v === '--ab-restore') a.abRestore = true;
    else if (v === '--b-env') {
      const [k, ...rest] = (argv[++i] ?? '').split('=');
      if (!k || rest.length === 0) throw new Error('--b-env takes NAME=VALUE');
      a.bEnv[k] = rest.join('=');
    } else if (v === '--b-yaml') a.bYaml.push(argv[++i] ?? '');
    else if (v === '--b-root') a.bRoot = argv[++i];
    else if (v === '--b-node-arg') a.bNodeArgs.push(argv[++i] ?? '');
    else if (v === '--values') {
      const x = argv[++i];
      if (x !== 'random' && x !== 'json') throw new Error('--values takes random or json');
      a.values = x;
    } else throw new Error(`unknown argument ${v}`);
  }
  if (a.quick && !argv.includes('--size-mb')) a.sizeMb = 384;
  if (!(a.sizeMb > 0)) throw new Error('--size-mb must be a positive number');
  // A/B mode measures the filesystem backup only.
  if (a.ab > 0) Object.assign(a, { s3: false, restore: false, curve: false, workers: false, variants: false, startup: 0 });
  return a;
}

const RECORD_SIZE = 1024;
const TS_BASE = 1_700_000_000_000;
const WORK = join(ROOT, '.run', 'bench');
const CLASSES = join(WORK, 'classes');
const DIST = join(WORK, 'dist');
/** tsc's output without the build's Kafka bundle: the start-up comparison's "before". */
const DIST_PLAIN = join(WORK, 'dist-plain');
/** The compile cache the launcher (bin/kafka-backup.js) enables; the bench runs the compiled CLI directly. */
const COMPILE_CACHE = join(WORK, 'compile-cache');
const JARS = `${KAFKA_JARS_DIR}/*`;
/** The environment bin/kafka-backup starts node with: two malloc arenas, libuv's pool sized to the cores (2 to 4). */
const LAUNCHER_ENV = {
  MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
  UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE || String(Math.min(4, Math.max(2, availableParallelism()))),
};

interface TopicSpec {
  name: string;
  partitions: number;
  compression: 'lz4' | 'none';
  share: number;
  records: number;
}

interface Measure {
  name: string;
  /** What it is compared with. */
  baseline?: string;
  records: number;
  /** Payload bytes (records × 1 KiB value): the unit ProducerPerformance reports. */
  payloadBytes: number;
  seconds: number;
  recordsPerSec: number;
  mbPerSec: number;
  ratio?: number;
  /** The tool's own duration (its report's duration_ms: no process start or module loading), as ConsumerPerformance's fetch time. */
  toolSeconds?: number;
  toolRatio?: number;
  peakRssMb?: number;
  cpuSeconds?: number;
  /** CPU seconds of the broker and of MinIO during the measurement. */
  serverCpu?: Record<string, number>;
  extra?: Record<string, number | string>;
}

interface Timed {
  /** CPU seconds the servers (broker, MinIO) spent while the command ran. */
  serverCpu: Record<string, number>;
  stdout: string;
  stderr: string;
  code: number;
  wallSeconds: number;
  peakRssMb: number;
  cpuSeconds: number;
}

/** The servers whose CPU each measurement also records: name → process group id. */
const SERVERS = new Map<string, number>();
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** User + system CPU seconds of every live process of a process group (the watchdog's group: broker or MinIO). */
function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // Fields after the command name: state ppid pgrp ... utime (14th field) stime (15th).
      const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ');
      if (Number(f[2]) === pgid || Number(d) === pgid) ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // The process ended while we read.
    }
  }
  return ticks / CLOCK_TICKS;
}

/** Runs a command under /usr/bin/time -v and reports its wall time, peak RSS and CPU seconds. */
function timed(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Timed> {
  // Dirty pages of the step before (the load's 2 GB of log, the last backup) are written back first, so
  // their writeback does not run on the two cores during this measurement.
  execFileSync('sync');
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const cpuBefore = new Map([...SERVERS].map(([name, pgid]) => [name, groupCpuSeconds(pgid)]));
    const child = spawn('/usr/bin/time', ['-v', cmd, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      const num = (re: RegExp) => Number(re.exec(stderr)?.[1] ?? NaN);
      resolve({
        serverCpu: Object.fromEntries([...SERVERS].map(([name, pgid]) => [name, groupCpuSeconds(pgid) - cpuBefore.get(name)!])),
        stdout,
        stderr,
        code: code ?? -1,
        wallSeconds,
        peakRssMb: num(/Maximum resident set size \(kbytes\): (\d+)/) / 1024,
        cpuSeconds: num(/User time \(seconds\): ([\d.]+)/) + num(/System time \(seconds\): ([\d.]+)/),
      });
    });
  });
}

function must(t: Timed, what: string): Timed {
  if (t.code !== 0) throw new Error(`${what} exited with ${t.code}\n${t.stdout.slice(-2000)}\n${t.stderr.slice(-4000)}`);
  return t;
}

function measure(name: string, records: number, seconds: number, t?: Timed, baseline?: Measure, extra?: Measure['extra'], toolSeconds?: number): Measure {
  const m: Measure = {
    name,
    records,
    payloadBytes: records * RECORD_SIZE,
    seconds,
    recordsPerSec: records / seconds,
    mbPerSec: (records * RECORD_SIZE) / seconds / 1e6,
  };
  if (baseline) {
    m.baseline = baseline.name;
    m.ratio = m.recordsPerSec / baseline.recordsPerSec;
  }
  if (toolSeconds !== undefined) {
    m.toolSeconds = toolSeconds;
    if (baseline) m.toolRatio = records / toolSeconds / baseline.recordsPerSec;
  }
  if (t) {
    m.peakRssMb = t.peakRssMb;
    m.cpuSeconds = t.cpuSeconds;
    m.serverCpu = t.serverCpu;
  }
  if (extra) m.extra = extra;
  return m;
}

function combine(name: string, parts: Measure[]): Measure {
  const records = parts.reduce((n, p) => n + p.records, 0);
  const seconds = parts.reduce((n, p) => n + p.seconds, 0);
  const m = measure(name, records, seconds);
  m.peakRssMb = Math.max(...parts.map((p) => p.peakRssMb ?? 0));
  m.cpuSeconds = parts.reduce((n, p) => n + (p.cpuSeconds ?? 0), 0);
  m.serverCpu = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.serverCpu ?? {})) m.serverCpu[k] = (m.serverCpu[k] ?? 0) + v;
  return m;
}

function log(s: string): void {
  process.stderr.write(`[bench] ${s}\n`);
}

/** tsc, then the Kafka bundle as `npm run build` makes it: the figures are those of the installed command. */
async function buildTool(root = ROOT, dist = DIST, plain: string | undefined = DIST_PLAIN): Promise<string> {
  log(`compiling the tool (tsc)${root === ROOT ? '' : ` from ${root}`} ...`);
  rmSync(dist, { recursive: true, force: true });
  if (plain) rmSync(plain, { recursive: true, force: true });
  try {
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json'), '--outDir', dist, '--sourceMap', 'false'],
      { cwd: root, stdio: 'pipe' },
    );
  } catch {
    // Type errors elsewhere in the checkout (tests being written) do not stop the emit.
  }
  const entry = join(dist, 'src', 'cli', 'run.js');
  if (!existsSync(entry)) throw new Error(`tsc did not produce ${entry}`);
  if (plain) cpSync(dist, plain, { recursive: true });
  const lib = join(dist, 'src', 'kafka', 'lib.js');
  await bundleKafka(lib, `${lib}.bundle`);
  renameSync(`${lib}.bundle`, lib);
  return entry;
}

/** The backup section's YAML with `key: value` lines set (a key already there is replaced). */
function withLines(yaml: string, lines: string[]): string {
  const keys = lines.map((l) => l.split(':')[0]!.trim());
  const kept = yaml.split('\n').filter((l) => !keys.some((k) => l.startsWith(`  ${k}:`)));
  return `${kept.join('\n').replace(/\n*$/, '\n')}${lines.map((l) => `  ${l}\n`).join('')}`;
}

/** ConsumerPerformance over every topic (its fetch time, as it reports it), in a consumer group of its own. */
async function consumeBaseline(bootstrap: string, topics: TopicSpec[], group: string): Promise<Measure> {
  const consume: Measure[] = [];
  for (const t of topics) {
    log(`ConsumerPerformance: ${t.name} ...`);
    const r = must(
      await timed('java', [
        '-Xmx512m',
        '-cp',
        JARS,
        'org.apache.kafka.tools.ConsumerPerformance',
        '--bootstrap-server',
        bootstrap,
        '--topic',
        t.name,
        '--messages',
        String(t.records),
        '--timeout',
        '60000',
        '--hide-header',
        '--group',
        `${group}-${t.name}`,
      ]),
      'ConsumerPerformance',
    );
    // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, ...
    const row = r.stdout
      .trim()
      .split('\n')
      .filter((l) => l.includes(','))
      .at(-1)!
      .split(',')
      .map((s) => s.trim());
    consume.push(measure(t.name, Number(row[4]), Number(row[7]) / 1000, r));
  }
  return combine('ConsumerPerformance (baseline)', consume);
}

function buildInterceptor(): void {
  mkdirSync(CLASSES, { recursive: true });
  execFileSync('javac', ['-d', CLASSES, '-cp', JARS, join(ROOT, 'bench', 'java', 'BenchInterceptor.java')], { stdio: 'inherit' });
}

function indexedRecords(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || e.name !== 'index.json') continue;
    const idx = JSON.parse(readFileSync(join(e.parentPath, e.name), 'utf8')) as { segments: { record_count: number }[] };
    n += idx.segments.reduce((k, s) => k + s.record_count, 0);
  }
  return n;
}

function dirBytes(dir: string, suffix: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith(suffix)) n += statSync(join(e.parentPath, e.name)).size;
  }
  return n;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!kafkaInstalled()) execFileSync('bash', [join(ROOT, 'scripts/install-kafka.sh')], { stdio: 'inherit' });
  if (args.s3 && !minioInstalled()) execFileSync('bash', [join(ROOT, 'scripts/install-minio.sh')], { stdio: 'inherit' });
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  buildInterceptor();
  const tool = await buildTool();

  const totalRecords = Math.round((args.sizeMb * 1024 * 1024) / RECORD_SIZE);
  const topics: TopicSpec[] = [
    { name: 'bench-lz4-a', partitions: 6, compression: 'lz4', share: 0.4, records: 0 },
    { name: 'bench-lz4-b', partitions: 4, compression: 'lz4', share: 0.3, records: 0 },
    { name: 'bench-none', partitions: 4, compression: 'none', share: 0.3, records: 0 },
  ];
  for (const t of topics) t.records = Math.round(totalRecords * t.share);
  const allRecords = topics.reduce((n, t) => n + t.records, 0);

  log(`starting Kafka${args.s3 ? ' and MinIO' : ''} ...`);
  const kafka: RunningKafka = await startKafka({ heap: '1g', brokerConfig: { 'log.segment.bytes': 256 * 1024 * 1024, 'num.io.threads': 4 } });
  SERVERS.set('broker', kafka.pid);
  let minio: RunningMinio | undefined;
  const results: Measure[] = [];
  const started = Date.now();
  try {
    if (args.s3) {
      minio = await startMinio();
      SERVERS.set('minio', minio.pid);
      await createBucket(minio, 'bench');
    }
    const admin = new KafkaAdmin({ bootstrapServers: [kafka.bootstrap] });
    for (const t of topics) await admin.createTopic(t.name, t.partitions, 1, {});
    await admin.close();

    // ---- load = produce baseline -------------------------------------------------------------
    const produce: Measure[] = [];
    for (const t of topics) {
      log(`ProducerPerformance: ${t.records} records into ${t.name} (${t.compression}) ...`);
      const r = must(
        await timed('java', [
          '-Xmx512m',
          '-cp',
          `${JARS}:${CLASSES}`,
          'org.apache.kafka.tools.ProducerPerformance',
          '--topic',
          t.name,
          '--num-records',
          String(t.records),
          '--record-size',
          String(RECORD_SIZE),
          '--throughput',
          '-1',
          '--producer-props',
          `bootstrap.servers=${kafka.bootstrap}`,
          `compression.type=${t.compression}`,
          'acks=all',
          'linger.ms=5',
          'batch.size=65536',
          'interceptor.classes=BenchInterceptor',
          `bench.ts.base=${TS_BASE}`,
          `bench.values=${args.values}`,
        ]),
        'ProducerPerformance',
      );
      // "N records sent, R records/sec (M MB/sec), ..." is its summary line: the last one (the others are 5 s progress lines).
      const line = [...r.stdout.matchAll(/(\d+) records sent, ([\d.]+) records\/sec/g)].at(-1);
      if (!line) throw new Error(`cannot parse ProducerPerformance output:\n${r.stdout.slice(-1000)}`);
      produce.push(measure(t.name, Number(line[1]), Number(line[1]) / Number(line[2]), r));
    }
    const produceBase = combine('ProducerPerformance (baseline)', produce);
    results.push(produceBase);

    // ---- consume baseline --------------------------------------------------------------------
    const consumeBase = await consumeBaseline(kafka.bootstrap, topics, 'bench');
    results.push(consumeBase);

    // ---- backup ------------------------------------------------------------------------------
    const fsRoot = join(WORK, 'backups');
    const source = `source:\n  bootstrap_servers: ["${kafka.bootstrap}"]\n  topics:\n    include: [${topics.map((t) => t.name).join(', ')}]\n`;
    const fsStorage = `storage:\n  backend: filesystem\n  path: ${JSON.stringify(fsRoot)}\n`;
    const s3Storage = minio
      ? `storage:\n  backend: s3\n  bucket: bench\n  region: ${minio.region}\n  endpoint: ${minio.endpoint}\n  allow_http: true\n  path_style: true\n  access_key: ${minio.accessKey}\n  secret_key: ${minio.secretKey}\n`
      : '';
    const nodeArgs = (name: string): string[] =>
      args.profile ? ['--cpu-prof', '--cpu-prof-dir', join(WORK, 'profiles'), '--cpu-prof-name', `${name}.cpuprofile`] : [];
    /** A/B variant B (`--ab`): another build, more environment, more node options. */
    interface Variant {
      entry: string;
      env: Record<string, string>;
      nodeArgs: string[];
    }
    const runTool = async (name: string, command: string, yaml: string, extraArgs: string[] = [], variant?: Variant): Promise<Timed> => {
      const cfg = join(WORK, `${name}.yaml`);
      writeFileSync(cfg, yaml);
      log(`kafka-backup ${command} (${name}) ...`);
      // The malloc setting and the compile cache bin/kafka-backup starts the CLI with, so the figures are those of the command users run.
      const env = { ...LAUNCHER_ENV, NODE_COMPILE_CACHE: COMPILE_CACHE, ...variant?.env };
      const argv = [...nodeArgs(name), ...(variant?.nodeArgs ?? []), variant?.entry ?? tool, command, '--config', cfg, ...extraArgs];
      return must(await timed(process.execPath, argv, env), `kafka-backup ${command} (${name})`);
    };
    const mapping = (prefix: string) => `  topic_mapping:\n${topics.map((t) => `    ${t.name}: ${prefix}-${t.name}\n`).join('')}`;
    const restoreYaml = (id: string, storage: string, prefix: string, window = '') =>
      `mode: restore\nbackup_id: ${id}\ntarget:\n  bootstrap_servers: ["${kafka.bootstrap}"]\n${storage}restore:\n${mapping(prefix)}${window}`;
    const backupYaml = (id: string, storage: string, concurrency = 8, compression = 'compression: zstd') =>
      `mode: backup\nbackup_id: ${id}\n${source}${storage}backup:\n  ${compression.replace(/, /g, '\n  ')}\n  max_concurrent_partitions: ${concurrency}\n${args.fetchMb ? `  fetch_max_bytes: ${args.fetchMb * 1024 * 1024}\n` : ''}`;

    // The report is the JSON object at the end of stdout (node's --trace-gc, in an A/B variant, prints before it).
    const toolSecs = (t: Timed): number => (JSON.parse(t.stdout.slice(t.stdout.search(/^\{/m))) as { duration_ms: number }).duration_ms / 1000;
    const bfs = await runTool('backup-fs', 'backup', backupYaml('bench-fs', fsStorage), ['--format', 'json']);
    const storedBytes = dirBytes(join(fsRoot, 'bench-fs'), '.kbseg');
    results.push(measure('backup → filesystem', allRecords, bfs.wallSeconds, bfs, consumeBase, { stored_mb: +(storedBytes / 1e6).toFixed(1) }, toolSecs(bfs)));
    if (minio) {
      const bs3 = await runTool('backup-s3', 'backup', backupYaml('bench-s3', s3Storage), ['--format', 'json']);
      results.push(measure('backup → S3 (MinIO)', allRecords, bs3.wallSeconds, bs3, consumeBase, undefined, toolSecs(bs3)));
    }

    if (args.ab > 0) {
      const variantB: Variant = {
        entry: args.bRoot ? await buildTool(args.bRoot, join(WORK, 'dist-b'), undefined) : tool,
        env: args.bEnv,
        nodeArgs: args.bNodeArgs,
      };
      const runSide = async (side: string, id: string, command: string, yaml: string): Promise<Timed> => {
        const t = await runTool(id, command, yaml, ['--format', 'json'], side === 'B' ? variantB : undefined);
        writeFileSync(join(WORK, `${id}.stdout`), t.stdout);
        return t;
      };
      for (let round = 1; round <= args.ab; round++) {
        const base = await consumeBaseline(kafka.bootstrap, topics, `bench-ab${round}`);
        base.name = `ConsumerPerformance, round ${round}`;
        results.push(base);
        // Alternate which goes first, so neither always runs right after the JVM.
        const sides = round % 2 ? ['A', 'B'] : ['B', 'A'];
        for (const side of sides) {
          const id = `bench-ab-${round}-${side}`;
          const t = await runSide(side, id, 'backup', side === 'B' ? withLines(backupYaml(id, fsStorage), args.bYaml) : backupYaml(id, fsStorage));
          results.push(measure(`backup → filesystem, ${side}, round ${round}`, allRecords, t.wallSeconds, t, base, undefined, toolSecs(t)));
          rmSync(join(fsRoot, id), { recursive: true, force: true });
        }
        // The full restore of the first backup into new topics, as A and as B (B's backup-section lines do not apply).
        for (const side of args.abRestore ? sides : []) {
          const id = `bench-ab-restore-${round}-${side}`;
          const t = await runSide(side, id, 'restore', restoreYaml('bench-fs', fsStorage, `ab${round}${side}`));
          results.push(measure(`restore (full), ${side}, round ${round}`, allRecords, t.wallSeconds, t, produceBase, undefined, toolSecs(t)));
        }
      }
    }

    if (args.variants) {
      for (const [tag, c] of [
        ['none', 'compression: none'],
        ['none, segment_digest sha256', 'compression: none, segment_digest: sha256'],
        ['segment_digest sha256', 'compression: zstd, segment_digest: sha256'],
        ['zstd level 1', 'compression: zstd, compression_level: 1'],
      ] as const) {
        const id = `bench-fs-${tag.replace(/ /g, '').replace(/,/g, '-')}`;
        const b = await runTool(`backup-fs-${tag.replace(/ /g, '').replace(/,/g, '-')}`, 'backup', backupYaml(id, fsStorage, 8, c), ['--format', 'json']);
        results.push(
          measure(
            `backup → filesystem, ${tag}`,
            allRecords,
            b.wallSeconds,
            b,
            consumeBase,
            { stored_mb: +(dirBytes(join(fsRoot, id), '.kbseg') / 1e6).toFixed(1) },
            toolSecs(b),
          ),
        );
        rmSync(join(fsRoot, id), { recursive: true, force: true });
      }
    }

    // ---- restore -----------------------------------------------------------------------------
    if (args.restore) {
      const rfull = await runTool('restore-full', 'restore', restoreYaml('bench-fs', fsStorage, 'restored'), ['--format', 'json']);
      const full = JSON.parse(rfull.stdout) as {
        records_restored: number;
        bytes_read: number;
        bytes_in_backup: number;
        reused_batches: number;
        rebuilt_batches: number;
      };
      const fullMeasure = measure(
        'restore (full) ← filesystem',
        full.records_restored,
        rfull.wallSeconds,
        rfull,
        produceBase,
        {
          reused_batches: full.reused_batches,
          rebuilt_batches: full.rebuilt_batches,
        },
        toolSecs(rfull),
      );
      results.push(fullMeasure);

      // A 1 % window: timestamps are TS_BASE + record number in each topic, so [50 %, 51 %) of every topic.
      const start = TS_BASE + Math.floor(Math.min(...topics.map((t) => t.records)) * 0.5);
      const span = Math.floor(Math.min(...topics.map((t) => t.records)) * 0.01);
      const win = `  time_window_start: ${start}\n  time_window_end: ${start + span - 1}\n`;
      const rpitr = await runTool('restore-pitr', 'restore', restoreYaml('bench-fs', fsStorage, 'pitr', win), ['--format', 'json']);
      const pitr = JSON.parse(rpitr.stdout) as typeof full;
      const windowBytes = (pitr.bytes_in_backup * pitr.records_restored) / allRecords;
      results.push(
        measure(
          'restore (1 % PITR) ← filesystem',
          pitr.records_restored,
          rpitr.wallSeconds,
          rpitr,
          produceBase,
          {
            bytes_read_mb: +(pitr.bytes_read / 1e6).toFixed(2),
            window_bytes_mb: +(windowBytes / 1e6).toFixed(2),
            read_share_of_backup_pct: +((100 * pitr.bytes_read) / pitr.bytes_in_backup).toFixed(2),
            time_vs_full_pct: +((100 * rpitr.wallSeconds) / rfull.wallSeconds).toFixed(1),
          },
          toolSecs(rpitr),
        ),
      );
      if (args.startup > 0) results.push(...(await startupRounds(args.startup, (prefix) => restoreYaml('bench-fs', fsStorage, prefix, win))));
      if (minio) {
        const rs3 = await runTool('restore-s3', 'restore', restoreYaml('bench-s3', s3Storage, 'restored-s3'), ['--format', 'json']);
        const r = JSON.parse(rs3.stdout) as typeof full;
        results.push(measure('restore (full) ← S3 (MinIO)', r.records_restored, rs3.wallSeconds, rs3, produceBase, undefined, toolSecs(rs3)));
      }
    }

    // ---- scaling curve -----------------------------------------------------------------------
    if (args.curve) {
      for (const c of [1, 2, 4, 8]) {
        const b = await runTool(`backup-fs-c${c}`, 'backup', backupYaml(`bench-fs-c${c}`, fsStorage, c), ['--format', 'json']);
        results.push(measure(`backup → filesystem, max_concurrent_partitions ${c}`, allRecords, b.wallSeconds, b, consumeBase, undefined, toolSecs(b)));
        rmSync(join(fsRoot, `bench-fs-c${c}`), { recursive: true, force: true });
      }
    }

    // ---- workers: one snapshot shared by N processes (backup.workers) --------------------------
    // On this machine the N processes share its cores: what this shows is that throughput does not
    // fall and nothing is lost as workers are added (docs/performance.md), not the gain on N machines.
    if (args.workers) {
      for (const n of [1, 2, 3]) {
        const id = `bench-workers-${n}`;
        const yaml = `${backupYaml(id, fsStorage, 8)}  workers:\n    group_id: ${id}\n    session_timeout_ms: 30000\n`;
        const cfg = join(WORK, `${id}.yaml`);
        writeFileSync(cfg, yaml);
        log(`kafka-backup backup (${n} workers) ...`);
        const env = LAUNCHER_ENV;
        const t0 = Date.now();
        const runs = await Promise.all(
          Array.from({ length: n }, async () =>
            must(await timed(process.execPath, [tool, 'backup', '--config', cfg, '--format', 'json'], env), `kafka-backup backup (${n} workers)`),
          ),
        );
        const wall = (Date.now() - t0) / 1000;
        const m = measure(`backup → filesystem, ${n} worker${n > 1 ? 's' : ''}`, allRecords, wall, undefined, consumeBase, {
          peak_rss_mb_per_worker: Math.round(Math.max(...runs.map((r) => r.peakRssMb))),
          // From the partition indexes: every record exactly once, whichever worker stored it.
          records_in_backup: indexedRecords(join(fsRoot, id)),
        });
        m.cpuSeconds = runs.reduce((k, r) => k + r.cpuSeconds, 0);
        results.push(m);
        rmSync(join(fsRoot, id), { recursive: true, force: true });
      }
    }
  } finally {
    await minio?.stop().catch(() => {});
    await kafka.stop().catch(() => {});
    if (!args.keep) rmSync(join(WORK, 'backups'), { recursive: true, force: true });
  }

  const out = {
    at: new Date().toISOString(),
    args,
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    dataset: { records: allRecords, record_size: RECORD_SIZE, payload_mb: +((allRecords * RECORD_SIZE) / 1e6).toFixed(1), topics },
    duration_s: Math.round((Date.now() - started) / 1000),
    results,
  };
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'latest.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(table(results));
  console.log(
    `\ndata set: ${allRecords} records of ${RECORD_SIZE} B in ${topics.length} topics / ${topics.reduce((n, t) => n + t.partitions, 0)} partitions; ratios are records/s against the baseline named: "ratio" with our whole process's wall time (node start to exit), "ratio in-tool" with the duration the tool reports (no process start, like ConsumerPerformance's fetch time); MB/s = payload (1 KiB values) per second`,
  );
  for (const r of results)
    if (r.extra)
      console.log(
        `  ${r.name}: ${Object.entries(r.extra)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}`,
      );
  console.log(`wrote bench/results/latest.json (run took ${out.duration_s} s)`);
}

/**
 * The start-up levers, alternated in one run: the 1 % PITR restore and `--version` as built (Kafka bundle,
 * compile cache), with the bundle but no cache, and tsc's output alone (the library's root module, no cache).
 * Each PITR round restores into new topics, so every round creates its targets as the measured one did.
 */
async function startupRounds(rounds: number, pitrYaml: (prefix: string) => string): Promise<Measure[]> {
  const variants: { tag: string; dist: string; env: Record<string, string> }[] = [
    { tag: 'bundle + compile cache', dist: DIST, env: { NODE_COMPILE_CACHE: COMPILE_CACHE } },
    { tag: 'bundle, no cache', dist: DIST, env: { NODE_DISABLE_COMPILE_CACHE: '1' } },
    { tag: 'tsc output, no cache', dist: DIST_PLAIN, env: { NODE_DISABLE_COMPILE_CACHE: '1' } },
  ];
  const runs = new Map<string, { pitr: Timed[]; version: Timed[]; tool: number[]; records: number }>();
  for (let r = 0; r < rounds; r++) {
    for (const [i, v] of variants.entries()) {
      const entry = join(v.dist, 'src', 'cli', 'run.js');
      const env = { ...LAUNCHER_ENV, ...v.env };
      const cfg = join(WORK, `startup-${r}-${i}.yaml`);
      writeFileSync(cfg, pitrYaml(`startup-${r}-${i}`));
      log(`start-up round ${r + 1}/${rounds}: ${v.tag} ...`);
      const pitr = must(await timed(process.execPath, [entry, 'restore', '--config', cfg, '--format', 'json'], env), `PITR restore (${v.tag})`);
      const version = must(await timed(process.execPath, [entry, '--version'], env), `--version (${v.tag})`);
      const rep = JSON.parse(pitr.stdout) as { records_restored: number; duration_ms: number };
      const acc = runs.get(v.tag) ?? { pitr: [], version: [], tool: [], records: rep.records_restored };
      acc.pitr.push(pitr);
      acc.version.push(version);
      acc.tool.push(rep.duration_ms / 1000);
      runs.set(v.tag, acc);
    }
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const out: Measure[] = [];
  for (const [tag, acc] of runs) {
    const m = measure(
      `restore (1 % PITR), ${tag}, median of ${rounds}`,
      acc.records,
      median(acc.pitr.map((t) => t.wallSeconds)),
      undefined,
      undefined,
      {
        version_wall_s: +median(acc.version.map((t) => t.wallSeconds)).toFixed(3),
        version_cpu_s: +median(acc.version.map((t) => t.cpuSeconds)).toFixed(3),
        pitr_wall_s_all: acc.pitr.map((t) => t.wallSeconds.toFixed(2)).join('/'),
      },
      median(acc.tool),
    );
    m.peakRssMb = median(acc.pitr.map((t) => t.peakRssMb));
    m.cpuSeconds = median(acc.pitr.map((t) => t.cpuSeconds));
    out.push(m);
  }
  return out;
}

function table(rows: Measure[]): string {
  const head = [
    'measurement',
    'records',
    'seconds',
    'records/s',
    'MB/s',
    'ratio',
    'vs',
    'in-tool s',
    'ratio in-tool',
    'peak RSS MB',
    'CPU s',
    'broker CPU s',
    'MinIO CPU s',
  ];
  const body = rows.map((r) => [
    r.name,
    String(r.records),
    r.seconds.toFixed(2),
    Math.round(r.recordsPerSec).toLocaleString('en-US'),
    r.mbPerSec.toFixed(1),
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`,
    r.baseline ? r.baseline.replace(' (baseline)', '') : '',
    r.toolSeconds === undefined ? '' : r.toolSeconds.toFixed(2),
    r.toolRatio === undefined ? '' : `${r.toolRatio.toFixed(2)}×`,
    r.peakRssMb === undefined ? '' : Math.round(r.peakRssMb).toString(),
    r.cpuSeconds === undefined ? '' : r.cpuSeconds.toFixed(1),
    r.serverCpu?.broker === undefined ? '' : r.serverCpu.broker.toFixed(1),
    r.serverCpu?.minio === undefined ? '' : r.serverCpu.minio.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 1) + '-' : '-'.repeat(w + 1) + ':')).join('|')}|`, ...body.map(line)].join('\n');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
