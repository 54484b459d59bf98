import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { runBackup } from '../../src/backup/engine.js';
import { KafkaAdmin } from '../../src/kafka/admin.js';
import { runRestore } from '../../src/restore/engine.js';
import { FsStore } from '../../src/storage/fs.js';
import { createTopic, getTestKafka, uniqueTopic } from '../helpers/kafka.js';
import { testBackupOptions, testRestoreOptions } from '../helpers/options.js';
import { produce } from '../helpers/records.js';

const ROOT = join(import.meta.dirname, '..', '..');

interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Async (not spawnSync): the local HTTP server of this process must answer while the CLI runs. */
function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), ...args],
      { cwd: ROOT, encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ status: code, stdout, stderr });
      },
    );
  });
}

interface Hit {
  path: string;
  body: Record<string, unknown>;
}

describe('validation run / evidence-* against the real broker', () => {
  let bootstrap: string;
  let dir: string;
  let store: FsStore;
  let server: Server;
  let base: string;
  const hits: Hit[] = [];
  const src = uniqueTopic('val-src');
  const tgt = uniqueTopic('val-tgt');
  const backupId = 'validation-it';
  const group = `val-group-${Math.random().toString(36).slice(2, 8)}`;
  let privPath: string;
  let pubPath: string;
  let otherPubPath: string;

  const config = (extra = ''): string => `
backup_id: ${backupId}
storage:
  backend: filesystem
  path: \${VAL_STORE}
target:
  bootstrap_servers: ["\${VAL_BOOTSTRAP}"]
checks:
  message_count:
    enabled: true
    mode: exact
  offset_range:
    verify_high_watermark: true
    verify_low_watermark: true
  consumer_group_offsets:
    verify_all_groups: false
    groups: [${group}]
  custom_webhooks:
    - name: downstream-smoke
      url: \${VAL_BASE}/webhook
      timeout_seconds: 10
      expected_status_code: 202
evidence:
  formats: [json, pdf]
  signing:
    enabled: true
    private_key_path: ${privPath}
    public_key_path: ${pubPath}
  storage:
    prefix: evidence-reports/
    retention_days: 365
notifications:
  slack:
    webhook_url: \${VAL_BASE}/slack
  pagerduty:
    integration_key: test-routing-key
    severity: error
${extra}`;

  let env: Record<string, string>;

  before(async () => {
    bootstrap = (await getTestKafka()).bootstrap;
    dir = await mkdtemp(join(tmpdir(), 'kb-validation-'));
    store = new FsStore(join(dir, 'store'));
    server = createServer((req: IncomingMessage, res) => {
      let data = '';
      req.on('data', (c: Buffer) => (data += c.toString('utf8')));
      req.on('end', () => {
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(data) as Record<string, unknown>;
        } catch {
          body = { raw: data };
        }
        hits.push({ path: req.url ?? '', body });
        res.statusCode = req.url === '/webhook' ? 202 : 200;
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const k1 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const k2 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    privPath = join(dir, 'priv.pem');
    pubPath = join(dir, 'pub.pem');
    otherPubPath = join(dir, 'other.pem');
    await writeFile(privPath, k1.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(pubPath, k1.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(otherPubPath, k2.publicKey.export({ type: 'spki', format: 'pem' }));
    env = { VAL_STORE: join(dir, 'store'), VAL_BOOTSTRAP: bootstrap, VAL_BASE: base, KAFKA_BACKUP_PAGERDUTY_EVENTS_URL: `${base}/pagerduty` };

    await createTopic(bootstrap, src, 2);
    const ts = 1_731_232_800_000n;
    await produce(
      bootstrap,
      src,
      0,
      Array.from({ length: 30 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`), timestamp: ts + BigInt(i) })),
    );
    await produce(
      bootstrap,
      src,
      1,
      Array.from({ length: 20 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`w${i}`), timestamp: ts + BigInt(i) })),
    );
    await runBackup(testBackupOptions(bootstrap, store, backupId, [src]));
    await runRestore(testRestoreOptions(bootstrap, store, backupId, { topicMapping: { [src]: tgt } }));
    const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
    try {
      await admin.commitGroupOffsets(
        group,
        new Map([
          [
            tgt,
            new Map([
              [0, 10n],
              [1, 20n],
            ]),
          ],
        ]),
      );
    } finally {
      await admin.close();
    }
  });

  after(async () => {
    server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  let reportId = '';

  test('a restored topic passes; the evidence (json, pdf, sig) is stored; webhook and Slack receive the POST', async () => {
    const cfgPath = join(dir, 'validation.yaml');
    await writeFile(cfgPath, config());
    hits.length = 0;
    const r = await cli(['validation', 'run', '-c', cfgPath, '--pitr', '1731232800029', '--triggered-by', 'ci-test', '-f', 'json'], env);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const report = JSON.parse(r.stdout) as {
      report_id: string;
      pitr_timestamp: number;
      triggered_by: string;
      expectation_source: string;
      validation: { result: string; checks: { name: string; status: string; details: Record<string, unknown> }[] };
    };
    reportId = report.report_id;
    assert.match(reportId, /^validation-[0-9a-f-]{36}$/);
    assert.equal(report.validation.result, 'passed');
    assert.equal(report.pitr_timestamp, 1731232800029);
    assert.equal(report.triggered_by, 'ci-test');
    assert.equal(report.expectation_source, 'restore-report');
    const byName = Object.fromEntries(report.validation.checks.map((c) => [c.name, c]));
    assert.equal(byName['message_count']?.status, 'passed');
    assert.equal(byName['message_count']?.details['actual_records'], 50);
    assert.equal(byName['offset_range']?.status, 'passed');
    assert.equal(byName['consumer_group_offsets']?.status, 'passed');
    assert.equal(byName['downstream-smoke']?.status, 'passed');

    const webhook = hits.find((h) => h.path === '/webhook');
    assert.ok(webhook, 'the webhook received a POST');
    assert.equal(webhook.body['report_id'], reportId);
    assert.equal(webhook.body['backup_id'], backupId);
    assert.ok(Array.isArray(webhook.body['checks']));
    assert.ok(hits.some((h) => h.path === '/slack' && String(h.body['text']).includes('PASSED')));
    assert.ok(!hits.some((h) => h.path === '/pagerduty'), 'no PagerDuty event when every check passes');

    const d = new Date();
    const keyBase = `evidence-reports/${reportId}/${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${reportId}`;
    assert.ok(await store.exists(`${keyBase}.json`));
    assert.ok(await store.exists(`${keyBase}.sig`));
    assert.equal((await store.get(`${keyBase}.pdf`)).subarray(0, 5).toString(), '%PDF-');

    const list = await cli(['validation', 'evidence-list', '-p', join(dir, 'store'), '-l', '5', '-f', 'json']);
    assert.equal(list.status, 0, list.stderr);
    assert.ok((JSON.parse(list.stdout) as { report_id: string }[]).some((e) => e.report_id === reportId));
  });

  test('evidence-get + evidence-verify: the signature verifies, and fails after tampering or with another key', async () => {
    const json = join(dir, 'r.json');
    const sig = join(dir, 'r.sig');
    const pdf = join(dir, 'r.pdf');
    for (const [f, out] of [
      ['json', json],
      ['sig', sig],
      ['pdf', pdf],
    ] as const) {
      const g = await cli(['validation', 'evidence-get', '-p', `file://${join(dir, 'store')}`, '-r', reportId, '-f', f, '-o', out]);
      assert.equal(g.status, 0, g.stderr);
    }
    assert.match(await readFile(sig, 'utf8'), /Algorithm: ECDSA-P256-SHA256\nReport-ID: validation-/);
    const ok = await cli(['validation', 'evidence-verify', '-r', json, '-s', sig, '--public-key', pubPath]);
    assert.equal(ok.status, 0, ok.stderr + ok.stdout);
    assert.match(ok.stdout, /VERIFIED/);
    // Without a key the hash and id match, but nothing is proven (a forger recomputes both): UNVERIFIED, exit 1.
    const shaOnly = await cli(['validation', 'evidence-verify', '-r', json, '-s', sig]);
    assert.equal(shaOnly.status, 1, shaOnly.stdout);
    assert.match(shaOnly.stdout, /: UNVERIFIED\n/);
    assert.doesNotMatch(shaOnly.stdout, /: VERIFIED/);
    assert.match(shaOnly.stdout, /give --public-key/);
    const shaOnlyJson = JSON.parse((await cli(['validation', 'evidence-verify', '-r', json, '-s', sig, '-f', 'json'])).stdout) as {
      ok: boolean;
      status: string;
    };
    assert.deepEqual([shaOnlyJson.ok, shaOnlyJson.status], [false, 'unverified']);
    // A forged report with a recomputed digest in a copied .sig: UNVERIFIED without a key, FAILED with it.
    const forged = join(dir, 'forged.json');
    const forgedSig = join(dir, 'forged.sig');
    const forgedBody = (await readFile(json, 'utf8')).replace('"result": "passed"', '"result": "passed" ');
    await writeFile(forged, forgedBody);
    await writeFile(
      forgedSig,
      (await readFile(sig, 'utf8')).replace(/Report-SHA256: [0-9a-f]+/, `Report-SHA256: ${createHash('sha256').update(forgedBody).digest('hex')}`),
    );
    const forgedNoKey = await cli(['validation', 'evidence-verify', '-r', forged, '-s', forgedSig]);
    assert.equal(forgedNoKey.status, 1, forgedNoKey.stdout);
    assert.match(forgedNoKey.stdout, /UNVERIFIED/);
    const forgedKey = await cli(['validation', 'evidence-verify', '-r', forged, '-s', forgedSig, '--public-key', pubPath]);
    assert.equal(forgedKey.status, 1, forgedKey.stdout);
    assert.match(forgedKey.stdout, /VERIFICATION FAILED[\s\S]*signature does not verify/);

    const wrongKey = await cli(['validation', 'evidence-verify', '-r', json, '-s', sig, '--public-key', otherPubPath]);
    assert.equal(wrongKey.status, 1, wrongKey.stdout);
    assert.match(wrongKey.stdout, /signature does not verify/);

    const tampered = join(dir, 'tampered.json');
    await writeFile(tampered, (await readFile(json, 'utf8')).replace('"result": "passed"', '"result": "failed"'));
    const bad = await cli(['validation', 'evidence-verify', '-r', tampered, '-s', sig, '--public-key', pubPath]);
    assert.equal(bad.status, 1, bad.stdout);
    assert.match(bad.stdout, /SHA-256 mismatch/);
  });

  test('records deleted on the target: message_count and offset_range fail, exit 1, PagerDuty is triggered', async () => {
    const admin = new KafkaAdmin({ bootstrapServers: [bootstrap] });
    try {
      await admin.deleteRecords(tgt, new Map([[0, 5n]]));
    } finally {
      await admin.close();
    }
    const cfgPath = join(dir, 'validation.yaml');
    hits.length = 0;
    const r = await cli(['validation', 'run', '-c', cfgPath], env);
    assert.equal(r.status, 1, r.stderr + r.stdout);
    assert.match(r.stdout, /\[FAILED \] message_count: .*expected 50 records, found 45/);
    assert.match(r.stdout, /\[FAILED \] offset_range: .*low watermark 5/);
    const pd = hits.find((h) => h.path === '/pagerduty');
    assert.ok(pd, 'PagerDuty received an event');
    assert.equal(pd.body['routing_key'], 'test-routing-key');
    assert.equal(pd.body['event_action'], 'trigger');
    assert.equal((pd.body['payload'] as { severity: string }).severity, 'error');
    assert.ok(hits.some((h) => h.path === '/slack' && String(h.body['text']).includes('FAILED')));

    // A fail_threshold at least the difference lets message_count pass (offset_range still fails).
    await writeFile(join(dir, 'lenient.yaml'), config().replace('    mode: exact\n', '    mode: sample\n    sample_percentage: 100\n    fail_threshold: 5\n'));
    const lenient = await cli(['validation', 'run', '-c', join(dir, 'lenient.yaml'), '-f', 'json'], env);
    assert.equal(lenient.status, 1);
    const rep = JSON.parse(lenient.stdout) as { validation: { checks: { name: string; status: string }[] } };
    assert.equal(rep.validation.checks.find((c) => c.name === 'message_count')?.status, 'passed');
    assert.equal(rep.validation.checks.find((c) => c.name === 'offset_range')?.status, 'failed');
  });

  test('an unknown key is refused with the key named; a missing group fails consumer_group_offsets', async () => {
    await writeFile(join(dir, 'typo.yaml'), config().replace('    mode: exact\n', '    mode: exact\n    fail_treshold: 3\n'));
    const r = await cli(['validation', 'run', '-c', join(dir, 'typo.yaml')], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /checks\.message_count\.fail_treshold: unknown key; did you mean checks\.message_count\.fail_threshold\? \(line \d+\)/);

    await writeFile(
      join(dir, 'nogroup.yaml'),
      config()
        .replace(`groups: [${group}]`, 'groups: [no-such-group-xyz]')
        .replace(/message_count:\n {4}enabled: true/, 'message_count:\n    enabled: false'),
    );
    const g = await cli(['validation', 'run', '-c', join(dir, 'nogroup.yaml')], env);
    assert.equal(g.status, 1, g.stderr + g.stdout);
    assert.match(g.stdout, /\[FAILED \] consumer_group_offsets: .*no-such-group-xyz: no committed offsets/);
    assert.match(g.stdout, /\[SKIPPED\] message_count: disabled/);
  });
});
