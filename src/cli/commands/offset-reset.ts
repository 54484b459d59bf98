/**
 * `kafka-backup offset-reset plan|execute|script` and `kafka-backup offset-reset-bulk`: consumer-group
 * offsets translated with the exact offset map of a stored restore of the backup (src/offsets/plan.ts),
 * shown, applied (after an automatic rollback snapshot), or written as a kafka-consumer-groups script.
 * `--path` takes a directory or a storage URL (the seed tool took directories only).
 */
import { chmod, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { KafkaConnectionSettings } from '../../kafka/security.js';
import { applyOffsetPlan, bulkReset, type BulkReport } from '../../offsets/apply.js';
import { groupsToChange, refusedGroups, type ResetReport } from '../../offsets/report.js';
import { takeSnapshot, type OffsetSnapshot } from '../../offsets/rollback.js';
import { commentValue, offsetResetScript, shellQuote, unscriptableGroups } from '../../offsets/script.js';
import { buildOffsetPlan, type OffsetPlan } from '../../offsets/stored-restore.js';
import type { ObjectStore } from '../../storage/store.js';
import { UserError } from '../../util/errors.js';
import { withStore } from '../io.js';
import { columns, parseFormat, render } from '../output.js';
import { resetJson, resetText } from '../render/reset.js';
import { addSecurityFlags, commaList, kafkaSettings, type SecurityFlags } from './offset-reset-flags.js';

interface PlanFlags extends SecurityFlags {
  path: string;
  backupId: string;
  groups?: string[];
  bootstrapServers?: string[];
  restoreId?: string;
  format: string;
}

const out = (s: string): void => void process.stdout.write(s.endsWith('\n') ? s : s + '\n');

function planFlags(cmd: Command): Command {
  return cmd
    .requiredOption('-p, --path <path>', 'backup store: a directory or a storage URL (file://, s3://, az://, gs://)')
    .requiredOption('-b, --backup-id <id>', 'backup id')
    .option('-g, --groups <groups>', "consumer groups, comma-separated or repeated (default: every group of the backup's group snapshot)", commaList)
    .option('--bootstrap-servers <servers>', 'target cluster, comma-separated or repeated', commaList)
    .option('--restore-id <id>', 'the stored restore whose offset map to use (default: the latest completed restore of the backup)');
}

/** The plan as JSON: the seed's shape (5.5) plus ours (restore used, duplicates, before). */
export function planJson(p: OffsetPlan, bootstrapServers: string[]): Record<string, unknown> {
  const rep = p.report;
  return {
    groups: rep.groups.map((g) => ({
      group_id: g.groupId,
      status: g.status,
      reason: g.reason ?? null,
      partitions: g.partitions.map((x) => ({
        topic: x.targetTopic,
        partition: x.targetPartition,
        source_offset: x.sources.length === 1 ? x.sources[0]!.offset : null,
        target_offset: x.after,
        timestamp: null,
        metadata: null,
        sources: x.sources.map((s) => ({ topic: s.topic, partition: s.partition, committed_offset: s.offset })),
        offset_before: x.before,
        records_seen_twice: x.duplicates,
        at_end: x.atEnd,
      })),
      partition_count: g.partitions.length,
      complete: g.status === 'planned',
      records_seen_twice: g.partitions.reduce((n, x) => n + x.duplicates, 0),
    })),
    generated_at: p.generatedAt,
    strategy: 'DryRun',
    technique: rep.technique,
    dry_run: true,
    backup_id: rep.backupId,
    restore_id: rep.restoreId,
    restore_choice: p.restoreChoice,
    offsets_from: rep.offsetsFrom.kind === 'snapshot' ? { kind: 'snapshot', taken_at: rep.offsetsFrom.takenAt, key: rep.offsetsFrom.key } : { kind: 'manual' },
    source_cluster_id: p.sourceClusterId,
    target_bootstrap_servers: bootstrapServers,
    warnings: rep.warnings,
  };
}

export const PLAN_CSV_HEADER = 'group_id,topic,partition,source_offset,target_offset,strategy,source_topic,source_partition,records_seen_twice';

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV: the seed's columns, then the source partition and the duplicates; one row per source (merged partitions give several rows). */
export function planCsv(rep: ResetReport): string {
  const rows = [PLAN_CSV_HEADER];
  for (const g of rep.groups) {
    for (const p of g.partitions) {
      for (const s of p.sources)
        rows.push(
          [
            g.groupId,
            p.targetTopic,
            String(p.targetPartition),
            String(s.offset),
            String(p.after),
            rep.technique,
            s.topic,
            String(s.partition),
            String(p.duplicates),
          ]
            .map(csvCell)
            .join(','),
        );
    }
  }
  return rows.join('\n');
}

function planHeader(p: OffsetPlan): string {
  return `[INFO] Backup ${p.report.backupId}: using ${p.restoreChoice}`;
}

/** Takes the automatic rollback snapshot of the groups a reset is about to change. */
async function safetySnapshot(store: ObjectStore, settings: KafkaConnectionSettings, rep: ResetReport, what: string): Promise<OffsetSnapshot | undefined> {
  const groups = groupsToChange(rep).map((g) => g.groupId);
  if (groups.length === 0) return undefined;
  return takeSnapshot({
    store,
    settings,
    groups,
    restoreId: rep.restoreId,
    description: `automatic, before ${what} of backup ${rep.backupId} (${rep.restoreId})`,
  });
}

function snapshotLine(s: OffsetSnapshot | undefined, path: string): string {
  return s
    ? `[INFO] Rollback snapshot ${s.snapshot_id} saved (the groups' offsets before this reset); undo with: kafka-backup offset-rollback rollback -p ${shellQuote(path)} -s ${shellQuote(s.snapshot_id)} --bootstrap-servers ${shellQuote(s.bootstrap_servers.join(','))}`
    : '[INFO] Nothing to reset: no rollback snapshot taken';
}

/** Groups whose id no shell argument can carry (a NUL) are left out of a script: say so where the operator looks. */
function warnUnscriptable(rep: ResetReport): void {
  for (const id of unscriptableGroups(rep))
    process.stderr.write(
      `[WARN] group ${commentValue(id)} is not in the script: its id or a topic holds a NUL character; reset it with "kafka-backup offset-reset execute"\n`,
    );
}

export function registerOffsetResetCommands(program: Command): void {
  const reset = program
    .command('offset-reset')
    .description("Plan, apply or script consumer-group offset resets from a backup's stored restore (exact offset map)");

  addSecurityFlags(
    planFlags(
      reset
        .command('plan')
        .description('Show the translated offsets of the chosen groups (changes nothing; with --bootstrap-servers also their current offsets)'),
    ),
  )
    .option('-f, --format <format>', 'text, json, csv or shell-script', 'text')
    .option('--dry-run', "always on: a plan changes nothing (accepted for the seed tool's scripts)")
    .action(async (o: PlanFlags) => {
      const format = parseFormat(o.format, ['text', 'json', 'csv', 'shell-script']);
      await withStore(o.path, async (store) => {
        const target = o.bootstrapServers?.length ? kafkaSettings(o.bootstrapServers, o, process.env, 'offset-reset plan') : undefined;
        const p = await buildOffsetPlan({ store, backupId: o.backupId, groups: o.groups ?? [], restoreId: o.restoreId, target });
        const bs = o.bootstrapServers ?? [];
        if (format === 'csv') return out(planCsv(p.report));
        if (format === 'shell-script') {
          warnUnscriptable(p.report);
          return out(offsetResetScript(p.report, { bootstrapServers: bs, restoreChoice: p.restoreChoice, generatedAt: p.generatedAt }));
        }
        out(render(format, planJson(p, bs), () => `${planHeader(p)}\n${resetText(p.report)}`));
      });
    });

  addSecurityFlags(
    planFlags(
      reset.command('execute').description('Apply the plan on the target cluster (takes a rollback snapshot first; refuses groups with active members)'),
    ),
  )
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: PlanFlags) => {
      const format = parseFormat(o.format, ['text', 'json']);
      const settings = kafkaSettings(o.bootstrapServers, o, process.env, 'offset-reset execute');
      await withStore(o.path, async (store) => {
        const p = await buildOffsetPlan({ store, backupId: o.backupId, groups: o.groups ?? [], restoreId: o.restoreId });
        const snap = await safetySnapshot(store, settings, p.report, 'offset-reset execute');
        if (format === 'text') out(`${planHeader(p)}\n${snapshotLine(snap, o.path)}`);
        const rep = await applyOffsetPlan(p.report, settings);
        out(render(format, { ...resetJson(rep), restore_choice: p.restoreChoice, rollback_snapshot_id: snap?.snapshot_id ?? null }, () => resetText(rep)));
        for (const g of refusedGroups(rep)) {
          process.stderr.write(`error: consumer group not reset: ${g.reason}\n`);
          process.exitCode = 1;
        }
      });
    });

  planFlags(
    reset.command('script').description('Write the plan as a shell script (POSIX sh; every value quoted) of kafka-consumer-groups --reset-offsets calls'),
  )
    .option('-o, --output <file>', 'write the script to this file (mode 755) instead of stdout')
    .action(async (o: PlanFlags & { output?: string }) => {
      await withStore(o.path, async (store) => {
        const p = await buildOffsetPlan({ store, backupId: o.backupId, groups: o.groups ?? [], restoreId: o.restoreId });
        warnUnscriptable(p.report);
        const script = offsetResetScript(p.report, { bootstrapServers: o.bootstrapServers ?? [], restoreChoice: p.restoreChoice, generatedAt: p.generatedAt });
        if (!o.output) return out(script);
        await writeFile(o.output, script, { mode: 0o755 });
        await chmod(o.output, 0o755);
        process.stderr.write(`Script written to ${o.output} (${groupsToChange(p.report).length} group(s), using ${p.restoreChoice})\n`);
      });
    });

  addSecurityFlags(
    planFlags(
      program
        .command('offset-reset-bulk')
        .description('Reset many groups in parallel from the stored restore, with retries and a summary (takes a rollback snapshot first)'),
    ),
  )
    .option('--max-concurrent <n>', 'groups reset at the same time', '50')
    .option('--max-retries <n>', 'retries of a failed group commit', '3')
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: PlanFlags & { maxConcurrent: string; maxRetries: string }) => {
      const format = parseFormat(o.format, ['text', 'json']);
      const maxConcurrent = positiveInt(o.maxConcurrent, '--max-concurrent', 1);
      const maxRetries = positiveInt(o.maxRetries, '--max-retries', 0);
      const settings = kafkaSettings(o.bootstrapServers, o, process.env, 'offset-reset-bulk');
      await withStore(o.path, async (store) => {
        const p = await buildOffsetPlan({ store, backupId: o.backupId, groups: o.groups ?? [], restoreId: o.restoreId });
        const snap = await safetySnapshot(store, settings, p.report, 'offset-reset-bulk');
        const rep = await bulkReset(p.report, settings, { maxConcurrent, maxRetries });
        out(
          render(
            format,
            { ...rep, restore_choice: p.restoreChoice, rollback_snapshot_id: snap?.snapshot_id ?? null, warnings: p.report.warnings },
            () => `${planHeader(p)}\n${snapshotLine(snap, o.path)}\n${bulkText(rep)}`,
          ),
        );
        if (rep.status !== 'success') process.exitCode = 1;
      });
    });
}

