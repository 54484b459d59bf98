/**
 * Zod schemas of every section of the main config file (reference sections 1.1-1.8 and 7, plus
 * our additions). Objects are strict: unknown keys are refused (see load.ts for the messages).
 */
import { z } from 'zod';
import { SEGMENT_CODECS } from '../format/codec.js';
import { keyKindsOf, PlainScalar, SpecificTagged, setOwn } from './yaml-tree.js';
import {
  bad,
  bool,
  describe,
  epochMs,
  int,
  leaf,
  list,
  listLeaf,
  nonEmptyStr,
  ok,
  oneOf,
  positive,
  quote,
  REQUIRED,
  str,
  u64,
  type Check,
  type CheckResult,
} from './values.js';
import type {
  BackupOptions,
  ConsumerGroupStrategy,
  Compression,
  EncryptionConfig,
  IsolationLevel,
  KafkaClusterConfig,
  OnMissingTopic,
  MetricsConfig,
  OffsetStorageConfig,
  ProduceAcks,
  RepartitioningConfig,
  RestoreOptions,
  SaslMechanism,
  SecurityProtocol,
  StartOffset,
  StorageConfig,
} from './types.js';
import { isIP } from 'node:net';
import { parseByteSize, parseDuration } from '../util/units.js';

const I32_MAX = 2_147_483_647;
const I16_MAX = 32_767;

/** Absent or `null` section = `{}` (all defaults), as in the reference tool. */
function section<S extends z.core.$ZodLooseShape>(shape: S) {
  return z.preprocess(
    (v) => (v === null || v === undefined ? {} : v),
    z.strictObject(shape, { error: (iss) => (iss.code === 'invalid_type' ? `expected a mapping of keys, got ${describe(iss.input)}` : undefined) }),
  );
}

/** Runs `schema` on each value of a string-keyed mapping, forwarding issues under the key. */
function mapping<T>(schema: z.ZodType<T>, what: string, keyCheck?: (key: string) => string | undefined) {
  return z
    .unknown()
    .optional()
    .transform((v, ctx): Record<string, T> => {
      const out: Record<string, T> = {};
      if (v === undefined || v === null) return out;
      if (typeof v !== 'object' || Array.isArray(v) || v instanceof SpecificTagged || v instanceof PlainScalar) {
        ctx.issues.push({ code: 'custom', message: `expected ${what}, got ${describe(v)}`, input: undefined });
        return z.NEVER;
      }
      let failed = false;
      for (const [k, val] of Object.entries(v)) {
        const km = keyCheck?.(k);
        if (km !== undefined) {
          ctx.issues.push({ code: 'custom', message: km, input: undefined, path: [k] });
          failed = true;
          continue;
        }
        const r = schema.safeParse(val);
        if (r.success) setOwn(out, k, r.data);
        else {
          failed = true;
          for (const iss of r.error.issues)
            ctx.issues.push({ ...(iss as z.core.$ZodRawIssue), input: undefined, path: [k, ...iss.path] } as z.core.$ZodRawIssue);
        }
      }
      return failed ? z.NEVER : out;
    });
}

/** A mapping whose keys must be unquoted YAML integers >= 0 (partition numbers). */
function intKeyed<T>(valueCheck: Check<T>, what: string): Check<{ entries: [number, T][]; problems: [string, string][] }> {
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof SpecificTagged || v instanceof PlainScalar)
      return bad(`expected ${what}, got ${describe(v)}`);
    const kinds = keyKindsOf.get(v);
    const entries: [number, T][] = [];
    const problems: [string, string][] = [];
    for (const [k, val] of Object.entries(v)) {
      const kind = kinds?.get(k) ?? 'string';
      if (kind !== 'int') {
        const looksInt = /^\s*-?\d+\s*$/.test(k);
        problems.push([
          k,
          looksInt
            ? `partition key ${quote(k)} is quoted; partition numbers must be unquoted YAML integers (write ${k.trim()}: …, not '${k.trim()}': …)`
            : `partition key ${quote(k)} is not an integer`,
        ]);
        continue;
      }
      const n = Number(k);
      if (n < 0 || n > I32_MAX) {
        problems.push([k, `partition number must be between 0 and ${I32_MAX}, got ${k}`]);
        continue;
      }
      const r = val === null || val === undefined ? bad('has no value') : valueCheck(val);
      if (r.ok) entries.push([n, r.value]);
      else problems.push([k, r.message]);
    }
    return ok({ entries, problems });
  };
}

