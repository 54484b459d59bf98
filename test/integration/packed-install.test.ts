// The package as users get it: `npm pack`, then a global install of the tarball into a clean prefix,
// run with a plain PATH (no tsx, no checkout), backing up and restoring against the test broker.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';

const ROOT = join(import.meta.dirname, '..', '..');
const NODE22_DIR = dirname(process.execPath);
/** What a user's shell has: Node 22 and the system tools, nothing from the checkout. */
const USER_PATH = `${NODE22_DIR}:/usr/local/bin:/usr/bin:/bin`;

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 300_000, cwd: opts.cwd, env: opts.env ?? { ...process.env, PATH: USER_PATH } });
  if (r.error) throw r.error;
  return r;
}

describe('the packed and globally installed package', () => {
  let work: string;
  let tarball: string;
  let prefix: string;
  let bin: string;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'kb-pack-'));
    // Pack a copy of the checkout, so the build that `prepack` runs never leaves a dist/ in the checkout
    // (the launcher there would run it instead of the sources the other tests use).
    const stage = join(work, 'stage');
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'bin', 'src', 'docs', 'scripts']) {
      cpSync(join(ROOT, f), join(stage, f), { recursive: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'));
    const pack = run('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: stage,
      env: { ...process.env, PATH: `${NODE22_DIR}:${process.env.PATH ?? ''}` },
    });
    assert.equal(pack.status, 0, pack.stderr);
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string }[];
    tarball = join(work, info!.filename);
    prefix = join(work, 'prefix');
    // --ignore-scripts: the tool and its runtime dependencies need no install script (docs/security.md).
    const inst = run('npm', ['install', '--global', '--prefix', prefix, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', tarball]);
    assert.equal(inst.status, 0, inst.stderr);
    bin = join(prefix, 'bin', 'kafka-backup');
  });
  after(async () => {
    rmSync(work, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('the tarball holds the compiled CLI and no sources, tests or second Node', () => {
    const list = run('tar', ['tzf', tarball]).stdout.split('\n');
    assert.ok(list.includes('package/dist/src/cli/main.js'), 'compiled CLI in the tarball');
    assert.ok(list.includes('package/bin/kafka-backup') && list.includes('package/bin/kafka-backup.js'));
    assert.deepEqual(
      list.filter((f) => /^package\/(src|test|scripts|bench)\//.test(f) || f.endsWith('.ts')),
      [],
    );
    const installed = join(prefix, 'lib', 'node_modules', 'kafka-backup');
    assert.ok(existsSync(join(installed, 'dist', 'src', 'cli', 'main.js')));
    // The build's bundle of the Kafka library symbols (scripts/bundle-kafka.ts), not tsc's re-export of the whole library.
    const kafkaLib = readFileSync(join(installed, 'dist', 'src', 'kafka', 'lib.js'), 'utf8');
    assert.doesNotMatch(kafkaLib, /from ['"]@platformatic\/kafka['"]/);
    assert.match(kafkaLib, /__lazyCompile\(ajv, /);
    assert.equal(existsSync(join(installed, 'node_modules', 'node')), false, 'the npm `node` package is not installed with the tool');
    assert.equal(existsSync(join(installed, 'node_modules', 'tsx')), false, 'tsx is not a runtime dependency');
    assert.ok(readdirSync(join(installed, 'node_modules')).length > 0);
  });

  test('kafka-backup --version and --help run from the install', () => {
    const v = run(bin, ['--version']);
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /^kafka-backup \d+\.\d+\.\d+/);
    const h = run(bin, ['restore', '--help']);
    assert.equal(h.status, 0, h.stderr);
    assert.match(h.stdout, /--config/);
  });

  test('an older Node gets a one-line error naming the version needed', (t) => {
    const sys = spawnSync('sh', ['-c', 'command -v node'], { encoding: 'utf8', env: { PATH: '/usr/local/bin:/usr/bin:/bin' } }).stdout.trim();
    const version = sys ? spawnSync(sys, ['--version'], { encoding: 'utf8' }).stdout.trim() : '';
    const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
    if (!sys || major > 22 || (major === 22 && minor >= 22)) {
      t.skip(`no Node older than 22.22 on this machine (${version || 'none'})`);
      return;
    }
    const r = run(bin, ['--version'], { env: { ...process.env, PATH: dirname(sys) + ':/usr/bin:/bin' } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error: kafka-backup needs Node\.js 22\.22 or newer; this is v\d+/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  test('a backup and a restore through the installed command', async () => {
    const { bootstrap } = await getTestKafka();
    const topic = uniqueTopic('packed');
    const target = `${topic}-restored`;
    await createTopic(bootstrap, topic, 1);
    await produce(bootstrap, topic, 0, awkwardRecords(300, Date.UTC(2024, 10, 10), 5), 'zstd');
    const backups = join(work, 'backups');
    const backupCfg = join(work, 'backup.yaml');
    writeFileSync(
      backupCfg,
      `mode: backup\nbackup_id: packed\nsource:\n  bootstrap_servers: ["${bootstrap}"]\n  topics:\n    include: ["${topic}"]\nstorage:\n  backend: filesystem\n  path: ${backups}\n`,
    );
    const b = run(bin, ['backup', '--config', backupCfg]);
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stdout, /Records: 300/);
    const restoreCfg = join(work, 'restore.yaml');
    writeFileSync(
      restoreCfg,
      `mode: restore\nbackup_id: packed\ntarget:\n  bootstrap_servers: ["${bootstrap}"]\nstorage:\n  backend: filesystem\n  path: ${backups}\nrestore:\n  topic_mapping: { "${topic}": "${target}" }\n`,
    );
    const r = run(bin, ['restore', '--config', restoreCfg]);
    assert.equal(r.status, 0, r.stderr);
    const source = (await consumeAll(bootstrap, topic, 0)).map((x) => recordKey(x, true));
    const restored = (await consumeAll(bootstrap, target, 0)).map((x) => recordKey(x, true));
    assert.equal(restored.length, 300);
    assert.deepEqual(restored, source);
  });
});
