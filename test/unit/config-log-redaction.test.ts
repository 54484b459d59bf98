/**
 * Logs never carry secrets: a config loaded with secrets from ${VAR} and ${file:...}, logged at
 * trace level as a whole, nested four levels deep and inside arrays, and objects with library-style
 * secret names (password, passphrase, secretAccessKey, sessionToken) show `[redacted]` instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redactSecretFields } from '../../src/util/logger.js';

const ROOT = join(import.meta.dirname, '..', '..');

test('a loaded config logged at any depth at trace level shows no secret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kb-logred-'));
  try {
    const sasl = 'Sasl-canary-7f3e9a';
    const s3 = 'S3-canary-b81c44';
    const keyPw = 'KeyPw-canary-0a9d';
    writeFileSync(join(dir, 'keypw'), `${keyPw}\n`);
    const cfg = join(dir, 'b.yaml');
    writeFileSync(
      cfg,
      `mode: backup\nbackup_id: b1\nsource:\n  bootstrap_servers: ["127.0.0.1:9092"]\n  security:\n    security_protocol: SASL_SSL\n    sasl_mechanism: SCRAM-SHA-512\n    sasl_username: bot\n    sasl_password: "\${KB_T_SASL}"\n    ssl_key_password: "\${file:${join(dir, 'keypw')}}"\n` +
        `storage:\n  backend: s3\n  bucket: bk\n  region: us-east-1\n  access_key: AKIA-visible\n  secret_key: "\${KB_T_S3}"\n`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/security/log-redaction-child.ts'), cfg], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, KB_T_SASL: sasl, KB_T_S3: s3, LOG_LEVEL: '' },
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('{'));
    assert.ok(lines.length >= 6, r.stderr);
    for (const secret of [sasl, s3, keyPw]) assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret), `${secret} leaked:\n${r.stderr}`);
    assert.match(r.stderr, /\[redacted\]/);
    assert.match(r.stderr, /AKIA-visible/, 'non-secret values stay readable');
    assert.match(r.stderr, /b1\/topics\/t\/0\/index\.json/, 'object keys are not secrets');
    assert.match(r.stderr, /SCRAM-SHA-512/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('redactSecretFields: names that are secrets, names that are not, and the input left untouched', () => {
  const input = {
    key: 'k',
    password: 'p',
    nested: [{ sas_token: 't', clientSecret: 'c', accountKey: 'a', connection_string: 'cs', privateKey: 'pk' }],
    topic: 't',
    records: 3,
    passphrase: 'pp',
    token_count: null,
  };
  const out = redactSecretFields(input) as Record<string, unknown>;
  assert.deepEqual(out, {
    key: 'k',
    password: '[redacted]',
    nested: [{ sas_token: '[redacted]', clientSecret: '[redacted]', accountKey: '[redacted]', connection_string: '[redacted]', privateKey: '[redacted]' }],
    topic: 't',
    records: 3,
    passphrase: '[redacted]',
    token_count: null,
  });
  assert.equal(input.password, 'p');
  const err = new Error('x');
  assert.equal(redactSecretFields(err), err, "errors are left to pino's serializer");
});