function intKeyedLeaf<T>(valueCheck: Check<T>, what: string) {
  const check = intKeyed(valueCheck, what);
  return z
    .unknown()
    .optional()
    .transform((v, ctx): Record<number, T> => {
      const out: Record<number, T> = {};
      if (v === undefined || v === null) return out;
      const r = check(v);
      if (!r.ok) {
        ctx.issues.push({ code: 'custom', message: r.message, input: undefined });
        return z.NEVER;
      }
      for (const [k, m] of r.value.problems) ctx.issues.push({ code: 'custom', message: m, input: undefined, path: [k] });
      if (r.value.problems.length > 0) return z.NEVER;
      for (const [k, val] of r.value.entries) out[k] = val;
      return out;
    });
}

// ---------------------------------------------------------------------------------------------
// Kafka connection (reference 1.2, 1.3)

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

function brokerAddress(s: string): CheckResult<string> {
  const t = s.trim();
  if (t === '') return bad('empty broker address');
  if (t.includes('://')) return bad(`expected host:port, got ${quote(t)} (leave out the protocol prefix; set security.security_protocol instead)`);
  const m = HOST_PORT.exec(t);
  if (!m) return bad(`expected host:port, got ${quote(t)}`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return bad(`port must be 1..65535 in ${quote(t)}`);
  return ok(t);
}

/** A YAML list of `host:port`, or (our extension) one comma-separated string. */
const bootstrapServers = z
  .unknown()
  .optional()
  .transform((v, ctx): string[] => {
    if (v === undefined || v === null) {
      ctx.issues.push({ code: 'custom', message: 'required key is missing (a list of host:port broker addresses)', input: undefined });
      return z.NEVER;
    }
    let items: unknown[];
    if (typeof v === 'string')
      items = v
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
    else if (Array.isArray(v)) items = v;
    else {
      ctx.issues.push({ code: 'custom', message: `expected a list of host:port broker addresses, got ${describe(v)}`, input: undefined });
      return z.NEVER;
    }
    const out: string[] = [];
    let failed = false;
    items.forEach((item, i) => {
      const s = str(item);
      const r = s.ok ? brokerAddress(s.value) : s;
      if (r.ok) out.push(r.value);
      else {
        failed = true;
        ctx.issues.push({ code: 'custom', message: r.message, input: undefined, path: Array.isArray(v) ? [i] : [] });
      }
    });
    if (!failed && out.length === 0) {
      ctx.issues.push({ code: 'custom', message: 'needs at least one broker address (host:port)', input: undefined });
      return z.NEVER;
    }
    return failed ? z.NEVER : out;
  });

export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const satisfies readonly SecurityProtocol[];
export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'GSSAPI', 'OAUTHBEARER'] as const satisfies readonly SaslMechanism[];

export const securityShape = {
  security_protocol: leaf(oneOf(SECURITY_PROTOCOLS, { 'SASL-PLAINTEXT': 'SASL_PLAINTEXT', 'SASL-SSL': 'SASL_SSL' }), 'PLAINTEXT'),
  sasl_mechanism: leaf(oneOf(SASL_MECHANISMS, { 'SCRAM-SHA256': 'SCRAM-SHA-256', 'SCRAM-SHA512': 'SCRAM-SHA-512' })),
  sasl_username: leaf(str),
  sasl_password: leaf(str),
  // The seed tool's later releases: OAUTHBEARER with the OIDC client-credentials flow (src/kafka/oauth.ts).
  sasl_oauthbearer_method: leaf(oneOf(['oidc'] as const)),
  sasl_oauthbearer_token_endpoint_url: leaf((v) => {
    const r = nonEmptyStr(v);
    if (!r.ok) return r;
    try {
      const u = new URL(r.value);
      return u.protocol === 'https:' || u.protocol === 'http:' ? r : bad(`expected an http(s) URL, got ${quote(r.value)}`);
    } catch {
      return bad(`expected an http(s) URL, got ${quote(r.value)}`);
    }
  }),
  sasl_oauthbearer_client_id: leaf(nonEmptyStr),
  sasl_oauthbearer_client_secret: leaf(str),
  sasl_oauthbearer_scope: leaf(str),
  ssl_ca_location: leaf(nonEmptyStr),
  ssl_certificate_location: leaf(nonEmptyStr),
  ssl_key_location: leaf(nonEmptyStr),
  ssl_key_password: leaf(str),
  sasl_kerberos_service_name: leaf(nonEmptyStr),
  sasl_keytab_path: leaf(nonEmptyStr),
  sasl_krb5_config_path: leaf(nonEmptyStr),
};

