import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/util/errors.js';
import { resetAsked, resetTechnique } from '../../src/config/consumer-groups.js';
import {
  ConfigFileError,
  loadConfig,
  parseConfigText,
  redactConfig,
  storageSpecFromConfig,
  type KafkaBackupConfig,
  type LoadConfigOptions,
} from '../../src/config/index.js';
import { kafkaSettings } from '../../src/cli/commands/offset-reset-flags.js';
import { backupOptions } from '../../src/cli/config-mapping.js';
import type { ObjectStore } from '../../src/storage/store.js';
import { connectionOptions, plaintextPasswordWarning } from '../../src/kafka/security.js';

const FIX = new URL('../fixtures/config/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIX), 'utf8');
const fixturePath = (name: string) => new URL(name, FIX).pathname;

const ENV = { KAFKA_PASSWORD: 's3cr3t-kafka', KEY_PASSWORD: 'key-pw', AWS_SECRET: 'aws-secret-value' };

function parse(text: string, opts: LoadConfigOptions = {}): { cfg: KafkaBackupConfig; warnings: string[] } {
  const warnings: string[] = [];
  const cfg = parseConfigText(text, 'test.yaml', { env: ENV, onWarning: (m) => warnings.push(m), ...opts });
  return { cfg, warnings };
}

/** The error thrown for `text`; asserts it is a ConfigFileError. */
function failure(text: string, opts: LoadConfigOptions = {}): ConfigFileError {
  try {
    parseConfigText(text, 'test.yaml', { env: ENV, onWarning: () => {}, ...opts });
  } catch (err) {
    assert.ok(err instanceof ConfigFileError, `expected ConfigFileError, got ${String(err)}`);
    assert.ok(err instanceof ConfigError);
    for (const p of err.problems) assert.ok(p instanceof ConfigError);
    return err;
  }
  assert.fail('expected the config to be refused');
}

const BASE_RESTORE = `mode: restore
backup_id: b1
target:
  bootstrap_servers: [localhost:9092]
storage:
  backend: memory
`;
const BASE_BACKUP = `mode: backup
backup_id: b1
source:
  bootstrap_servers: [localhost:9092]
storage:
  backend: memory
`;

describe('seed page examples', () => {
  test('pitr-restore.yaml parses with the seed values', async () => {
    const cfg = await loadConfig(fixturePath('seed-pitr-restore.yaml'), { env: {}, expectMode: 'restore', onWarning: () => {} });
    assert.equal(cfg.mode, 'restore');
    assert.equal(cfg.backup_id, 'production-backup-001');
    assert.deepEqual(cfg.target?.bootstrap_servers, ['kafka-dr-0.example.com:9092', 'kafka-dr-1.example.com:9092']);
    assert.deepEqual(cfg.storage, { backend: 's3', bucket: 'my-kafka-backups', region: 'us-west-2', prefix: 'production', allowHttp: false });
    assert.equal(cfg.restore.time_window_start, 1731236400000);
    assert.equal(cfg.restore.time_window_end, 1731250800000);
    assert.deepEqual(cfg.restore.topic_mapping, { orders: 'orders_pitr_restore', payments: 'payments_pitr_restore' });
    assert.equal(cfg.restore.include_original_offset_header, true);
    assert.equal(cfg.restore.consumer_group_strategy, 'skip');
    assert.equal(cfg.restore.topics, undefined);
    assert.equal(cfg.restore.allow_non_empty_target, false);
    assert.equal(cfg.restore.keep_log_append_time, false);
    assert.equal(cfg.source, undefined);
  });

  const base = fixture('seed-snippet-base.yaml');
  test('restore-just-before-incident snippet', () => {
    const { cfg } = parse(base + fixture('seed-snippet-just-before.yaml'));
    assert.equal(cfg.restore.time_window_end, 1731251535000);
    assert.equal(cfg.restore.time_window_start, undefined);
  });
  test('specific-partitions snippet', () => {
    const { cfg } = parse(base + fixture('seed-snippet-partitions.yaml'));
    assert.deepEqual(cfg.restore.source_partitions, [0, 1, 2]);
  });
  test('partition-remapping snippet', () => {
    const { cfg } = parse(base + fixture('seed-snippet-partition-mapping.yaml'));
    assert.deepEqual(cfg.restore.partition_mapping, { 0: 0, 1: 0, 2: 1 });
  });
  test('open-ended snippet', () => {
    const { cfg } = parse(base + fixture('seed-snippet-open-ended.yaml'));
    assert.equal(cfg.restore.time_window_start, 1731236400000);
    assert.equal(cfg.restore.time_window_end, undefined);
  });
  test('three-phase snippet', () => {
    const { cfg } = parse(base + fixture('seed-snippet-three-phase.yaml'));
    assert.equal(cfg.restore.consumer_group_strategy, 'header-based');
    assert.equal(cfg.restore.reset_consumer_offsets, true);
    assert.deepEqual(cfg.restore.consumer_groups, ['my-consumer-group']);
  });
});

describe('full reference file', () => {
  test('every reference key parses and is normalised', async () => {
    const warnings: string[] = [];
    const cfg = await loadConfig(fixturePath('full-reference.yaml'), { env: ENV, expectMode: 'backup', onWarning: (m) => warnings.push(m) });
    const src = cfg.source!;
    assert.deepEqual(src.bootstrap_servers, ['broker-1.example.com:9092', '[::1]:9093']);
    assert.deepEqual(src.security, {
      security_protocol: 'SASL_SSL',
      sasl_mechanism: 'SCRAM-SHA-512',
      sasl_username: 'backup-user',
      sasl_password: 's3cr3t-kafka',
      ssl_ca_location: '/etc/kafka/ca.pem',
      ssl_certificate_location: '/etc/kafka/client.pem',
      ssl_key_location: '/etc/kafka/client.key',
      ssl_key_password: 'key-pw',
      sasl_kerberos_service_name: 'kafka',
      sasl_keytab_path: '/etc/kafka/kafka.keytab',
      sasl_krb5_config_path: '/etc/krb5.conf',
    });
    assert.deepEqual(src.connection, {
      tcp_keepalive: true,
      keepalive_time_secs: 30,
      keepalive_interval_secs: 10,
      tcp_nodelay: false,
      connections_per_broker: 2,
      request_timeout_ms: 30000,
    });
    assert.deepEqual(src.topics, { include: ['orders', 'payments-*', 'events-?'], exclude: ['*-internal'] });
    assert.deepEqual(cfg.target?.topics.include, ['~^orders\\..*$', 'payments']);
    assert.deepEqual(cfg.target?.connection.connections_per_broker, 4);
    assert.deepEqual(cfg.storage, {
      backend: 's3',
      bucket: 'my-kafka-backups',
      prefix: 'prod/',
      region: 'eu-west-1',
      endpoint: 'https://minio.example.com:9000',
      accessKey: 'AKIAEXAMPLE',
      secretKey: 'aws-secret-value',
      pathStyle: true,
      allowHttp: false,
    });
    const b = cfg.backup;
    assert.equal(b.segment_max_bytes, 67108864);
    assert.equal(b.segment_max_records, 100000);
    assert.equal(b.compression, 'lz4');
    assert.equal(b.compression_level, 5);
    assert.deepEqual(b.start_offset, { kind: 'specific', offsets: { orders: { 0: 100, 1: 250 } } });
    assert.equal(b.continuous, true);
    assert.equal(b.fetch_max_bytes, 8388608);
    assert.deepEqual(b.internal_topics, ['__consumer_offsets']);
    assert.equal(b.source_cluster_id, 'prod-east');
    assert.equal(b.capture_topic_configs, true);
    assert.equal(b.require_topic_configs, false);
    const r = cfg.restore;
    assert.equal(r.time_window_start, 1731232800000);
    assert.equal(r.time_window_end, Date.UTC(2024, 10, 10, 14));
    assert.deepEqual(r.topics, ['orders', 'payments']);
    assert.deepEqual(r.partition_mapping, { 0: 0, 1: 0 });
    assert.deepEqual(r.repartitioning, { payments: { strategy: 'automatic', target_partitions: 12 } });
    assert.equal(r.produce_acks, 1);
    assert.equal(r.default_replication_factor, 3);
    assert.equal(r.allow_non_empty_target, true);
    assert.equal(r.rate_limit_bytes_per_sec, 10485760);
    assert.deepEqual(cfg.offset_storage, {
      backend: 'sqlite',
      db_path: '/var/lib/kafka-backup/offsets.db',
      s3_key: 'full-001/offsets.db',
      sync_interval_secs: 15,
    });
    assert.deepEqual(cfg.metrics, {
      enabled: true,
      port: 9100,
      bind_address: '127.0.0.1',
      path: '/prom',
      update_interval_ms: 1000,
      keep_alive_seconds: 5,
      max_partition_labels: 0,
    });
    assert.ok(!('logging' in cfg));
    // Not-yet-implemented features are accepted with a warning.
    assert.ok(warnings.some((w) => /offset_storage is not used: a backup keeps its progress in the backup itself .*the section can be removed/.test(w)));
    // Built features are not warned about.
    assert.ok(!warnings.some((w) => w.includes('repartitioning') || w.includes('purge_topics') || w.includes('update_interval_ms')));
  });

  test('defaults are filled in', () => {
    const { cfg } = parse(BASE_BACKUP);
    assert.deepEqual(cfg.backup.start_offset, { kind: 'earliest' });
    assert.equal(cfg.backup.segment_max_bytes, 134217728);
    assert.equal(cfg.backup.segment_max_interval_ms, 60000);
    assert.equal(cfg.backup.compression, 'zstd');
    assert.equal(cfg.backup.compression_level, 3);
    assert.equal(cfg.backup.max_concurrent_partitions, 8);
    assert.equal(cfg.backup.include_offset_headers, true);
    assert.equal(cfg.restore.max_concurrent_partitions, 4);
    assert.equal(cfg.restore.produce_acks, -1);
    assert.equal(cfg.restore.produce_batch_size, 1000);
    assert.equal(cfg.metrics.port, 8080);
    assert.equal(cfg.offset_storage, undefined);
    assert.deepEqual(cfg.source?.security, { security_protocol: 'PLAINTEXT' });
  });

  test('backup.consumer_group_snapshot and capture_topic_configs: on by default, off when false, and handed to the engine', () => {
    const store = { url: 'memory://' } as unknown as ObjectStore;
    const on = backupOptions(parse(BASE_BACKUP).cfg, store);
    assert.deepEqual([on.groupSnapshots, on.captureTopicConfigs], [true, true]);
    const off = backupOptions(parse(`${BASE_BACKUP}backup:\n  consumer_group_snapshot: false\n  capture_topic_configs: false\n`).cfg, store);
    assert.deepEqual([off.groupSnapshots, off.captureTopicConfigs], [false, false]);
  });

  test('explicitly empty sections mean all defaults', () => {
    const { cfg } = parse(`${BASE_BACKUP}backup:\nrestore:\nmetrics:\n`);
    assert.equal(cfg.backup.compression, 'zstd');
    assert.equal(cfg.metrics.enabled, true);
  });
});

describe('spelling variants and extensions', () => {
  for (const [written, normal] of [
    ['SCRAM-SHA256', 'SCRAM-SHA-256'],
    ['SCRAM-SHA-256', 'SCRAM-SHA-256'],
    ['SCRAM-SHA512', 'SCRAM-SHA-512'],
    ['SCRAM-SHA-512', 'SCRAM-SHA-512'],
    ['PLAIN', 'PLAIN'],
    ['GSSAPI', 'GSSAPI'],
    ['scram-sha-256', 'SCRAM-SHA-256'],
    ['plain', 'PLAIN'],
  ] as const) {
    test(`sasl_mechanism ${written} -> ${normal}`, () => {
      const { cfg } = parse(
        `${BASE_BACKUP.replace('[localhost:9092]', '[localhost:9092]\n  security:\n    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: ' + written)}`,
      );
      assert.equal(cfg.source?.security.sasl_mechanism, normal);
    });
  }
  test('a SASL_* protocol without sasl_mechanism is refused, naming the key (nothing is assumed, no password sent)', () => {
    for (const proto of ['SASL_PLAINTEXT', 'SASL_SSL', 'sasl_ssl']) {
      const e = failure(
        BASE_BACKUP.replace(
          '[localhost:9092]',
          `[localhost:9092]\n  security:\n    security_protocol: ${proto}\n    sasl_username: u\n    sasl_password: TOPSECRETPW`,
        ),
      );
      assert.match(
        e.message,
        /test\.yaml: source\.security\.sasl_mechanism: required when security_protocol is SASL_(PLAINTEXT|SSL): one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512/,
      );
      assert.ok(!e.message.includes('TOPSECRETPW'));
    }
  });
  test('SASL PLAIN over SASL_PLAINTEXT warns that the password travels unencrypted; over SASL_SSL or with SCRAM it does not', () => {
    const warn = (proto: string, mech: string) =>
      parse(
        BASE_BACKUP.replace(
          '[localhost:9092]',
          `[localhost:9092]\n  security:\n    security_protocol: ${proto}\n    sasl_mechanism: ${mech}\n    sasl_username: u\n    sasl_password: TOPSECRETPW`,
        ),
      ).warnings.filter((w) => /UNENCRYPTED/.test(w));
    const w = warn('SASL_PLAINTEXT', 'PLAIN');
    assert.equal(w.length, 1);
    assert.match(
      w[0]!,
      /^test\.yaml: source\.security: SASL PLAIN over SASL_PLAINTEXT sends the user name and password UNENCRYPTED to every broker.*use SASL_SSL, or SCRAM-SHA-256 \/ SCRAM-SHA-512/,
    );
    assert.ok(!w[0]!.includes('TOPSECRETPW'));
    assert.deepEqual(warn('SASL_SSL', 'PLAIN'), []);
    assert.deepEqual(warn('SASL_PLAINTEXT', 'SCRAM-SHA-512'), []);
  });
  test('offset commands: --security-protocol SASL_* defaults the mechanism to PLAIN (documented) and warns when that is without TLS', () => {
    const env = { KAFKA_USERNAME: 'u', KAFKA_PASSWORD: 'p' };
    const s = kafkaSettings(['b:9092'], { securityProtocol: 'SASL_PLAINTEXT' }, env);
    assert.equal(s.security?.sasl_mechanism, 'PLAIN');
    assert.match(plaintextPasswordWarning('--security-protocol SASL_PLAINTEXT', s.security!) ?? '', /UNENCRYPTED/);
    assert.equal(plaintextPasswordWarning('x', kafkaSettings(['b:9092'], { securityProtocol: 'SASL_SSL' }, env).security!), undefined);
    assert.equal(
      plaintextPasswordWarning('x', kafkaSettings(['b:9092'], { securityProtocol: 'SASL_PLAINTEXT', saslMechanism: 'SCRAM-SHA-512' }, env).security!),
      undefined,
    );
  });
  test('connection options never guess a SASL mechanism', () => {
    assert.throws(
      () => connectionOptions({ bootstrapServers: ['b:9092'], security: { security_protocol: 'SASL_PLAINTEXT', sasl_username: 'u', sasl_password: 'p' } }),
      /security\.sasl_mechanism is required with security_protocol SASL_PLAINTEXT/,
    );
    assert.equal(
      connectionOptions({
        bootstrapServers: ['b:9092'],
        security: { security_protocol: 'SASL_PLAINTEXT', sasl_mechanism: 'SCRAM-SHA-256', sasl_username: 'u', sasl_password: 'p' },
      }).sasl?.mechanism,
      'SCRAM-SHA-256',
    );
  });
  test('unknown sasl_mechanism is refused with the accepted list', () => {
    const e = failure(BASE_BACKUP.replace('[localhost:9092]', '[localhost:9092]\n  security:\n    sasl_mechanism: SCRAM-SHA-1'));
    assert.match(
      e.message,
      /test\.yaml: source\.security\.sasl_mechanism: expected one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI, OAUTHBEARER, got "SCRAM-SHA-1" \(line 6\)/,
    );
  });
  test('azure container_name and container', () => {
    for (const key of ['container_name', 'container']) {
      const { cfg } = parse(
        `${BASE_RESTORE.replace('backend: memory', `backend: azure\n  account_name: acct\n  ${key}: backups\n  sas_token: "?sv=2022&sig=abc"`)}`,
      );
      assert.deepEqual(cfg.storage, {
        backend: 'azure',
        accountName: 'acct',
        container: 'backups',
        sasToken: 'sv=2022&sig=abc',
        useWorkloadIdentity: false,
        allowHttp: false,
      });
    }
    const e = failure(BASE_RESTORE.replace('backend: memory', 'backend: azure\n  account_name: acct\n  container: a\n  container_name: b'));
    assert.match(e.message, /storage\.container: both container_name and container are set/);
    const e2 = failure(BASE_RESTORE.replace('backend: memory', 'backend: azure\n  account_name: acct'));
    assert.match(e2.message, /storage\.container_name: required key is missing/);
  });
  test('azure: every key', () => {
    const { cfg } = parse(
      BASE_RESTORE.replace(
        'backend: memory',
        'backend: azure\n  account_name: acct\n  container_name: c\n  account_key: K\n  prefix: p\n  endpoint: http://127.0.0.1:10000/acct\n  allow_http: true\n  use_workload_identity: true\n  client_id: cid\n  tenant_id: tid\n  client_secret: cs',
      ),
    );
    assert.deepEqual(cfg.storage, {
      backend: 'azure',
      accountName: 'acct',
      container: 'c',
      accountKey: 'K',
      prefix: 'p',
      endpoint: 'http://127.0.0.1:10000/acct',
      useWorkloadIdentity: true,
      clientId: 'cid',
      tenantId: 'tid',
      clientSecret: 'cs',
      allowHttp: true,
    });
  });
  test('azure: a plain http:// endpoint is refused unless storage.allow_http (a SAS token would travel in clear text)', () => {
    const az = (extra: string) =>
      BASE_RESTORE.replace('backend: memory', `backend: azure\n  account_name: acct\n  container_name: c\n  sas_token: "sv=1&sig=SECRETSIG"\n  ${extra}`);
    const e = failure(az('endpoint: http://azurite:10000/acct'));
    assert.match(e.message, /storage\.endpoint: is a plain http:\/\/ URL .*set storage\.allow_http: true/);
    assert.ok(!e.message.includes('SECRETSIG'));
    assert.equal(parse(az('endpoint: https://acct.blob.core.windows.net')).cfg.storage.backend, 'azure');
    assert.equal(parse(az('endpoint: http://azurite:10000/acct\n  allow_http: true')).cfg.storage.backend, 'azure');
  });
  test('gcs: a plain http:// endpoint is refused unless storage.allow_http', () => {
    const gcs = (extra: string) => BASE_RESTORE.replace('backend: memory', `backend: gcs\n  bucket: bk\n  ${extra}`);
    assert.match(failure(gcs('endpoint: http://fake-gcs:4443')).message, /storage\.endpoint: is a plain http:\/\/ URL .*set storage\.allow_http: true/);
    assert.equal(parse(gcs('endpoint: https://storage.googleapis.com')).cfg.storage.backend, 'gcs');
    assert.equal(parse(gcs('endpoint: http://fake-gcs:4443\n  allow_http: true')).cfg.storage.backend, 'gcs');
  });
  test('gcs service_account_path and service_account_json (path or inline JSON)', () => {
    const gcs = (extra: string) => BASE_RESTORE.replace('backend: memory', `backend: gcs\n  bucket: bk\n  ${extra}`);
    assert.deepEqual(parse(gcs('service_account_path: /k.json')).cfg.storage, {
      backend: 'gcs',
      bucket: 'bk',
      serviceAccountPath: '/k.json',
      allowHttp: false,
    });
    assert.deepEqual(parse(gcs('service_account_json: /k.json')).cfg.storage, {
      backend: 'gcs',
      bucket: 'bk',
      serviceAccountPath: '/k.json',
      allowHttp: false,
    });
    const inline = '{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\\nABC\\n-----END PRIVATE KEY-----\\n"}';
    const { cfg } = parse(gcs(`service_account_json: '${inline}'`));
    assert.deepEqual(cfg.storage, { backend: 'gcs', bucket: 'bk', serviceAccountJson: inline, allowHttp: false });
    const e = failure(gcs(`service_account_json: '{"private_key": "TOPSECRET"'`));
    assert.match(e.message, /storage\.service_account_json: looks like inline JSON but does not parse/);
    assert.ok(!e.message.includes('TOPSECRET'));
  });
  test('gcs endpoint (an emulator or private endpoint) must be an http(s) URL', () => {
    const gcs = (extra: string) => BASE_RESTORE.replace('backend: memory', `backend: gcs\n  bucket: bk\n  ${extra}`);
    assert.deepEqual(parse(gcs('endpoint: http://127.0.0.1:4443\n  allow_http: true')).cfg.storage, {
      backend: 'gcs',
      bucket: 'bk',
      endpoint: 'http://127.0.0.1:4443',
      allowHttp: true,
    });
    assert.match(failure(gcs('endpoint: storage.example.com')).message, /storage\.endpoint: expected a URL such as https:\/\/storage\.googleapis\.com/);
    assert.match(failure(gcs('endpoint: ftp://storage.example.com')).message, /storage\.endpoint: expected an http:\/\/ or https:\/\/ URL, got ftp:/);
  });
  test('s3 access_key/secret_key and access_key_id/secret_access_key', () => {
    const s3 = (extra: string) => BASE_RESTORE.replace('backend: memory', `backend: s3\n  bucket: bk\n  ${extra}`);
    for (const [a, s] of [
      ['access_key', 'secret_key'],
      ['access_key_id', 'secret_access_key'],
    ]) {
      const { cfg } = parse(s3(`${a}: AK\n  ${s}: SK`));
      assert.deepEqual(cfg.storage, { backend: 's3', bucket: 'bk', accessKey: 'AK', secretKey: 'SK', allowHttp: false });
    }
    // path_style absent: left to the S3 store (path-style when an endpoint is set); an explicit value is kept.
    assert.equal(
      parse(s3('endpoint: https://minio.example.com')).cfg.storage.backend === 's3' &&
        'pathStyle' in parse(s3('endpoint: https://minio.example.com')).cfg.storage,
      false,
    );
    assert.deepEqual(parse(s3('endpoint: https://minio.example.com\n  path_style: false')).cfg.storage, {
      backend: 's3',
      bucket: 'bk',
      endpoint: 'https://minio.example.com',
      pathStyle: false,
      allowHttp: false,
    });
    assert.match(failure(s3('access_key: A\n  access_key_id: B')).message, /both access_key and access_key_id are set/);
    assert.match(
      failure(s3('endpoint: http://minio:9000')).message,
      /storage\.endpoint: is a plain http:\/\/ URL .*use https:\/\/, or set storage\.allow_http: true/,
    );
    assert.equal(parse(s3('endpoint: http://minio:9000\n  allow_http: true')).cfg.storage.backend, 's3');
  });
  test('filesystem and memory; storage backend is case-insensitive', () => {
    assert.deepEqual(parse(BASE_RESTORE.replace('backend: memory', 'backend: FileSystem\n  path: /backups')).cfg.storage, {
      backend: 'filesystem',
      path: '/backups',
    });
    assert.deepEqual(parse(BASE_RESTORE).cfg.storage, { backend: 'memory' });
  });
  test('docs-only storage keys are accepted with a warning and have no effect', () => {
    const { cfg, warnings } = parse(BASE_RESTORE.replace('backend: memory', 'backend: filesystem\n  path: /b\n  prefix: x'));
    assert.deepEqual(cfg.storage, { backend: 'filesystem', path: '/b' });
    assert.ok(warnings.some((w) => w.includes('storage.prefix') && w.includes('no effect')));
  });
  test('bootstrap_servers as a comma-separated string is split', () => {
    const { cfg } = parse(BASE_RESTORE.replace('[localhost:9092]', '"a:9092, b:9093,c:9094"'));
    assert.deepEqual(cfg.target?.bootstrap_servers, ['a:9092', 'b:9093', 'c:9094']);
  });
  test('enum values are case-insensitive; acks accepts "all"', () => {
    const { cfg } = parse(
      `${BASE_RESTORE}restore:\n  consumer_group_strategy: Header-Based\n  produce_acks: all\nbackup:\n  compression: ZSTD\n  start_offset: LATEST\n`,
    );
    assert.equal(cfg.restore.consumer_group_strategy, 'header-based');
    assert.equal(cfg.restore.produce_acks, -1);
    assert.equal(cfg.backup.compression, 'zstd');
    assert.deepEqual(cfg.backup.start_offset, { kind: 'latest' });
  });
  test('consumer_group_strategy exact, strip_offset_headers, allow_non_empty_target, restore.topics', () => {
    const { cfg } = parse(
      `${BASE_RESTORE}restore:\n  consumer_group_strategy: exact\n  strip_offset_headers: true\n  allow_non_empty_target: true\n  topics: [orders, "pay*"]\n`,
    );
    assert.equal(cfg.restore.consumer_group_strategy, 'exact');
    assert.equal(cfg.restore.strip_offset_headers, true);
    assert.equal(cfg.restore.allow_non_empty_target, true);
    assert.deepEqual(cfg.restore.topics, ['orders', 'pay*']);
  });
  test('consumer groups: a reset with the default strategy uses exact; combinations that cannot work are refused at load, naming the key', () => {
    const { cfg } = parse(`${BASE_RESTORE}restore:\n  reset_consumer_offsets: true\n`);
    assert.equal(resetTechnique(cfg.restore), 'exact');
    assert.equal(resetAsked(parse(`${BASE_RESTORE}restore:\n  auto_consumer_groups: true\n`).cfg.restore), true);
    assert.match(
      failure(`${BASE_RESTORE}restore:\n  consumer_group_strategy: cluster-scan\n`).message,
      /^test\.yaml: restore\.consumer_group_strategy: cluster-scan is not supported .*use exact/,
    );
    assert.match(
      failure(`${BASE_RESTORE}restore:\n  consumer_group_strategy: manual\n  reset_consumer_offsets: true\n`).message,
      /restore\.consumer_group_strategy: manual needs restore\.manual_offsets/,
    );
    assert.match(
      failure(`${BASE_RESTORE}restore:\n  manual_offsets: { g: { orders: { 0: 5 } } }\n`).message,
      /restore\.manual_offsets: is only used with consumer_group_strategy: manual \(it is skip\)/,
    );
    assert.equal(
      resetTechnique(parse(`${BASE_RESTORE}restore:\n  consumer_group_strategy: manual\n  manual_offsets: { g: { orders: { 0: 5 } } }\n`).cfg.restore),
      'manual',
    );
  });
  test('connection.keepalive_interval_secs, which Node.js cannot apply, is warned about when set, naming the alternative', () => {
    const withKey = parse(
      BASE_RESTORE.replace(
        '  bootstrap_servers: [localhost:9092]\n',
        '  bootstrap_servers: [localhost:9092]\n  connection:\n    keepalive_interval_secs: 20\n',
      ),
    ).warnings;
    assert.ok(
      withKey.some((w) =>
        /target\.connection\.keepalive_interval_secs cannot be applied: Node\.js fixes the keepalive probe interval at 1 s .*tune keepalive_time_secs instead/.test(
          w,
        ),
      ),
      withKey.join('\n'),
    );
    assert.ok(!parse(BASE_RESTORE).warnings.some((w) => w.includes('keepalive_interval_secs')));
  });
  test('start_offset: plain integer, !specific, untagged {specific: ...}', () => {
    assert.deepEqual(parse(`${BASE_BACKUP}backup:\n  start_offset: 1234\n`).cfg.backup.start_offset, { kind: 'offset', offset: 1234 });
    assert.deepEqual(parse(`${BASE_BACKUP}backup:\n  start_offset: !specific {orders: {0: 100}}\n`).cfg.backup.start_offset, {
      kind: 'specific',
      offsets: { orders: { 0: 100 } },
    });
    assert.deepEqual(parse(`${BASE_BACKUP}backup:\n  start_offset: {specific: {orders: {3: 7}}}\n`).cfg.backup.start_offset, {
      kind: 'specific',
      offsets: { orders: { 3: 7 } },
    });
    assert.match(failure(`${BASE_BACKUP}backup:\n  start_offset: -5\n`).message, /backup\.start_offset: must be at least 0/);
    assert.match(
      failure(`${BASE_BACKUP}backup:\n  start_offset: newest\n`).message,
      /backup\.start_offset: expected earliest, latest, an offset, or !specific/,
    );
    assert.match(failure(`${BASE_BACKUP}backup:\n  start_offset: !specific [1]\n`).message, /unsupported YAML tag !specific \(it must tag a mapping/);
    assert.match(failure(`${BASE_BACKUP}backup:\n  compression: !custom zstd\n`).message, /backup\.compression: unsupported YAML tag !custom/);
  });
  test('time windows accept ISO-8601 with zone and are normalised to epoch ms', () => {
    const { cfg } = parse(`${BASE_RESTORE}restore:\n  time_window_start: 2024-11-10T10:00:00Z\n  time_window_end: "2024-11-10T15:00:00.250+01:00"\n`);
    assert.equal(cfg.restore.time_window_start, 1731232800000);
    assert.equal(cfg.restore.time_window_end, 1731247200250);
    assert.equal(parse(`${BASE_RESTORE}restore:\n  time_window_start: 0\n`).cfg.restore.time_window_start, 0);
  });
  test('string values keep their source text (backup_id: 007)', () => {
    assert.equal(parse(BASE_RESTORE.replace('backup_id: b1', 'backup_id: 007')).cfg.backup_id, '007');
    assert.equal(parse(BASE_RESTORE.replace('backup_id: b1', 'backup_id: 2024.10')).cfg.backup_id, '2024.10');
  });
  test('connection.request_timeout_ms (ours): default 30 s, below 1 s refused; restore waits longer than produce_timeout_ms', async () => {
    const { cfg } = parse(BASE_RESTORE.replace('[localhost:9092]', '[localhost:9092]\n  connection:\n    request_timeout_ms: 5000'));
    assert.equal(cfg.target?.connection.request_timeout_ms, 5000);
    assert.equal(parse(BASE_RESTORE).cfg.target?.connection.request_timeout_ms, 30_000);
    assert.match(
      failure(BASE_RESTORE.replace('[localhost:9092]', '[localhost:9092]\n  connection:\n    request_timeout_ms: 500')).message,
      /target\.connection\.request_timeout_ms: .*at least 1000/,
    );
    const { restoreOptions } = await import('../../src/cli/config-mapping.js');
    const { MemoryStore } = await import('../../src/storage/memory.js');
    assert.equal(restoreOptions(cfg, new MemoryStore()).target?.requestTimeoutMs, 35_000, 'produce_timeout_ms 30 s + 5 s');
  });
  test('connections_per_broker 0 is treated as 1', () => {
    assert.equal(
      parse(BASE_RESTORE.replace('[localhost:9092]', '[localhost:9092]\n  connection:\n    connections_per_broker: 0')).cfg.target?.connection
        .connections_per_broker,
      1,
    );
  });
  test('logging and its sub-keys are accepted and ignored', () => {
    const { cfg } = parse(`${BASE_RESTORE}logging:\n  level: debug\n  anything: {deep: [1, 2]}\n`);
    assert.ok(!('logging' in cfg));
  });
  test('reset_consumer_offsets without consumer_groups is accepted (= all groups in the backup)', () => {
    const { cfg } = parse(`${BASE_RESTORE}restore:\n  reset_consumer_offsets: true\n`);
    assert.equal(cfg.restore.reset_consumer_offsets, true);
    assert.deepEqual(cfg.restore.consumer_groups, []);
  });
  test('a topic named __proto__ is an ordinary key', () => {
    const { cfg } = parse(`${BASE_RESTORE}restore:\n  topic_mapping:\n    __proto__: restored\n`);
    assert.equal(Object.getPrototypeOf(cfg.restore.topic_mapping), Object.prototype);
    assert.deepEqual(Object.entries(cfg.restore.topic_mapping), [['__proto__', 'restored']]);
  });
});

describe('refused configs', () => {
  test('misspelt time_window_end is refused with a suggestion (never a full restore)', () => {
    const e = failure(`${BASE_RESTORE}restore:\n  time_window_start: 1731236400000\n  time_window_ends: 1731250800000\n`);
    assert.equal(e.message, 'test.yaml: restore.time_window_ends: unknown key; did you mean restore.time_window_end? (line 9)');
    assert.equal(e.problems.length, 1);
    assert.equal(e.problems[0]?.key, 'restore.time_window_ends');
  });
  test('unknown keys everywhere are refused, with the dotted path', () => {
    assert.match(failure(`${BASE_RESTORE}bogus: 1\n`).message, /test\.yaml: bogus: unknown key \(line 7\)/);
    assert.match(failure(`${BASE_RESTORE}restor:\n  dry_run: true\n`).message, /restor: unknown key; did you mean restore\?/);
    assert.match(
      failure(`${BASE_BACKUP}backup:\n  fetch_max_bytez: 5\n`).message,
      /backup\.fetch_max_bytez: unknown key; did you mean backup\.fetch_max_bytes\?/,
    );
    assert.match(
      failure(BASE_RESTORE.replace('[localhost:9092]', '[localhost:9092]\n  security:\n    bogus: 1')).message,
      /target\.security\.bogus: unknown key/,
    );
    assert.match(
      failure(`${BASE_RESTORE}restore:\n  repartitioning:\n    orders:\n      target_partitions: 3\n      strategi: murmur2\n`).message,
      /restore\.repartitioning\.orders\.strategi: unknown key; did you mean restore\.repartitioning\.orders\.strategy\?/,
    );
    assert.match(
      failure(`${BASE_RESTORE}restore:\n  segment_max_bytes: 5\n`).message,
      /restore\.segment_max_bytes: unknown key; segment_max_bytes belongs in the backup section/,
    );
  });
  test('unknown storage keys are refused; keys of another backend are named as such', () => {
    assert.match(
      failure(BASE_RESTORE.replace('backend: memory', 'backend: s3\n  bucket: b\n  regoin: x')).message,
      /storage\.regoin: unknown key; did you mean storage\.region\?/,
    );
    assert.match(
      failure(BASE_RESTORE.replace('backend: memory', 'backend: s3\n  bucket: b\n  account_name: x')).message,
      /storage\.account_name: unknown key for backend s3 \(it is a key of the azure backend\)/,
    );
    assert.match(
      failure(BASE_RESTORE.replace('backend: memory', 'backend: dropbox')).message,
      /storage\.backend: expected one of s3, azure, gcs, filesystem, memory, got "dropbox"/,
    );
    assert.match(failure(BASE_RESTORE.replace('storage:\n  backend: memory\n', '')).message, /storage: required key is missing/);
  });
  test('duplicate keys are an error', () => {
    assert.match(
      failure(`${BASE_RESTORE}restore:\n  dry_run: true\n  dry_run: false\n`).message,
      /test\.yaml: invalid YAML: Map keys must be unique \(line 9\)/,
    );
  });
  test('mode must match the command and be backup or restore', () => {
    assert.match(failure(BASE_RESTORE, { expectMode: 'backup' }).message, /mode: is restore, but this command runs a backup/);
    assert.match(failure(BASE_RESTORE.replace('mode: restore', 'mode: copy')).message, /mode: expected one of backup, restore, got "copy"/);
    assert.match(failure(BASE_RESTORE.replace('mode: restore\n', '')).message, /mode: required key is missing/);
  });
  test('source required for backup, target required for restore', () => {
    assert.match(failure(BASE_BACKUP.replace('source:\n  bootstrap_servers: [localhost:9092]\n', '')).message, /source: required when mode is backup/);
    assert.match(failure(BASE_RESTORE.replace('target:\n  bootstrap_servers: [localhost:9092]\n', '')).message, /target: required when mode is restore/);
    assert.match(
      failure(BASE_RESTORE.replace('  bootstrap_servers: [localhost:9092]\n', '  topics: {}\n')).message,
      /target\.bootstrap_servers: required key is missing/,
    );
  });
  test('stop_at_current_offsets with continuous is a contradiction', () => {
    assert.match(
      failure(`${BASE_BACKUP}backup:\n  continuous: true\n  stop_at_current_offsets: true\n`).message,
      /backup\.stop_at_current_offsets: cannot be combined with backup\.continuous: true/,
    );
  });
  test('ranges: compression_level, positive concurrency, batch sizes, rate limits', () => {
    assert.match(failure(`${BASE_BACKUP}backup:\n  compression_level: 0\n`).message, /backup\.compression_level: must be between 1 and 22, got 0/);
    assert.match(failure(`${BASE_BACKUP}backup:\n  compression_level: 23\n`).message, /backup\.compression_level: must be between 1 and 22, got 23/);
    assert.match(
      failure(`${BASE_BACKUP}backup:\n  max_concurrent_partitions: 0\n`).message,
      /backup\.max_concurrent_partitions: must be greater than 0, got 0/,
    );
    const e = failure(
      `${BASE_RESTORE}restore:\n  max_concurrent_partitions: 0\n  produce_batch_size: 0\n  rate_limit_records_per_sec: 0\n  rate_limit_bytes_per_sec: -1\n  produce_acks: 2\n`,
    );
    assert.equal(e.problems.length, 5);
    assert.match(e.message, /restore\.produce_batch_size: must be greater than 0/);
    assert.match(e.message, /restore\.rate_limit_records_per_sec: must be greater than 0/);
    assert.match(e.message, /restore\.produce_acks: must be between -1 and 1, got 2/);
    assert.match(
      failure(`${BASE_RESTORE}restore:\n  repartitioning:\n    t:\n      target_partitions: 0\n`).message,
      /restore\.repartitioning\.t\.target_partitions: must be greater than 0/,
    );
  });
  test('partition numbers >= 0 and mapping keys must be unquoted integers', () => {
    assert.match(failure(`${BASE_RESTORE}restore:\n  source_partitions: [0, -1]\n`).message, /restore\.source_partitions\[1\]: must be at least 0, got -1/);
    const e = failure(`${BASE_RESTORE}restore:\n  partition_mapping:\n    '0': 1\n    "2": 3\n    x: 1\n`);
    assert.match(
      e.message,
      /restore\.partition_mapping\.0: partition key "0" is quoted; partition numbers must be unquoted YAML integers \(write 0: …, not '0': …\) \(line 9\)/,
    );
    assert.match(e.message, /restore\.partition_mapping\.2: partition key "2" is quoted/);
    assert.match(e.message, /restore\.partition_mapping\.x: partition key "x" is not an integer/);
    assert.match(failure(`${BASE_RESTORE}restore:\n  partition_mapping:\n    0: -3\n`).message, /restore\.partition_mapping\.0: must be at least 0/);
  });
  test('bootstrap_servers entries must be host:port', () => {
    assert.match(
      failure(BASE_RESTORE.replace('[localhost:9092]', '[localhost]')).message,
      /target\.bootstrap_servers\[0\]: expected host:port, got "localhost"/,
    );
    assert.match(failure(BASE_RESTORE.replace('[localhost:9092]', '[SASL_SSL://b:9092]')).message, /leave out the protocol prefix/);
    assert.match(failure(BASE_RESTORE.replace('[localhost:9092]', '[]')).message, /needs at least one broker/);
    assert.match(failure(BASE_RESTORE.replace('[localhost:9092]', '"a:99999"')).message, /port must be 1\.\.65535/);
  });
  test('time window: seconds, no zone, quoted number, micros, start > end', () => {
    const sec = failure(`${BASE_RESTORE}restore:\n  time_window_end: 1731250800\n`);
    assert.equal(
      sec.message,
      'test.yaml: restore.time_window_end: expected epoch milliseconds, but 1731250800 looks like seconds (it would mean 1970-01-21T00:54:10.800Z); in milliseconds that is 1731250800000 (2024-11-10T15:00:00.000Z) (line 8)',
    );
    assert.match(
      failure(`${BASE_RESTORE}restore:\n  time_window_start: 2024-11-10T10:00:00\n`).message,
      /restore\.time_window_start: "2024-11-10T10:00:00" has no time zone; add Z/,
    );
    assert.match(
      failure(`${BASE_RESTORE}restore:\n  time_window_start: "1731236400000"\n`).message,
      /restore\.time_window_start: expected epoch milliseconds as an unquoted integer .* got a quoted number/,
    );
    assert.match(
      failure(`${BASE_RESTORE}restore:\n  time_window_start: 1731236400000000\n`).message,
      /looks like microseconds; in milliseconds that is 1731236400000/,
    );
    assert.match(
      failure(`${BASE_RESTORE}restore:\n  time_window_end: 8.64e21\n`).message,
      /restore\.time_window_end: expected epoch milliseconds \(an integer\)|far too large/,
    );
    assert.match(failure(`${BASE_RESTORE}restore:\n  time_window_end: 86400000000000000000000\n`).message, /far too large/);
    assert.match(
      failure(`${BASE_RESTORE}restore:\n  time_window_start: yesterday\n`).message,
      /restore\.time_window_start: expected epoch milliseconds or an ISO-8601 time/,
    );
    assert.match(failure(`${BASE_RESTORE}restore:\n  time_window_start: 2024-02-30T00:00:00Z\n`).message, /is not a valid date and time/);
    const order = failure(`${BASE_RESTORE}restore:\n  time_window_start: 1731250800000\n  time_window_end: 2024-11-10T10:00:00Z\n`);
    assert.equal(
      order.message,
      'test.yaml: restore.time_window_end: time_window_start 1731250800000 (2024-11-10T15:00:00.000Z) is after time_window_end 1731232800000 (2024-11-10T10:00:00.000Z); the window would be empty (line 9)',
    );
  });
  test('YAML 1.2 typing: yes/no are strings, quoted numbers are strings', () => {
    assert.match(failure(`${BASE_RESTORE}restore:\n  dry_run: yes\n`).message, /restore\.dry_run: expected true or false, got "yes" \(YAML 1\.2/);
    assert.match(
      failure(`${BASE_RESTORE}metrics:\n  port: '9090'\n`).message,
      /metrics\.port: expected a port number, got a quoted string \(remove the quotes/,
    );
    assert.match(failure(`${BASE_RESTORE}restore:\n  consumer_groups: g1\n`).message, /restore\.consumer_groups: expected a list/);
  });
  test('mTLS certificate without key is refused', () => {
    assert.match(
      failure(BASE_RESTORE.replace('[localhost:9092]', '[localhost:9092]\n  security:\n    security_protocol: SSL\n    ssl_certificate_location: /c.pem'))
        .message,
      /target\.security\.ssl_key_location: required for mutual TLS/,
    );
  });
  test('all problems of a file are reported together, one line each, sorted by line', () => {
    const e = failure(
      `mode: restore\nbackup_id: b\ntarget:\n  bootstrap_servers: [k:1]\nstorage:\n  backend: memory\n  bucket: x\nrestore:\n  time_window_ends: 1\n  dry_run: maybe\nbackup:\n  compression: brotli\n`,
    );
    const lines = e.message.split('\n');
    assert.deepEqual(lines, [
      'test.yaml: storage.bucket: unknown key for backend memory (it is a key of the s3/gcs backend) (line 7)',
      'test.yaml: restore.time_window_ends: unknown key; did you mean restore.time_window_end? (line 9)',
      'test.yaml: restore.dry_run: expected true or false, got a string (line 10)',
      'test.yaml: backup.compression: expected one of zstd, lz4, none, got "brotli" (line 12)',
    ]);
    assert.equal(e.problems.length, 4);
    assert.equal(e.problems[3]?.key, 'backup.compression');
  });
  test('empty file, non-mapping file, multiple documents', () => {
    assert.match(failure('').message, /the file is empty/);
    assert.match(failure('- a\n- b\n').message, /expected a mapping of keys/);
    assert.match(failure(`${BASE_RESTORE}---\nmode: backup\n`).message, /invalid YAML/);
  });
  test('secret values never appear in error messages', () => {
    const secret = 'pa:ss #word';
    // Substituted into the parsed scalar, a value with YAML-special characters arrives intact, quoted or not.
    const withPw = (ref: string) => BASE_RESTORE.replace('[localhost:9092]', `[localhost:9092]\n  security:\n    sasl_password: ${ref}`);
    assert.equal(parse(withPw('${PW}'), { env: { PW: secret } }).cfg.target?.security.sasl_password, secret);
    assert.equal(parse(withPw('"${PW}"'), { env: { PW: secret } }).cfg.target?.security.sasl_password, secret);
    assert.equal(parse(withPw('${PW}'), { env: { PW: '&anchor"x' } }).cfg.target?.security.sasl_password, '&anchor"x');
    const e2 = failure(withPw('[${PW}]'), { env: { PW: 'hunter2' } });
    assert.ok(!e2.message.includes('hunter2'), e2.message);
    assert.match(e2.message, /target\.security\.sasl_password: expected a string, got a list/);
  });
  test('an error about a substituted value does not show the value', () => {
    // Keys whose messages echo the value: an enum, an IP address, a number, a list item, a timestamp.
    const cases: [string, string, string][] = [
      ['backup:\n  compression: ${V}\n', 'brotli-s3cr3t', 'test.yaml: backup.compression: expected one of zstd, lz4, none, got "[value of ${V}]" (line 8)'],
      [
        'metrics:\n  bind_address: ${V}\n',
        'not-an-ip-s3cr3t',
        'test.yaml: metrics.bind_address: expected an IP address such as 0.0.0.0 or 127.0.0.1, got "[value of ${V}]" (line 8)',
      ],
      ['metrics:\n  port: ${V}\n', '70000', 'test.yaml: metrics.port: must be between 0 and 65535, got [value of ${V}] (line 8)'],
      ['restore:\n  produce_acks: "x-${V}"\n', 's3cr3t', 'test.yaml: restore.produce_acks: expected acks -1 (all), 0 or 1, got "[value of ${V}]" (line 8)'],
    ];
    for (const [tail, value, expected] of cases) {
      const e = failure(`${BASE_RESTORE}${tail}`, { env: { V: value } });
      assert.ok(!e.message.includes(value), e.message);
      assert.equal(e.message, expected);
    }
    const list = failure(BASE_RESTORE.replace('[localhost:9092]', '${BROKERS}'), { env: { BROKERS: '[good:1, bad-s3cr3t]' } });
    assert.ok(!list.message.includes('s3cr3t'), list.message);
    assert.match(list.message, /target\.bootstrap_servers\[1\]: expected host:port/);
    const ts = failure(`${BASE_RESTORE}restore:\n  time_window_start: \${T}\n`, { env: { T: '1731232800' } });
    assert.ok(!ts.message.includes('1731232800'), ts.message);
  });
});

describe('variable substitution', () => {
  test('${VAR} and ${env:VAR}', () => {
    const { cfg } = parse(`${BASE_RESTORE.replace('backup_id: b1', 'backup_id: ${ID}-${env:SUFFIX}')}`, { env: { ID: 'prod', SUFFIX: '01' } });
    assert.equal(cfg.backup_id, 'prod-01');
  });
  test('an unset variable is an error naming the variable and the file', () => {
    const e = failure(BASE_RESTORE.replace('backup_id: b1', 'backup_id: ${MISSING_VAR}'), { env: {} });
    assert.equal(e.message, 'test.yaml: environment variable MISSING_VAR is not set (line 2)');
    assert.match(
      failure(BASE_RESTORE.replace('backup_id: b1', 'backup_id: ${A:-x}'), { env: {} }).message,
      /environment variable A:-x is not set \(default values like \$\{NAME:-x\} are not supported\)/,
    );
  });
  test('references inside comments are ignored', () => {
    const { cfg } = parse(`# uses \${NOT_SET}\n${BASE_RESTORE}  # path: \${ALSO_NOT_SET}\n`, { env: {} });
    assert.equal(cfg.backup_id, 'b1');
  });
  test('values with quotes/backslashes are escaped inside quoted strings; numbers stay numbers in plain context', () => {
    const tricky = `a"b\\c'd`;
    const text = `${BASE_RESTORE.replace('[localhost:9092]', '[localhost:9092]\n  security:\n    sasl_password: "${PW}"\n    sasl_username: \'${PW}\'')}metrics:\n  port: \${PORT}\n`;
    const { cfg } = parse(text, { env: { PW: tricky, PORT: '9100' } });
    assert.equal(cfg.target?.security.sasl_password, tricky);
    assert.equal(cfg.target?.security.sasl_username, tricky);
    assert.equal(cfg.metrics.port, 9100);
  });
  test('a variable may supply a flow list', () => {
    const { cfg } = parse(BASE_RESTORE.replace('[localhost:9092]', '${BROKERS}'), { env: { BROKERS: '[a:1, b:2]' } });
    assert.deepEqual(cfg.target?.bootstrap_servers, ['a:1', 'b:2']);
  });
  test('$${ is a literal ${; unclosed ${ is an error', () => {
    assert.equal(parse(BASE_RESTORE.split('backup_id: b1').join('backup_id: "x$${y}"')).cfg.backup_id, 'x${y}');
    assert.match(failure(BASE_RESTORE.replace('backup_id: b1', 'backup_id: ${OOPS')).message, /unclosed "\$\{"/);
  });
  test('${file:...} reads a file, trims trailing newlines, relative to the config file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kb-config-'));
    writeFileSync(join(dir, 'pw.txt'), 'from-file\n\n');
    writeFileSync(join(dir, 'sa.json'), '{\n  "type": "service_account",\n  "private_key": "k\\n"\n}\n');
    const cfgPath = join(dir, 'c.yaml');
    writeFileSync(
      cfgPath,
      `${BASE_RESTORE.replace('backend: memory', 'backend: gcs\n  bucket: b\n  service_account_json: "${file:sa.json}"').replace('[localhost:9092]', `[localhost:9092]\n  security:\n    sasl_password: \${file:${join(dir, 'pw.txt')}}\n    ssl_key_password: \${file:pw.txt}`)}`,
    );
    const cfg = await loadConfig(cfgPath, { env: {}, onWarning: () => {} });
    assert.equal(cfg.target?.security.sasl_password, 'from-file');
    assert.equal(cfg.target?.security.ssl_key_password, 'from-file');
    assert.deepEqual(cfg.storage, {
      backend: 'gcs',
      bucket: 'b',
      serviceAccountJson: '{\n  "type": "service_account",\n  "private_key": "k\\n"\n}',
      allowHttp: false,
    });
    await assert.rejects(
      loadConfig(cfgPath.replace('c.yaml', 'missing.yaml')),
      (err: unknown) => err instanceof ConfigError && /cannot read config file .*missing\.yaml: no such file/.test(err.message),
    );
    const e = failure(BASE_RESTORE.replace('backup_id: b1', 'backup_id: ${file:/nonexistent/secret}'));
    assert.match(e.message, /cannot read file referenced by \$\{file:\/nonexistent\/secret\} \(\/nonexistent\/secret\): ENOENT \(line 2\)/);
  });
  test('a substituted value cannot add a key: block, flow and plain contexts', () => {
    const inject = 'x\nrestore:\n  allow_non_empty_target: true';
    // Block scalar: verbatim in the text, the value's second line would end the block and start a section.
    const block = `mode: restore\nbackup_id: b1\ntarget:\n  bootstrap_servers: [localhost:9092]\n  security:\n    sasl_password: |\n      \${PW}\nstorage:\n  backend: memory\n`;
    const b = parse(block, { env: { PW: inject } }).cfg;
    assert.equal(b.restore.allow_non_empty_target, false);
    assert.equal(b.target?.security.sasl_password, `${inject}\n`);
    // Flow mapping: "," and a quoted key without a space after ":" would add a key to the mapping.
    const flowInject = '/tmp/state, "allow_non_empty_target":true';
    const f = parse(`${BASE_RESTORE}restore: {checkpoint_state: \${S}}\n`, { env: { S: flowInject } }).cfg;
    assert.equal(f.restore.allow_non_empty_target, false);
    assert.equal(f.restore.checkpoint_state, flowInject);
    const closing = parse(`${BASE_RESTORE}restore: {checkpoint_state: "\${S}"}\n`, { env: { S: 'x"}, "allow_non_empty_target":true, "y": {"z":"' } }).cfg;
    assert.equal(closing.restore.allow_non_empty_target, false);
    // Plain block context: a line break used to start a new key.
    const p = parse(`${BASE_RESTORE}restore:\n  checkpoint_state: \${S}\n`, { env: { S: inject } }).cfg;
    assert.equal(p.restore.allow_non_empty_target, false);
    assert.equal(p.restore.checkpoint_state, inject);
    // A whole section from a variable is a string, not a mapping.
    const whole = failure(`${BASE_RESTORE}restore: \${S}\n`, { env: { S: '{allow_non_empty_target: true}' } });
    assert.match(whole.message, /^test\.yaml: restore: expected a mapping of keys, got a string/);
    // References in keys, tags and anchors are refused (a value must not choose a key).
    assert.match(
      failure(`${BASE_RESTORE}restore:\n  \${K}: true\n`, { env: { K: 'allow_non_empty_target' } }).message,
      /\$\{K\} can only be used in a value, not in a mapping key, tag or anchor \(line 8\)/,
    );
  });
  test('a whole unquoted value gets its type; a partial or quoted one stays a string', () => {
    const t = `${BASE_RESTORE}restore:\n  dry_run: \${B}\n  checkpoint_state: "\${N}"\n  offset_report: x\${N}\nmetrics:\n  port: 9\${N}\n`;
    const { cfg } = parse(t, { env: { B: 'true', N: '100' } });
    assert.equal(cfg.restore.dry_run, true);
    assert.equal(cfg.restore.checkpoint_state, '100');
    assert.equal(cfg.restore.offset_report, 'x100');
    assert.equal(cfg.metrics.port, 9100);
    // A value is never re-scanned for references; "$${" is a literal "${" in a flow mapping too.
    const f = parse(`${BASE_RESTORE}restore: {checkpoint_state: \${S}, offset_report: "a$\${b}"}\n`, { env: { S: '${PW}' } }).cfg;
    assert.equal(f.restore.checkpoint_state, '${PW}');
    assert.equal(f.restore.offset_report, 'a${b}');
  });
  test('line numbers refer to the original file even when a value spans lines', () => {
    const text = `mode: restore\nbackup_id: |\n  \${MULTI}\ntarget:\n  bootstrap_servers: [k:1]\nstorage:\n  backend: memory\nrestore:\n  bogus: 1\n`;
    const e = failure(text, { env: { MULTI: 'a\n  b\n  c\n  d' } });
    assert.equal(e.message, 'test.yaml: restore.bogus: unknown key (line 9)');
  });
});

describe('redactConfig', () => {
  test('replaces every secret and leaves the input untouched', async () => {
    const cfg = await loadConfig(fixturePath('full-reference.yaml'), { env: ENV, onWarning: () => {} });
    const red = redactConfig(cfg);
    assert.equal(red.source?.security.sasl_password, '[redacted]');
    assert.equal(red.source?.security.ssl_key_password, '[redacted]');
    assert.equal(red.source?.security.sasl_username, 'backup-user');
    assert.equal(red.storage.backend === 's3' && red.storage.secretKey, '[redacted]');
    assert.equal(red.storage.backend === 's3' && red.storage.accessKey, 'AKIAEXAMPLE');
    assert.equal(cfg.source?.security.sasl_password, 's3cr3t-kafka');
    const json = JSON.stringify(red);
    for (const s of Object.values(ENV)) assert.ok(!json.includes(s), s);
  });
  test('azure and gcs secrets', () => {
    const az = parse(
      BASE_RESTORE.replace('backend: memory', 'backend: azure\n  account_name: a\n  container: c\n  account_key: AK1\n  client_secret: CS1\n  sas_token: ST1'),
    ).cfg;
    const gcs = parse(BASE_RESTORE.replace('backend: memory', `backend: gcs\n  bucket: b\n  service_account_json: '{"private_key":"PK1"}'`)).cfg;
    const json = JSON.stringify([redactConfig(az), redactConfig(gcs)]);
    for (const s of ['AK1', 'CS1', 'ST1', 'PK1']) assert.ok(!json.includes(s), s);
    assert.ok(json.includes('[redacted]'));
  });
});

test('storageSpecFromConfig converts the YAML section shape', () => {
  assert.deepEqual(storageSpecFromConfig({ backend: 's3', bucket: 'b', path_style: false, allow_http: true, prefix: 'p' }), {
    backend: 's3',
    bucket: 'b',
    prefix: 'p',
    pathStyle: false,
    allowHttp: true,
  });
  assert.deepEqual(storageSpecFromConfig({ backend: 'filesystem', path: '/x' }), { backend: 'filesystem', path: '/x' });
});
