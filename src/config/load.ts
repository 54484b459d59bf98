/**
 * Loading the main config file: YAML 1.2 parsing with `${...}` substitution into the parsed
 * scalars, strict schema, semantic checks. All problems of a file are collected and thrown together as one `ConfigFileError`
 * (a `ConfigError`) whose message has one line per problem:
 *
 *     pitr.yaml: restore.time_window_end: expected epoch milliseconds, ... (line 12)
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { plaintextPasswordWarning } from '../kafka/security.js';
import { ConfigError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { originalOffset, prepareSubstitution, redactSecrets, substituteInDocument, type Splice } from './substitute.js';
import { parseYamlTree, pathString, PlainScalar, SpecificTagged } from './yaml-tree.js';
import type { Secret } from './substitute.js';
import {
  backendOf, backupSchema, backupShape, connectionShape, encryptionSchema, encryptionShape, metricsSchema, metricsShape, offsetStorageSchema, offsetStorageShape, restoreSchema,
  restoreShape, securityShape, sourceSchema, sourceShape, sourceTopicsShape, storageSchemas, storageShapes, targetSchema, TOP_LEVEL_KEYS, topShape,
  type BackendName, type StorageSectionParsed,
} from './schema.js';
import { consumerGroupProblems } from './consumer-groups.js';
import { schemaIdProblems } from './later-keys.js';
import { normaliseStorage, storageSpecFromConfig } from './storage.js';
import { isoOf } from './values.js';
import type { BackupOptions, KafkaBackupConfig, KafkaClusterConfig, LoadConfigOptions, Mode, RestoreOptions, StorageConfig } from './types.js';
import { lineOf, lineStarts } from './lines.js';

type Path = (string | number)[];

/** All problems of one config file. `problems` holds one ConfigError per problem. */
export class ConfigFileError extends ConfigError {
  constructor(
    readonly file: string,
    readonly problems: readonly ConfigError[],
  ) {
    super(problems.map((p) => p.message).join('\n'), problems.length === 1 ? problems[0]?.key : undefined, { file, count: problems.length });
  }
}

interface Problem {
  path: Path;
  message: string;
  /** Offset in the substituted text, when known. */
  offset?: number;
  /** Line in the original text, when known directly. */
  line?: number;
  /** A `${...}` problem: later problems on the same line are consequences and not reported. */
  substitution?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Known keys, for "did you mean" suggestions

const REPARTITIONING_KEYS = ['strategy', 'target_partitions'];

function knownKeysAt(path: Path, backend: BackendName | undefined): readonly string[] | undefined {
  const p = path.map(String);
  const [a, b] = p;
  if (p.length === 0) return TOP_LEVEL_KEYS;
  if (p.length === 1) {
    switch (a) {
      case 'source':
      case 'target':
        return Object.keys(sourceShape);
      case 'backup':
        return Object.keys(backupShape);
      case 'restore':
        return Object.keys(restoreShape);
      case 'offset_storage':
        return Object.keys(offsetStorageShape);
      case 'metrics':
        return Object.keys(metricsShape);
      case 'encryption':
        return Object.keys(encryptionShape);
      case 'storage':
        return backend ? Object.keys(storageShapes[backend]) : undefined;
    }
    return undefined;
  }
  if ((a === 'source' || a === 'target') && p.length === 2) {
    if (b === 'security') return Object.keys(securityShape);
    if (b === 'connection') return Object.keys(connectionShape);
    if (b === 'topics') return Object.keys(sourceTopicsShape);
  }
  if (a === 'restore' && b === 'repartitioning' && p.length === 3) return REPARTITIONING_KEYS;
  return undefined;
}

/** Optimal-string-alignment distance (a transposition counts as one edit). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i]!;
      const prev = d[i - 1]!;
      let v = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      row[j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  const lk = key.toLowerCase();
  for (const k of known) {
    const dist = editDistance(lk, k.toLowerCase());
    if (dist < bestD) {
      bestD = dist;
      best = k;
    }
  }
  return best;
}

function unknownKeyMessage(parent: Path, key: string, backend: BackendName | undefined): string {
  const known = knownKeysAt(parent, backend);
  const prefix = pathString(parent);
  const full = (k: string) => (prefix === '' ? k : `${prefix}.${k}`);
  const close = known ? suggest(key, known) : undefined;
  if (close !== undefined) return `unknown key; did you mean ${full(close)}?`;
  // A key that belongs to a sibling section.
  if (parent.length === 1 && (parent[0] === 'backup' || parent[0] === 'restore')) {
    const other = parent[0] === 'backup' ? 'restore' : 'backup';
    if (Object.keys(other === 'backup' ? backupShape : restoreShape).includes(key)) return `unknown key; ${key} belongs in the ${other} section (${other}.${key})`;
  }
  if (parent.length === 0) {
    for (const s of ['backup', 'restore'] as const) {
      if (Object.keys(s === 'backup' ? backupShape : restoreShape).includes(key)) return `unknown key; ${key} belongs in the ${s} section (${s}.${key})`;
    }
  }
  if (parent.length === 1 && parent[0] === 'storage' && backend) {
    const owners = (Object.keys(storageShapes) as BackendName[]).filter((b) => b !== backend && Object.keys(storageShapes[b]).includes(key));
    if (owners.length > 0) return `unknown key for backend ${backend} (it is a key of the ${owners.join('/')} backend)`;
  }
  if (parent.length === 1 && parent[0] === 'storage' && backend === undefined) return 'unknown key';
  return 'unknown key';
}

// ---------------------------------------------------------------------------------------------

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof PlainScalar) && !(v instanceof SpecificTagged);
}

/** Removes keys whose value is undefined, recursively (plain objects and arrays only). */
function stripUndefined<T>(v: T): T {
  if (Array.isArray(v)) {
    for (const x of v) stripUndefined(x);
  } else if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (o[k] === undefined) delete o[k];
      else stripUndefined(o[k]);
    }
  }
  return v;
}