export const connectionShape = {
  tcp_keepalive: leaf(bool, true),
  keepalive_time_secs: leaf(u64, 60),
  keepalive_interval_secs: leaf(u64, 20),
  tcp_nodelay: leaf(bool, true),
  connections_per_broker: leaf((v) => {
    const r = u64(v);
    return r.ok && r.value === 0 ? ok(1) : r;
  }, 4),
  // Ours (not in the reference tool): how long one broker request may go unanswered.
  request_timeout_ms: leaf(int(1000, I32_MAX, 'milliseconds, at least 1000'), 30_000),
  // The seed tool's later releases: how long the broker may hold a Fetch for data (source only).
  fetch_max_wait_ms: leaf(int(0, 60_000, 'milliseconds 0..60000')),
};

const topicPattern: Check<string> = (v) => {
  const r = str(v);
  if (r.ok && r.value === '') return bad('empty topic pattern');
  return r;
};

/** Entries starting with `~` are regular expressions (target side only); an invalid one is refused. */
const targetTopicPattern: Check<string> = (v) => {
  const r = topicPattern(v);
  if (r.ok && r.value.startsWith('~')) {
    try {
      new RegExp(r.value.slice(1));
    } catch {
      return bad(`invalid regular expression ${quote(r.value)}`);
    }
  }
  return r;
};

export const sourceTopicsShape = { include: listLeaf(topicPattern, []), exclude: listLeaf(topicPattern, []) };
export const targetTopicsShape = { include: listLeaf(targetTopicPattern, []), exclude: listLeaf(targetTopicPattern, []) };

function clusterShape(topics: typeof sourceTopicsShape) {
  return {
    bootstrap_servers: bootstrapServers,
    security: section(securityShape),
    connection: section(connectionShape),
    topics: section(topics),
  };
}
export const sourceShape = clusterShape(sourceTopicsShape);
export const targetShape = clusterShape(targetTopicsShape);
export const sourceSchema = section(sourceShape);
export const targetSchema = section(targetShape);

// Compile-time check that the parsed shape matches the public type.
type _ClusterCheck = z.output<typeof sourceSchema> extends KafkaClusterConfig ? true : never;
const _clusterCheck: _ClusterCheck = true;
void _clusterCheck;

// ---------------------------------------------------------------------------------------------
// Backup (reference 1.5, 7)

const offsetValue = int(0, Number.MAX_SAFE_INTEGER, 'an offset (integer >= 0)');

const specificOffsets = (v: unknown): CheckResult<{ offsets: Record<string, Record<number, number>>; problems: [(string | number)[], string][] }> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof PlainScalar || v instanceof SpecificTagged)
    return bad(`!specific expects a mapping {topic: {partition: offset}}, got ${describe(v)}`);
  const offsets: Record<string, Record<number, number>> = {};
  const problems: [(string | number)[], string][] = [];
  const check = intKeyed(offsetValue, 'a mapping {partition: offset}');
  for (const [topic, parts] of Object.entries(v)) {
    const r = check(parts);
    if (!r.ok) {
      problems.push([[topic], r.message]);
      continue;
    }
    for (const [k, m] of r.value.problems) problems.push([[topic, k], m]);
    const rec: Record<number, number> = {};
    for (const [p, o] of r.value.entries) rec[p] = o;
    setOwn(offsets, topic, rec);
  }
  return ok({ offsets, problems });
};

