import type { Command } from 'commander';
import { epochMs } from '../../config/values.js';
import { catBackup } from '../../restore/index.js';
import { UserError } from '../../util/errors.js';
import { logger } from '../../util/logger.js';
import { stopSignal, withStore } from '../io.js';
import { parseFormat } from '../output.js';
import { catJsonHead, catJsonRecord, catJsonTail, catRecordJson, catRecordText, catStatsJson, catSummary, type CatFormat } from '../render/cat.js';
import { StreamOut } from '../stream-out.js';
import { commaList } from './offset-reset-flags.js';

const OFFSET_FORMS = 'A..B (both inclusive), A.., ..B or a single offset N, with whole numbers >= 0';

/** `--offset`: A..B, A.., ..B or N (inclusive). */
export function parseOffsetRange(v: string): { fromOffset?: number; toOffset?: number } {
  const m = /^\s*(\d*)\s*(\.\.)?\s*(\d*)\s*$/.exec(v);
  const [, a = '', dots, b = ''] = m ?? [];
  const whole = (s: string): number | undefined => (s === '' ? undefined : Number(s));
  if (!m || (a === '' && b === '') || (!dots && b !== '')) throw new UserError('USAGE', `--offset: "${v}" is not ${OFFSET_FORMS}`);
  const from = whole(a);
  const to = dots ? whole(b) : from;
  for (const n of [from, to])
    if (n !== undefined && !Number.isSafeInteger(n)) throw new UserError('USAGE', `--offset: ${n} is too large (accepted: ${OFFSET_FORMS})`);
  if (from !== undefined && to !== undefined && from > to)
    throw new UserError('USAGE', `--offset: start ${from} is after end ${to} (accepted: ${OFFSET_FORMS})`);
  return { ...(from !== undefined ? { fromOffset: from } : {}), ...(to !== undefined ? { toOffset: to } : {}) };
}

/** `--from` / `--to`: epoch milliseconds or ISO-8601 with a zone, checked as time_window_start/end are. */
export function parseTime(flag: string, v: string): number {
  const r = epochMs(true)(/^\s*\d+\s*$/.test(v) ? Number(v) : v);
  if (!r.ok) throw new UserError('USAGE', `${flag}: ${r.message}`);
  return r.value;
}

/** `--partition`: whole numbers, each printed once, in the order first given. */
export function parsePartitions(list: string[]): number[] {
  const ps = list.map((s) => {
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s)))
      throw new UserError('USAGE', `--partition: "${s}" is not a partition number (a whole number >= 0; repeat the flag or separate with commas)`);
    return Number(s);
  });
  return [...new Set(ps)];
}

/** `--key` (UTF-8 text) or `--key-base64` (any bytes): the exact key bytes to match. */
export function parseKey(text: string | undefined, base64: string | undefined): Buffer | undefined {
  if (text !== undefined && base64 !== undefined)
    throw new UserError('USAGE', '--key and --key-base64 both given: use one (--key for text, --key-base64 for any bytes)');
  if (base64 === undefined) return text === undefined ? undefined : Buffer.from(text, 'utf8');
  const b = base64.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b) || b.length % 4 !== 0)
    throw new UserError('USAGE', `--key-base64: "${base64}" is not base64 (A-Z a-z 0-9 + / with = padding to a multiple of 4 characters)`);
  return Buffer.from(b, 'base64');
}

export function parseLimit(v: string): number {
  if (!/^\s*\d+\s*$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) throw new UserError('USAGE', `--limit: "${v}" is not a whole number >= 1`);
  return Number(v);
}

interface CatFlags {
  path: string;
  backupId: string;
  topic: string;
  partition?: string[];
  offset?: string;
  from?: string;
  to?: string;
  key?: string;
  keyBase64?: string;
  limit?: string;
  format: string;
}

export function registerCatCommand(program: Command): void {
  program
    .command('cat')
    .description('Print the records of a backed-up topic as a consumer saw them, without a cluster (reads only the blocks the range needs)')
    .requiredOption('-p, --path <url>', 'storage location: a directory, file://, s3://bucket/prefix, az://, gs://')
    .requiredOption('-b, --backup-id <id>', 'backup id')
    .requiredOption('-t, --topic <topic>', 'topic (its name at the source)')
    .option('-P, --partition <n>', 'only these partitions (repeatable or comma-separated; default all)', commaList)
    .option('-o, --offset <range>', 'original offsets A..B, A.., ..B or N (inclusive)')
    .option('--from <time>', 'records stamped at or after this time: epoch ms or ISO-8601 with zone (2024-11-10T14:31:00Z)')
    .option('--to <time>', 'records stamped at or before this time (inclusive)')
    .option('-k, --key <key>', 'only records whose key is exactly this text (UTF-8)')
    .option('--key-base64 <b64>', 'only records whose key is exactly these bytes (base64), for keys that are not text')
    .option('-n, --limit <n>', 'stop after this many records')
    .option('-f, --format <format>', 'text, json or jsonl (one JSON object per record; shape in docs/output.md)', 'text')
    .action(async (o: CatFlags) => {
      const format = parseFormat(o.format, ['text', 'json', 'jsonl']) as CatFormat;
      const opts = {
        backupId: o.backupId,
        topic: o.topic,
        ...(o.partition ? { partitions: parsePartitions(o.partition) } : {}),
        ...(o.offset !== undefined ? parseOffsetRange(o.offset) : {}),
        ...(o.from !== undefined ? { windowStart: parseTime('--from', o.from) } : {}),
        ...(o.to !== undefined ? { windowEnd: parseTime('--to', o.to) } : {}),
        ...(o.key !== undefined || o.keyBase64 !== undefined ? { key: parseKey(o.key, o.keyBase64) } : {}),
        ...(o.limit !== undefined ? { limit: parseLimit(o.limit) } : {}),
      };
      const signal = stopSignal().signal;
      await withStore(o.path, async (store) => {
        const run = await catBackup({ ...opts, store, signal });
        for (const w of run.warnings) logger().warn(w);
        const out = new StreamOut();
        if (format === 'json') await out.write(catJsonHead(run));
        let first = true;
        for await (const r of run.records) {
          if (format === 'json') await out.write(catJsonRecord(r, first));
          else await out.write(`${format === 'jsonl' ? JSON.stringify(catRecordJson(r)) : catRecordText(r)}\n`);
          first = false;
          if (out.closed) break;
        }
        if (format === 'json') await out.write(`${catJsonTail(run, !first)}\n`);
        await out.flush();
        if (format !== 'json') logger().info({ stats: catStatsJson(run.stats) }, catSummary(run));
        if (signal.aborted) process.exitCode = 130;
      });
    });
}
