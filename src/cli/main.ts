import { Command, CommanderError, Option } from 'commander';
import { inspectBackup, listBackupIds } from '../backup/inspect.js';
import { runBackup } from '../backup/engine.js';
import type { PartitionShortfall } from '../backup/options.js';
import { loadConfig, type KafkaBackupConfig } from '../config/index.js';
import { countExactly } from '../restore/count.js';
import { planRestore, refineWithFooters } from '../restore/plan.js';
import { checkTarget } from '../restore/target-check.js';
import type { RestoreOptions } from '../restore/options.js';
import { runRestore } from '../restore/engine.js';
import { openStore, parseStorageUrl, setDefaultEncryption } from '../storage/index.js';
import type { ObjectStore } from '../storage/store.js';
import { KafkaBackupError, UserError } from '../util/errors.js';
import { configureLogger, logger } from '../util/logger.js';
import { humanDuration, isoMs } from '../util/time.js';
import { TOOL_VERSION } from '../util/version.js';
import { backupOptions, restoreOptions } from './config-mapping.js';
import { describeJson, describeText } from './commands/describe.js';
import { validationJson, validationText, noRecordsWarning, type RestoreValidation } from './commands/validate-restore.js';
import { restoreJson, restoreText } from './commands/restore.js';
import { validateBackup, validateJson, validateText } from './commands/validate.js';
import { BackupProgressDisplay } from './progress.js';
import { consumerOffsetLines, offsetsAfterRestore, outcomeErrors, refuseImpossibleReset, registerOffsetCommands, resetJson, resetPreviewFor, resetText } from './commands/offsets.js';
import { bytes, num, parseFormat, render } from './output.js';
import { withMetrics } from '../metrics/index.js';
import { registerOperationsCommands } from './operations.js';
import { registerValidationCommands } from './commands/validation.js';
import { registerCopyCommand } from './commands/copy.js';
import { registerEraseCommand } from './commands/erase.js';

let verbosity = 0;

async function storeFromPath(path: string): Promise<ObjectStore> {
  return openStore(parseStorageUrl(path));
}

function print(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : s + '\n');
}

/** Ctrl-C / SIGTERM: stop cleanly (flush what is complete); a second Ctrl-C exits at once. */
function stopSignal(): AbortController {
  const ac = new AbortController();
  let count = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    count++;
    if (count > 1) process.exit(130);
    logger().warn(`${sig} received: finishing the current segment and stopping (Ctrl-C again to exit at once)`);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return ac;
}

