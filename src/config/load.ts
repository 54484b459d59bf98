/**
 * Loading the main config file: YAML 1.2 parsing with `${...}` substitution into the parsed
 * scalars, strict schema, semantic checks. All problems of a file are collected and thrown together as one `ConfigFileError`
 * (a `ConfigError`) whose message has one line per problem:
 *
 *     pitr.yaml: restore.time_window_end: expected epoch milliseconds, ... (line 12)
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { plaintextPasswordWarning } from '../kafka/security.js';
import { ConfigError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { TimeWindow } from '../util/time-window.js';
import { originalOffset, prepareSubstitution, redactSecrets, substituteInDocument, type PreparedText, type Splice } from './substitute.js';
import { parseYamlTree, pathString, PlainScalar, SpecificTagged } from './yaml-tree.js';
import type { Secret } from './substitute.js';
import {
  backendOf,
  backupSchema,
  backupShape,
  connectionShape,
  encryptionSchema,
  encryptionShape,
  metricsSchema,
  metricsShape,
  offsetStorageSchema,
  offsetStorageShape,
  restoreSchema,
  restoreShape,
  securityShape,
  sourceSchema,
  sourceShape,
  sourceTopicsShape,
  storageSchemas,
  storageShapes,
  targetSchema,
  TOP_LEVEL_KEYS,
  topShape,
  type BackendName,
  type StorageSectionParsed,
} from './schema.js';
import { consumerGroupProblems } from './consumer-groups.js';
import { schemaIdProblems } from './later-keys.js';
import { normaliseStorage, storageSpecFromConfig } from './storage.js';
import type { BackupOptions, KafkaBackupConfig, KafkaClusterConfig, LoadConfigOptions, Mode, RestoreOptions, StorageConfig } from './types.js';
import { lineOf, lineStarts } from './lines.js';
import { readConfigFile } from './read-file.js';

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
    const otherKeys = Object.keys(other === 'backup' ? backupShape : restoreShape);
    if (otherKeys.includes(key)) return `unknown key; ${key} belongs in the ${other} section (${other}.${key})`;
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

/**
 * The problems of one file, each located by its key path (through the parsed tree's offsets) or
 * by a line of the original text, thrown together as one ConfigFileError.
 */
class ProblemList {
  readonly list: Problem[] = [];
  /** Substituted values, kept out of messages; known once the YAML is parsed. */
  secrets: ReadonlyMap<string, Secret> = new Map();
  /** Offsets (in the substituted text) of the parsed tree's keys. */
  offsets: ReadonlyMap<string, number> = new Map();
  readonly #origStarts: number[];

  constructor(
    readonly fileName: string,
    text: string,
    readonly splices: Splice[],
  ) {
    this.#origStarts = lineStarts(text);
  }

  get any(): boolean {
    return this.list.length > 0;
  }

  /** Offset of the deepest part of `path` the tree knows. */
  offsetOf(path: Path): number | undefined {
    for (let n = path.length; n >= 0; n--) {
      const o = this.offsets.get(pathString(path.slice(0, n)));
      if (o !== undefined) return o;
    }
    return undefined;
  }

  add(path: Path, message: string): void {
    this.list.push({ path, message, offset: this.offsetOf(path) });
  }