const startOffset = z
  .unknown()
  .optional()
  .transform((v, ctx): StartOffset => {
    if (v === undefined || v === null) return { kind: 'earliest' };
    let spec: unknown;
    if (v instanceof SpecificTagged) spec = v.value;
    else if (typeof v === 'object' && !Array.isArray(v) && !(v instanceof PlainScalar)) {
      // Our leniency: the untagged form `{specific: {...}}` (refused by the reference tool).
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === 'specific') spec = (v as Record<string, unknown>)['specific'];
      else {
        ctx.issues.push({
          code: 'custom',
          message: 'expected earliest, latest, an offset, or !specific {topic: {partition: offset}}, got a mapping',
          input: undefined,
        });
        return z.NEVER;
      }
    }
    if (spec !== undefined) {
      const r = specificOffsets(spec);
      if (!r.ok) {
        ctx.issues.push({ code: 'custom', message: r.message, input: undefined });
        return z.NEVER;
      }
      for (const [p, m] of r.value.problems)
        ctx.issues.push({ code: 'custom', message: m, input: undefined, path: v instanceof SpecificTagged ? p : ['specific', ...p] });
      return r.value.problems.length > 0 ? z.NEVER : { kind: 'specific', offsets: r.value.offsets };
    }
    if (v instanceof PlainScalar || typeof v === 'number') {
      const r = offsetValue(v);
      if (!r.ok) {
        ctx.issues.push({ code: 'custom', message: r.message, input: undefined });
        return z.NEVER;
      }
      return { kind: 'offset', offset: r.value };
    }
    const r = oneOf(['earliest', 'latest'] as const)(v);
    if (!r.ok) {
      ctx.issues.push({
        code: 'custom',
        message: `expected earliest, latest, an offset, or !specific {topic: {partition: offset}}, got ${typeof v === 'string' ? quote(v) : describe(v)}`,
        input: undefined,
      });
      return z.NEVER;
    }
    return { kind: r.value };
  });

/** backup.circuit_breaker / restore.circuit_breaker (src/util/circuit-breaker.ts). */
const circuitBreakerShape = {
  enabled: leaf(bool, true),
  failure_threshold: leaf(int(1, 1000, 'a number of rounds 1..1000'), 5),
  cool_down_secs: leaf(int(1, 3600, 'seconds 1..3600'), 10),
};

/** backup.retention.max_age: a duration such as 30d, 12h (parseDuration's units). */
const durationCheck: Check<number> = (v) => {
  if (typeof v !== 'string') return bad(`expected a duration with a unit such as 30d, 12h or 90m, got ${describe(v)}`);
  try {
    return ok(parseDuration(v, 'max_age'));
  } catch (err) {
    return bad((err as Error).message.replace(/^max_age: /, ''));
  }
};

/** backup.retention.max_total_bytes: bytes as an integer, or with a unit (500MB, 10GiB). */
const byteSizeCheck: Check<number> = (v) => {
  if (v instanceof PlainScalar || typeof v === 'number') return u64(v);
  if (typeof v !== 'string') return bad(`expected a number of bytes or a size such as 10GiB, got ${describe(v)}`);
  try {
    return ok(parseByteSize(v, 'max_total_bytes'));
  } catch (err) {
    return bad((err as Error).message.replace(/^max_total_bytes: /, ''));
  }
};

/** backup.retention (src/backup/retention/retention-policy.ts); all absent = no retention. */
const retentionShape = {
  max_age: leaf(durationCheck),
  max_total_bytes: leaf(byteSizeCheck),
  keep_segments: leaf(positive),
};

export const workersShape = {
  group_id: leaf(nonEmptyStr),
  session_timeout_ms: leaf(int(6_000, 1_800_000, "milliseconds between 6000 and 1800000 (the broker's group.min/max.session.timeout.ms defaults)")),
  heartbeat_interval_ms: leaf(positive),
  rebalance_timeout_ms: leaf(positive),
};