/** Parses config text (synchronously; `${file:...}` references are read with readFileSync). */
export function parseConfigText(text: string, fileName: string, opts: LoadConfigOptions = {}): KafkaBackupConfig {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const env = opts.env ?? process.env;

  // 1. Substitution: references become placeholders here and get their values after parsing.
  const sub = prepareSubstitution(text, { env, baseDir: opts.baseDir ?? dirname(fileName), readFile: opts.readFile ?? ((p) => readFileSync(p, 'utf8')) });
  for (const p of sub.problems) problems.push({ path: [], message: p.message, line: p.line, substitution: true });
  const splices: Splice[] = sub.splices;
  const origStarts = lineStarts(text);

  let secrets: ReadonlyMap<string, Secret> = new Map();
  const fail = (): never => {
    const lineOfProblem = (p: Problem) => p.line ?? (p.offset !== undefined ? lineOf(origStarts, originalOffset(splices, p.offset)) : undefined);
    const subLines = new Set(problems.filter((p) => p.substitution).map((p) => p.line));
    const errors = problems
      .filter((p) => p.substitution || !subLines.has(lineOfProblem(p)))
      .map((p) => {
        const line = lineOfProblem(p);
        const where = pathString(p.path);
        const msg = `${fileName}: ${where === '' ? '' : `${where}: `}${redactSecrets(p.message, where, secrets)}${line !== undefined ? ` (line ${line})` : ''}`;
        return { line: line ?? 0, error: new ConfigError(msg, where === '' ? undefined : where, { file: fileName, line }) };
      })
      .sort((x, y) => x.line - y.line)
      .map((x) => x.error);
    throw new ConfigFileError(fileName, errors);
  };

  // 2. YAML.
  const tree = parseYamlTree(sub.text, (doc) => substituteInDocument(doc, sub));
  secrets = tree.secrets;
  const offsetOf = (path: Path): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const o = tree.offsets.get(pathString(path.slice(0, n)));
      if (o !== undefined) return o;
    }
    return undefined;
  };
  const add = (path: Path, message: string) => problems.push({ path, message, offset: offsetOf(path) });
  for (const p of tree.problems) problems.push({ path: p.path, message: p.message, offset: p.offset ?? offsetOf(p.path) });
  if (tree.problems.length > 0) fail();

  const raw = tree.value;
  if (raw === null || raw === undefined) {
    add([], 'the file is empty; it needs at least mode, backup_id and storage');
    fail();
  }
  if (!isPlainObject(raw)) {
    add([], 'expected a mapping of keys (mode, backup_id, storage, ...) at the top level');
    fail();
  }
  const top = raw as Record<string, unknown>;

  // 3. Schema, section by section (so that every problem is found in one pass).
  let backend: BackendName | undefined;
  const forward = (prefix: Path, issues: readonly z.core.$ZodIssue[]) => {
    for (const iss of issues) {
      const path = [...prefix, ...(iss.path as Path)];
      if (iss.code === 'unrecognized_keys') {
        for (const k of iss.keys) add([...path, k], unknownKeyMessage(path, k, backend));
      } else add(path, iss.message);
    }
  };
  function run<S extends z.ZodType>(key: string, schema: S, value: unknown): z.output<S> | undefined {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    forward([key], r.error.issues);
    return undefined;
  }

  for (const k of Object.keys(top)) {
    if (!(TOP_LEVEL_KEYS as readonly string[]).includes(k)) add([k], unknownKeyMessage([], k, undefined));
  }
  const mode = run('mode', topShape.mode, top['mode']) as Mode | undefined;
  const backup_id = run('backup_id', topShape.backup_id, top['backup_id']) as string | undefined;
  const present = (k: string) => top[k] !== undefined && top[k] !== null;
  const source = present('source') ? (run('source', sourceSchema, top['source']) as KafkaClusterConfig | undefined) : undefined;
  const target = present('target') ? (run('target', targetSchema, top['target']) as KafkaClusterConfig | undefined) : undefined;
  const backupParsed = run('backup', backupSchema, top['backup']);
  const restore = run('restore', restoreSchema, top['restore']) as RestoreOptions | undefined;
  const offset_storage = present('offset_storage') ? run('offset_storage', offsetStorageSchema, top['offset_storage']) : undefined;
  const metrics = run('metrics', metricsSchema, top['metrics']);
  const encryption = present('encryption') ? run('encryption', encryptionSchema, top['encryption']) : undefined;
  if (encryption && (encryption.key_file === undefined) === (encryption.key_env === undefined)) {
    add(['encryption'], 'needs exactly one of key_file (a file holding the 256-bit key) or key_env (an environment variable holding it)');
  }

  let storage: StorageConfig | undefined;
  if (!present('storage')) add(['storage'], 'required key is missing (where the backup lives: backend s3, azure, gcs, filesystem or memory)');
  else {
    const b = backendOf(top['storage']);
    if (!b.ok) add(isPlainObject(top['storage']) ? ['storage', 'backend'] : ['storage'], b.message);
    else {
      backend = b.value;
      const parsed = run('storage', storageSchemas[backend], top['storage']);
      if (parsed !== undefined) {
        const n = normaliseStorage({ ...parsed, backend } as StorageSectionParsed);
        for (const p of n.problems) add(['storage', p.key], p.message);
        warnings.push(...n.warnings);
        storage = n.config;
      }
    }
  }

  // 4. Semantic checks (reference 1.9 and ours).
  const effectiveMode: Mode | undefined = mode ?? opts.expectMode;
  if (opts.expectMode !== undefined && mode !== undefined && mode !== opts.expectMode) {
    add(['mode'], `is ${mode}, but this command runs a ${opts.expectMode}; use a config file with mode: ${opts.expectMode}`);
  }
  if (effectiveMode === 'backup' && !present('source')) add(['source'], 'required when mode is backup (the cluster to back up: source.bootstrap_servers ...)');
  if (effectiveMode === 'restore' && !present('target')) add(['target'], 'required when mode is restore (the cluster to restore into: target.bootstrap_servers ...)');
  if (backupParsed?.continuous && backupParsed.stop_at_current_offsets) {
    add(['backup', 'stop_at_current_offsets'], 'cannot be combined with backup.continuous: true (a continuous backup never stops); set one of them to false');
  }
  const retention = backupParsed?.retention;
  if (retention && (retention.max_age !== undefined || retention.max_total_bytes !== undefined || retention.keep_segments !== undefined)) {
    if (retention.max_age === undefined && retention.max_total_bytes === undefined) add(['backup', 'retention'], 'sets no limit: give max_age (e.g. 30d) and/or max_total_bytes; keep_segments alone prunes nothing');
    else if (!backupParsed?.continuous) add(['backup', 'retention'], 'applies to a continuous backup (backup.continuous: true) only; prune a snapshot backup with "kafka-backup prune"');
  }
  if (restore?.time_window_start !== undefined && restore.time_window_end !== undefined && restore.time_window_start > restore.time_window_end) {
    const s = restore.time_window_start;
    const e = restore.time_window_end;
    add(['restore', 'time_window_end'], `time_window_start ${s} (${isoOf(s)}) is after time_window_end ${e} (${isoOf(e)}); the window would be empty`);
  }
  if (restore) for (const p of consumerGroupProblems(restore)) add(['restore', p.key], p.message);
  if (restore) for (const p of schemaIdProblems(restore)) add(['restore', p.key], p.message);
  for (const [name, cluster] of [['source', source], ['target', target]] as const) {
    if (!cluster) continue;
    const sec = cluster.security;
    if ((sec.ssl_certificate_location === undefined) !== (sec.ssl_key_location === undefined)) {
      const missing = sec.ssl_certificate_location === undefined ? 'ssl_certificate_location' : 'ssl_key_location';
      add([name, 'security', missing], 'required for mutual TLS: ssl_certificate_location and ssl_key_location must be set together');
    }
    const sasl = sec.security_protocol.startsWith('SASL_');
    if (sec.sasl_mechanism !== undefined && !sasl) warnings.push(`${name}.security.sasl_mechanism is ignored because security_protocol is ${sec.security_protocol}`);
    if (sasl && sec.sasl_mechanism === undefined) {
      add([name, 'security', 'sasl_mechanism'], `required when security_protocol is ${sec.security_protocol}: one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (none is assumed, so the password is never sent in a way you did not choose)`);
    }
    const clearPassword = plaintextPasswordWarning(`${name}.security`, sec);
    if (clearPassword) warnings.push(clearPassword);
    const rawConn = isPlainObject(top[name]) ? top[name]['connection'] : undefined;
    if (isPlainObject(rawConn) && rawConn['keepalive_interval_secs'] !== undefined) {
      warnings.push(`${name}.connection.keepalive_interval_secs cannot be applied: Node.js fixes the keepalive probe interval at 1 s (10 probes), so a silent broker is detected keepalive_time_secs + 10 s after the last data; tune keepalive_time_secs instead`);
    }
    const tls = sec.security_protocol === 'SSL' || sec.security_protocol === 'SASL_SSL';
    if (!tls && (sec.ssl_ca_location ?? sec.ssl_certificate_location ?? sec.ssl_key_location) !== undefined) warnings.push(`${name}.security ssl_* settings are ignored because security_protocol is ${sec.security_protocol}`);
  }
  if (backupParsed?.segment_max_age_secs !== undefined) warnings.push('backup.segment_max_age_secs is accepted for compatibility with published docs but has no effect; use backup.segment_max_interval_ms');
  if (offset_storage !== undefined) warnings.push('offset_storage is not used: a backup keeps its progress in the backup itself (each partition index records where a restarted backup resumes), so there is no local offsets database; the section can be removed');

  if (problems.length > 0) fail();
  if (mode === undefined || backup_id === undefined || storage === undefined || backupParsed === undefined || restore === undefined || metrics === undefined) {
    add([], 'invalid configuration'); // unreachable: every failure above adds a problem
    fail();
  }

  const warn = opts.onWarning ?? ((m: string) => logger('config').warn({ file: fileName }, m));
  for (const w of warnings) warn(`${fileName}: ${redactSecrets(w, '', secrets)}`);

  const { segment_max_age_secs: _ignored, ...backup } = backupParsed!;
  void _ignored;
  const cfg: KafkaBackupConfig = {
    mode: mode!,
    backup_id: backup_id!,
    source,
    target,
    storage: { ...storageSpecFromConfig(storage!), ...(encryption ? { encryption: { keyFile: encryption.key_file, keyEnv: encryption.key_env, keyId: encryption.key_id } } : {}) },
    backup: backup as BackupOptions,
    restore: restore!,
    offset_storage,
    metrics: metrics!,
  };
  return stripUndefined(cfg);
}

/** Reads and parses a config file. Throws `ConfigFileError` (a ConfigError) listing every problem. */
export async function loadConfig(path: string, opts: LoadConfigOptions = {}): Promise<KafkaBackupConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : String(code ?? 'unreadable');
    throw new ConfigError(`cannot read config file ${path}: ${why}`, undefined, { file: path });
  }
  return parseConfigText(text, path, opts);
}
