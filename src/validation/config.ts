/**
 * The validation config file (reference section 2), read by `validation run`. Unlike the reference
 * tool (plain YAML, unknown keys silently ignored, no `${VAR}`), it follows the main config's
 * policy: `${VAR}` / `${file:...}` substitution, YAML 1.2 with our strict leaf checks, and unknown
 * keys refused with the key named (and a "did you mean" when one is close). All problems of a file
 * are reported together, one line each, with the line number.
 */
import { readFileSync } from 'node:fs';
import { readConfigFile } from '../config/read-file.js';
import { dirname } from 'node:path';
import { z } from 'zod';
import { editDistance } from '../config/load.js';
import {
  backendOf,
  storageSchemas,
  storageShapes,
  targetSchema,
  targetShape,
  securityShape,
  connectionShape,
  targetTopicsShape,
  type BackendName,
  type StorageSectionParsed,
} from '../config/schema.js';
import { normaliseStorage, storageSpecFromConfig } from '../config/storage.js';
import { originalOffset, prepareSubstitution, redactSecrets, substituteInDocument, type Secret } from '../config/substitute.js';
import type { KafkaClusterConfig } from '../config/types.js';
import { bad, bool, describe, epochMs, int, leaf, listLeaf, nonEmptyStr, ok, oneOf, REQUIRED, str, u64, type Check } from '../config/values.js';
import { parseYamlTree, pathString, PlainScalar, SpecificTagged } from '../config/yaml-tree.js';
import type { StorageSpec } from '../storage/spec.js';
import { ConfigError } from '../util/errors.js';
import { lineOf, lineStarts } from '../config/lines.js';

export type MessageCountMode = 'exact' | 'sample';
export type EvidenceFormat = 'json' | 'pdf';
export type PagerDutySeverity = 'critical' | 'error' | 'warning' | 'info';

export interface MessageCountCheckConfig {
  enabled: boolean;
  mode: MessageCountMode;
  sample_percentage: number;
  topics: string[];
  fail_threshold: number;
}

export interface OffsetRangeCheckConfig {
  enabled: boolean;
  verify_high_watermark: boolean;
  verify_low_watermark: boolean;
}

export interface ConsumerGroupCheckConfig {
  enabled: boolean;
  verify_all_groups: boolean;
  groups: string[];
}

export interface WebhookCheckConfig {
  name: string;
  url: string;
  timeout_seconds: number;
  expected_status_code: number;
  fail_on_timeout: boolean;
}

export interface ValidationChecksConfig {
  message_count: MessageCountCheckConfig;
  offset_range: OffsetRangeCheckConfig;
  consumer_group_offsets: ConsumerGroupCheckConfig;
  custom_webhooks: WebhookCheckConfig[];
}

export interface EvidenceConfig {
  formats: EvidenceFormat[];
  signing: { enabled: boolean; private_key_path?: string; public_key_path?: string };
  storage: { prefix: string; retention_days: number };
}

export interface NotificationsConfig {
  slack?: { webhook_url: string };
  pagerduty?: { integration_key: string; severity: PagerDutySeverity };
}

export interface ValidationConfig {
  backup_id: string;
  /** Where the backup lives and where the evidence is written. */
  storage: StorageSpec;
  /** The restored cluster that is checked. */
  target: KafkaClusterConfig;
  checks: ValidationChecksConfig;
  evidence: EvidenceConfig;
  notifications: NotificationsConfig;
  pitr_timestamp?: number;
  triggered_by?: string;
}

export interface LoadValidationConfigOptions {
  /** Environment for `${VAR}`; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Base directory of relative `${file:...}` paths; default: the file's directory. */
  baseDir?: string;
  readFile?: (path: string) => string;
}

/** All problems of one validation config file, one line each. */
export class ValidationConfigError extends ConfigError {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(problems.join('\n'), undefined, { file, count: problems.length });
  }
}

// ---------------------------------------------------------------------------------------------
// Schema

function section<S extends z.core.$ZodLooseShape>(shape: S) {
  return z.preprocess(
    (v) => (v === null || v === undefined ? {} : v),
    z.strictObject(shape, { error: (iss) => (iss.code === 'invalid_type' ? `expected a mapping of keys, got ${describe(iss.input)}` : undefined) }),
  );
}

/** A section that may be absent, but when written needs its required keys. */
function optionalSection<S extends z.core.$ZodLooseShape>(shape: S, what: string) {
  return z
    .strictObject(shape, { error: (iss) => (iss.code === 'invalid_type' ? `expected a mapping (${what}), got ${describe(iss.input)}` : undefined) })
    .optional();
}