/** What an incomplete snapshot lacks, and how to finish it. */
function shortfallText(shortfall: PartitionShortfall[]): string[] {
  if (shortfall.length === 0) return [];
  const missing = shortfall.reduce((n, m) => n + (m.target - Math.max(m.reached, 0)), 0);
  const shown = shortfall.slice(0, 20).map((m) => `    ${m.topic}/${m.partition}: ${m.reached < 0 ? 'not started' : `backed up to offset ${num(m.reached)}`} of ${num(m.target)}`);
  return [
    `  INCOMPLETE: ${shortfall.length} partition(s) short of the snapshot's end offsets (up to ${num(missing)} offsets missing):`,
    ...shown,
    ...(shortfall.length > shown.length ? [`    … and ${shortfall.length - shown.length} more`] : []),
    '  Run the same backup again to resume and complete it.',
  ];
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('kafka-backup')
    .description('Back up Apache Kafka topics to object storage and restore them, whole or to any point in time.')
    .version(`kafka-backup ${TOOL_VERSION}`, '-V, --version')
    .option('-v, --verbose', 'more logging: -v debug, -vv trace (repeatable)', (_v, prev: number) => prev + 1, 0)
    .addOption(new Option('--encryption-key-file <path>', 'encrypted backups: file holding the 256-bit key (commands without a config file; a config\'s encryption: section wins)').env('KAFKA_BACKUP_ENCRYPTION_KEY_FILE'))
    .addOption(new Option('--encryption-key-env <name>', 'encrypted backups: environment variable holding the key (hex or base64)').env('KAFKA_BACKUP_ENCRYPTION_KEY_ENV'))
    .addOption(new Option('--encryption-key-id <id>', 'key id to record when writing (default: derived from the key)').env('KAFKA_BACKUP_ENCRYPTION_KEY_ID'))
    .showHelpAfterError()
    .hook('preAction', (cmd) => {
      verbosity = (cmd.opts() as { verbose?: number }).verbose ?? 0;
      configureLogger(verbosity);
      const e = cmd.opts() as { encryptionKeyFile?: string; encryptionKeyEnv?: string; encryptionKeyId?: string };
      setDefaultEncryption(e.encryptionKeyFile !== undefined || e.encryptionKeyEnv !== undefined ? { keyFile: e.encryptionKeyFile, keyEnv: e.encryptionKeyEnv, keyId: e.encryptionKeyId } : undefined);
    });

  program
    .command('backup')
    .description('Back up topics from a Kafka cluster (mode: backup), once (snapshot) or continuously')
    .requiredOption('-c, --config <path>', 'YAML config file with mode: backup')
    .option('-f, --format <format>', 'report format: text, json or yaml', 'text')
    .action(async (o: { config: string; format: string }) => {
      const format = parseFormat(o.format);
      const cfg = await loadConfig(o.config, { expectMode: 'backup', onWarning: (w) => logger().warn(w) });
      const store = await openStore(cfg.storage);
      const ac = stopSignal();
      const progress = new BackupProgressDisplay(cfg.backup.continuous);
      try {
        const sum = await withMetrics(cfg.metrics, { mode: 'backup', backupId: cfg.backup_id }, store, ac.signal, (m) => runBackup({ ...backupOptions(cfg, m.store), metrics: m.metrics, signal: ac.signal, onProgress: (p) => progress.update(p) }));
        progress.done();
        const json = {
          backup_id: sum.backupId,
          status: sum.status,
          topics: sum.topics,
          partitions: sum.partitions,
          segments: sum.segments,
          records: sum.records,
          kafka_bytes: sum.rawBytes,
          stored_bytes: sum.storedBytes,
          consumer_groups_snapshotted: sum.groupsSnapshotted,
          duration_ms: sum.durationMs,
          missing: sum.shortfall.map((m) => ({ topic: m.topic, partition: m.partition, backed_up_to: m.reached, end_offset: m.target })),
        };
        print(
          render(format, json, () =>
            [
              `Backup ${sum.backupId}: ${sum.status}`,
              `  Topics: ${sum.topics}   Partitions: ${sum.partitions}   Segments: ${num(sum.segments)}`,
              `  Records: ${num(sum.records)}   Kafka bytes: ${bytes(sum.rawBytes)}   Stored: ${bytes(sum.storedBytes)}`,
              `  Consumer groups snapshotted: ${sum.groupsSnapshotted}`,
              `  Duration: ${humanDuration(sum.durationMs)}`,
              ...shortfallText(sum.shortfall),
            ].join('\n'),
          ),
        );
        if (sum.status === 'incomplete') process.exitCode = ac.signal.aborted ? 130 : 1;
      } finally {
        progress.done();
        await store.close();
      }
    });

  program
    .command('restore')
    .description('Restore a backup, whole or a point-in-time window, into a Kafka cluster (mode: restore)')
    .requiredOption('-c, --config <path>', 'YAML config file with mode: restore')
    .option('-f, --format <format>', 'report format: text, json or yaml', 'text')
    .action(async (o: { config: string; format: string }) => {
      const format = parseFormat(o.format);
      const cfg = await loadConfig(o.config, { expectMode: 'restore', onWarning: (w) => logger().warn(w) });
      const store = await openStore(cfg.storage);
      try {
        const opts = restoreOptions(cfg, store);
        if (opts.dryRun) {
          // dry_run: true makes `restore` exactly `validate-restore`: the same checks, nothing written.
          const v = await validateRestore(cfg, opts);
          print(render(format, validationJson(v), () => `Dry run: nothing written.\n\n${validationText(v)}`));
          if (v.errors.length) process.exitCode = 1;
          return;
        }
        await refuseImpossibleReset(cfg, opts);
        const ac = stopSignal();
        const text = format === 'text';
        if (text) {
          print(`[INFO] Starting ${opts.windowStart !== undefined || opts.windowEnd !== undefined ? 'PITR ' : ''}restore from: ${cfg.backup_id}`);
          if (opts.windowStart !== undefined || opts.windowEnd !== undefined) {
            print(`[INFO] Time window: ${opts.windowStart !== undefined ? isoMs(opts.windowStart) : 'beginning'} to ${opts.windowEnd !== undefined ? isoMs(opts.windowEnd) : 'end of backup'}`);
            print('[INFO] Filtering records by timestamp...');
          }
        }
        const res = await withMetrics(cfg.metrics, { mode: 'restore', backupId: cfg.backup_id }, store, ac.signal, (m) => runRestore({ ...opts, store: m.store, metrics: m.metrics, signal: ac.signal, onProgress: text ? (l) => logger().debug(l) : undefined }));
        // Consumer-group offsets (src/cli/commands/offsets.ts): reset_consumer_offsets / auto_consumer_groups.
        const offsets = ac.signal.aborted ? undefined : await offsetsAfterRestore(cfg, opts);
        print(render(format, { ...(restoreJson(res) as object), ...(offsets?.report ? { consumer_group_offsets: resetJson(offsets.report) } : {}) }, () => restoreText(res) + (offsets?.report ? `\n\n${resetText(offsets.report)}` : '')));
        for (const e of outcomeErrors(offsets)) {
          process.stderr.write(`error: ${e}\n`);
          process.exitCode = 1;
        }
        if (res.restored === 0 && text) print('\n' + noRecordsWarning(res.plan));
        if (ac.signal.aborted) {
          print('Restore interrupted: run the same command again to continue where it stopped.');
          process.exitCode = 130;
        }
      } finally {
        await store.close();
      }
    });

  program
    .command('validate-restore')
    .description('Check a restore config against the backup and the target, and show what it would restore (writes nothing)')
    .requiredOption('-c, --config <path>', 'YAML config file with mode: restore')
    .option('-f, --format <format>', 'text, json or yaml', 'text')
    .option('--estimate', 'estimate the record count from the segment footers instead of counting exactly (reads no record data)', false)
    .action(async (o: { config: string; format: string; estimate: boolean }) => {
      const format = parseFormat(o.format);
      const cfg = await loadConfig(o.config, { expectMode: 'restore', onWarning: (w) => logger().warn(w) });
      const store = await openStore(cfg.storage);
      try {
        const v = await validateRestore(cfg, restoreOptions(cfg, store), o.estimate);
        print(render(format, validationJson(v), () => validationText(v)));
        if (v.errors.length) process.exitCode = 1;
      } finally {
        await store.close();
      }
    });

  program
    .command('describe')
    .description("Show a backup's time range, topics, partitions and record counts")
    .requiredOption('-p, --path <url>', 'storage location: a directory, file://, s3://bucket/prefix, az://, gs://')
    .requiredOption('-b, --backup-id <id>', 'backup id')
    .option('-f, --format <format>', 'text, json or yaml', 'text')
    .action(async (o: { path: string; backupId: string; format: string }) => {
      const format = parseFormat(o.format);
      const store = await storeFromPath(o.path);
      try {
        const v = await inspectBackup(store, o.backupId);
        print(render(format, describeJson(v), () => describeText(v)));
      } finally {
        await store.close();
      }
    });

  program
    .command('list')
    .description('List the backups in a storage location, or summarise one')
    .requiredOption('-p, --path <url>', 'storage location')
    .option('-b, --backup-id <id>', 'summarise this backup')
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: { path: string; backupId?: string; format: string }) => {
      const format = parseFormat(o.format, ['text', 'json']);
      const store = await storeFromPath(o.path);
      try {
        const ids = o.backupId ? [o.backupId] : await listBackupIds(store);
        if (ids.length === 0) {
          print(format === 'json' ? '[]' : `No backups found in ${store.url}`);
          return;
        }
        const views: Awaited<ReturnType<typeof inspectBackup>>[] = [];
        for (const id of ids) views.push(await inspectBackup(store, id));
        print(
          render(
            format,
            views.map((v) => ({ backup_id: v.manifest.backup_id, status: v.manifest.status, earliest_timestamp: v.minTimestamp, latest_timestamp: v.maxTimestamp, topics: v.topics.map((t) => t.name), records: v.records, stored_bytes: v.storedBytes })),
            () =>
              (o.backupId ? [] : [`Available backups in ${store.url}:`])
                .concat(views.map((v) => `  ${v.manifest.backup_id}  ${v.manifest.status.padEnd(8)}  ${isoMs(v.minTimestamp)} → ${isoMs(v.maxTimestamp)}  ${v.topics.length} topics (${v.topics.map((t) => t.name).join(', ')})  ${num(v.records)} records  ${bytes(v.storedBytes)}`))
                .join('\n'),
          ),
        );
      } finally {
        await store.close();
      }
    });

  program
    .command('validate')
    .description('Check a backup: manifest, indexes and every segment checksum (--deep decodes every record)')
    .requiredOption('-p, --path <url>', 'storage location')
    .requiredOption('-b, --backup-id <id>', 'backup id')
    .option('--deep', 'decode every record batch and check its CRC', false)
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: { path: string; backupId: string; deep: boolean; format: string }) => {
      const format = parseFormat(o.format, ['text', 'json']);
      const store = await storeFromPath(o.path);
      try {
        const r = await validateBackup(store, o.backupId, o.deep);
        print(render(format, validateJson(r), () => validateText(r)));
        if (r.problems.length || r.incomplete.length) process.exitCode = 1;
      } finally {
        await store.close();
      }
    });

  // Consumer-group offset commands: three-phase-restore, … (src/cli/commands/offsets.ts)
  registerOffsetCommands(program);

  // Operations commands: status, snapshot-groups (src/cli/operations.ts)
  registerOperationsCommands(program);
  registerValidationCommands(program); // validation run | evidence-list | evidence-get | evidence-verify (src/cli/commands/validation.ts)
  registerCopyCommand(program); // copy between stores (src/lifecycle/copy.ts)
  registerEraseCommand(program); // erase a key (src/lifecycle/erase.ts)

  program.addOption(new Option('--no-color', 'plain output').hideHelp());
  return program;
}

