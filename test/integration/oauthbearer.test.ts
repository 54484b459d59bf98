/**
 * SASL/OAUTHBEARER with the OIDC client-credentials flow (issue 19 item 8), against a real broker
 * of this file's own whose SASL listener takes OAUTHBEARER (Kafka's unsecured JWS validator:
 * tokens with alg none, a sub and an exp) and a token endpoint stand-in (node:http) that checks the
 * client id and secret (HTTP Basic), the grant type and the scope, and issues such tokens.
 * Backup and restore authenticate through it (the secret from ${file:}); a wrong secret is one
 * line naming the endpoint and the HTTP status, the secret never printed; the token is fetched
 * again once 80% of its lifetime has passed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKafka, type RunningKafka } from '../../scripts/kafka.js';
import { OidcTokenProvider } from '../../src/kafka/oauth.js';
import { createTopic, uniqueTopic } from '../helpers/kafka.js';
import { awkwardRecords, consumeAll, produce, recordKey } from '../helpers/records.js';
import { sleep } from '../helpers/ports.js';
import { runCliAsync } from '../helpers/cli.js';

const CLIENT = 'kb-client';
const SECRET = 'kb-oauth-secret-4711';
const b64url = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

let kafka: RunningKafka;
let server: Server;
let endpoint: string;
let dir: string;
/** Token requests seen: whether their credentials, grant and scope were right. */
const requests: { ok: boolean; scope: string | null }[] = [];
let lifetimeSecs = 3600;

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const auth = req.headers.authorization ?? '';
      const [id, secret] = Buffer.from(auth.replace(/^Basic /, ''), 'base64')
        .toString()
        .split(':')
        .map(decodeURIComponent);
      const ok = req.method === 'POST' && form.get('grant_type') === 'client_credentials' && id === CLIENT && secret === SECRET;
      requests.push({ ok, scope: form.get('scope') });
      if (!ok) {
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: 'invalid_client', error_description: 'client authentication failed' }));
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      // jti: two tokens issued within the same second still differ.
      const token = `${b64url({ alg: 'none' })}.${b64url({ sub: CLIENT, iat: now, exp: now + lifetimeSecs, scope: form.get('scope') ?? '', jti: randomUUID() })}.`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: lifetimeSecs }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/token`;
  dir = await mkdtemp(join(tmpdir(), 'kb-oauth-'));
  kafka = await startKafka({ sasl: { mechanism: 'OAUTHBEARER', users: {} } });
});

after(async () => {
  await kafka?.stop();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The CLI as a child process, asynchronously: this process serves the token endpoint meanwhile. */
const runCli = (args: string[]) => runCliAsync(args, { timeoutMs: 150_000 });

function security(secretLine: string): string {
  return (
    `    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: OAUTHBEARER\n    sasl_oauthbearer_method: oidc\n` +
    `    sasl_oauthbearer_token_endpoint_url: ${endpoint}\n    sasl_oauthbearer_client_id: ${CLIENT}\n    sasl_oauthbearer_client_secret: ${secretLine}\n    sasl_oauthbearer_scope: kafka\n`
  );
}

describe('SASL/OAUTHBEARER (OIDC client credentials) against the real broker', () => {
  test('backup and restore authenticate with a token from the endpoint; the secret read from a file', { timeout: 180_000 }, async () => {
    const topic = uniqueTopic('oauth');
    await createTopic(kafka.bootstrap, topic, 2);
    for (const p of [0, 1]) await produce(kafka.bootstrap, topic, p, awkwardRecords(60, Date.now() - 1000, p + 1));
    const secretFile = join(dir, 'secret');
    await writeFile(secretFile, `${SECRET}\n`);
    const store = join(dir, 'backups');
    const sasl = kafka.security!.sasl!.bootstrap;
    const bcfg = join(dir, 'b.yaml');
    await writeFile(
      bcfg,
      `mode: backup\nbackup_id: oauth-1\nsource:\n  bootstrap_servers: [${sasl}]\n  security:\n${security(`"\${file:${secretFile}}"`)}  topics:\n    include: [${topic}]\nstorage:\n  backend: filesystem\n  path: ${store}\nmetrics:\n  enabled: false\n`,
    );
    requests.length = 0;
    const b = await runCli(['backup', '--config', bcfg, '-vv']);
    assert.equal(b.code, 0, b.stderr);
    assert.ok(requests.length >= 1 && requests.every((r) => r.ok && r.scope === 'kafka'), JSON.stringify(requests));
    assert.ok(!b.stdout.includes(SECRET) && !b.stderr.includes(SECRET), 'the secret is not printed, even at -vv');
    const target = uniqueTopic('oauth-restored');
    const rcfg = join(dir, 'r.yaml');
    await writeFile(
      rcfg,
      `mode: restore\nbackup_id: oauth-1\ntarget:\n  bootstrap_servers: [${sasl}]\n  security:\n${security(`"\${file:${secretFile}}"`)}storage:\n  backend: filesystem\n  path: ${store}\nrestore:\n  topic_mapping: { ${topic}: ${target} }\nmetrics:\n  enabled: false\n`,
    );
    const r = await runCli(['restore', '--config', rcfg]);
    assert.equal(r.code, 0, r.stderr);
    for (const p of [0, 1]) {
      assert.deepEqual(
        (await consumeAll(kafka.bootstrap, target, p)).map((x) => recordKey(x)),
        (await consumeAll(kafka.bootstrap, topic, p)).map((x) => recordKey(x)),
      );
    }
  });

  test('a wrong client secret: one line naming the token endpoint and HTTP 401, the secret not printed, nothing stored', { timeout: 120_000 }, async () => {
    const topic = uniqueTopic('oauth-wrong');
    await createTopic(kafka.bootstrap, topic, 1);
    const cfg = join(dir, 'wrong.yaml');
    const store = join(dir, 'wrong-backups');
    await writeFile(
      cfg,
      `mode: backup\nbackup_id: oauth-wrong\nsource:\n  bootstrap_servers: [${kafka.security!.sasl!.bootstrap}]\n  security:\n${security('not-the-secret-9876')}  topics:\n    include: [${topic}]\nstorage:\n  backend: filesystem\n  path: ${store}\nmetrics:\n  enabled: false\n`,
    );
    const res = await runCli(['backup', '--config', cfg]);
    assert.equal(res.code, 1, res.stderr);
    const lines = res.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('error: '));
    assert.equal(lines.length, 1, res.stderr);
    assert.ok(lines[0]!.includes(endpoint) && lines[0]!.includes('HTTP 401') && lines[0]!.includes('invalid_client'), lines[0]);
    assert.doesNotMatch(res.stderr, /^\s+at /m, 'no stack trace');
    assert.ok(!res.stderr.includes('not-the-secret-9876') && !res.stdout.includes('not-the-secret-9876'));
    assert.ok(!existsSync(join(store, 'oauth-wrong', 'manifest.json')), 'no backup was written');
  });

  test('the token is fetched again once 80% of its lifetime has passed, and shared meanwhile', async () => {
    lifetimeSecs = 1;
    try {
      const p = new OidcTokenProvider({ tokenEndpointUrl: endpoint, clientId: CLIENT, clientSecret: SECRET, scope: 'kafka' });
      const [a, b] = await Promise.all([p.token(), p.token()]);
      assert.equal(a, b);
      assert.equal(p.fetched, 1, 'concurrent callers share one request');
      assert.equal(await p.token(), a, 'cached while fresh');
      await sleep(900);
      const c = await p.token();
      assert.equal(p.fetched, 2, 'renewed after 80% of its 1 s lifetime');
      assert.notEqual(c, a);
    } finally {
      lifetimeSecs = 3600;
    }
  });
});
