/**
 * Backup and restore through the broker's authenticated and encrypted listeners, driven through
 * the CLI and real YAML files so the config path (spellings, ${VAR}, ${file:...}) is covered:
 *
 *   - SASL_PLAINTEXT with SCRAM-SHA-512 (both spellings), password from ${VAR} and ${file:...};
 *   - SSL with server verification by the test CA (ssl_ca_location);
 *   - mutual TLS against a dedicated broker whose SSL listener *requires* a client certificate
 *     (the shared broker only requests one, so a missing certificate would not be noticed there);
 *   - a wrong password, an untrusted CA and a missing client certificate: one-line errors naming
 *     the broker, no stack trace.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKafka, type RunningKafka } from '../../scripts/kafka.js';
import { createTopic, getTestKafka, stopTestKafka, uniqueTopic, type TestKafka } from '../helpers/kafka.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { runCli, type CliResult } from '../helpers/cli.js';

function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  return runCli(args, { env });
}

/** A user-facing failure: exit 1, exactly one `error:` line matching `pattern`, no stack trace. */
function assertOneLineError(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

function yamlList(xs: string[]): string {
  return `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`;
}

function backupYaml(o: { id: string; bootstrap: string; topic: string; dir: string; security: string }): string {
  return `mode: backup\nbackup_id: ${o.id}\nsource:\n  bootstrap_servers: ${yamlList([o.bootstrap])}\n  security:\n${o.security}  topics:\n    include: ["${o.topic}"]\nstorage:\n  backend: filesystem\n  path: ${o.dir}\nbackup:\n  segment_max_bytes: 4096\nmetrics:\n  enabled: false\n`;
}

function restoreYaml(o: { id: string; bootstrap: string; topic: string; target: string; dir: string; security: string }): string {
  return `mode: restore\nbackup_id: ${o.id}\ntarget:\n  bootstrap_servers: ${yamlList([o.bootstrap])}\n  security:\n${o.security}storage:\n  backend: filesystem\n  path: ${o.dir}\nrestore:\n  topic_mapping:\n    ${o.topic}: ${o.target}\nmetrics:\n  enabled: false\n`;
}

async function assertSameRecords(bootstrap: string, source: string, target: string, partitions: number): Promise<void> {
  for (let p = 0; p < partitions; p++) {
    const src = await consumeAll(bootstrap, source, p);
    const dst = await consumeAll(bootstrap, target, p);
    assert.ok(src.length > 0);
    assert.deepEqual(
      dst.map((r) => recordKey(r)),
      src.map((r) => recordKey(r)),
      `partition ${p}`,
    );
  }
}

describe('security: SASL/SCRAM and TLS to the real broker', () => {
  let k: TestKafka;
  let dir: string;
  const topic = uniqueTopic('sec');
  const base = Date.UTC(2024, 10, 10, 10);

  before(async () => {
    k = await getTestKafka();
    assert.ok(k.sasl, 'the test broker has a SASL listener');
    assert.ok(k.tls, 'the test broker has a TLS listener');
    dir = await mkdtemp(join(tmpdir(), 'kb-sec-'));
    await createTopic(k.bootstrap, topic, 2);
    await produce(k.bootstrap, topic, 0, awkwardRecords(150, base, 11), 'zstd');
    await produce(k.bootstrap, topic, 1, awkwardRecords(120, base, 12), 'lz4');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await stopTestKafka();
  });

  test('SASL_PLAINTEXT SCRAM-SHA-512: backup with the password from ${VAR}, restore with SCRAM-SHA512 and the password from ${file:...}', async () => {
    const sasl = k.sasl!;
    const store = join(dir, 'sasl');
    const cfg = join(dir, 'sasl-backup.yaml');
    const sec = `    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: SCRAM-SHA-512\n    sasl_username: ${sasl.username}\n    sasl_password: "\${KB_SEC_PASSWORD}"\n`;
    await writeFile(cfg, backupYaml({ id: 'sasl-b', bootstrap: sasl.bootstrap, topic, dir: store, security: sec }));
    const b = cli(['backup', '--config', cfg], { KB_SEC_PASSWORD: sasl.password });
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /Records: 270/);

    const pwFile = join(dir, 'sasl-password');
    await writeFile(pwFile, `${sasl.password}\n`, { mode: 0o600 });
    const target = uniqueTopic('sec-sasl-restored');
    const rcfg = join(dir, 'sasl-restore.yaml');
    const rsec = `    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: SCRAM-SHA512\n    sasl_username: ${sasl.username}\n    sasl_password: "\${file:${pwFile}}"\n`;
    await writeFile(rcfg, restoreYaml({ id: 'sasl-b', bootstrap: sasl.bootstrap, topic, target, dir: store, security: rsec }));
    const r = cli(['restore', '--config', rcfg, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { records_restored: number }).records_restored, 270);
    await assertSameRecords(k.bootstrap, topic, target, 2);
  });

  test('SASL with a wrong password: one-line error naming the broker, nothing written', async () => {
    const sasl = k.sasl!;
    const store = join(dir, 'sasl-wrong');
    const cfg = join(dir, 'sasl-wrong.yaml');
    const sec = `    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: SCRAM-SHA-512\n    sasl_username: ${sasl.username}\n    sasl_password: "\${KB_SEC_PASSWORD}"\n`;
    await writeFile(cfg, backupYaml({ id: 'sasl-wrong', bootstrap: sasl.bootstrap, topic, dir: store, security: sec }));
    const r = cli(['backup', '--config', cfg], { KB_SEC_PASSWORD: 'not-the-password-Wq8' });
    assertOneLineError(r, new RegExp(`${sasl.bootstrap.replace(/\./g, '\\.')}.*(auth|SASL)|(auth|SASL).*${sasl.bootstrap.replace(/\./g, '\\.')}`, 'i'));
    assert.doesNotMatch(r.stderr + r.stdout, /not-the-password-Wq8/);
    assert.equal(existsSync(join(store, 'sasl-wrong', 'manifest.json')), false, 'nothing stored');
  });

  test('SSL with the test CA (ssl_ca_location): backup and restore through the TLS listener', async () => {
    const tls = k.tls!;
    const store = join(dir, 'tls');
    const cfg = join(dir, 'tls-backup.yaml');
    const sec = `    security_protocol: SSL\n    ssl_ca_location: ${tls.caFile}\n`;
    await writeFile(cfg, backupYaml({ id: 'tls-b', bootstrap: tls.bootstrap, topic, dir: store, security: sec }));
    const b = cli(['backup', '--config', cfg]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /Records: 270/);
    const target = uniqueTopic('sec-tls-restored');
    const rcfg = join(dir, 'tls-restore.yaml');
    await writeFile(rcfg, restoreYaml({ id: 'tls-b', bootstrap: tls.bootstrap, topic, target, dir: store, security: sec }));
    const r = cli(['restore', '--config', rcfg]);
    assert.equal(r.code, 0, r.stderr);
    await assertSameRecords(k.bootstrap, topic, target, 2);
  });

  test('SSL with an untrusted CA, or with no CA (public roots): one-line error naming the broker', async () => {
    const tls = k.tls!;
    const other = join(dir, 'other-ca.pem');
    // A CA that did not sign the broker's certificate.
    const gen = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'other-ca.key'), '-out', other, '-days', '1', '-subj', '/CN=not-the-test-ca'],
      { encoding: 'utf8' },
    );
    assert.equal(gen.status, 0, gen.stderr);
    for (const [name, sec] of [
      ['untrusted', `    security_protocol: SSL\n    ssl_ca_location: ${other}\n`],
      ['no-ca', `    security_protocol: SSL\n`],
    ] as const) {
      const cfg = join(dir, `tls-${name}.yaml`);
      await writeFile(cfg, backupYaml({ id: `tls-${name}`, bootstrap: tls.bootstrap, topic, dir: join(dir, `tls-${name}`), security: sec }));
      const r = cli(['backup', '--config', cfg]);
      assertOneLineError(r, new RegExp(`${tls.bootstrap.replace(/\./g, '\\.')}.*(certificate|self.signed|verify)`, 'i'));
    }
  });

  describe('mutual TLS (a dedicated broker with ssl.client.auth=required)', () => {
    let m: RunningKafka;
    const mtopic = uniqueTopic('sec-mtls');

    before(async () => {
      m = await startKafka({ tls: { clientAuth: 'required' } });
      assert.equal(m.security?.tls?.clientAuth, 'required');
      await createTopic(m.bootstrap, mtopic, 2);
      await produce(m.bootstrap, mtopic, 0, awkwardRecords(80, base, 21), 'snappy');
      await produce(m.bootstrap, mtopic, 1, awkwardRecords(90, base, 22), 'none');
    });
    after(async () => {
      await m?.stop();
    });

    test('with the client certificate and key: backup and restore; without them: one-line error naming the broker', async () => {
      const tls = m.security!.tls!;
      const store = join(dir, 'mtls');
      const withCert = `    security_protocol: SSL\n    ssl_ca_location: ${tls.caFile}\n    ssl_certificate_location: ${tls.certFile}\n    ssl_key_location: ${tls.keyFile}\n`;
      const noCert = `    security_protocol: SSL\n    ssl_ca_location: ${tls.caFile}\n`;

      const bad = join(dir, 'mtls-nocert.yaml');
      await writeFile(bad, backupYaml({ id: 'mtls-nocert', bootstrap: tls.bootstrap, topic: mtopic, dir: join(dir, 'mtls-nocert'), security: noCert }));
      assertOneLineError(cli(['backup', '--config', bad]), new RegExp(tls.bootstrap.replace(/\./g, '\\.')));

      const cfg = join(dir, 'mtls-backup.yaml');
      await writeFile(cfg, backupYaml({ id: 'mtls-b', bootstrap: tls.bootstrap, topic: mtopic, dir: store, security: withCert }));
      const b = cli(['backup', '--config', cfg]);
      assert.equal(b.code, 0, b.stderr);
      assert.match(b.stdout, /Records: 170/);
      const target = uniqueTopic('sec-mtls-restored');
      const rcfg = join(dir, 'mtls-restore.yaml');
      await writeFile(rcfg, restoreYaml({ id: 'mtls-b', bootstrap: tls.bootstrap, topic: mtopic, target, dir: store, security: withCert }));
      const r = cli(['restore', '--config', rcfg]);
      assert.equal(r.code, 0, r.stderr);
      await assertSameRecords(m.bootstrap, mtopic, target, 2);
    });
  });
});
