/**
 * Test entry point (`npm test`).
 *
 *   npm test                              unit + integration tests, with a shared Kafka and MinIO
 *   npm test -- test/unit/foo.test.ts     just these files (servers only if an integration file is among them)
 *   npm test -- --test-name-pattern=crc   extra options go to `node --test` (use the --opt=value form)
 *   npm run test:unit                     unit tests only, no servers
 *   npm run test:integration              integration tests only
 *
 * Steps: install Kafka jars / MinIO / fake-gcs-server if missing (scripts/install-*.sh), start one broker
 * (PLAINTEXT + SASL/SCRAM + TLS listeners) and one MinIO, run
 * `node --import tsx --test --test-reporter=spec <files>` with KB_TEST_* in the
 * environment, stop both servers (also on SIGINT/SIGTERM) and exit with the runner's code.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, globSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startKafka, type RunningKafka } from './kafka.js';
import { startMinio, type RunningMinio } from './minio.js';
import { ROOT } from './proc.js';
import { SHARED_KAFKA_OPTIONS, kafkaEnv } from '../test/helpers/kafka.js';
import { minioEnv } from '../test/helpers/minio.js';

const UNIT = 'test/unit/**/*.test.ts';
const INTEGRATION = 'test/integration/**/*.test.ts';

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  console.error(`run-tests: node ${process.version} is too old; run through npm (node_modules/.bin/node is v22)`);
  process.exit(1);
}

const argv = process.argv.slice(2);
let mode: 'all' | 'unit' | 'integration' = 'all';
const nodeOpts: string[] = [];
const files: string[] = [];
for (const a of argv) {
  if (a === '--unit') mode = 'unit';
  else if (a === '--integration') mode = 'integration';
  else if (a.startsWith('-')) nodeOpts.push(a);
  else files.push(a);
}

const requested = files.length ? files : mode === 'unit' ? [UNIT] : mode === 'integration' ? [INTEGRATION] : [UNIT, INTEGRATION];

/** Expands a pattern/dir/file to test files (relative to ROOT), for deciding what we need. */
function expand(p: string): string[] {
  const abs = join(ROOT, p);
  if (existsSync(abs) && statSync(abs).isDirectory()) return globSync(`${p.replace(/\/+$/, '')}/**/*.test.ts`, { cwd: ROOT });
  if (existsSync(abs)) return [p];
  return globSync(p, { cwd: ROOT });
}
// Default globs that match nothing (e.g. no integration tests yet) are dropped.
const patterns = requested.filter((p) => files.length > 0 || expand(p).length > 0);
const selected = patterns.flatMap((p) => expand(p).map((f) => relative(ROOT, join(ROOT, f))));
if (selected.length === 0) {
  console.error(`run-tests: no test files match ${patterns.join(' ')}`);
  process.exit(1);
}
// Servers are needed unless every selected file is a unit test.
const needServers = mode !== 'unit' && !selected.every((f) => f.startsWith('test/unit/')) && process.env.KB_TEST_NO_SERVERS !== '1';

let kafka: RunningKafka | undefined;
let minio: RunningMinio | undefined;
let child: ChildProcess | undefined;
let stopping: Promise<void> | undefined;

function stopServers(): Promise<void> {
  stopping ??= (async () => {
    await Promise.allSettled([kafka?.stop(), minio?.stop()]);
  })();
  return stopping;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\nrun-tests: ${sig}, stopping test servers ...`);
    if (child && child.exitCode === null) child.kill(sig);
    void stopServers().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}

function secs(t0: number): string {
  return `${((Date.now() - t0) / 1000).toFixed(1)}s`;
}

function install(script: string): void {
  const r = spawnSync('bash', [join(ROOT, 'scripts', script)], { stdio: 'inherit', cwd: ROOT });
  if (r.status !== 0) throw new Error(`scripts/${script} failed (exit ${r.status ?? r.signal})`);
}

let code = 1;
try {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (needServers) {
    install('install-kafka.sh');
    install('install-minio.sh');
    // Started by the GCS test file itself (like Azurite), only installed here.
    install('install-fake-gcs.sh');
    const t0 = Date.now();
    [kafka, minio] = await Promise.all([startKafka(SHARED_KAFKA_OPTIONS), startMinio()]);
    console.log(
      `run-tests: kafka ${kafka.bootstrap} (sasl ${kafka.security?.sasl?.bootstrap}, tls ${kafka.security?.tls?.bootstrap}), minio ${minio.endpoint} — up in ${secs(t0)}`,
    );
    Object.assign(env, kafkaEnv(kafka), minioEnv(minio));
  }
  // No --test-force-exit: with several files in parallel it silently drops test verdicts (whole
  // tails of files, exit code 0; nodejs/node#64833), which once hid 14 tests of a run here.
  // test/helpers/exit-guard.ts: a file that does not exit after its last test fails, naming what is open.
  const guard = pathToFileURL(join(ROOT, 'test', 'helpers', 'exit-guard.ts')).href;
  // A test that hangs fails after 15 minutes instead of holding the whole run until CI's limit (tests that need
  // longer say so with their own `timeout`); `--test-timeout=N` on the command line overrides it.
  const timeout = nodeOpts.some((o) => o.startsWith('--test-timeout')) ? [] : ['--test-timeout=900000'];
  const args = ['--import', 'tsx', '--import', guard, '--test', '--test-reporter=spec', ...timeout, ...nodeOpts, ...patterns];
  console.log(`run-tests: node ${process.version}: node ${args.join(' ')}`);
  const t1 = Date.now();
  child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: 'inherit' });
  code = await new Promise<number>((res) => {
    child!.once('exit', (c, s) => res(c ?? (s === 'SIGINT' ? 130 : 1)));
    child!.once('error', (e) => {
      console.error(`run-tests: ${e.message}`);
      res(1);
    });
  });
  console.log(`run-tests: test run finished in ${secs(t1)} with exit code ${code}`);
} catch (err) {
  console.error(`run-tests: ${(err as Error).stack ?? String(err)}`);
  code = 1;
} finally {
  await stopServers();
}
process.exit(code);