export const backupShape = {
  segment_max_bytes: leaf(positive, 134_217_728),
  segment_max_interval_ms: leaf(positive, 60_000),
  segment_max_records: leaf(positive),
  compression: leaf(oneOf<Compression>(SEGMENT_CODECS), 'zstd'),
  compression_level: leaf(int(1, 22, 'a zstd level 1..22'), 3),
  // Ours: the whole-object digest kept in the index (docs/format.md 2.4); crc32c costs nothing, sha256 hashes every byte.
  segment_digest: leaf(oneOf(['crc32c', 'sha256'] as const), 'crc32c'),
  start_offset: startOffset,
  continuous: leaf(bool, false),
  stop_at_current_offsets: leaf(bool, false),
  poll_interval_ms: leaf(u64, 100),
  max_concurrent_partitions: leaf(positive, 8),
  fetch_max_bytes: leaf(int(1, I32_MAX)),
  include_internal_topics: leaf(bool, false),
  internal_topics: listLeaf(topicPattern, []),
  checkpoint_interval_secs: leaf(positive, 5),
  sync_interval_secs: leaf(positive, 30),
  include_offset_headers: leaf(bool, true),
  source_cluster_id: leaf(str),
  // Ours default true (the reference: false): restore's offset reset and topic creation use what they keep.
  consumer_group_snapshot: leaf(bool, true),
  capture_topic_configs: leaf(bool, true),
  require_topic_configs: leaf(bool, false),
  /** Published docs only; accepted for compatibility, no effect (warned). */
  segment_max_age_secs: leaf(u64),
  // Seed tool's later releases (issue 19; docs/configuration.md "Later releases of the seed tool").
  isolation_level: leaf(
    oneOf(['read_uncommitted', 'read_committed'] as const satisfies readonly IsolationLevel[], {
      'READ-UNCOMMITTED': 'read_uncommitted',
      'READ-COMMITTED': 'read_committed',
    }),
    'read_uncommitted',
  ),
  rate_limit_records_per_sec: leaf(positive),
  rate_limit_bytes_per_sec: leaf(positive),
  on_missing_topic: leaf(oneOf(['fail', 'warn'] as const satisfies readonly OnMissingTopic[]), 'fail'),
  retention: section(retentionShape),
  // The seed tool's later releases (issue 19, docs/configuration.md "Later releases of the seed tool").
  circuit_breaker: section(circuitBreakerShape),
  consumer_group_snapshot_min_interval_secs: leaf(u64, 0),
  empty_fetch_retry_secs: leaf(int(1, 86_400, 'seconds 1..86400'), 60),
  /** Several worker processes share this backup through a group on the source cluster (src/backup/workers); group_id enables it. */
  workers: section(workersShape),
};
export const backupSchema = section(backupShape);

// ---------------------------------------------------------------------------------------------
// Restore (reference 1.6, 7, our additions)

const repartitioningShape = {
  strategy: leaf(oneOf(['murmur2', 'automatic'] as const), 'murmur2'),
  target_partitions: leaf(int(1, I32_MAX, 'a partition count'), REQUIRED),
};
const repartitioningEntry = section(repartitioningShape);

const topicName: Check<string> = (v) => {
  const r = str(v);
  if (r.ok && r.value.trim() === '') return bad('empty topic name');
  return r;
};

export const CONSUMER_GROUP_STRATEGIES = [
  'skip',
  'header-based',
  'timestamp-based',
  'cluster-scan',
  'manual',
  'exact',
] as const satisfies readonly ConsumerGroupStrategy[];

const produceAcks: Check<ProduceAcks> = (v) => {
  if (typeof v === 'string' && v.trim().toLowerCase() === 'all') return ok(-1);
  const r = int(-1, 1, 'acks -1, 0 or 1')(v);
  if (!r.ok) return r.message.startsWith('expected') ? bad(`expected acks -1 (all), 0 or 1, got ${typeof v === 'string' ? quote(v) : describe(v)}`) : r;
  return ok(r.value as ProduceAcks);
};

/** Kafka topic config names: lower-case words separated by dots (retention.ms, cleanup.policy). */
const TOPIC_CONFIG_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

const topicConfigPattern: Check<string> = (v) => {
  const r = str(v);
  if (!r.ok) return r;
  return r.value === '*' || TOPIC_CONFIG_NAME.test(r.value) ? r : bad(`expected a topic config name such as retention.ms, or *, got ${quote(r.value)}`);
};

/** A topic config value: Kafka takes strings; YAML numbers and booleans are written as they were. */
const topicConfigValue: Check<string> = (v) => {
  if (typeof v === 'string') return ok(v);
  if (v instanceof PlainScalar) return ok(v.source);
  return bad(`expected a value (string, number or boolean), got ${describe(v)}`);
};