const percentage = int(1, 100, 'a percentage (1-100)');
const u16 = int(0, 65535);
const u32 = int(0, 4_294_967_295);

const httpUrl: Check<string> = (v) => {
  const r = nonEmptyStr(v);
  if (!r.ok) return r;
  let u: URL;
  try {
    u = new URL(r.value.trim());
  } catch {
    return bad('expected an http:// or https:// URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return bad(`expected an http:// or https:// URL, got ${u.protocol}`);
  return ok(r.value.trim());
};

const statusCode: Check<number> = (v) => {
  const r = u16(v);
  if (r.ok && (r.value < 100 || r.value > 599)) return bad(`expected an HTTP status code (100-599), got ${r.value}`);
  return r;
};

export const messageCountShape = {
  enabled: leaf(bool, true),
  mode: leaf(oneOf(['exact', 'sample'] as const), 'exact'),
  sample_percentage: leaf(percentage, 100),
  topics: listLeaf(nonEmptyStr, []),
  fail_threshold: leaf(u64, 0),
};
export const offsetRangeShape = {
  enabled: leaf(bool, true),
  verify_high_watermark: leaf(bool, true),
  verify_low_watermark: leaf(bool, true),
};
export const consumerGroupShape = {
  enabled: leaf(bool, true),
  verify_all_groups: leaf(bool, true),
  groups: listLeaf(nonEmptyStr, []),
};
export const webhookShape = {
  name: leaf(nonEmptyStr, REQUIRED),
  url: leaf(httpUrl, REQUIRED),
  timeout_seconds: leaf(int(1), 120),
  expected_status_code: leaf(statusCode, 200),
  fail_on_timeout: leaf(bool, true),
};
const webhooks = z.preprocess(
  (v) => (v === null || v === undefined ? [] : v),
  z.array(
    z.strictObject(webhookShape, {
      error: (iss) => (iss.code === 'invalid_type' ? `expected a mapping (name, url, ...), got ${describe(iss.input)}` : undefined),
    }),
    {
      error: (iss) =>
        iss.code === 'invalid_type' ? `expected a list of webhooks (a YAML sequence of mappings with name and url), got ${describe(iss.input)}` : undefined,
    },
  ),
);
export const checksShape = {
  message_count: section(messageCountShape),
  offset_range: section(offsetRangeShape),
  consumer_group_offsets: section(consumerGroupShape),
  custom_webhooks: webhooks,
};

export const signingShape = {
  enabled: leaf(bool, false),
  private_key_path: leaf(nonEmptyStr),
  public_key_path: leaf(nonEmptyStr),
};
export const evidenceStorageShape = {
  prefix: leaf(str, 'evidence-reports/'),
  retention_days: leaf(u32, 2555),
};
export const evidenceShape = {
  formats: listLeaf<EvidenceFormat>(oneOf<EvidenceFormat>(['json', 'pdf']), ['json']),
  signing: section(signingShape),
  storage: section(evidenceStorageShape),
};

export const slackShape = { webhook_url: leaf(httpUrl, REQUIRED) };
export const pagerDutyShape = {
  integration_key: leaf(nonEmptyStr, REQUIRED),
  severity: leaf(oneOf(['critical', 'error', 'warning', 'info'] as const), 'critical'),
};
export const notificationsShape = {
  slack: optionalSection(slackShape, 'webhook_url'),
  pagerduty: optionalSection(pagerDutyShape, 'integration_key, severity'),
};

export const VALIDATION_TOP_LEVEL_KEYS = ['backup_id', 'storage', 'target', 'checks', 'evidence', 'notifications', 'pitr_timestamp', 'triggered_by'] as const;

const backupIdCheck: Check<string> = (v) => {
  const r = nonEmptyStr(v);
  if (r.ok && !/^[a-zA-Z0-9._-]{1,200}$/.test(r.value)) return bad('must be 1-200 characters of a-z A-Z 0-9 . _ -');
  return r;
};

const topLeaves = {
  backup_id: leaf(backupIdCheck, REQUIRED),
  pitr_timestamp: leaf(epochMs(true)),
  triggered_by: leaf(str),
};

// ---------------------------------------------------------------------------------------------
// Known keys, for "did you mean"

type Path = (string | number)[];

function knownKeysAt(path: Path, backend: BackendName | undefined): readonly string[] | undefined {
  const p = path.filter((x) => typeof x === 'string');
  const k = p.join('.');
  const table: Record<string, readonly string[]> = {
    '': VALIDATION_TOP_LEVEL_KEYS,
    target: Object.keys(targetShape),
    'target.security': Object.keys(securityShape),
    'target.connection': Object.keys(connectionShape),
    'target.topics': Object.keys(targetTopicsShape),
    checks: Object.keys(checksShape),
    'checks.message_count': Object.keys(messageCountShape),
    'checks.offset_range': Object.keys(offsetRangeShape),
    'checks.consumer_group_offsets': Object.keys(consumerGroupShape),
    'checks.custom_webhooks': Object.keys(webhookShape),
    evidence: Object.keys(evidenceShape),
    'evidence.signing': Object.keys(signingShape),
    'evidence.storage': Object.keys(evidenceStorageShape),
    notifications: Object.keys(notificationsShape),
    'notifications.slack': Object.keys(slackShape),
    'notifications.pagerduty': Object.keys(pagerDutyShape),
  };
  if (k === 'storage') return backend ? Object.keys(storageShapes[backend]) : undefined;
  return table[k];
}

function unknownKeyMessage(parent: Path, key: string, backend: BackendName | undefined): string {
  const known = knownKeysAt(parent, backend);
  if (known) {
    let best: string | undefined;
    let bestD = 3;
    for (const c of known) {
      const d = editDistance(key.toLowerCase(), c.toLowerCase());
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    const prefix = pathString(parent);
    if (best !== undefined) return `unknown key; did you mean ${prefix === '' ? best : `${prefix}.${best}`}?`;
    if (parent.length === 0 && ['mode', 'source', 'backup', 'restore', 'offset_storage', 'metrics', 'logging', 'encryption'].includes(key)) {
      return 'unknown key (it is a key of the main config file, not of the validation file)';
    }
    return `unknown key (known keys here: ${known.join(', ')})`;
  }
  return 'unknown key';
}

// ---------------------------------------------------------------------------------------------

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof PlainScalar) && !(v instanceof SpecificTagged);
}

/** Parses the text of a validation config file. Throws ValidationConfigError listing every problem. */
export function parseValidationConfigText(text: string, fileName: string, opts: LoadValidationConfigOptions = {}): ValidationConfig {
  const problems: { path: Path; message: string; offset?: number; line?: number }[] = [];
  const sub = prepareSubstitution(text, {
    env: opts.env ?? process.env,
    baseDir: opts.baseDir ?? dirname(fileName),
    readFile: opts.readFile ?? ((p) => readFileSync(p, 'utf8')),
  });
  for (const p of sub.problems) problems.push({ path: [], message: p.message, line: p.line });
  const starts = lineStarts(text);
  let secrets: ReadonlyMap<string, Secret> = new Map();

  const fail = (): never => {
    const lines = problems
      .map((p) => {
        const line = p.line ?? (p.offset !== undefined ? lineOf(starts, originalOffset(sub.splices, p.offset)) : undefined);
        const where = pathString(p.path);
        return {
          line: line ?? 0,
          msg: `${fileName}: ${where === '' ? '' : `${where}: `}${redactSecrets(p.message, where, secrets)}${line !== undefined ? ` (line ${line})` : ''}`,
        };
      })
      .sort((a, b) => a.line - b.line)
      .map((x) => x.msg);
    throw new ValidationConfigError(fileName, [...new Set(lines)]);
  };
  if (sub.problems.length > 0) fail();

  const tree = parseYamlTree(sub.text, (doc) => substituteInDocument(doc, sub));
  secrets = tree.secrets;
  const offsetOf = (path: Path): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const o = tree.offsets.get(pathString(path.slice(0, n)));
      if (o !== undefined) return o;
    }
    return undefined;
  };
  const add = (path: Path, message: string): void => {
    problems.push({ path, message, offset: offsetOf(path) });
  };
  for (const p of tree.problems) problems.push({ path: p.path, message: p.message, offset: p.offset ?? offsetOf(p.path) });
  if (tree.problems.length > 0) fail();

  const raw = tree.value;
  if (raw === null || raw === undefined) {
    add([], 'the file is empty; it needs at least backup_id, storage and target');
    fail();
  }
  if (!isPlainObject(raw)) {
    add([], 'expected a mapping of keys (backup_id, storage, target, checks, evidence, ...) at the top level');
    fail();
  }
  const top = raw as Record<string, unknown>;
  let backend: BackendName | undefined;

  function run<S extends z.ZodType>(key: string, schema: S, value: unknown): z.output<S> | undefined {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    for (const iss of r.error.issues) {
      const path: Path = [key, ...(iss.path as Path)];
      if (iss.code === 'unrecognized_keys') for (const k of iss.keys) add([...path, k], unknownKeyMessage(path, k, backend));
      else add(path, iss.message);
    }
    return undefined;
  }

  for (const k of Object.keys(top)) {
    if (!(VALIDATION_TOP_LEVEL_KEYS as readonly string[]).includes(k)) add([k], unknownKeyMessage([], k, undefined));
  }
  const present = (k: string): boolean => top[k] !== undefined && top[k] !== null;
  const backup_id = run('backup_id', topLeaves.backup_id, top['backup_id']);
  const pitr_timestamp = run('pitr_timestamp', topLeaves.pitr_timestamp, top['pitr_timestamp']);
  const triggered_by = run('triggered_by', topLeaves.triggered_by, top['triggered_by']);

  let target: KafkaClusterConfig | undefined;
  if (!present('target')) add(['target'], 'required key is missing (the restored cluster to check: target.bootstrap_servers ...)');
  else target = run('target', targetSchema, top['target']) as KafkaClusterConfig | undefined;

  let storage: StorageSpec | undefined;
  if (!present('storage')) add(['storage'], 'required key is missing (where the backup and the evidence live: backend s3, azure, gcs, filesystem or memory)');
  else {
    const b = backendOf(top['storage']);
    if (!b.ok) add(isPlainObject(top['storage']) ? ['storage', 'backend'] : ['storage'], b.message);
    else {
      backend = b.value;
      const parsed = run('storage', storageSchemas[backend], top['storage']);
      if (parsed !== undefined) {
        const n = normaliseStorage({ ...parsed, backend } as StorageSectionParsed);
        for (const p of n.problems) add(['storage', p.key], p.message);
        if (n.config) storage = storageSpecFromConfig(n.config);
      }
    }
  }

  const checks = run('checks', section(checksShape), top['checks']);
  const evidence = run('evidence', section(evidenceShape), top['evidence']);
  const notifications = run('notifications', section(notificationsShape), top['notifications']);

  if (evidence?.signing.enabled && evidence.signing.private_key_path === undefined) {
    add(['evidence', 'signing', 'private_key_path'], 'required when evidence.signing.enabled is true (a PEM file with the ECDSA P-256 private key)');
  }
  if (evidence && evidence.formats.length === 0) add(['evidence', 'formats'], 'needs at least one format (json)');
  if (evidence?.storage.prefix.startsWith('/')) add(['evidence', 'storage', 'prefix'], 'must be relative to the storage root (no leading /)');
  if (evidence?.storage.prefix.split('/').some((s) => s === '..')) add(['evidence', 'storage', 'prefix'], 'must not contain ".."');
  if (checks) {
    const seen = new Set<string>();
    checks.custom_webhooks.forEach((w, i) => {
      if (seen.has(w.name))
        add(['checks', 'custom_webhooks', i, 'name'], `duplicate webhook name ${JSON.stringify(w.name)}; names identify the checks in the report`);
      seen.add(w.name);
    });
    const m = checks.message_count;
    if (
      m.mode === 'exact' &&
      isPlainObject(top['checks']) &&
      isPlainObject(top['checks']['message_count']) &&
      top['checks']['message_count']['sample_percentage'] !== undefined &&
      m.sample_percentage !== 100
    ) {
      add(['checks', 'message_count', 'sample_percentage'], 'only applies with mode: sample (mode is exact)');
    }
  }

  if (problems.length > 0) fail();
  const cfg: ValidationConfig = {
    backup_id: backup_id!,
    storage: storage!,
    target: target!,
    checks: checks!,
    evidence: {
      formats: [...new Set(evidence!.formats)],
      signing: {
        enabled: evidence!.signing.enabled,
        ...(evidence!.signing.private_key_path !== undefined ? { private_key_path: evidence!.signing.private_key_path } : {}),
        ...(evidence!.signing.public_key_path !== undefined ? { public_key_path: evidence!.signing.public_key_path } : {}),
      },
      storage: evidence!.storage,
    },
    notifications: {
      ...(notifications!.slack ? { slack: notifications!.slack } : {}),
      ...(notifications!.pagerduty ? { pagerduty: notifications!.pagerduty } : {}),
    },
    ...(pitr_timestamp !== undefined ? { pitr_timestamp } : {}),
    ...(triggered_by !== undefined ? { triggered_by } : {}),
  };
  return cfg;
}

/** Reads and parses a validation config file. */
export async function loadValidationConfig(path: string, opts: LoadValidationConfigOptions = {}): Promise<ValidationConfig> {
  const text = await readConfigFile(path, 'validation config');
  return parseValidationConfigText(text, path, opts);
}
