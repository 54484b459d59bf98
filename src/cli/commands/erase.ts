/** `erase --path URL --backup-id ID --topic T --key K | --keys-file F [--execute]` (src/lifecycle/erase.ts). */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { runErase, type EraseResult } from '../../lifecycle/erase.js';
import { openStore, parseStorageUrl } from '../../storage/index.js';
import { UserError } from '../../util/errors.js';
import { num, parseFormat, render } from '../output.js';

interface EraseFlags {
  path: string;
  backupId: string;
  topic: string;
  key: string[];
  keysFile?: string;
  keyEncoding: string;
  execute: boolean;
  format: string;
}

const ENCODINGS = ['utf8', 'hex', 'base64'] as const;

function decodeKey(text: string, encoding: string, where: string): Buffer {
  if (encoding === 'hex') {
    if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw new UserError('USAGE', `${where}: "${text}" is not hex (pairs of 0-9 a-f)`);
    return Buffer.from(text, 'hex');
  }
  if (encoding === 'base64') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new UserError('USAGE', `${where}: "${text}" is not base64`);
    return Buffer.from(text, 'base64');
  }
  return Buffer.from(text, 'utf8');
}

/** --key (repeatable) and --keys-file (one key per line; blank lines ignored), decoded with --key-encoding. */
export async function eraseKeys(o: Pick<EraseFlags, 'key' | 'keysFile' | 'keyEncoding'>): Promise<Buffer[]> {
  const enc = o.keyEncoding.toLowerCase();
  if (!(ENCODINGS as readonly string[]).includes(enc)) throw new UserError('USAGE', `--key-encoding: "${o.keyEncoding}" is not one of ${ENCODINGS.join(', ')}`);
  const out = o.key.map((k) => decodeKey(k, enc, '--key'));
  if (o.keysFile !== undefined) {
    let text: string;
    try {
      text = await readFile(o.keysFile, 'utf8');
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new UserError('USAGE', `--keys-file ${o.keysFile}: cannot read (${code === 'ENOENT' ? 'no such file' : String(code ?? 'unreadable')})`);
    }
    text.split('\n').forEach((line, i) => {
      const l = line.replace(/\r$/, '');
      if (l.trim() !== '') out.push(decodeKey(l, enc, `--keys-file ${o.keysFile} line ${i + 1}`));
    });
  }
  if (out.length === 0) throw new UserError('USAGE', 'erase: give the key(s) to erase with --key K (repeatable) or --keys-file FILE (one key per line)');
  const unique = new Map(out.map((k) => [k.toString('hex'), k]));
  return [...unique.values()];
}

export function eraseJson(r: EraseResult): unknown {
  return {
    backup_id: r.backupId,
    topic: r.topic,
    executed: r.executed,
    keys: r.keys,
    segments_scanned: r.segmentsScanned,
    segments_rewritten: r.segmentsRewritten,
    records: r.records,
    partitions: r.partitions
      .filter((p) => p.records > 0)
      .map((p) => ({
        partition: p.partition,
        records: p.records,
        segments: p.segments.map((s) => ({ key: s.key, new_key: s.newKey ?? null, records: s.records, offsets: s.offsets })),
      })),
    leftovers_removed: r.leftoversRemoved,
  };
}

export function eraseText(r: EraseResult): string {
  const lines = [`${r.executed ? 'Erased' : 'Erase plan (nothing changed; add --execute to erase)'}: ${r.backupId} topic ${r.topic}, ${r.keys} key(s)`];
  lines.push(
    `  Segments scanned: ${num(r.segmentsScanned)}   holding the key(s): ${num(r.partitions.reduce((n, p) => n + p.segments.length, 0))}   records: ${num(r.records)}`,
  );
  for (const p of r.partitions) {
    for (const s of p.segments) {
      const shown = s.offsets.slice(0, 10).join(', ') + (s.offsets.length > 10 ? `, … (${s.offsets.length - 10} more)` : '');
      lines.push(`    ${r.topic}/${p.partition}  ${s.key}${s.newKey ? ` → ${s.newKey}` : ''}  ${num(s.records)} record(s) at offsets ${shown}`);
    }
  }
  if (r.leftoversRemoved.length) lines.push(`  Removed ${r.leftoversRemoved.length} object(s) left by an interrupted erase`);
  if (r.records === 0) lines.push('  No record with the key(s) in this topic.');
  else if (r.executed) lines.push('  Recorded in the erasure log (keys as salted hashes). Copies of this backup get the erasure on their next `copy`.');
  return lines.join('\n');
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

export function registerEraseCommand(program: Command): void {
  program
    .command('erase')
    .description('Erase every record with a key from a topic of a backup (a data-protection request); plan only unless --execute')
    .requiredOption('-p, --path <url>', 'storage location')
    .requiredOption('-b, --backup-id <id>', 'backup id')
    .requiredOption('-t, --topic <topic>', 'topic whose records to erase')
    .option('-k, --key <key>', 'record key to erase (repeatable)', collect, [])
    .option('--keys-file <path>', 'file with one record key per line')
    .option('--key-encoding <enc>', 'how keys are written: utf8, hex or base64', 'utf8')
    .option('--execute', 'rewrite the segments (default: only show what would be erased)', false)
    .option('-f, --format <format>', 'text, json or yaml', 'text')
    .action(async (o: EraseFlags) => {
      const format = parseFormat(o.format);
      const keys = await eraseKeys(o);
      const store = await openStore(parseStorageUrl(o.path));
      try {
        const r = await runErase({ store, backupId: o.backupId, topic: o.topic, keys, execute: o.execute });
        process.stdout.write(render(format, eraseJson(r), () => eraseText(r)) + '\n');
      } finally {
        await store.close();
      }
    });
}
