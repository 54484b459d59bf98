/**
 * Leaf value checks shared by the section schemas. Each check returns the normalised value or a
 * message; messages describe the *type* of a wrong value and echo it only for non-secret
 * fields (enums, numbers, broker addresses, timestamps).
 */
import { z } from 'zod';
import { PlainScalar, SpecificTagged } from './yaml-tree.js';

export type CheckResult<T> = { ok: true; value: T } | { ok: false; message: string };
export type Check<T> = (v: unknown) => CheckResult<T>;

export const ok = <T>(value: T): CheckResult<T> => ({ ok: true, value });
export const bad = (message: string): CheckResult<never> => ({ ok: false, message });

export function describe(v: unknown): string {
  if (v instanceof PlainScalar) return typeof v.value === 'boolean' ? `a boolean (${v.source})` : `a number (${v.source})`;
  if (v instanceof SpecificTagged) return 'a !specific mapping';
  if (v === undefined || v === null) return 'nothing';
  if (typeof v === 'string')
    return /^-?\d+(\.\d+)?$/.test(v.trim())
      ? 'a quoted string (remove the quotes to write a number)'
      : /^(true|false)$/i.test(v.trim())
        ? 'a quoted string (remove the quotes to write a boolean)'
        : 'a string';
  if (typeof v === 'number') return `a number (${v})`;
  if (typeof v === 'boolean') return `a boolean (${v})`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

export function quote(s: string): string {
  const t = s.length > 40 ? `${s.slice(0, 40)}…` : s;
  return JSON.stringify(t);
}

const MISSING = 'required key is missing (or has no value)';

/** A zod schema running `check` on the value; absent/null values get `dflt` (or are an error when `dflt` is REQUIRED). */
export const REQUIRED: unique symbol = Symbol('required');
export function leaf<T>(check: Check<T>, dflt: T | typeof REQUIRED): z.ZodType<T>;
export function leaf<T>(check: Check<T>): z.ZodType<T | undefined>;
export function leaf<T>(check: Check<T>, dflt?: T | typeof REQUIRED): z.ZodType<T | undefined> {
  return z
    .unknown()
    .optional()
    .transform((v, ctx): T | undefined => {
      if (v === undefined || v === null) {
        if (dflt === REQUIRED) {
          ctx.issues.push({ code: 'custom', message: MISSING, input: v });
          return z.NEVER;
        }
        return dflt;
      }
      const r = check(v);
      if (!r.ok) {
        ctx.issues.push({ code: 'custom', message: r.message, input: undefined });
        return z.NEVER;
      }
      return r.value;
    });
}

export const str: Check<string> = (v) => {
  if (typeof v === 'string') return ok(v);
  if (v instanceof PlainScalar) return ok(v.source);
  return bad(`expected a string, got ${describe(v)}`);
};

export const nonEmptyStr: Check<string> = (v) => {
  const r = str(v);
  if (r.ok && r.value.trim() === '') return bad('must not be empty');
  return r;
};

export const bool: Check<boolean> = (v) => {
  if (v instanceof PlainScalar && typeof v.value === 'boolean') return ok(v.value);
  if (typeof v === 'boolean') return ok(v);
  if (typeof v === 'string' && /^(yes|no|on|off|y|n)$/i.test(v))
    return bad(`expected true or false, got ${quote(v)} (YAML 1.2 reads yes/no/on/off as strings)`);
  return bad(`expected true or false, got ${describe(v)}`);
};

export function int(min: number, max: number = Number.MAX_SAFE_INTEGER, what = 'an integer'): Check<number> {
  return (v) => {
    let n: number | undefined;
    if (v instanceof PlainScalar && typeof v.value === 'number') n = v.value;
    else if (typeof v === 'number') n = v;
    if (n === undefined) return bad(`expected ${what}, got ${describe(v)}`);
    if (!Number.isFinite(n) || !Number.isInteger(n)) return bad(`expected ${what}, got ${n}`);
    if (!Number.isSafeInteger(n)) return bad(`${n} is too large (largest accepted: ${Number.MAX_SAFE_INTEGER})`);
    if ((n < min || n > max) && max <= 65535) return bad(`must be between ${min} and ${max}, got ${n}`);
    if (n < min) return bad(min === 1 ? `must be greater than 0, got ${n}` : `must be at least ${min}, got ${n}`);
    if (n > max) return bad(`must be at most ${max}, got ${n}`);
    return ok(n);
  };
}

export const u64 = int(0);
export const positive = int(1);

/**
 * One of `values`. Matching is exact first, then case-insensitive (all our enums are safe to
 * match case-insensitively), then through `aliases` (keys compared upper-cased with `_` -> `-`).
 */
export function oneOf<const T extends string>(values: readonly T[], aliases: Record<string, NoInfer<T>> = {}): Check<T> {
  return (v) => {
    const s = typeof v === 'string' ? v : v instanceof PlainScalar ? v.source : undefined;
    if (s === undefined) return bad(`expected one of ${values.join(', ')}, got ${describe(v)}`);
    const exact = values.find((x) => x === s);
    if (exact !== undefined) return ok(exact);
    const t = s.trim().toLowerCase();
    const ci = values.find((x) => x.toLowerCase() === t);
    if (ci !== undefined) return ok(ci);
    const norm = s.trim().toUpperCase().replaceAll('_', '-');
    for (const [k, val] of Object.entries(aliases)) if (k.toUpperCase().replaceAll('_', '-') === norm) return ok(val);
    return bad(`expected one of ${values.join(', ')}, got ${quote(s)}`);
  };
}

export function list<T>(item: Check<T>, what = 'a list'): (v: unknown) => CheckResult<{ value: T[]; itemProblems: [number, string][] }> {
  return (v) => {
    if (!Array.isArray(v)) return bad(`expected ${what} (a YAML sequence such as [a, b] or "- a" lines), got ${describe(v)}`);
    const out: T[] = [];
    const itemProblems: [number, string][] = [];
    v.forEach((x, i) => {
      const r = x === null || x === undefined ? bad('empty list item') : item(x);
      if (r.ok) out.push(r.value);
      else itemProblems.push([i, r.message]);
    });
    return ok({ value: out, itemProblems });
  };
}

/** A list schema reporting each bad item at its own path (`key[2]`). */
export function listLeaf<T>(item: Check<T>, dflt: T[], what?: string): z.ZodType<T[]>;
export function listLeaf<T>(item: Check<T>, dflt: undefined, what?: string): z.ZodType<T[] | undefined>;
export function listLeaf<T>(item: Check<T>, dflt: T[] | undefined, what?: string): z.ZodType<T[] | undefined> {
  const check = list(item, what);
  return z
    .unknown()
    .optional()
    .transform((v, ctx): T[] | undefined => {
      if (v === undefined || v === null) return dflt === undefined ? undefined : [...dflt];
      const r = check(v);
      if (!r.ok) {
        ctx.issues.push({ code: 'custom', message: r.message, input: undefined });
        return z.NEVER;
      }
      for (const [i, m] of r.value.itemProblems) ctx.issues.push({ code: 'custom', message: m, input: undefined, path: [i] });
      return r.value.itemProblems.length > 0 ? z.NEVER : r.value.value;
    });
}

// ---------------------------------------------------------------------------------------------
// Timestamps

/** Below this, an epoch value is taken to be in seconds (100_000_000_000 ms = 1973-03-03). */
export const SECONDS_THRESHOLD = 100_000_000_000;
/** Above this (year 5138), an epoch value is taken to be in micro- or nanoseconds. */
const MICROS_THRESHOLD = 100_000_000_000_000;

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

function isoOf(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? 'out of the date range' : d.toISOString();
}

export function parseIsoTimestamp(s: string): CheckResult<number> {
  const m = ISO_RE.exec(s.trim());
  if (!m) return bad(`expected epoch milliseconds or an ISO-8601 time with zone such as 2024-11-10T10:00:00Z, got ${quote(s)}`);
  const [, y, mo, d, h, mi, se, frac, zone] = m;
  if (zone === undefined) return bad(`${quote(s)} has no time zone; add Z (UTC) or an offset such as +01:00`);
  const year = Number(y),
    month = Number(mo),
    day = Number(d),
    hour = Number(h),
    minute = Number(mi),
    second = Number(se ?? '0');
  const dim = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > dim || hour > 23 || minute > 59 || second > 59) return bad(`${quote(s)} is not a valid date and time`);
  let msFrac = 0;
  if (frac !== undefined) {
    if (frac.length > 3 && /[1-9]/.test(frac.slice(3))) return bad(`${quote(s)} has sub-millisecond precision; Kafka timestamps are whole milliseconds`);
    msFrac = Number(frac.slice(0, 3).padEnd(3, '0'));
  }
  let offsetMin = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const zm = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
    const zh = Number(zm?.[2] ?? 0),
      zmin = Number(zm?.[3] ?? 0);
    if (zh > 23 || zmin > 59) return bad(`${quote(s)} has an invalid zone offset`);
    offsetMin = (zm?.[1] === '-' ? -1 : 1) * (zh * 60 + zmin);
  }
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, msFrac) - offsetMin * 60_000;
  if (utc < 0) return bad(`${quote(s)} is before 1970`);
  return ok(utc);
}

