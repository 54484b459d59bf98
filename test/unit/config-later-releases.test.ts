/**
 * Keys of the seed tool's later releases handled by issue 19 items 2, 6, 9, 10: defaults, the
 * mapping to the engines' options, and one-line refusals naming the key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigFileError, parseConfigText, type KafkaBackupConfig } from '../../src/config/index.js';
import { backupOptions, restoreOptions } from '../../src/cli/config-mapping.js';
import type { ObjectStore } from '../../src/storage/store.js';

const store = {} as ObjectStore;
const BACKUP = 'mode: backup\nbackup_id: b\nsource:\n  bootstrap_servers: [k:9092]\nstorage:\n  backend: memory\n';
const RESTORE = 'mode: restore\nbackup_id: b\ntarget:\n  bootstrap_servers: [k:9092]\nstorage:\n  backend: memory\n';

function parse(text: string): { cfg: KafkaBackupConfig; warnings: string[] } {
  const warnings: string[] = [];
  return { cfg: parseConfigText(text, 'test.yaml', { onWarning: (m) => warnings.push(m) }), warnings };
}

function refusal(text: string): string {
  try {
    parseConfigText(text, 'test.yaml', { onWarning: () => {} });
  } catch (err) {
    assert.ok(err instanceof ConfigFileError, String(err));
    return err.message;
  }
  assert.fail('expected the file to be refused');
}

test('defaults: breaker on (5 rounds of 10 s), 60 s empty-fetch retry, group snapshots on change, keep existing configs, RF from the backup', () => {
  const b = backupOptions(parse(BACKUP).cfg, store);
  assert.deepEqual(b.circuitBreaker, { failureThreshold: 5, coolDownMs: 10_000 });
  assert.equal(b.emptyFetchRetrySecs, 60);
  assert.equal(b.groupSnapshotMinIntervalSecs, 0);
  assert.equal(b.fetchMaxWaitMs, undefined);
  const r = restoreOptions(parse(RESTORE).cfg, store);
  assert.equal(r.existingTopicConfigPolicy, 'keep');
  assert.equal(r.replicationFactorFromBackup, true);
});

test('set values reach the engines', () => {
  const b = backupOptions(
    parse(
      `${BACKUP.replace('  bootstrap_servers: [k:9092]\n', '  bootstrap_servers: [k:9092]\n  connection:\n    fetch_max_wait_ms: 250\n')}backup:\n  circuit_breaker: { failure_threshold: 3, cool_down_secs: 7 }\n  empty_fetch_retry_secs: 5\n  consumer_group_snapshot_min_interval_secs: 3600\n`,
    ).cfg,
    store,
  );
  assert.deepEqual(b.circuitBreaker, { failureThreshold: 3, coolDownMs: 7000 });
  assert.equal(b.fetchMaxWaitMs, 250);
  assert.equal(b.emptyFetchRetrySecs, 5);
  assert.equal(b.groupSnapshotMinIntervalSecs, 3600);
  assert.equal(backupOptions(parse(`${BACKUP}backup:\n  circuit_breaker: { enabled: false }\n`).cfg, store).circuitBreaker, undefined);
  const r = restoreOptions(parse(`${RESTORE}restore:\n  existing_topic_config_policy: overwrite\n  default_replication_factor: 2\n`).cfg, store);
  assert.equal(r.existingTopicConfigPolicy, 'overwrite');
  assert.equal(r.replicationFactorFromBackup, false);
  assert.equal(r.defaultReplicationFactor, 2);
});

test('bad values are refused naming the key and what is accepted', () => {
  assert.match(refusal(`${BACKUP}backup:\n  circuit_breaker: { failure_threshold: 0 }\n`), /backup\.circuit_breaker\.failure_threshold/);
  assert.match(refusal(`${BACKUP}backup:\n  circuit_breaker: { cool_down: 5 }\n`), /backup\.circuit_breaker\.cool_down/);
  assert.match(refusal(`${BACKUP}backup:\n  empty_fetch_retry_secs: 0\n`), /backup\.empty_fetch_retry_secs/);
  assert.match(refusal(`${RESTORE}restore:\n  existing_topic_config_policy: replace\n`), /restore\.existing_topic_config_policy.*keep.*overwrite.*fail/);
  assert.match(
    refusal(BACKUP.replace('  bootstrap_servers: [k:9092]\n', '  bootstrap_servers: [k:9092]\n  connection:\n    fetch_max_wait_ms: 600000\n')),
    /source\.connection\.fetch_max_wait_ms/,
  );
});

test('restore.circuit_breaker is refused with the reason unless it turns the breaker off; target.connection.fetch_max_wait_ms says it has no effect', () => {
  assert.match(
    refusal(`${RESTORE}restore:\n  circuit_breaker: { failure_threshold: 3 }\n`),
    /restore\.circuit_breaker: not supported for restores: .*resumes exactly/,
  );
  const { warnings } = parse(
    `${RESTORE.replace('  bootstrap_servers: [k:9092]\n', '  bootstrap_servers: [k:9092]\n  connection:\n    fetch_max_wait_ms: 100\n')}restore:\n  circuit_breaker: { enabled: false }\n`,
  );
  assert.ok(!warnings.some((w) => w.includes('circuit_breaker')), warnings.join('\n'));
  assert.ok(
    warnings.some((w) => w.includes('target.connection.fetch_max_wait_ms has no effect')),
    warnings.join('\n'),
  );
});

test('sasl_mechanism OAUTHBEARER needs the token endpoint, client id and secret; an endpoint that is not http(s) is refused', () => {
  const base = BACKUP.replace(
    '  bootstrap_servers: [k:9092]\n',
    '  bootstrap_servers: [k:9092]\n  security:\n    security_protocol: SASL_SSL\n    sasl_mechanism: OAUTHBEARER\n',
  );
  const msg = refusal(base);
  for (const k of ['sasl_oauthbearer_token_endpoint_url', 'sasl_oauthbearer_client_id', 'sasl_oauthbearer_client_secret'])
    assert.match(msg, new RegExp(`source\\.security\\.${k}`));
  assert.match(
    refusal(base.replace('sasl_mechanism: OAUTHBEARER\n', 'sasl_mechanism: OAUTHBEARER\n    sasl_oauthbearer_token_endpoint_url: ftp://idp/token\n')),
    /sasl_oauthbearer_token_endpoint_url.*http\(s\) URL/,
  );
  const { cfg } = parse(
    base.replace(
      'sasl_mechanism: OAUTHBEARER\n',
      'sasl_mechanism: OAUTHBEARER\n    sasl_oauthbearer_token_endpoint_url: https://idp.example.com/token\n    sasl_oauthbearer_client_id: c\n    sasl_oauthbearer_client_secret: s3cr3t-oauth\n    sasl_oauthbearer_scope: kafka\n',
    ),
  );
  assert.equal(cfg.source!.security.sasl_oauthbearer_client_id, 'c');
  assert.equal(cfg.source!.security.sasl_oauthbearer_scope, 'kafka');
});
