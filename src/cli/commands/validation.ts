/**
 * `validation run | evidence-list | evidence-get | evidence-verify` (src/validation/). Registered
 * by main.ts with registerValidationCommands(program).
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { openStore, parseStorageUrl } from '../../storage/index.js';
import { UserError } from '../../util/errors.js';
import { connectionSettings } from '../config-mapping.js';
import { parseFormat, render } from '../output.js';
import { loadValidationConfig } from '../../validation/config.js';
import {
  DEFAULT_EVIDENCE_PREFIX,
  findEvidenceKey,
  listEvidence,
  loadPublicKey,
  parseSignatureFile,
  verifyReport,
  type EvidenceFileType,
} from '../../validation/evidence.js';
import { runValidation, type ValidationRunResult } from '../../validation/run.js';

function print(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : s + '\n');
}

function parseEpochMs(v: string): number {
  if (!/^-?\d+$/.test(v.trim())) throw new UserError('USAGE', `--pitr: expected epoch milliseconds (an integer), got ${JSON.stringify(v)}`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new UserError('USAGE', `--pitr: ${v} is not a valid epoch-milliseconds value`);
  if (n > 0 && n < 100_000_000_000) throw new UserError('USAGE', `--pitr: ${v} looks like seconds; give epoch milliseconds (${n * 1000})`);
  return n;
}

export function runText(r: ValidationRunResult, storeUrl: string): string {
  const v = r.report.validation;
  const lines = [
    `Validation ${r.report.report_id}: ${v.result.toUpperCase()}`,
    `  Backup: ${r.report.backup.id}   Expectation: ${r.report.restore ? `restore ${r.report.restore.restore_id}` : 'backup manifest'}`,
    ...(r.report.pitr_timestamp !== null ? [`  PITR: ${r.report.pitr_timestamp} (${new Date(r.report.pitr_timestamp).toISOString()})`] : []),
    ...(r.report.triggered_by ? [`  Triggered by: ${r.report.triggered_by}`] : []),
    '',
    ...v.checks.map((c) => `  [${c.status.toUpperCase().padEnd(7)}] ${c.name}: ${c.message}`),
    '',
    `  Checks: ${v.checks_total} total, ${v.checks_passed} passed, ${v.checks_failed} failed, ${v.checks_skipped} skipped, ${v.checks_warning} warnings   Duration: ${v.duration_ms} ms`,
    `  Evidence: ${storeUrl}/${r.stored.json}`,
    ...(r.stored.sig ? [`  Signature: ${storeUrl}/${r.stored.sig}`] : []),
    ...(r.stored.pdf ? [`  PDF: ${storeUrl}/${r.stored.pdf}`] : []),
    ...r.notifications.map((n) => `  Notification ${n.channel}: ${n.sent ? `sent (HTTP ${n.status})` : `FAILED (${n.error})`}`),
    ...r.report.notes.map((n) => `  Note: ${n}`),
  ];
  return lines.join('\n');
}

export function registerValidationCommands(program: Command): void {
  const validation = program.command('validation').description('Restore validation: run checks against a restored cluster and keep signed evidence reports');

  validation
    .command('run')
    .description('Run the checks of a validation config against the restored target cluster, store the evidence report, notify; exit 1 when a check fails')
    .requiredOption('-c, --config <path>', 'validation config file (docs/validation.md)')
    .option('--pitr <epoch_ms>', 'point-in-time the restore was made to (recorded in the report; overrides pitr_timestamp)')
    .option('--triggered-by <text>', 'who or what started this run (recorded in the report; overrides triggered_by)')
    .option('-f, --format <format>', 'text or json (the evidence report)', 'text')
    .action(async (o: { config: string; pitr?: string; triggeredBy?: string; format: string }) => {
      const format = parseFormat(o.format, ['text', 'json']);
      const pitr = o.pitr !== undefined ? parseEpochMs(o.pitr) : undefined;
      const cfg = await loadValidationConfig(o.config);
      const store = await openStore(cfg.storage);
      try {
        const r = await runValidation({
          config: cfg,
          store,
          target: connectionSettings(cfg.target, 'kafka-backup-validation'),
          ...(pitr !== undefined ? { pitrTimestamp: pitr } : {}),
          ...(o.triggeredBy !== undefined ? { triggeredBy: o.triggeredBy } : {}),
        });
        print(render(format, r.report, () => runText(r, store.url)));
        if (!r.passed) process.exitCode = 1;
      } finally {
        await store.close();
      }
    });

  validation
    .command('evidence-list')
    .description('List the evidence reports in a storage location, newest first')
    .requiredOption('-p, --path <url>', 'storage location (URL or directory) holding the evidence')
    .option('-l, --limit <n>', 'show at most N reports', '50')
    .option('--prefix <prefix>', 'evidence key prefix (evidence.storage.prefix)', DEFAULT_EVIDENCE_PREFIX)
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: { path: string; limit: string; prefix: string; format: string }) => {
      const format = parseFormat(o.format, ['text', 'json']);
      const limit = Number(o.limit);
      if (!Number.isSafeInteger(limit) || limit < 1) throw new UserError('USAGE', `--limit: expected a positive integer, got ${JSON.stringify(o.limit)}`);
      const store = await openStore(parseStorageUrl(o.path));
      try {
        const all = await listEvidence(store, o.prefix);
        const shown = all.slice(0, limit);
        print(
          render(
            format,
            shown.map((e) => ({ report_id: e.reportId, key: e.key, size: e.size, last_modified: e.lastModified?.toISOString() ?? null })),
            () =>
              shown.length === 0
                ? `No evidence reports under ${store.url}/${o.prefix}`
                : [
                    `Evidence reports in ${store.url} (${shown.length}${all.length > shown.length ? ` of ${all.length}` : ''}, newest first):`,
                    ...shown.map((e) => `  ${e.reportId}  ${e.lastModified?.toISOString() ?? '-'}  ${e.key}`),
                  ].join('\n'),
          ),
        );
      } finally {
        await store.close();
      }
    });

  validation
    .command('evidence-get')
    .description('Download one evidence report file (json, pdf, or its sig signature)')
    .requiredOption('-p, --path <url>', 'storage location holding the evidence')
    .requiredOption('-r, --report-id <id>', 'report id (validation-…)')
    .option('-f, --format <format>', 'json, pdf or sig', 'json')
    .requiredOption('-o, --output <file>', 'file to write')
    .option('--prefix <prefix>', 'evidence key prefix (evidence.storage.prefix)', DEFAULT_EVIDENCE_PREFIX)
    .action(async (o: { path: string; reportId: string; format: string; output: string; prefix: string }) => {
      const f = o.format.toLowerCase();
      if (f !== 'json' && f !== 'pdf' && f !== 'sig') throw new UserError('USAGE', `--format: expected json, pdf or sig, got ${JSON.stringify(o.format)}`);
      const store = await openStore(parseStorageUrl(o.path));
      try {
        const key = await findEvidenceKey(store, o.reportId, f as EvidenceFileType, o.prefix);
        if (!key)
          throw new UserError(
            'NOT_FOUND',
            `no ${f} file of report ${o.reportId} under ${store.url}/${o.prefix}${f !== 'json' ? ` (was ${f === 'pdf' ? 'pdf in evidence.formats' : 'evidence.signing.enabled'} set for that run?)` : ''}; "kafka-backup validation evidence-list -p ${store.url}" lists the reports`,
          );
        const data = await store.get(key);
        await writeFile(o.output, data);
        print(`Wrote ${o.output} (${data.length} bytes) from ${store.url}/${key}`);
      } finally {
        await store.close();
      }
    });

  validation
    .command('evidence-verify')
    .description(
      'Check an evidence report against its .sig file: SHA-256 and report id, and with --public-key the ECDSA P-256 signature; prints VERIFIED (exit 0) only when the signature checks out with --public-key, else UNVERIFIED or VERIFICATION FAILED (exit 1)',
    )
    .requiredOption('-r, --report <file>', 'the report (.json)')
    .requiredOption('-s, --signature <file>', 'the signature file (.sig)')
    .option('--public-key <file>', 'PEM public key (ECDSA P-256) to verify the signature with')
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: { report: string; signature: string; publicKey?: string; format: string }) => {
      const format = parseFormat(o.format, ['text', 'json']);
      const read = async (p: string, what: string): Promise<Buffer> => {
        try {
          return await readFile(p);
        } catch (err) {
          throw new UserError('USAGE', `cannot read ${what} ${p}: ${(err as { code?: string }).code ?? (err as Error).message}`);
        }
      };
      const report = await read(o.report, 'report');
      const bundle = parseSignatureFile((await read(o.signature, 'signature file')).toString('utf8'));
      const key = o.publicKey ? loadPublicKey(await read(o.publicKey, 'public key'), `--public-key ${o.publicKey}`) : undefined;
      const v = verifyReport(report, bundle, key);
      print(
        render(format, v, () =>
          [
            `Report ${v.reportId ?? o.report}: ${{ verified: 'VERIFIED', unverified: 'UNVERIFIED', failed: 'VERIFICATION FAILED' }[v.status]}`,
            `  SHA-256: ${v.sha256} ${v.sha256Match ? '(matches)' : `(signature file: ${v.expectedSha256 || 'none'})`}`,
            `  Signature (${v.algorithm || 'unknown algorithm'}): ${v.signatureValid === null ? 'not checked (give --public-key to check it)' : v.signatureValid ? 'valid' : 'INVALID'}`,
            ...v.problems.map((p) => `  Problem: ${p}`),
            ...(v.status === 'unverified'
              ? [
                  '  Not verified: without --public-key only the SHA-256 and report id are compared, which anyone who can rewrite the report recomputes; give --public-key PUB.pem',
                ]
              : []),
          ].join('\n'),
        ),
      );
      if (!v.ok) process.exitCode = 1;
    });
}