/** Epoch milliseconds (integer) or ISO-8601 text with zone; refuses values that look like seconds. */
export function epochMs(allowZero: boolean): Check<number> {
  return (v) => {
    if (typeof v === 'string') {
      if (/^\s*-?\d+\s*$/.test(v))
        return bad(
          `expected epoch milliseconds as an unquoted integer or an ISO-8601 time such as 2024-11-10T10:00:00Z, got a quoted number; remove the quotes`,
        );
      return parseIsoTimestamp(v);
    }
    let n: number | undefined;
    if (v instanceof PlainScalar && typeof v.value === 'number') n = v.value;
    else if (typeof v === 'number') n = v;
    if (n === undefined) return bad(`expected epoch milliseconds (integer) or an ISO-8601 time with zone such as 2024-11-10T10:00:00Z, got ${describe(v)}`);
    if (!Number.isInteger(n)) return bad(`expected epoch milliseconds (an integer), got ${n}`);
    if (n < 0) return bad(`expected epoch milliseconds, got a negative number (${n})`);
    if (n === 0 && allowZero) return ok(0);
    if (n === 0) return bad('expected epoch milliseconds, got 0 (which would keep only records stamped 1970-01-01T00:00:00Z); omit the key for an open end');
    if (n < SECONDS_THRESHOLD) {
      const ms = n * 1000;
      return bad(`expected epoch milliseconds, but ${n} looks like seconds (it would mean ${isoOf(n)}); in milliseconds that is ${ms} (${isoOf(ms)})`);
    }
    if (n >= MICROS_THRESHOLD) {
      const ms = n >= 1e17 ? Math.floor(n / 1_000_000) : Math.floor(n / 1000);
      const unit = n >= 1e17 ? 'nanoseconds' : 'microseconds';
      if (n >= 1e20) return bad(`expected epoch milliseconds, but ${n} is far too large`);
      if (!Number.isSafeInteger(n))
        return bad(`expected epoch milliseconds, but ${n} is too large (it looks like ${unit}; in milliseconds roughly ${ms}, ${isoOf(ms)})`);
      return bad(`expected epoch milliseconds, but ${n} looks like ${unit}; in milliseconds that is ${ms} (${isoOf(ms)})`);
    }
    return ok(n);
  };
}

export { isoOf };
