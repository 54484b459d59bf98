import { StorageError } from '../util/errors.js';
import type { ByteRange } from './store.js';

/** Marker in the names of the filesystem backend's temp files; reserved in every key segment. */
export const TEMP_MARKER = '.kbtmp-';

function invalid(what: string, key: string, why: string): StorageError {
  return new StorageError('INVALID_KEY', `invalid object ${what} ${JSON.stringify(key)}: ${why}`, key);
}

function checkSegments(what: string, key: string, segments: string[]): void {
  for (const seg of segments) {
    if (seg === '') throw invalid(what, key, 'empty path segment');
    if (seg === '.' || seg === '..') throw invalid(what, key, `'${seg}' segments are not allowed`);
    if (seg.includes(TEMP_MARKER)) throw invalid(what, key, `'${TEMP_MARKER}' is reserved`);
  }
}

function checkChars(what: string, key: string): void {
  if (key.startsWith('/')) throw invalid(what, key, 'must be relative (no leading /)');
  if (key.includes('\\')) throw invalid(what, key, 'backslashes are not allowed');
  if (key.includes('\0')) throw invalid(what, key, 'NUL is not allowed');
}

/**
 * Throws a `StorageError` (code INVALID_KEY, naming the key) unless `key` is a non-empty relative
 * '/'-separated path without empty, '.' or '..' segments, backslashes or NUL. This is what keeps
 * every backend inside its root or prefix, whatever the caller passes.
 */
export function validateKey(key: string): string {
  if (typeof key !== 'string' || key === '') throw invalid('key', String(key), 'must not be empty');
  checkChars('key', key);
  checkSegments('key', key, key.split('/'));
  return key;
}

/** A list prefix: '' or a key-like string that may end with '/' (and may end mid-segment). */
export function validatePrefix(prefix: string): string {
  if (prefix === '') return prefix;
  checkChars('prefix', prefix);
  const segs = prefix.split('/');
  if (segs[segs.length - 1] === '') segs.pop();
  checkSegments('prefix', prefix, segs);
  return prefix;
}

/** Normalise a configured root prefix: strip leading/trailing '/', validate; '' means none. */
export function normalizeRootPrefix(prefix: string | undefined): string {
  const p = (prefix ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  if (p === '') return '';
  validateKey(p);
  return p;
}

/** `{prefix}/{key}` (or `key` when the prefix is empty). */
export function joinKey(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}/${key}`;
}

/** Validate a range; returns `[start, endExclusive | undefined]`. */
export function checkRange(key: string, range: ByteRange | undefined): [number, number | undefined] {
  if (!range) return [0, undefined];
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
    throw new StorageError('INVALID_RANGE', `invalid byte range ${JSON.stringify(range)} for ${key}`, key);
  }
  return [start, end];
}

/** Compare keys in byte (UTF-8) order, which is what S3, Azure and GCS list in. */
export function compareKeys(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a), Buffer.from(b));
}
