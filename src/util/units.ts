/** Durations and byte sizes as users write them (30d, 10GiB), for flags and config keys. */
import { UserError } from './errors.js';

/** Durations as the seed tool writes them: 30d, 12h, 90m, 45s, 500ms, 2w (no sign, one unit). */
export function parseDuration(text: string, where: string): number {
  const m = /^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$/.exec(text);
  if (!m) throw new UserError('USAGE', `${where}: "${text}" is not a duration; write a whole number and a unit: ms, s, m, h, d or w (e.g. 30d, 12h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd' | 'w'];
  const ms = Number(m[1]) * unit;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new UserError('USAGE', `${where}: "${text}" must be a positive duration`);
  return ms;
}

/** Byte sizes: 1073741824, 500MB, 10GiB, 2TB (decimal kB/MB/GB/TB, binary KiB/MiB/GiB/TiB). */
export function parseByteSize(text: string, where: string): number {
  const m = /^\s*(\d+)\s*(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$/.exec(text);
  if (!m) throw new UserError('USAGE', `${where}: "${text}" is not a size; write bytes (1073741824) or a number with B, kB, MB, GB, TB, KiB, MiB, GiB or TiB`);
  const mult: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
  const n = Number(m[1]) * (mult[m[2] ?? 'B'] ?? 1);
  if (!Number.isSafeInteger(n)) throw new UserError('USAGE', `${where}: "${text}" is too large`);
  return n;
}

/**
 * A number as `toLocaleString('en-US')` prints it ("1,234,567"), without ICU's number formatting for
 * integers: its first use costs about 9 ms of a command's start, and most commands print a count.
 * Anything but a safe integer (fractions, NaN, infinities) is `toLocaleString` itself.
 */
export function formatCount(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toLocaleString('en-US');
  const grouped = Math.abs(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 || Object.is(n, -0) ? `-${grouped}` : grouped;
}