/** What validate-restore (and restore with dry_run) report: plan, narrowed estimates, target checks. */
async function validateRestore(cfg: KafkaBackupConfig, opts: RestoreOptions, estimate = false): Promise<RestoreValidation> {
  const plan = await planRestore(opts);
  // Exact by default: index and footers for what lies wholly inside the window, decoding only the blocks it cuts.
  if (plan.errors.length === 0) {
    if (estimate) await refineWithFooters(plan, opts.store);
    else await countExactly(plan, opts.store);
  }
  const errors = [...plan.errors];
  const warnings = [...plan.warnings];
  await checkTarget(opts, plan, errors, warnings);
  const reset = plan.errors.length === 0 ? await resetPreviewFor(cfg, opts, plan) : undefined;
  if (reset?.problems.length) errors.push(...reset.problems.map((p) => `restore.reset_consumer_offsets: the consumer-group reset cannot work: ${p}`));
  return { plan, errors, warnings, consumerOffsetActions: consumerOffsetLines(cfg, reset) };
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof UserError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    if (err instanceof KafkaBackupError) {
      process.stderr.write(`error: ${err.message}\n`);
      if (verbosity > 0 && err.stack) process.stderr.write(err.stack + '\n');
      return 1;
    }
    const e = err as Error;
    process.stderr.write(`error: ${e?.message ?? String(err)}\n`);
    if (e?.stack) process.stderr.write((verbosity > 0 ? e.stack : e.stack.split('\n').slice(0, 4).join('\n')) + '\n');
    return 1;
  }
}