const SCHEMA_ID = int(0, I32_MAX, 'a schema id (integer 0..2147483647)');

/** `{source id: target id}`; ids are integers, quoted or not (a schema id key cannot be mistaken for anything else). */
const schemaIdMapping = mapping(leaf(SCHEMA_ID, REQUIRED), 'a mapping {source schema id: target schema id}', (k) =>
  /^\d{1,10}$/.test(k) && Number(k) <= I32_MAX ? undefined : `schema id ${quote(k)} is not an integer 0..${I32_MAX}`,
);

const registryUrl: Check<string> = (v) => {
  const r = nonEmptyStr(v);
  if (!r.ok) return r;
  try {
    const u = new URL(r.value);
    if (u.protocol === 'http:' || u.protocol === 'https:') return r;
  } catch {
    // reported below
  }
  return bad('expected an http(s) URL of a Schema Registry, such as https://registry.example.com:8081');
};

export const restoreShape = {
  time_window_start: leaf(epochMs(true)),
  time_window_end: leaf(epochMs(false)),
  topics: listLeaf(topicPattern, undefined),
  source_partitions: listLeaf(int(0, I32_MAX, 'a partition number (integer >= 0)'), undefined),
  partition_mapping: intKeyedLeaf(int(0, I32_MAX, 'a partition number (integer >= 0)'), 'a mapping {source partition: target partition}'),
  topic_mapping: mapping(leaf(topicName, REQUIRED), 'a mapping {source topic: target topic}', (k) => (k.trim() === '' ? 'empty topic name' : undefined)),
  repartitioning: mapping(repartitioningEntry, 'a mapping {target topic: {strategy, target_partitions}}'),
  consumer_group_strategy: leaf(
    oneOf(CONSUMER_GROUP_STRATEGIES, { 'HEADER-BASED': 'header-based', HEADER: 'header-based', TIMESTAMP: 'timestamp-based', 'CLUSTER-SCAN': 'cluster-scan' }),
    'skip',
  ),
  dry_run: leaf(bool, false),
  include_original_offset_header: leaf(bool, false),
  strip_offset_headers: leaf(bool, false),
  rate_limit_records_per_sec: leaf(positive),
  rate_limit_bytes_per_sec: leaf(positive),
  max_concurrent_partitions: leaf(positive, 4),
  produce_batch_size: leaf(positive, 1000),
  produce_acks: leaf(produceAcks, -1 as ProduceAcks),
  produce_timeout_ms: leaf(int(1, I32_MAX), 30_000),
  checkpoint_state: leaf(nonEmptyStr),
  checkpoint_interval_secs: leaf(positive, 60),
  consumer_groups: listLeaf(nonEmptyStr, []),
  reset_consumer_offsets: leaf(bool, false),
  auto_consumer_groups: leaf(bool, false),
  offset_report: leaf(nonEmptyStr),
  // Default true (the reference tool says false but relied on broker auto-creation; the seed's example expects the topics to appear).
  create_topics: leaf(bool, true),
  default_replication_factor: leaf((v) => {
    const r = int(-1, I16_MAX, 'a replication factor')(v);
    return r.ok && r.value === 0 ? bad('must be -1 (broker default) or at least 1, got 0') : r;
  }),
  purge_topics: leaf(bool, false),
  topic_configs_from_backup: listLeaf(topicConfigPattern, undefined),
  topic_configs: mapping(leaf(topicConfigValue, REQUIRED), 'a mapping {topic config name: value}', (k) =>
    TOPIC_CONFIG_NAME.test(k) ? undefined : `${quote(k)} is not a topic config name (lower-case words separated by dots, such as retention.ms)`,
  ),
  allow_non_empty_target: leaf(bool, false),
  // Ours: an interrupted snapshot is refused unless the user asks for what it holds.
  allow_incomplete_backup: leaf(bool, false),
  // Ours: create LogAppendTime source topics as LogAppendTime targets (the broker re-stamps every record).
  keep_log_append_time: leaf(bool, false),
  // Ours (consumer_group_strategy: manual): group -> source topic -> source partition -> committed source offset.
  circuit_breaker: section(circuitBreakerShape),
  existing_topic_config_policy: leaf(oneOf(['keep', 'overwrite', 'fail'] as const), 'keep'),
  manual_offsets: mapping(
    mapping(
      intKeyedLeaf(int(0, Number.MAX_SAFE_INTEGER, 'an offset (integer >= 0)'), 'a mapping {partition: offset}'),
      'a mapping {source topic: {partition: offset}}',
    ),
    'a mapping {group: {source topic: {partition: offset}}}',
  ),
  // Seed tool's later releases (issue 19): Schema Registry ids rewritten on restore (src/restore/schema-ids.ts).
  rewrite_schema_ids: leaf(bool, false),
  schema_id_mapping: schemaIdMapping,
  source_schema_registry_url: leaf(registryUrl),
  target_schema_registry_url: leaf(registryUrl),
  /** Several worker processes share this restore through a group on the target cluster (src/restore/workers); group_id enables it. */
  workers: section(workersShape),
};
export const restoreSchema = section(restoreShape);