function positiveInt(v: string, flag: string, min: number): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new UserError('USAGE', `${flag}: "${v}" is not an integer ≥ ${min}`);
  return n;
}

export function bulkText(r: BulkReport): string {
  const lines = [
    `Bulk offset reset: ${r.status}: ${r.successful_groups} of ${r.total_groups - r.skipped_groups} group(s) reset${r.failed_groups ? `, ${r.failed_groups} failed` : ''}${r.skipped_groups ? `, ${r.skipped_groups} with nothing to reset` : ''}; ${r.total_offsets_reset} offsets reset${r.total_offsets_failed ? `, ${r.total_offsets_failed} failed` : ''}`,
    `  Duration ${r.duration_ms} ms; latency avg ${r.performance.avg_latency_ms} ms, p50 ${r.performance.p50_latency_ms} ms, p99 ${r.performance.p99_latency_ms} ms; ${r.performance.offsets_per_second} offsets/s; concurrency ${r.performance.max_concurrency}; retries ${r.performance.total_retries}`,
  ];
  const rows = [['  group', 'status', 'partitions', 'seen twice', 'retries', 'ms', 'error']];
  for (const g of r.group_outcomes) {
    rows.push([
      `  ${g.group_id}`,
      g.status,
      `${g.partitions_reset}/${g.partitions_reset + g.partitions_failed}`,
      String(g.records_seen_twice),
      String(g.retry_attempts),
      String(g.duration_ms),
      g.errors[0]?.message ?? '',
    ]);
  }
  lines.push(...columns(rows, 3));
  return lines.join('\n');
}
