/**
 * `cat` output. JSON: every byte field (key, value, header key, header value) is null or
 * {"encoding": "utf8" | "base64", "data": …}: utf8 when the bytes are valid UTF-8, base64 otherwise,
 * so nothing is lost or altered (docs/output.md, "cat"). Text: one line per record, byte fields
 * quoted with everything that could move a terminal's cursor or change its state escaped.
 */
import type { CatRecord, CatRun, CatStats } from '../../restore/index.js';
import { bytes, num, toJson } from '../output.js';

export type CatFormat = 'text' | 'json' | 'jsonl';

export type EncodedBytes = { encoding: 'utf8' | 'base64'; data: string } | null;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function asUtf8(b: Buffer): string | undefined {
  try {
    return utf8.decode(b);
  } catch {
    return undefined;
  }
}

/** ISO-8601 UTC with milliseconds; null for a timestamp no date can show (a forged or -1 "no timestamp"). */
function iso(ms: number): string | null {
  return ms >= 0 && ms <= 8.64e15 ? new Date(ms).toISOString() : null;
}

export function encodeBytes(b: Buffer | null): EncodedBytes {
  if (b === null) return null;
  const s = asUtf8(b);
  return s === undefined ? { encoding: 'base64', data: b.toString('base64') } : { encoding: 'utf8', data: s };
}

export function catRecordJson(r: CatRecord): Record<string, unknown> {
  return {
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    timestamp: r.timestamp,
    timestamp_iso: iso(r.timestamp),
    timestamp_type: r.timestampType,
    key: encodeBytes(r.key),
    headers: r.headers.map((h) => ({ key: encodeBytes(h.key), value: encodeBytes(h.value) })),
    value: encodeBytes(r.value),
  };
}

/** C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide text (bidi overrides, zero-width). */
export function unsafeForTerminal(cp: number): boolean {
  return (
    cp < 0x20 ||
    (cp >= 0x7f && cp <= 0x9f) ||
    (cp >= 0x200b && cp <= 0x200f) ||
    (cp >= 0x2028 && cp <= 0x202e) ||
    (cp >= 0x2060 && cp <= 0x2069) ||
    cp === 0xfeff
  );
}

function escapeChar(c: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '"': '\\"', '\\': '\\\\' };
  if (named[c] !== undefined) return named[c];
  const cp = c.codePointAt(0)!;
  return cp < 0x100 ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
}

/**
 * Bytes as a quoted, terminal-safe string: valid UTF-8 is shown as text with controls, quotes and
 * backslashes escaped; anything else byte by byte, printable ASCII as is and the rest as \xNN.
 */
export function escapeBytes(b: Buffer | null): string {
  if (b === null) return 'null';
  const s = asUtf8(b);
  let out = '';
  if (s !== undefined) {
    for (const c of s) out += c === '"' || c === '\\' || unsafeForTerminal(c.codePointAt(0)!) ? escapeChar(c) : c;
  } else {
    for (const x of b) out += x >= 0x20 && x < 0x7f && x !== 0x22 && x !== 0x5c ? String.fromCharCode(x) : escapeChar(String.fromCharCode(x));
  }
  return `"${out}"`;
}

/** `topic/partition@offset  time (type)  key=…  headers=[k=v, …]  value=…` */
export function catRecordText(r: CatRecord): string {
  const type = r.timestampType ?? 'type not recorded';
  const headers = r.headers.map((h) => `${escapeBytes(h.key)}=${escapeBytes(h.value)}`).join(', ');
  return `${r.topic}/${r.partition}@${r.offset}  ${iso(r.timestamp) ?? `${r.timestamp} ms`} (${type})  key=${escapeBytes(r.key)}  headers=[${headers}]  value=${escapeBytes(r.value)}`;
}

export function catStatsJson(s: CatStats): Record<string, number> {
  return {
    records: s.recordsMatched,
    records_scanned: s.recordsScanned,
    aborted_records_skipped: s.abortedSkipped,
    segments_total: s.segmentsTotal,
    segments_read: s.segmentsRead,
    blocks_read: s.blocksRead,
    bytes_read: s.bytesRead,
  };
}

export function catSummary(run: CatRun): string {
  const s = run.stats;
  return `${num(s.recordsMatched)} records (${num(s.recordsScanned)} decoded) from ${num(s.segmentsRead)} of ${num(s.segmentsTotal)} segments, ${num(s.blocksRead)} blocks, ${bytes(s.bytesRead)} read`;
}

/** The JSON document is written as a stream: this head, the records (one per line, comma-separated), then catJsonTail. */
export function catJsonHead(run: CatRun): string {
  const head = toJson({ backup_id: run.backupId, topic: run.topic, partitions: run.partitions, format: run.format });
  return `${head.slice(0, head.lastIndexOf('}')).trimEnd()},\n  "records": [`;
}

export function catJsonRecord(r: CatRecord, first: boolean): string {
  return `${first ? '' : ','}\n    ${JSON.stringify(catRecordJson(r))}`;
}

export function catJsonTail(run: CatRun, any: boolean): string {
  const tail = toJson({ stats: catStatsJson(run.stats), warnings: run.warnings });
  return `${any ? '\n  ' : ''}],\n${tail.slice(tail.indexOf('{') + 1).replace(/^\n/, '')}`;
}