// ---------------------------------------------------------------------------------------------
// Offset storage (1.7), metrics (1.8)

export const offsetStorageShape = {
  backend: leaf(oneOf(['sqlite', 'memory'] as const), 'sqlite'),
  db_path: leaf(nonEmptyStr, './offsets.db'),
  s3_key: leaf(str),
  sync_interval_secs: leaf(positive, 30),
};
export const offsetStorageSchema = section(offsetStorageShape);

export const metricsShape = {
  enabled: leaf(bool, true),
  port: leaf(int(0, 65535, 'a port number'), 8080),
  bind_address: leaf((v) => {
    const r = str(v);
    if (r.ok && isIP(r.value) === 0) return bad(`expected an IP address such as 0.0.0.0 or 127.0.0.1, got ${quote(r.value)}`);
    return r;
  }, '0.0.0.0'),
  path: leaf((v) => {
    const r = str(v);
    if (r.ok && !r.value.startsWith('/')) return bad(`must start with "/", got ${quote(r.value)}`);
    return r;
  }, '/metrics'),
  update_interval_ms: leaf(positive, 500),
  keep_alive_seconds: leaf(u64, 0),
  max_partition_labels: leaf(u64, 100),
};
export const metricsSchema = section(metricsShape);

// ---------------------------------------------------------------------------------------------
// Storage (1.4): only the chosen backend's keys are allowed.

export const STORAGE_BACKENDS = ['s3', 'azure', 'gcs', 'filesystem', 'memory'] as const;
export type BackendName = (typeof STORAGE_BACKENDS)[number];

const backendKey = leaf(oneOf(STORAGE_BACKENDS), REQUIRED);

export const storageShapes = {
  s3: {
    backend: backendKey,
    bucket: leaf(nonEmptyStr, REQUIRED),
    region: leaf(nonEmptyStr),
    endpoint: leaf(nonEmptyStr),
    access_key: leaf(str),
    access_key_id: leaf(str),
    secret_key: leaf(str),
    secret_access_key: leaf(str),
    prefix: leaf(str),
    // No default: absent means path-style when an endpoint is set (src/storage/s3.ts), as the reference does.
    path_style: leaf(bool),
    allow_http: leaf(bool, false),
  },
  azure: {
    backend: backendKey,
    account_name: leaf(nonEmptyStr, REQUIRED),
    container_name: leaf(nonEmptyStr),
    container: leaf(nonEmptyStr),
    account_key: leaf(str),
    prefix: leaf(str),
    endpoint: leaf(nonEmptyStr),
    use_workload_identity: leaf(bool, false),
    client_id: leaf(str),
    tenant_id: leaf(str),
    client_secret: leaf(str),
    sas_token: leaf(str),
    allow_http: leaf(bool, false),
    /** Published docs only; accepted, no effect (warned). */
    use_managed_identity: leaf(bool),
    /** Published docs only; accepted, no effect (warned). */
    connection_string: leaf(str),
  },
  gcs: {
    backend: backendKey,
    bucket: leaf(nonEmptyStr, REQUIRED),
    service_account_path: leaf(nonEmptyStr),
    service_account_json: leaf(nonEmptyStr),
    prefix: leaf(str),
    /** JSON API base URL (an emulator, a private endpoint); default https://storage.googleapis.com. */
    endpoint: leaf(nonEmptyStr),
    allow_http: leaf(bool, false),
    /** Published docs only; accepted, no effect (warned). */
    project_id: leaf(str),
  },
  filesystem: {
    backend: backendKey,
    path: leaf(nonEmptyStr, REQUIRED),
    /** Published docs only; accepted, no effect (warned), as in the reference tool. */
    prefix: leaf(str),
  },
  memory: { backend: backendKey },
} as const;

