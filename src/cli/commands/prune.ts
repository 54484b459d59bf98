/**
 * `kafka-backup prune`: plan (default) or carry out (--execute) the removal of a backup's oldest
 * segments. Parses the flags, calls runPrune (src/lifecycle/prune.ts) and prints its report.
 */
import type { Command } from 'commander';
import { epochMs, parseIsoTimestamp } from '../../config/values.js';
import { runPrune, type PruneReport } from '../../lifecycle/prune.js';
import { parseByteSize, parseDuration, type RetentionPolicy } from '../../backup/retention/retention-policy.js';
import { openStore, parseStorageUrl } from '../../storage/index.js';
import { UserError } from '../../util/errors.js';
import { isoMs } from '../../util/time.js';
import { bytes, num, parseFormat, render, RULE } from '../output.js';

interface PruneFlags {
  path: string;
  backupId: string;
  olderThan?: string;
  before?: string;
  maxTotalBytes?: string;
  keepSegments?: string;
  execute: boolean;
  format: string;
}

/** --before: epoch milliseconds or ISO-8601 with a zone. */
function parseBefore(v: string): number {
  const r = /^\s*\d+\s*$/.test(v) ? epochMs(false)(Number(v)) : parseIsoTimestamp(v);
  if (!r.ok) throw new UserError('USAGE', `--before: ${r.message}`);
  return r.value;
}

function policyOf(o: PruneFlags): RetentionPolicy {
  const keep = o.keepSegments === undefined ? undefined : Number(o.keepSegments);
  if (keep !== undefined && (!/^\s*\d+\s*$/.test(o.keepSegments!) || keep < 1))
    throw new UserError('USAGE', `--keep-segments: "${o.keepSegments}" is not an integer >= 1`);
  return {
    ...(o.olderThan !== undefined ? { maxAgeMs: parseDuration(o.olderThan, '--older-than') } : {}),
    ...(o.before !== undefined ? { before: parseBefore(o.before) } : {}),
    ...(o.maxTotalBytes !== undefined ? { maxTotalBytes: parseByteSize(o.maxTotalBytes, '--max-total-bytes') } : {}),
    ...(keep !== undefined ? { keepSegments: keep } : {}),
  };
}

export function pruneJson(r: PruneReport): unknown {
  return {
    backup_id: r.backupId,
    executed: r.executed,
    segments: r.segments,
    records: r.records,
    stored_bytes: r.storedBytes,
    stored_bytes_before: r.bytesBefore,
    stored_bytes_after: r.bytesAfter,
    partitions: r.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      segments: p.segments,
      records: p.records,
      stored_bytes: p.storedBytes,
      offsets: [p.fromOffset, p.toOffset - 1],
      timestamps: [p.minTimestamp, p.maxTimestamp],
      reasons: p.reasons,
      kept_from_offset: p.keptFromOffset,
      kept_segments: p.keptSegments,
    })),
    unfinished_earlier_prune: r.unfinished,
    orphans: r.orphans,
    consumer_group_snapshots: r.groupSnapshots,
    warnings: r.warnings,
  };
}

export function pruneText(r: PruneReport): string {
  const verb = r.executed ? 'Removed' : 'Would remove';
  const lines = [`Prune: ${r.backupId}${r.executed ? '' : ' (plan only: nothing deleted; add --execute to prune)'}`, RULE, ''];
  if (r.partitions.length === 0) lines.push('Nothing matches the limits: every partition keeps all its segments.');
  for (const p of r.partitions) {
    lines.push(
      `  ${p.topic}/${p.partition}: ${num(p.segments)} segment(s), ${num(p.records)} records, ${bytes(p.storedBytes)}; offsets ${p.fromOffset}..${p.toOffset - 1}, ` +
        `${isoMs(p.minTimestamp)} .. ${isoMs(p.maxTimestamp)} (${p.reasons.join(', ')}); keeps ${num(p.keptSegments)} segment(s) from offset ${p.keptFromOffset}`,
    );
  }
  lines.push(
    '',
    `${verb}: ${num(r.segments)} segments, ${num(r.records)} records, ${bytes(r.storedBytes)} (backup ${bytes(r.bytesBefore)} → ${bytes(r.bytesAfter)})`,
  );
  if (r.unfinished.length)
    lines.push(
      `Earlier prune left unfinished: ${r.unfinished.map((u) => `${u.topic}/${u.partition} (${u.segments} segment(s))`).join(', ')}: ${r.executed ? 'finished' : 'finished with --execute'}`,
    );
  if (r.orphans.length) lines.push(`Orphan segment objects of an earlier prune: ${r.orphans.length}${r.executed ? ' deleted' : ''}`);
  if (r.groupSnapshots.length) lines.push(`Consumer-group snapshots older than the kept data: ${r.groupSnapshots.length}${r.executed ? ' deleted' : ''}`);
  if (r.warnings.length) lines.push('', 'Warnings:', ...r.warnings.map((w) => `  ! ${w}`));
  return lines.join('\n');
}

export function registerPruneCommand(program: Command): void {
  program
    .command('prune')
    .description('Remove the oldest segments of a backup by age or size, recording what was removed (plan only unless --execute)')
    .requiredOption('-p, --path <url>', 'storage location')
    .requiredOption('-b, --backup-id <id>', 'backup id')
    .option('--older-than <duration>', 'segments whose newest record is older than this (30d, 12h, 90m)')
    .option('--before <time>', 'segments whose newest record is before this time (ISO-8601 with zone, or epoch ms)')
    .option('--max-total-bytes <size>', 'remove oldest segments until the backup is at most this size (bytes, or 500MB, 10GiB)')
    .option('--keep-segments <n>', 'never remove the newest N segments of a partition (default 1)')
    .option('--execute', 'delete (default: print the plan only)', false)
    .option('-f, --format <format>', 'text or json', 'text')
    .action(async (o: PruneFlags) => {
      const format = parseFormat(o.format, ['text', 'json']);
      const policy = policyOf(o);
      const store = await openStore(parseStorageUrl(o.path));
      try {
        const r = await runPrune({ store, backupId: o.backupId, policy, execute: o.execute });
        process.stdout.write(render(format, pruneJson(r), () => pruneText(r)) + '\n');
      } finally {
        await store.close();
      }
    });
}
