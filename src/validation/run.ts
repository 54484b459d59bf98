/**
 * `validation run`: checks a restored cluster against what the backup (or the latest restore of
 * it) says it should hold, writes an evidence report to storage (JSON, optional PDF and ECDSA
 * signature) and sends notifications.
 */
import { readManifestBytes } from '../format/manifest.js';
import { randomInt, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { EARLIEST, KafkaAdmin, LATEST } from '../kafka/admin.js';
import { KafkaCluster } from '../kafka/cluster.js';
import type { KafkaConnectionSettings } from '../kafka/security.js';
import type { ObjectStore } from '../storage/store.js';
import { logger } from '../util/logger.js';
import { UserError } from '../util/errors.js';
import { TOOL_VERSION } from '../util/version.js';
import type { ValidationConfig, WebhookCheckConfig } from './config.js';
import { evidenceKey, loadPrivateKey, sha256Hex, signatureFileText, signReport, SIGNATURE_ALGORITHM } from './evidence.js';
import { loadExpectations, type Expectations, type PartitionExpectation } from './expectations.js';
import { sendNotifications, type NotificationOutcome } from './notify.js';

const log = logger('validation');

export type CheckStatus = 'passed' | 'failed' | 'skipped' | 'warning';

export interface CheckResult {
  name: string;
  type: 'message_count' | 'offset_range' | 'consumer_group_offsets' | 'custom_webhook';
  status: CheckStatus;
  message: string;
  started_at: string;
  duration_ms: number;
  details: Record<string, unknown>;
}

export interface EvidenceReport {
  schema_version: '1';
  report_id: string;
  generated_at: string;
  tool: { name: 'kafka-backup'; version: string };
  triggered_by: string | null;
  pitr_timestamp: number | null;
  backup: {
    id: string;
    source_cluster_id: string | null;
    storage: string;
    status: string;
    total_topics: number;
    total_partitions: number;
    total_segments: number;
    total_records: number;
    earliest_timestamp: number | null;
    latest_timestamp: number | null;
  };
  expectation_source: Expectations['source'];
  restore: { restore_id: string; completed_at: string; time_window_start: number | null; time_window_end: number | null; records_restored: number } | null;
  target: { bootstrap_servers: string[] };
  validation: {
    result: 'passed' | 'failed';
    started_at: string;
    completed_at: string;
    duration_ms: number;
    checks_total: number;
    checks_passed: number;
    checks_failed: number;
    checks_skipped: number;
    checks_warning: number;
    checks: CheckResult[];
  };
  integrity: { backup_manifest_sha256: string; signature_algorithm: string };
  retention: { retention_days: number; retain_until: string };
  notes: string[];
}

export interface ValidationRunOptions {
  config: ValidationConfig;
  store: ObjectStore;
  target: KafkaConnectionSettings;
  /** Overrides config.pitr_timestamp. */
  pitrTimestamp?: number;
  /** Overrides config.triggered_by. */
  triggeredBy?: string;
  /** PagerDuty Events v2 URL (tests); default env KAFKA_BACKUP_PAGERDUTY_EVENTS_URL or https://events.pagerduty.com/v2/enqueue. */
  pagerDutyEventsUrl?: string;
  /** Renders the PDF; default: pdfkit (src/validation/pdf.ts). */
  renderPdf?: (report: EvidenceReport) => Promise<Buffer>;
}

export interface ValidationRunResult {
  report: EvidenceReport;
  passed: boolean;
  /** Storage keys written, by type. */
  stored: { json: string; pdf?: string; sig?: string };
  notifications: NotificationOutcome[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

interface TargetPartitionState {
  exists: boolean;
  low?: number;
  high?: number;
}

/** Low and high watermarks of the target partitions named in `parts` (topic → partitions). */
async function targetWatermarks(cluster: KafkaCluster, admin: KafkaAdmin, topics: Map<string, Set<number>>): Promise<Map<string, TargetPartitionState>> {
  const out = new Map<string, TargetPartitionState>();
  await cluster.refresh();
  for (const [topic, wanted] of topics) {
    const info = await cluster.topic(topic);
    const present = new Set(info?.partitions.map((p) => p.partition) ?? []);
    const parts = [...wanted].filter((p) => present.has(p));
    const lows = parts.length ? await admin.listOffsets(topic, parts, EARLIEST) : new Map<number, bigint>();
    const highs = parts.length ? await admin.listOffsets(topic, parts, LATEST) : new Map<number, bigint>();
    for (const p of wanted) {
      const low = lows.get(p);
      const high = highs.get(p);
      out.set(`${topic}/${p}`, present.has(p) && low !== undefined && high !== undefined ? { exists: true, low: Number(low), high: Number(high) } : { exists: false });
    }
  }
  return out;
}

function topicsOf(parts: readonly PartitionExpectation[]): Map<string, Set<number>> {
  const m = new Map<string, Set<number>>();
  for (const p of parts) {
    const s = m.get(p.topic) ?? new Set<number>();
    s.add(p.partition);
    m.set(p.topic, s);
  }
  return m;
}

async function timed(name: string, type: CheckResult['type'], fn: () => Promise<Omit<CheckResult, 'name' | 'type' | 'started_at' | 'duration_ms'>>): Promise<CheckResult> {
  const t0 = Date.now();
  try {
    const r = await fn();
    return { name, type, started_at: iso(t0), duration_ms: Date.now() - t0, ...r };
  } catch (err) {
    log.warn({ check: name, err: (err as Error).message }, 'check failed with an error');
    return { name, type, status: 'failed', message: `error: ${(err as Error).message}`, started_at: iso(t0), duration_ms: Date.now() - t0, details: { error: (err as Error).message } };
  }
}

function skipped(name: string, type: CheckResult['type'], why: string): CheckResult {
  return { name, type, status: 'skipped', message: why, started_at: iso(Date.now()), duration_ms: 0, details: {} };
}

/** Picks ceil(n * pct / 100) (at least one) partitions at random. */
function sample<T>(items: readonly T[], pct: number): T[] {
  if (pct >= 100 || items.length <= 1) return [...items];
  const n = Math.max(1, Math.ceil((items.length * pct) / 100));
  const pool = [...items];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, n);
}

export async function runValidation(opts: ValidationRunOptions): Promise<ValidationRunResult> {
  const { config: cfg, store } = opts;
  const started = Date.now();
  const reportId = `validation-${randomUUID()}`;
  const pitr = opts.pitrTimestamp ?? cfg.pitr_timestamp ?? null;
  const triggeredBy = opts.triggeredBy ?? cfg.triggered_by ?? null;
  const notes: string[] = [];
  log.info({ reportId, backupId: cfg.backup_id }, 'validation run started');

  const exp = await loadExpectations(store, cfg.backup_id);
  if (exp.source === 'backup-manifest') {
    notes.push('No finished restore of this backup was found in storage: expected counts come from the backup manifest and indexes (a whole restore into topics of the same names).');
    if (pitr !== null) notes.push('A PITR timestamp was given but no restore report exists: the backup-wide counts are compared, which is only right for a whole restore.');
  } else if (exp.restore && pitr !== null && exp.restore.timeWindowEnd !== null && exp.restore.timeWindowEnd !== pitr) {
    notes.push(`The PITR timestamp ${pitr} (${iso(pitr)}) differs from the time_window_end ${exp.restore.timeWindowEnd} of the latest restore ${exp.restore.restoreId}, whose offset map is the expectation.`);
  }

  const checks: CheckResult[] = [];
  const cluster = await KafkaCluster.connect(opts.target);
  const admin = new KafkaAdmin(opts.target);
  try {
    const mc = cfg.checks.message_count;
    const wanted = (p: PartitionExpectation): boolean => mc.topics.length === 0 || mc.topics.includes(p.topic) || p.sources.some((s) => mc.topics.includes(s.slice(0, s.lastIndexOf('/'))));
    const allParts = exp.partitions;
    const marks = await targetWatermarks(cluster, admin, topicsOf(allParts));

    // --- message_count
    if (!mc.enabled) checks.push(skipped('message_count', 'message_count', 'disabled'));
    else
      checks.push(
        await timed('message_count', 'message_count', async () => {
          const filtered = allParts.filter(wanted);
          const unknownTopics = mc.topics.filter((t) => !allParts.some((p) => p.topic === t || p.sources.some((s) => s.slice(0, s.lastIndexOf('/')) === t)));
          const chosen = mc.mode === 'sample' ? sample(filtered, mc.sample_percentage) : filtered;
          let expected = 0;
          let actual = 0;
          let diff = 0;
          const partitions = chosen.map((p) => {
            const m = marks.get(`${p.topic}/${p.partition}`);
            const got = m?.exists ? Math.max(0, m.high! - Math.max(m.low!, p.startOffset)) : null;
            expected += p.records;
            actual += got ?? 0;
            const d = got === null ? p.records : Math.abs(got - p.records);
            diff += d;
            return { topic: p.topic, partition: p.partition, sources: p.sources, expected: p.records, actual: got, difference: got === null ? null : got - p.records, ...(m?.exists ? {} : { problem: 'partition not found on the target' }) };
          });
          const missing = partitions.filter((p) => p.actual === null).length;
          const mismatched = partitions.filter((p) => p.difference !== null && p.difference !== 0).length;
          const failed = diff > mc.fail_threshold || missing > 0 || unknownTopics.length > 0 || chosen.length === 0;
          const why = chosen.length === 0 ? 'no partitions to check (topic filter matches nothing)' : unknownTopics.length ? `topics not in the backup: ${unknownTopics.join(', ')}` : '';
          return {
            status: failed ? 'failed' : 'passed',
            message: `${chosen.length} partitions checked${mc.mode === 'sample' ? ` (sample of ${filtered.length}, ${mc.sample_percentage}%)` : ''}: expected ${expected} records, found ${actual}; total difference ${diff} (threshold ${mc.fail_threshold})${missing ? `; ${missing} partitions missing on the target` : ''}${mismatched ? `; ${mismatched} partitions differ` : ''}${why ? `; ${why}` : ''}`,
            details: { mode: mc.mode, sample_percentage: mc.sample_percentage, topics_filter: mc.topics, fail_threshold: mc.fail_threshold, expectation_source: exp.source, partitions_total: filtered.length, partitions_checked: chosen.length, expected_records: expected, actual_records: actual, total_difference: diff, unknown_topics: unknownTopics, partitions },
          };
        }),
      );

    // --- offset_range
    const orc = cfg.checks.offset_range;
    if (!orc.enabled) checks.push(skipped('offset_range', 'offset_range', 'disabled'));
    else if (!orc.verify_high_watermark && !orc.verify_low_watermark) checks.push(skipped('offset_range', 'offset_range', 'verify_high_watermark and verify_low_watermark are both false'));
    else
      checks.push(
        await timed('offset_range', 'offset_range', async () => {
          const problems: string[] = [];
          const partitions = allParts.map((p) => {
            const m = marks.get(`${p.topic}/${p.partition}`);
            const ps: string[] = [];
            if (!m?.exists) ps.push('partition not found on the target');
            else {
              if (orc.verify_high_watermark && m.high !== p.highWatermark) ps.push(`high watermark ${m.high}, expected ${p.highWatermark}`);
              if (orc.verify_low_watermark && m.low! > p.startOffset) ps.push(`low watermark ${m.low} is above the first restored offset ${p.startOffset} (restored records were deleted)`);
            }
            for (const x of ps) problems.push(`${p.topic}/${p.partition}: ${x}`);
            return { topic: p.topic, partition: p.partition, low_watermark: m?.low ?? null, high_watermark: m?.high ?? null, expected_low_watermark_at_most: p.startOffset, expected_high_watermark: p.highWatermark, ok: ps.length === 0, problems: ps };
          });
          return {
            status: problems.length ? 'failed' : 'passed',
            message: problems.length ? `${problems.length} watermark problems: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}` : `${partitions.length} partitions: watermarks as expected`,
            details: { verify_high_watermark: orc.verify_high_watermark, verify_low_watermark: orc.verify_low_watermark, expectation_source: exp.source, partitions },
          };
        }),
      );

    // --- consumer_group_offsets
    const cg = cfg.checks.consumer_group_offsets;
    if (!cg.enabled) checks.push(skipped('consumer_group_offsets', 'consumer_group_offsets', 'disabled'));
    else
      checks.push(
        await timed('consumer_group_offsets', 'consumer_group_offsets', async () => {
          const listed = cg.verify_all_groups ? await admin.listGroups() : [];
          const named = [...new Set(cg.groups)];
          const ids = [...new Set([...listed, ...named])].sort();
          if (ids.length === 0) {
            return cg.verify_all_groups
              ? { status: 'warning' as const, message: 'no consumer groups on the target', details: { verify_all_groups: true, groups: [] } }
              : { status: 'failed' as const, message: 'verify_all_groups is false and no groups are listed in checks.consumer_group_offsets.groups', details: { verify_all_groups: false, groups: [] } };
          }
          const offsets = await admin.groupOffsets(ids);
          const topicParts = new Map<string, Set<number>>();
          for (const g of offsets) for (const [t, ps] of g.offsets) topicParts.set(t, new Set([...(topicParts.get(t) ?? []), ...ps.keys()]));
          const wm = await targetWatermarks(cluster, admin, topicParts);
          const problems: string[] = [];
          const groups = offsets.map((g) => {
            const gp: string[] = [];
            const parts: { topic: string; partition: number; committed: number; low: number | null; high: number | null; ok: boolean }[] = [];
            for (const [t, ps] of g.offsets) {
              for (const [p, o] of ps) {
                const m = wm.get(`${t}/${p}`);
                const c = Number(o.offset);
                let okp = true;
                if (!m?.exists) {
                  gp.push(`${t}/${p}: committed offset ${c} but the partition does not exist on the target`);
                  okp = false;
                } else if (c < m.low! || c > m.high!) {
                  gp.push(`${t}/${p}: committed offset ${c} is outside the partition's offsets ${m.low}..${m.high}`);
                  okp = false;
                }
                parts.push({ topic: t, partition: p, committed: c, low: m?.low ?? null, high: m?.high ?? null, ok: okp });
              }
            }
            const isNamed = named.includes(g.groupId);
            if (parts.length === 0 && isNamed) gp.push('no committed offsets on the target');
            for (const x of gp) problems.push(`${g.groupId}: ${x}`);
            return { group_id: g.groupId, named: isNamed, committed_partitions: parts.length, ok: gp.length === 0, problems: gp, partitions: parts };
          });
          const withOffsets = groups.filter((g) => g.committed_partitions > 0).length;
          return {
            status: problems.length ? 'failed' : 'passed',
            message: problems.length ? `${problems.length} problems: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}` : `${groups.length} groups checked, ${withOffsets} with committed offsets, all within the target partitions' offsets`,
            details: { verify_all_groups: cg.verify_all_groups, groups_requested: named, groups_checked: groups.length, groups_with_offsets: withOffsets, groups },
          };
        }),
      );
  } finally {
    await admin.close();
    await cluster.close();
  }

  // --- custom webhooks (after the built-in checks, so they receive their results)
  for (const w of cfg.checks.custom_webhooks) {
    checks.push(await timed(w.name, 'custom_webhook', () => callWebhook(w, { report_id: reportId, backup_id: cfg.backup_id, pitr_timestamp: pitr, triggered_by: triggeredBy, target_bootstrap_servers: opts.target.bootstrapServers, started_at: iso(started), checks: checks.map((c) => ({ name: c.name, type: c.type, status: c.status, message: c.message })) })));
  }

  const completed = Date.now();
  const count = (s: CheckStatus): number => checks.filter((c) => c.status === s).length;
  const passed = count('failed') === 0;
  const manifestBytes = await readManifestBytes(store, cfg.backup_id).catch(() => Buffer.alloc(0));
  const v = exp.backup;
  const report: EvidenceReport = {
    schema_version: '1',
    report_id: reportId,
    generated_at: iso(completed),
    tool: { name: 'kafka-backup', version: TOOL_VERSION },
    triggered_by: triggeredBy,
    pitr_timestamp: pitr,
    backup: {
      id: cfg.backup_id,
      source_cluster_id: v.manifest.source_cluster_id ?? null,
      storage: store.url,
      status: v.manifest.status,
      total_topics: v.topics.length,
      total_partitions: v.topics.reduce((n, t) => n + t.partitions.length, 0),
      total_segments: v.segments,
      total_records: v.records,
      earliest_timestamp: v.minTimestamp,
      latest_timestamp: v.maxTimestamp,
    },
    expectation_source: exp.source,
    restore: exp.restore ? { restore_id: exp.restore.restoreId, completed_at: iso(exp.restore.completedAt), time_window_start: exp.restore.timeWindowStart, time_window_end: exp.restore.timeWindowEnd, records_restored: exp.restore.recordsRestored } : null,
    target: { bootstrap_servers: [...opts.target.bootstrapServers] },
    validation: {
      result: passed ? 'passed' : 'failed',
      started_at: iso(started),
      completed_at: iso(completed),
      duration_ms: completed - started,
      checks_total: checks.length,
      checks_passed: count('passed'),
      checks_failed: count('failed'),
      checks_skipped: count('skipped'),
      checks_warning: count('warning'),
      checks,
    },
    integrity: { backup_manifest_sha256: sha256Hex(manifestBytes), signature_algorithm: cfg.evidence.signing.enabled ? SIGNATURE_ALGORITHM : 'none' },
    retention: { retention_days: cfg.evidence.storage.retention_days, retain_until: iso(completed + cfg.evidence.storage.retention_days * 86_400_000) },
    notes,
  };

  // --- evidence
  const prefix = cfg.evidence.storage.prefix;
  const json = Buffer.from(JSON.stringify(report, null, 2) + '\n', 'utf8');
  const stored: ValidationRunResult['stored'] = { json: evidenceKey(prefix, reportId, started, 'json') };
  let sigText: string | undefined;
  if (cfg.evidence.signing.enabled) {
    const path = cfg.evidence.signing.private_key_path!;
    const key = loadPrivateKey(await readFile(path), `evidence.signing.private_key_path ${path}`);
    sigText = signatureFileText(signReport(json, key, reportId));
  }
  let pdf: Buffer | undefined;
  if (cfg.evidence.formats.includes('pdf')) pdf = await (opts.renderPdf ?? renderPdfLazily)(report);
  await store.put(stored.json, json);
  if (sigText !== undefined) {
    stored.sig = evidenceKey(prefix, reportId, started, 'sig');
    await store.put(stored.sig, Buffer.from(sigText, 'utf8'));
  }
  if (pdf) {
    stored.pdf = evidenceKey(prefix, reportId, started, 'pdf');
    await store.put(stored.pdf, pdf);
  }
  log.info({ reportId, result: report.validation.result, key: stored.json }, 'evidence stored');

  const notifications = await sendNotifications(cfg.notifications, report, { pagerDutyEventsUrl: opts.pagerDutyEventsUrl, evidenceLocation: `${store.url}/${stored.json}` });
  return { report, passed, stored, notifications };
}

async function callWebhook(w: WebhookCheckConfig, body: Record<string, unknown>): Promise<Omit<CheckResult, 'name' | 'type' | 'started_at' | 'duration_ms'>> {
  const t0 = Date.now();
  const details: Record<string, unknown> = { url: redactUrl(w.url), expected_status_code: w.expected_status_code, timeout_seconds: w.timeout_seconds, fail_on_timeout: w.fail_on_timeout };
  let res: Response;
  try {
    res = await fetch(w.url, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': `kafka-backup/${TOOL_VERSION}` }, body: JSON.stringify(body), signal: AbortSignal.timeout(w.timeout_seconds * 1000) });
  } catch (err) {
    const e = err as Error;
    const timeout = e.name === 'TimeoutError' || e.name === 'AbortError';
    if (timeout) {
      details['timed_out'] = true;
      return { status: w.fail_on_timeout ? 'failed' : 'warning', message: `no answer within ${w.timeout_seconds}s${w.fail_on_timeout ? '' : ' (fail_on_timeout: false)'}`, details };
    }
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    details['error'] = cause?.code ?? cause?.message ?? e.message;
    return { status: 'failed', message: `request failed: ${cause?.code ?? cause?.message ?? e.message}`, details };
  }
  const text = await res.text().catch(() => '');
  details['status_code'] = res.status;
  details['response_ms'] = Date.now() - t0;
  details['response_body'] = text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
  const okStatus = res.status === w.expected_status_code;
  return { status: okStatus ? 'passed' : 'failed', message: `HTTP ${res.status}${okStatus ? '' : ` (expected ${w.expected_status_code})`}`, details };
}

/** Query strings of webhook URLs often carry tokens: keep them out of the report. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '***';
      u.password = '';
    }
    if (u.search) u.search = '?***';
    return u.toString();
  } catch {
    return '***';
  }
}

/** pdfkit is an optional dependency (about 20 MB installed): loaded only for evidence.formats: pdf. */
async function renderPdfLazily(r: EvidenceReport): Promise<Buffer> {
  let mod: typeof import('./pdf.js');
  try {
    mod = await import('./pdf.js');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new UserError('PDF_UNAVAILABLE', 'evidence.formats: pdf needs the optional package pdfkit, which is not installed (install kafka-backup without --omit=optional, or drop pdf from evidence.formats)');
  }
  return mod.renderPdf(r);
}
