/**
 * `validation run`: checks a restored cluster against what the backup (or the latest restore of
 * it) says it should hold, writes an evidence report to storage (JSON, optional PDF and ECDSA
 * signature) and sends notifications.
 */
import { readManifestBytes } from '../format/manifest.js';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { KafkaAdmin } from '../kafka/admin.js';
import { KafkaCluster } from '../kafka/cluster.js';
import type { KafkaConnectionSettings } from '../kafka/security.js';
import type { ObjectStore } from '../storage/store.js';
import { logger } from '../util/logger.js';
import { UserError } from '../util/errors.js';
import { TOOL_VERSION } from '../util/version.js';
import type { ValidationConfig, WebhookCheckConfig } from './config.js';
import { evidenceKey, loadPrivateKey, sha256Hex, signatureFileText, signReport, SIGNATURE_ALGORITHM } from './evidence.js';
import { groupOffsetsCheck, messageCountCheck, offsetRangeCheck, targetWatermarks, timed, topicsOf, type CheckContext } from './checks.js';
import { loadExpectations, type Expectations } from './expectations.js';
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

export async function runValidation(opts: ValidationRunOptions): Promise<ValidationRunResult> {
  const { config: cfg, store } = opts;
  const started = Date.now();
  const reportId = `validation-${randomUUID()}`;
  const pitr = opts.pitrTimestamp ?? cfg.pitr_timestamp ?? null;
  const triggeredBy = opts.triggeredBy ?? cfg.triggered_by ?? null;
  log.info({ reportId, backupId: cfg.backup_id }, 'validation run started');

  const exp = await loadExpectations(store, cfg.backup_id);
  const notes = expectationNotes(exp, pitr);

  const checks: CheckResult[] = [];
  const cluster = await KafkaCluster.connect(opts.target);
  const admin = new KafkaAdmin(opts.target);
  try {
    const marks = await targetWatermarks(cluster, admin, topicsOf(exp.partitions));
    const ctx: CheckContext = { cfg, exp, cluster, admin, marks };
    for (const check of [messageCountCheck, offsetRangeCheck, groupOffsetsCheck]) checks.push(await check(ctx));
  } finally {
    await admin.close();
    await cluster.close();
  }

  // --- custom webhooks (after the built-in checks, so they receive their results)
  for (const w of cfg.checks.custom_webhooks) {
    checks.push(
      await timed(w.name, 'custom_webhook', () =>
        callWebhook(w, {
          report_id: reportId,
          backup_id: cfg.backup_id,
          pitr_timestamp: pitr,
          triggered_by: triggeredBy,
          target_bootstrap_servers: opts.target.bootstrapServers,
          started_at: iso(started),
          checks: checks.map((c) => ({ name: c.name, type: c.type, status: c.status, message: c.message })),
        }),
      ),
    );
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
    restore: exp.restore
      ? {
          restore_id: exp.restore.restoreId,
          completed_at: iso(exp.restore.completedAt),
          time_window_start: exp.restore.timeWindowStart,
          time_window_end: exp.restore.timeWindowEnd,
          records_restored: exp.restore.recordsRestored,
        }
      : null,
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

  const stored = await storeEvidence(opts, report, started);

  const notifications = await sendNotifications(cfg.notifications, report, {
    pagerDutyEventsUrl: opts.pagerDutyEventsUrl,
    evidenceLocation: `${store.url}/${stored.json}`,
  });
  return { report, passed, stored, notifications };
}

async function callWebhook(w: WebhookCheckConfig, body: Record<string, unknown>): Promise<Omit<CheckResult, 'name' | 'type' | 'started_at' | 'duration_ms'>> {
  const t0 = Date.now();
  const details: Record<string, unknown> = {
    url: redactUrl(w.url),
    expected_status_code: w.expected_status_code,
    timeout_seconds: w.timeout_seconds,
    fail_on_timeout: w.fail_on_timeout,
  };
  let res: Response;
  try {
    res = await fetch(w.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': `kafka-backup/${TOOL_VERSION}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(w.timeout_seconds * 1000),
    });
  } catch (err) {
    const e = err as Error;
    const timeout = e.name === 'TimeoutError' || e.name === 'AbortError';
    if (timeout) {
      details['timed_out'] = true;
      return {
        status: w.fail_on_timeout ? 'failed' : 'warning',
        message: `no answer within ${w.timeout_seconds}s${w.fail_on_timeout ? '' : ' (fail_on_timeout: false)'}`,
        details,
      };
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
    throw new UserError(
      'PDF_UNAVAILABLE',
      'evidence.formats: pdf needs the optional package pdfkit, which is not installed (install kafka-backup without --omit=optional, or drop pdf from evidence.formats)',
    );
  }
  return mod.renderPdf(r);
}

/** Writes the report (JSON, optional signature and PDF) under the evidence prefix; returns the keys. */
async function storeEvidence(opts: ValidationRunOptions, report: EvidenceReport, started: number): Promise<ValidationRunResult['stored']> {
  const { config: cfg, store } = opts;
  const reportId = report.report_id;
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

  return stored;
}

/** What the report must say about where its expectation came from. */
function expectationNotes(exp: Expectations, pitr: number | null): string[] {
  const notes: string[] = [];
  if (exp.source === 'backup-manifest') {
    notes.push(
      'No finished restore of this backup was found in storage: expected counts come from the backup manifest and indexes (a whole restore into topics of the same names).',
    );
    if (pitr !== null)
      notes.push('A PITR timestamp was given but no restore report exists: the backup-wide counts are compared, which is only right for a whole restore.');
  } else if (exp.restore && pitr !== null && exp.restore.timeWindowEnd !== null && exp.restore.timeWindowEnd !== pitr) {
    notes.push(
      `The PITR timestamp ${pitr} (${iso(pitr)}) differs from the time_window_end ${exp.restore.timeWindowEnd} of the latest restore ${exp.restore.restoreId}, whose offset map is the expectation.`,
    );
  }
  return notes;
}
