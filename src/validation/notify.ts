/**
 * Notifications after a validation run: a Slack incoming-webhook message (every run) and a
 * PagerDuty Events API v2 `trigger` event (only when a check failed). A notification that fails is
 * logged and reported in the outcome; it does not change the run's result (the evidence is already
 * stored). The PagerDuty URL is https://events.pagerduty.com/v2/enqueue unless the environment
 * variable KAFKA_BACKUP_PAGERDUTY_EVENTS_URL (or the caller) names another.
 */
import { logger } from '../util/logger.js';
import { TOOL_VERSION } from '../util/version.js';
import type { NotificationsConfig } from './config.js';
import type { EvidenceReport } from './run.js';

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';
export const PAGERDUTY_URL_ENV = 'KAFKA_BACKUP_PAGERDUTY_EVENTS_URL';

export interface NotificationOutcome {
  channel: 'slack' | 'pagerduty';
  sent: boolean;
  status?: number;
  error?: string;
}

const TIMEOUT_MS = 30_000;

async function post(url: string, body: unknown): Promise<{ status: number; ok: boolean; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': `kafka-backup/${TOOL_VERSION}` },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await res.text().catch(() => '');
  return { status: res.status, ok: res.ok, text };
}

function summaryLine(r: EvidenceReport): string {
  const v = r.validation;
  return `Kafka backup validation ${v.result.toUpperCase()}: backup ${r.backup.id}, ${v.checks_passed}/${v.checks_total} checks passed${v.checks_failed ? `, ${v.checks_failed} failed` : ''} (report ${r.report_id})`;
}

export function slackMessage(r: EvidenceReport, evidenceLocation: string): Record<string, unknown> {
  const lines = r.validation.checks.map(
    (c) =>
      `${c.status === 'passed' ? ':white_check_mark:' : c.status === 'failed' ? ':x:' : c.status === 'warning' ? ':warning:' : ':white_circle:'} *${c.name}*: ${c.message}`,
  );
  const text = summaryLine(r);
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${text}*` } },
      { type: 'section', text: { type: 'mrkdwn', text: lines.join('\n').slice(0, 2900) } },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `Evidence: ${evidenceLocation}${r.pitr_timestamp !== null ? ` · PITR ${new Date(r.pitr_timestamp).toISOString()}` : ''}${r.triggered_by ? ` · triggered by ${r.triggered_by}` : ''}`,
          },
        ],
      },
    ],
  };
}

export function pagerDutyEvent(r: EvidenceReport, routingKey: string, severity: string, evidenceLocation: string): Record<string, unknown> {
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: r.report_id,
    payload: {
      summary: summaryLine(r).slice(0, 1024),
      source: r.target.bootstrap_servers.join(',') || 'kafka-backup',
      severity,
      component: 'kafka-backup',
      group: r.backup.id,
      class: 'backup-validation',
      timestamp: r.generated_at,
      custom_details: {
        report_id: r.report_id,
        backup_id: r.backup.id,
        pitr_timestamp: r.pitr_timestamp,
        triggered_by: r.triggered_by,
        evidence: evidenceLocation,
        failed_checks: r.validation.checks.filter((c) => c.status === 'failed').map((c) => ({ name: c.name, message: c.message })),
      },
    },
  };
}

export async function sendNotifications(
  cfg: NotificationsConfig,
  report: EvidenceReport,
  opts: { pagerDutyEventsUrl?: string; evidenceLocation: string },
): Promise<NotificationOutcome[]> {
  const log = logger('validation');
  const out: NotificationOutcome[] = [];
  const attempt = async (channel: NotificationOutcome['channel'], url: string, body: unknown): Promise<void> => {
    try {
      const r = await post(url, body);
      if (!r.ok) log.warn({ channel, status: r.status, body: r.text.slice(0, 200) }, 'notification refused');
      out.push({ channel, sent: r.ok, status: r.status, ...(r.ok ? {} : { error: `HTTP ${r.status}` }) });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const msg = e.cause?.code ?? e.message;
      log.warn({ channel, err: msg }, 'notification failed');
      out.push({ channel, sent: false, error: msg });
    }
  };
  if (cfg.slack) await attempt('slack', cfg.slack.webhook_url, slackMessage(report, opts.evidenceLocation));
  if (cfg.pagerduty && report.validation.result === 'failed') {
    const url = opts.pagerDutyEventsUrl ?? process.env[PAGERDUTY_URL_ENV] ?? PAGERDUTY_EVENTS_URL;
    await attempt('pagerduty', url, pagerDutyEvent(report, cfg.pagerduty.integration_key, cfg.pagerduty.severity, opts.evidenceLocation));
  }
  return out;
}
