/**
 * Secrets never leak. Backup and restore run through the CLI at trace level (-vv) with a SASL
 * password (a dedicated broker with a user whose password is a random canary) and an S3 secret
 * key (MinIO), both taken from the environment through ${VAR}. Neither secret (nor its base64 or
 * hex form) may appear in any log line (stdout + stderr), in any report (text, json, the offset
 * report file), or in any stored object: the filesystem backup is walked file by file, and every
 * object of the S3 bucket is listed and fetched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKafka, type RunningKafka } from '../../scripts/kafka.js';
import { openStore } from '../../src/storage/index.js';
import { createTopic, uniqueTopic } from '../helpers/kafka.js';
import { getTestS3, stopTestS3, type TestS3, s3Spec } from '../helpers/minio.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { runCli, type CliResult } from '../helpers/cli.js';

function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  return runCli(args, { env, maxBuffer: 256 * 1024 * 1024 });
}

async function* walk(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

describe('secrets never appear in logs, reports or stored objects', () => {
  const saslPassword = `Lk9-canary-${randomBytes(8).toString('hex')}`;
  const user = 'kb-leak-user';
  let k: RunningKafka;
  let s3: TestS3;
  let bucket: string;
  let dir: string;
  const topic = uniqueTopic('leak');
  let secrets: { name: string; forms: string[] }[];
  /** Every text the tool printed, for the final check. */
  const printed: { what: string; text: string }[] = [];

  function forms(secret: string): string[] {
    return [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')];
  }

  function assertClean(what: string, text: string | Buffer): void {
    const s = Buffer.isBuffer(text) ? text.toString('latin1') : text;
    for (const sec of secrets) {
      for (const f of sec.forms) assert.ok(!s.includes(f), `${sec.name} appears in ${what}`);
    }
  }

  function run(what: string, args: string[], env: NodeJS.ProcessEnv): { code: number; stdout: string; stderr: string } {
    const r = cli(args, env);
    printed.push({ what: `${what} stdout`, text: r.stdout }, { what: `${what} stderr`, text: r.stderr });
    return r;
  }

  before(async () => {
    k = await startKafka({ sasl: { mechanism: 'SCRAM-SHA-512', users: { [user]: saslPassword } } });
    s3 = await getTestS3();
    bucket = await s3.freshBucket();
    secrets = [
      { name: 'the SASL password', forms: forms(saslPassword) },
      { name: 'the S3 secret key', forms: forms(s3.secretKey) },
    ];
    dir = await mkdtemp(join(tmpdir(), 'kb-leak-'));
    await createTopic(k.bootstrap, topic, 2);
    await produce(k.bootstrap, topic, 0, awkwardRecords(120, Date.UTC(2024, 10, 10), 31), 'zstd');
    await produce(k.bootstrap, topic, 1, awkwardRecords(100, Date.UTC(2024, 10, 10), 32), 'none');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await k?.stop();
    await stopTestS3();
  });

  const env = (): NodeJS.ProcessEnv => ({ KB_LEAK_SASL_PASSWORD: saslPassword, KB_LEAK_S3_SECRET: s3.secretKey, KB_LEAK_S3_ACCESS: s3.accessKey });
  const security = (): string =>
    `  security:\n    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: SCRAM-SHA-512\n    sasl_username: ${user}\n    sasl_password: "\${KB_LEAK_SASL_PASSWORD}"\n`;
  const s3Storage = (): string =>
    `storage:\n  backend: s3\n  bucket: ${bucket}\n  prefix: prod/kafka\n  region: ${s3.region}\n  endpoint: ${s3.endpoint}\n  access_key: "\${KB_LEAK_S3_ACCESS}"\n  secret_key: "\${KB_LEAK_S3_SECRET}"\n  path_style: true\n  allow_http: true\n`;
  const fsStorage = (): string => `storage:\n  backend: filesystem\n  path: ${join(dir, 'fs-backups')}\n`;

  for (const backend of ['filesystem', 's3'] as const) {
    test(`${backend}: backup, validate, describe and restore at -vv leak no secret`, async () => {
      const storage = backend === 's3' ? s3Storage() : fsStorage();
      const id = `leak-${backend}`;
      const bcfg = join(dir, `${id}-backup.yaml`);
      await writeFile(
        bcfg,
        `mode: backup\nbackup_id: ${id}\nsource:\n  bootstrap_servers: ["${k.security!.sasl!.bootstrap}"]\n${security()}  topics:\n    include: ["${topic}"]\n${storage}backup:\n  segment_max_bytes: 4096\n  consumer_group_snapshot: true\nmetrics:\n  enabled: false\n`,
      );
      const b = run(`${backend} backup`, ['-vv', 'backup', '--config', bcfg], env());
      assert.equal(b.code, 0, b.stderr);
      assert.match(b.stdout, /Records: 220/);
      assert.match(b.stderr, /"level":20.*segment stored/, 'debug logging is on (segment keys are logged)');

      const target = uniqueTopic('leak-restored');
      const report = join(dir, `${id}-offsets.json`);
      const rcfg = join(dir, `${id}-restore.yaml`);
      await writeFile(
        rcfg,
        `mode: restore\nbackup_id: ${id}\ntarget:\n  bootstrap_servers: ["${k.security!.sasl!.bootstrap}"]\n${security()}${storage}restore:\n  topic_mapping:\n    ${topic}: ${target}\n  offset_report: ${report}\nmetrics:\n  enabled: false\n`,
      );
      const vr = run(`${backend} validate-restore`, ['-vv', 'validate-restore', '--config', rcfg, '--format', 'json'], env());
      assert.equal(vr.code, 0, vr.stderr);
      for (const format of ['text', 'json']) {
        // The second run resumes (nothing left to write) and prints the report again.
        const r = run(`${backend} restore (${format})`, ['-vv', 'restore', '--config', rcfg, '--format', format], env());
        assert.equal(r.code, 0, r.stderr);
      }
      assert.ok(existsSync(report));
      assertClean(`${report}`, await readFile(report));
      for (const p of [0, 1]) {
        const src = await consumeAll(k.bootstrap, topic, p);
        const dst = await consumeAll(k.bootstrap, target, p);
        assert.ok(
          src.length > 0 && JSON.stringify(dst.map((x) => recordKey(x))) === JSON.stringify(src.map((x) => recordKey(x))),
          `${backend}: partition ${p} restored as backed up`,
        );
      }

      if (backend === 'filesystem') {
        const path = join(dir, 'fs-backups');
        for (const cmd of [
          ['describe', '-p', path, '-b', id, '-f', 'json'],
          ['validate', '-p', path, '-b', id, '--deep'],
          ['list', '-p', path],
        ]) {
          const r = run(`${backend} ${cmd[0]}`, ['-vv', ...cmd], env());
          assert.equal(r.code, 0, r.stderr);
        }
        let files = 0;
        for await (const f of walk(path)) {
          assertClean(f, await readFile(f));
          files++;
        }
        assert.ok(files > 6, `walked ${files} files`);
      } else {
        // Every object in the bucket (any prefix), fetched whole.
        const all = await openStore(s3Spec(s3, bucket));
        try {
          let objects = 0;
          for await (const o of all.list('')) {
            assert.ok(o.key.startsWith('prod/kafka/'), `${o.key} is under the configured prefix`);
            assertClean(`s3://${bucket}/${o.key}`, await all.get(o.key));
            objects++;
          }
          assert.ok(objects > 6, `fetched ${objects} objects`);
        } finally {
          await all.close();
        }
      }
    });
  }

  test('a wrong S3 secret and a wrong SASL password fail without printing them', async () => {
    const wrongS3 = `Wr0ng-s3-${randomBytes(6).toString('hex')}`;
    const wrongPw = `Wr0ng-pw-${randomBytes(6).toString('hex')}`;
    secrets.push({ name: 'the wrong S3 secret', forms: forms(wrongS3) }, { name: 'the wrong SASL password', forms: forms(wrongPw) });
    const cfg = join(dir, 'wrong-s3.yaml');
    await writeFile(
      cfg,
      `mode: backup\nbackup_id: wrong\nsource:\n  bootstrap_servers: ["${k.security!.sasl!.bootstrap}"]\n${security()}  topics:\n    include: ["${topic}"]\n${s3Storage()}metrics:\n  enabled: false\n`,
    );
    const r1 = run('wrong S3 secret', ['-vv', 'backup', '--config', cfg], { ...env(), KB_LEAK_S3_SECRET: wrongS3 });
    assert.notEqual(r1.code, 0);
    const r2 = run('wrong SASL password', ['-vv', 'backup', '--config', cfg], { ...env(), KB_LEAK_SASL_PASSWORD: wrongPw });
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /authentication/i);
  });

  test('no printed line of any run above holds a secret', () => {
    assert.ok(printed.length >= 10);
    for (const p of printed) assertClean(p.what, p.text);
  });
});