  #lineOf(p: Problem): number | undefined {
    return p.line ?? (p.offset !== undefined ? lineOf(this.#origStarts, originalOffset(this.splices, p.offset)) : undefined);
  }

  /** Throws every problem so far, by line; problems on the line of a `${...}` problem are its consequences and left out. */
  fail(): never {
    const subLines = new Set(this.list.filter((p) => p.substitution).map((p) => p.line));
    const errors = this.list
      .filter((p) => p.substitution || !subLines.has(this.#lineOf(p)))
      .map((p) => {
        const line = this.#lineOf(p);
        const where = pathString(p.path);
        const at = line !== undefined ? ` (line ${line})` : '';
        const msg = `${this.fileName}: ${where === '' ? '' : `${where}: `}${redactSecrets(p.message, where, this.secrets)}${at}`;
        return { line: line ?? 0, error: new ConfigError(msg, where === '' ? undefined : where, { file: this.fileName, line }) };
      })
      .sort((x, y) => x.line - y.line)
      .map((x) => x.error);
    throw new ConfigFileError(this.fileName, errors);
  }
}

/** The sections as parsed by the schema; undefined where the section had problems (or is absent). */
interface ParsedSections {
  mode?: Mode;
  backup_id?: string;
  source?: KafkaClusterConfig;
  target?: KafkaClusterConfig;
  backup?: z.output<typeof backupSchema>;
  restore?: RestoreOptions;
  offset_storage?: z.output<typeof offsetStorageSchema>;
  metrics?: z.output<typeof metricsSchema>;
  encryption?: z.output<typeof encryptionSchema>;
  storage?: StorageConfig;
}

/** Step 1: `${...}` references become placeholders (they get their values after parsing). */
function prepare(text: string, fileName: string, opts: LoadConfigOptions): { sub: PreparedText; problems: ProblemList } {
  const readText = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const sub = prepareSubstitution(text, { env: opts.env ?? process.env, baseDir: opts.baseDir ?? dirname(fileName), readFile: readText });
  const problems = new ProblemList(fileName, text, sub.splices);
  for (const p of sub.problems) problems.list.push({ path: [], message: p.message, line: p.line, substitution: true });
  return { sub, problems };
}

/** Step 2: the YAML, which must be a mapping at the top level. */
function parseTop(sub: PreparedText, problems: ProblemList): Record<string, unknown> {
  const tree = parseYamlTree(sub.text, (doc) => substituteInDocument(doc, sub));
  problems.secrets = tree.secrets;
  problems.offsets = tree.offsets;
  for (const p of tree.problems) problems.list.push({ path: p.path, message: p.message, offset: p.offset ?? problems.offsetOf(p.path) });
  if (tree.problems.length > 0) problems.fail();
  const raw = tree.value;
  if (raw === null || raw === undefined) {
    problems.add([], 'the file is empty; it needs at least mode, backup_id and storage');
    problems.fail();
  }
  if (!isPlainObject(raw)) {
    problems.add([], 'expected a mapping of keys (mode, backup_id, storage, ...) at the top level');
    problems.fail();
  }
  return raw;
}

/** Runs section schemas, turning their issues into problems (unknown keys with a suggestion). */
class SectionParser {
  /** Set once storage.backend is known: the storage section's unknown keys are judged by it. */
  backend: BackendName | undefined;

  constructor(readonly problems: ProblemList) {}

  run<S extends z.ZodType>(key: string, schema: S, value: unknown): z.output<S> | undefined {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    for (const iss of r.error.issues) {
      const path = [key, ...(iss.path as Path)];
      if (iss.code === 'unrecognized_keys') {
        for (const k of iss.keys) this.problems.add([...path, k], unknownKeyMessage(path, k, this.backend));
      } else this.problems.add(path, iss.message);
    }
    return undefined;
  }
}

function present(top: Record<string, unknown>, k: string): boolean {
  return top[k] !== undefined && top[k] !== null;
}

/** Step 3: the schema, section by section (so that every problem is found in one pass). */
function parseSections(top: Record<string, unknown>, problems: ProblemList, warnings: string[]): ParsedSections {
  const p = new SectionParser(problems);
  for (const k of Object.keys(top)) {
    if (!(TOP_LEVEL_KEYS as readonly string[]).includes(k)) problems.add([k], unknownKeyMessage([], k, undefined));
  }
  const optional = <S extends z.ZodType>(key: string, schema: S) => (present(top, key) ? p.run(key, schema, top[key]) : undefined);
  const s: ParsedSections = {
    mode: p.run('mode', topShape.mode, top['mode']) as Mode | undefined,
    backup_id: p.run('backup_id', topShape.backup_id, top['backup_id']) as string | undefined,
    source: optional('source', sourceSchema) as KafkaClusterConfig | undefined,
    target: optional('target', targetSchema) as KafkaClusterConfig | undefined,
    backup: p.run('backup', backupSchema, top['backup']),
    restore: p.run('restore', restoreSchema, top['restore']) as RestoreOptions | undefined,
    offset_storage: optional('offset_storage', offsetStorageSchema),
    metrics: p.run('metrics', metricsSchema, top['metrics']),
    encryption: optional('encryption', encryptionSchema),
  };
  if (s.encryption && (s.encryption.key_file === undefined) === (s.encryption.key_env === undefined)) {
    problems.add(['encryption'], 'needs exactly one of key_file (a file holding the 256-bit key) or key_env (an environment variable holding it)');
  }
  s.storage = parseStorage(top, p, warnings);
  return s;
}

/** Step 3b: the storage section, by the schema of its backend. */
function parseStorage(top: Record<string, unknown>, p: SectionParser, warnings: string[]): StorageConfig | undefined {
  if (!present(top, 'storage')) {
    p.problems.add(['storage'], 'required key is missing (where the backup lives: backend s3, azure, gcs, filesystem or memory)');
    return undefined;
  }
  const b = backendOf(top['storage']);
  if (!b.ok) {
    p.problems.add(isPlainObject(top['storage']) ? ['storage', 'backend'] : ['storage'], b.message);
    return undefined;
  }
  p.backend = b.value;
  const parsed = p.run('storage', storageSchemas[b.value], top['storage']);
  if (parsed === undefined) return undefined;
  const n = normaliseStorage({ ...parsed, backend: b.value } as StorageSectionParsed);
  for (const x of n.problems) p.problems.add(['storage', x.key], x.message);
  warnings.push(...n.warnings);
  return n.config;
}

/** Step 4a: what the mode needs, and keys that exclude each other (reference 1.9 and ours). */
function checkSections(top: Record<string, unknown>, s: ParsedSections, opts: LoadConfigOptions, problems: ProblemList): void {
  const effectiveMode: Mode | undefined = s.mode ?? opts.expectMode;
  if (opts.expectMode !== undefined && s.mode !== undefined && s.mode !== opts.expectMode) {
    problems.add(['mode'], `is ${s.mode}, but this command runs a ${opts.expectMode}; use a config file with mode: ${opts.expectMode}`);
  }
  if (effectiveMode === 'backup' && !present(top, 'source')) {
    problems.add(['source'], 'required when mode is backup (the cluster to back up: source.bootstrap_servers ...)');
  }
  if (effectiveMode === 'restore' && !present(top, 'target')) {
    problems.add(['target'], 'required when mode is restore (the cluster to restore into: target.bootstrap_servers ...)');
  }
  if (s.backup?.continuous && s.backup.stop_at_current_offsets) {
    const why = 'cannot be combined with backup.continuous: true (a continuous backup never stops); set one of them to false';
    problems.add(['backup', 'stop_at_current_offsets'], why);
  }
  checkRetention(s, problems);
  const windowProblem = s.restore && TimeWindow.of(s.restore.time_window_start, s.restore.time_window_end).problem;
  if (windowProblem) problems.add(['restore', 'time_window_end'], windowProblem);
  if (s.restore) for (const p of consumerGroupProblems(s.restore)) problems.add(['restore', p.key], p.message);
  if (s.restore) for (const p of schemaIdProblems(s.restore)) problems.add(['restore', p.key], p.message);
}

/** Step 4a': backup.retention sets a limit, and only on a continuous backup. */
function checkRetention(s: ParsedSections, problems: ProblemList): void {
  const retention = s.backup?.retention;
  if (!retention || (retention.max_age === undefined && retention.max_total_bytes === undefined && retention.keep_segments === undefined)) return;
  if (retention.max_age === undefined && retention.max_total_bytes === undefined) {
    problems.add(['backup', 'retention'], 'sets no limit: give max_age (e.g. 30d) and/or max_total_bytes; keep_segments alone prunes nothing');
  } else if (!s.backup?.continuous) {
    problems.add(['backup', 'retention'], 'applies to a continuous backup (backup.continuous: true) only; prune a snapshot backup with "kafka-backup prune"');
  }
}

/** Step 4c: sections and keys accepted for compatibility that have no effect. */
function noEffectWarnings(s: ParsedSections, warnings: string[]): void {
  if (s.backup?.segment_max_age_secs !== undefined) {
    warnings.push('backup.segment_max_age_secs is accepted for compatibility with published docs but has no effect; use backup.segment_max_interval_ms');
  }
  if (s.offset_storage !== undefined) {
    warnings.push(
      'offset_storage is not used: a backup keeps its progress in the backup itself (each partition index records where a restarted backup resumes), ' +
        'so there is no local offsets database; the section can be removed',
    );
  }
}

/**
 * Keys of the seed tool's later releases without effect here (issue 19; docs/configuration.md):
 * restore.circuit_breaker is refused unless it turns the breaker off, the one behaviour we have.
 */
function laterKeyWarnings(top: Record<string, unknown>, sections: ParsedSections, problems: ProblemList, warnings: string[]): void {
  const restore = top['restore'];
  const given = isPlainObject(restore) && restore['circuit_breaker'] !== undefined;
  if (given && sections.restore?.circuit_breaker?.enabled !== false) {
    problems.add(
      ['restore', 'circuit_breaker'],
      "not supported for restores: a restore rides through short storage and broker outages by its clients' retries and otherwise stops; " +
        'run it again and it resumes exactly where it stopped. Remove the key (or set enabled: false); backup.circuit_breaker works',
    );
  }
  const target = top['target'];
  const conn = isPlainObject(target) ? target['connection'] : undefined;
  if (isPlainObject(conn) && conn['fetch_max_wait_ms'] !== undefined) {
    warnings.push('target.connection.fetch_max_wait_ms has no effect: a restore produces to the target; set source.connection.fetch_max_wait_ms for backups');
  }
}

/** Step 4b: a cluster's security and connection settings: what is required together, and what is ignored. */
function checkCluster(name: 'source' | 'target', cluster: KafkaClusterConfig, rawSection: unknown, problems: ProblemList, warnings: string[]): void {
  const sec = cluster.security;
  if ((sec.ssl_certificate_location === undefined) !== (sec.ssl_key_location === undefined)) {
    const missing = sec.ssl_certificate_location === undefined ? 'ssl_certificate_location' : 'ssl_key_location';
    problems.add([name, 'security', missing], 'required for mutual TLS: ssl_certificate_location and ssl_key_location must be set together');
  }
  const sasl = sec.security_protocol.startsWith('SASL_');
  if (sec.sasl_mechanism !== undefined && !sasl) {
    warnings.push(`${name}.security.sasl_mechanism is ignored because security_protocol is ${sec.security_protocol}`);
  }
  if (sasl && sec.sasl_mechanism === undefined) {
    problems.add(
      [name, 'security', 'sasl_mechanism'],
      `required when security_protocol is ${sec.security_protocol}: one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 ` +
        '(none is assumed, so the password is never sent in a way you did not choose)',
    );
  }
  if (sasl && sec.sasl_mechanism === 'OAUTHBEARER') {
    for (const k of ['sasl_oauthbearer_token_endpoint_url', 'sasl_oauthbearer_client_id', 'sasl_oauthbearer_client_secret'] as const) {
      if (sec[k] === undefined) {
        problems.add(
          [name, 'security', k],
          'required with sasl_mechanism OAUTHBEARER (the OIDC client-credentials flow: token endpoint, client id and secret; the secret can come from ${env:NAME} or ${file:/path})',
        );
      }
    }
  }
  const clearPassword = plaintextPasswordWarning(`${name}.security`, sec);
  if (clearPassword) warnings.push(clearPassword);
  const rawConn = isPlainObject(rawSection) ? rawSection['connection'] : undefined;
  if (isPlainObject(rawConn) && rawConn['keepalive_interval_secs'] !== undefined) {
    warnings.push(
      `${name}.connection.keepalive_interval_secs cannot be applied: Node.js fixes the keepalive probe interval at 1 s (10 probes), ` +
        'so a silent broker is detected keepalive_time_secs + 10 s after the last data; tune keepalive_time_secs instead',
    );
  }
  const tls = sec.security_protocol === 'SSL' || sec.security_protocol === 'SASL_SSL';
  if (!tls && (sec.ssl_ca_location ?? sec.ssl_certificate_location ?? sec.ssl_key_location) !== undefined) {
    warnings.push(`${name}.security ssl_* settings are ignored because security_protocol is ${sec.security_protocol}`);
  }
}

/** Step 5: the typed config of a file without problems. */
function assemble(s: ParsedSections, problems: ProblemList): KafkaBackupConfig {
  const { mode, backup_id, storage, backup: backupParsed, restore, metrics, encryption } = s;
  if (mode === undefined || backup_id === undefined || storage === undefined || backupParsed === undefined || restore === undefined || metrics === undefined) {
    problems.add([], 'invalid configuration'); // unreachable: every failure above adds a problem
    problems.fail();
  }
  const { segment_max_age_secs: _ignored, ...backup } = backupParsed;
  void _ignored;
  const encryptionSpec = encryption ? { encryption: { keyFile: encryption.key_file, keyEnv: encryption.key_env, keyId: encryption.key_id } } : {};
  const cfg: KafkaBackupConfig = {
    mode,
    backup_id,
    source: s.source,
    target: s.target,
    storage: { ...storageSpecFromConfig(storage), ...encryptionSpec },
    backup: backup as BackupOptions,
    restore,
    offset_storage: s.offset_storage,
    metrics,
  };
  return stripUndefined(cfg);
}

/** Parses config text (synchronously; `${file:...}` references are read with readFileSync). */
export function parseConfigText(text: string, fileName: string, opts: LoadConfigOptions = {}): KafkaBackupConfig {
  const warnings: string[] = [];
  const { sub, problems } = prepare(text, fileName, opts);
  const top = parseTop(sub, problems);
  const sections = parseSections(top, problems, warnings);
  checkSections(top, sections, opts, problems);
  for (const name of ['source', 'target'] as const) {
    const cluster = sections[name];
    if (cluster) checkCluster(name, cluster, top[name], problems, warnings);
  }
  noEffectWarnings(sections, warnings);
  laterKeyWarnings(top, sections, problems, warnings);
  if (problems.any) problems.fail();

  const warn = opts.onWarning ?? ((m: string) => logger('config').warn({ file: fileName }, m));
  for (const w of warnings) warn(`${fileName}: ${redactSecrets(w, '', problems.secrets)}`);
  return assemble(sections, problems);
}

/** Reads and parses a config file. Throws `ConfigFileError` (a ConfigError) listing every problem. */
export async function loadConfig(path: string, opts: LoadConfigOptions = {}): Promise<KafkaBackupConfig> {
  const text = await readConfigFile(path, 'config');
  return parseConfigText(text, path, opts);
}