export const storageSchemas = {
  s3: section(storageShapes.s3),
  azure: section(storageShapes.azure),
  gcs: section(storageShapes.gcs),
  filesystem: section(storageShapes.filesystem),
  memory: section(storageShapes.memory),
};

/** Keys of each backend that published docs show but that have no effect (warned when set). */
export const STORAGE_NO_EFFECT_KEYS: Record<BackendName, readonly string[]> = {
  s3: [],
  azure: ['use_managed_identity', 'connection_string'],
  gcs: ['project_id'],
  filesystem: ['prefix'],
  memory: [],
};

/** Reads `storage.backend` from the raw section (case-insensitive). */
export const backendOf = (raw: unknown): CheckResult<BackendName> => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof PlainScalar || raw instanceof SpecificTagged)
    return bad(`expected a mapping with a backend key, got ${describe(raw)}`);
  const b = (raw as Record<string, unknown>)['backend'];
  if (b === undefined || b === null) return bad(`backend is required: one of ${STORAGE_BACKENDS.join(', ')}`);
  return oneOf(STORAGE_BACKENDS)(b);
};

export type StorageSectionParsed =
  | ({ backend: 's3' } & z.output<(typeof storageSchemas)['s3']>)
  | ({ backend: 'azure' } & z.output<(typeof storageSchemas)['azure']>)
  | ({ backend: 'gcs' } & z.output<(typeof storageSchemas)['gcs']>)
  | ({ backend: 'filesystem' } & z.output<(typeof storageSchemas)['filesystem']>)
  | { backend: 'memory' };

// ---------------------------------------------------------------------------------------------
// Encryption (ours): client-side AES-256-GCM of every stored object (src/storage/encrypted.ts)

export const encryptionShape = {
  key_file: leaf(nonEmptyStr),
  key_env: leaf((v) => {
    const r = str(v);
    if (r.ok && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(r.value))
      return bad('expected the name of an environment variable (letters, digits, _), not the key itself (value not shown; the key never goes in the file)');
    return r;
  }),
  key_id: leaf((v) => {
    const r = str(v);
    if (r.ok && !/^[A-Za-z0-9._:@/+=-]{1,64}$/.test(r.value)) return bad(`expected 1 to 64 characters of A-Z a-z 0-9 . _ : @ / + = -, got ${quote(r.value)}`);
    return r;
  }),
};
export const encryptionSchema = section(encryptionShape);

// ---------------------------------------------------------------------------------------------
// Top level (1.1)

export const topShape = {
  mode: leaf(oneOf(['backup', 'restore'] as const), REQUIRED),
  backup_id: leaf(nonEmptyStr, REQUIRED),
};

/** Every top-level key; `storage` and `logging` are handled by load.ts. */
export const TOP_LEVEL_KEYS = [
  'mode',
  'backup_id',
  'source',
  'target',
  'storage',
  'backup',
  'restore',
  'offset_storage',
  'metrics',
  'logging',
  'encryption',
] as const;

// Compile-time checks that the parsed shapes match the public types.
type Assert<T extends true> = T;
export type _Checks = [
  Assert<z.output<typeof backupSchema> extends Omit<BackupOptions, never> & { segment_max_age_secs?: number } ? true : false>,
  Assert<z.output<typeof restoreSchema> extends RestoreOptions ? true : false>,
  Assert<z.output<typeof repartitioningEntry> extends RepartitioningConfig ? true : false>,
  Assert<z.output<typeof offsetStorageSchema> extends OffsetStorageConfig ? true : false>,
  Assert<z.output<typeof metricsSchema> extends MetricsConfig ? true : false>,
  Assert<z.output<typeof encryptionSchema> extends EncryptionConfig ? true : false>,
];
export type { StorageConfig };
export { list };
