import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { parseValidationConfigText, ValidationConfigError } from '../../src/validation/config.js';
import { evidenceKey, parseSignatureFile, signatureFileText, signReport, verifyReport } from '../../src/validation/evidence.js';

const MIN = `
backup_id: prod-1
storage: { backend: filesystem, path: /tmp/x }
target: { bootstrap_servers: [localhost:9092] }
`;

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseValidationConfigText(text, 'v.yaml', { env });
  } catch (err) {
    assert.ok(err instanceof ValidationConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected a ValidationConfigError');
}

test('defaults of section 2', () => {
  const c = parseValidationConfigText(MIN, 'v.yaml', { env: {} });
  assert.deepEqual(c.checks.message_count, { enabled: true, mode: 'exact', sample_percentage: 100, topics: [], fail_threshold: 0 });
  assert.deepEqual(c.checks.offset_range, { enabled: true, verify_high_watermark: true, verify_low_watermark: true });
  assert.deepEqual(c.checks.consumer_group_offsets, { enabled: true, verify_all_groups: true, groups: [] });
  assert.deepEqual(c.checks.custom_webhooks, []);
  assert.deepEqual(c.evidence, { formats: ['json'], signing: { enabled: false }, storage: { prefix: 'evidence-reports/', retention_days: 2555 } });
  assert.deepEqual(c.notifications, {});
  assert.equal(c.pitr_timestamp, undefined);
  assert.deepEqual(c.storage, { backend: 'filesystem', path: '/tmp/x' });
});

test('every key of section 2, with ${VAR} substitution', () => {
  const c = parseValidationConfigText(
    `${MIN}
checks:
  message_count: { enabled: true, mode: sample, sample_percentage: 25, topics: [orders], fail_threshold: 3 }
  offset_range: { enabled: false, verify_high_watermark: false, verify_low_watermark: true }
  consumer_group_offsets: { enabled: true, verify_all_groups: false, groups: [g1, g2] }
  custom_webhooks:
    - { name: smoke, url: "\${HOOK}", timeout_seconds: 5, expected_status_code: 204, fail_on_timeout: false }
    - { name: other, url: "https://example.com/x" }
evidence:
  formats: [json, pdf]
  signing: { enabled: true, private_key_path: /k/priv.pem, public_key_path: /k/pub.pem }
  storage: { prefix: "audit/", retention_days: 30 }
notifications:
  slack: { webhook_url: "https://hooks.slack.com/services/\${SLACK}" }
  pagerduty: { integration_key: "\${PD}" }
pitr_timestamp: 1731232800000
triggered_by: nightly
`,
    'v.yaml',
    { env: { HOOK: 'http://127.0.0.1:9/h', SLACK: 'T/B/X', PD: 'abc' } },
  );
  assert.deepEqual(c.checks.message_count, { enabled: true, mode: 'sample', sample_percentage: 25, topics: ['orders'], fail_threshold: 3 });
  assert.deepEqual(c.checks.custom_webhooks[0], {
    name: 'smoke',
    url: 'http://127.0.0.1:9/h',
    timeout_seconds: 5,
    expected_status_code: 204,
    fail_on_timeout: false,
  });
  assert.deepEqual(c.checks.custom_webhooks[1], {
    name: 'other',
    url: 'https://example.com/x',
    timeout_seconds: 120,
    expected_status_code: 200,
    fail_on_timeout: true,
  });
  assert.deepEqual(c.notifications, {
    slack: { webhook_url: 'https://hooks.slack.com/services/T/B/X' },
    pagerduty: { integration_key: 'abc', severity: 'critical' },
  });
  assert.deepEqual(c.evidence.formats, ['json', 'pdf']);
  assert.equal(c.pitr_timestamp, 1731232800000);
  assert.equal(c.triggered_by, 'nightly');
});

test('a substituted value cannot add a key, and an error does not show it', () => {
  // Flow mapping: "," and a quoted key would add signing.enabled: false next to the webhook url.
  const c = parseValidationConfigText(
    `${MIN}checks: { custom_webhooks: [{ name: smoke, url: \${HOOK} }] }\nevidence: { signing: { enabled: true, private_key_path: /k/p.pem } }\n`,
    'v.yaml',
    {
      env: { HOOK: 'http://h/x, "fail_on_timeout":false' },
    },
  );
  assert.equal(c.checks.custom_webhooks[0]?.url, 'http://h/x, "fail_on_timeout":false');
  assert.equal(c.checks.custom_webhooks[0]?.fail_on_timeout, true);
  const p = problems(`${MIN}notifications:\n  pagerduty: { integration_key: k, severity: \${SEV} }\n`, { SEV: 'pd-s3cr3t-value' });
  assert.deepEqual(p, ['v.yaml: notifications.pagerduty.severity: expected one of critical, error, warning, info, got "[value of ${SEV}]" (line 6)']);
});

test('unknown keys are refused with the key named, everywhere', () => {
  const p = problems(`${MIN}
bogus: 1
checks:
  message_count: { fail_treshold: 1 }
  custom_webhooks: [{ name: a, url: "http://x/", timeout: 3 }]
evidence: { signing: { enabled: false, privte_key_path: x } }
notifications: { slack: { webhook_url: "http://x/", channel: c } }
`);
  const all = p.join('\n');
  assert.match(all, /v\.yaml: bogus: unknown key .*\(line 6\)/);
  assert.match(all, /checks\.message_count\.fail_treshold: unknown key; did you mean checks\.message_count\.fail_threshold\?/);
  assert.match(
    all,
    /checks\.custom_webhooks\.0\.timeout: unknown key; did you mean checks\.custom_webhooks\.timeout_seconds\?|checks\.custom_webhooks\[0\]\.timeout: unknown key/,
  );
  assert.match(all, /evidence\.signing\.privte_key_path: unknown key; did you mean evidence\.signing\.private_key_path\?/);
  assert.match(all, /notifications\.slack\.channel: unknown key/);
});

test('readable value errors: required keys, types, ranges, enums', () => {
  const all = problems(`
storage: { backend: filesystem, path: /x }
target: { bootstrap_servers: [localhost:9092] }
checks:
  message_count: { mode: random, sample_percentage: 0, fail_threshold: "3" }
  custom_webhooks: [{ url: "ftp://x" }]
evidence: { formats: [json, docx], signing: { enabled: true } }
notifications: { slack: {}, pagerduty: { integration_key: k, severity: urgent } }
pitr_timestamp: 1731232800
`).join('\n');
  assert.match(all, /backup_id: required key is missing/);
  assert.match(all, /checks\.message_count\.mode: expected one of exact, sample, got "random"/);
  assert.match(all, /sample_percentage: must be between 1 and 100, got 0/);
  assert.match(all, /fail_threshold: expected an integer, got a quoted string/);
  assert.match(all, /custom_webhooks.*name: required key is missing/);
  assert.match(all, /custom_webhooks.*url: expected an http:\/\/ or https:\/\/ URL, got ftp:/);
  assert.match(all, /evidence\.formats.*expected one of json, pdf, got "docx"/);
  assert.match(all, /notifications\.slack\.webhook_url: required key is missing/);
  assert.match(all, /notifications\.pagerduty\.severity: expected one of critical, error, warning, info/);
  assert.match(all, /pitr_timestamp: expected epoch milliseconds, but 1731232800 looks like seconds/);
  assert.ok(!/target/.test(all));
  assert.match(
    problems(`${MIN}evidence: { signing: { enabled: true } }\n`).join('\n'),
    /evidence\.signing\.private_key_path: required when evidence\.signing\.enabled is true/,
  );
});

test('missing target and storage; an unset ${VAR} is an error (main-config policy)', () => {
  const all = problems('backup_id: x\n').join('\n');
  assert.match(all, /target: required key is missing/);
  assert.match(all, /storage: required key is missing/);
  const v = problems(`${MIN}triggered_by: \${NOPE_NOT_SET}\n`).join('\n');
  assert.match(v, /NOPE_NOT_SET/);
});

test('evidence keys, signature round trip, tamper and wrong-key detection', () => {
  const t = Date.UTC(2025, 0, 31, 23, 59);
  assert.equal(evidenceKey('evidence-reports/', 'validation-1', t, 'sig'), 'evidence-reports/validation-1/2025/01/validation-1.sig');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
  const report = Buffer.from(JSON.stringify({ report_id: 'validation-1', result: 'passed' }));
  const text = signatureFileText(signReport(report, privateKey, 'validation-1'));
  const bundle = parseSignatureFile(text);
  assert.equal(bundle.algorithm, 'ECDSA-P256-SHA256');
  assert.equal(Buffer.from(bundle.signature, 'base64').length, 64);
  assert.equal(verifyReport(report, bundle, publicKey).ok, true);
  assert.equal(verifyReport(report, bundle).signatureValid, null);
  assert.equal(verifyReport(report, bundle, other).ok, false);
  const tampered = Buffer.from(report.toString().replace('passed', 'failed'));
  const v = verifyReport(tampered, bundle, publicKey);
  assert.equal(v.ok, false);
  assert.equal(v.sha256Match, false);
  assert.equal(v.signatureValid, false);
});
