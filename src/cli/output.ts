import { stringify } from 'yaml';
import { UserError } from '../util/errors.js';
import { formatCount } from '../util/units.js';

export type OutputFormat = 'text' | 'json' | 'yaml';

export function parseFormat(value: string | undefined, allowed: readonly string[] = ['text', 'json', 'yaml']): string {
  const v = (value ?? 'text').toLowerCase();
  if (!allowed.includes(v)) throw new UserError('USAGE', `--format: "${value}" is not one of ${allowed.join(', ')}`);
  return v;
}

/** JSON with bigints as numbers when safe, strings otherwise. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => (typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString()) : v),
    2,
  );
}

export function render(format: string, value: unknown, text: () => string): string {
  if (format === 'json') return toJson(value);
  if (format === 'yaml') return stringify(JSON.parse(toJson(value)));
  return text();
}

export const num = formatCount;

export function bytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

export const RULE = '═══════════════════════════════════════';

/** Left-aligned columns, for the reports' tables. */
export function columns(rows: string[][], gap = 4): string[] {
  const widths: number[] = [];
  for (const r of rows)
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + gap)))
      .join('')
      .trimEnd(),
  );
}
