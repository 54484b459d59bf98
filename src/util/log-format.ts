/**
 * Human log lines for a terminal, made from pino's JSON lines (after its redaction):
 *
 *   07:12:03.123Z  WARN  checkpoint failed; will retry  module=restore err="connection reset"
 *
 * time of day in UTC, level, message, then the other fields as key=value (strings quoted when they
 * hold spaces, quotes or controls; objects as compact JSON). Nothing is dropped but pino's own
 * bookkeeping (level number, time, msg). Controls in any value are escaped, so a logged record key
 * or broker message cannot move the terminal's cursor.
 */
import { writeSync } from 'node:fs';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Record<number, string> = { 10: '\x1b[90m', 20: '\x1b[36m', 30: '\x1b[32m', 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[35m' };
const RESET = '\x1b[0m';

/** C0 and C1 controls and DEL: what could move a terminal's cursor or change its state. */
function isControl(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code <= 0x9f);
}

function escapeControls(s: string): string {
  let out = '';
  for (const c of s) {
    const code = c.charCodeAt(0);
    out += !isControl(code) ? c : c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${code.toString(16).padStart(2, '0')}`;
  }
  return out;
}

function fieldValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? escapeControls(v) : escapeControls(JSON.stringify(v));
  if (typeof v === 'object' && v !== null) return escapeControls(JSON.stringify(v));
  return String(v);
}

function timeOfDay(ms: unknown): string {
  const d = new Date(typeof ms === 'number' ? ms : Date.now());
  return `${d.toISOString().slice(11, 23)}Z`;
}

/** One pino JSON line as one human line (with a newline); a line that is not JSON is passed through. */
export function formatLogLine(json: string, color = false): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const { level, time, msg, ...rest } = o;
  const n = typeof level === 'number' ? level : 30;
  const name = (LEVELS[n] ?? String(level)).padEnd(5);
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${fieldValue(v)}`);
  const head = `${timeOfDay(time)}  ${color ? `${COLORS[n] ?? ''}${name}${RESET}` : name}  ${escapeControls(typeof msg === 'string' ? msg : '')}`;
  return `${[head, ...fields].join('  ')}\n`;
}

/** A live display on the same terminal (cli/progress.ts): removed before a log line, drawn again after it. */
export interface LogInterlude {
  clear(): void;
  redraw(): void;
}

let interlude: LogInterlude | undefined;

export function setLogInterlude(i: LogInterlude | undefined): void {
  interlude = i;
}

/** A pino destination writing human lines to a file descriptor (synchronously, as pino.destination(2) does). */
export function humanDestination(fd: number, color: boolean): { write(chunk: string): void } {
  return {
    write(chunk: string): void {
      const live = interlude;
      live?.clear();
      // pino writes one JSON line per call.
      for (const line of chunk.split('\n')) if (line) writeSync(fd, formatLogLine(line, color));
      live?.redraw();
    },
  };
}
