import { createHash, type Hash } from 'node:crypto';
import { crc32c } from '../kafka/protocol/crc32c.js';

/*
  The whole-object digest of a segment, kept in its partition index entry (docs/format.md 2.4).
  `crc32c` (8 hex digits, CRC-32C of the whole object) is written for every segment since format
  decision 18; the writer derives it from the block CRCs it computes anyway, so it costs nothing.
  `sha256` (64 hex digits) is written by older versions for every segment, and now only with
  `backup.segment_digest: sha256`. A reader checks SHA-256 when the entry has one (the stronger
  check), else CRC-32C: every existing backup keeps verifying as before.
*/

export type SegmentDigestAlgorithm = 'crc32c' | 'sha256';

export const SEGMENT_DIGEST_ALGORITHMS: readonly SegmentDigestAlgorithm[] = ['crc32c', 'sha256'];
export const DEFAULT_SEGMENT_DIGEST: SegmentDigestAlgorithm = 'crc32c';

/** The digest fields of a partition index entry. */
export interface SegmentDigestFields {
  sha256?: string | undefined;
  crc32c?: string | undefined;
}

export interface RecordedDigest {
  algorithm: SegmentDigestAlgorithm;
  /** Lowercase hex as stored in the index. */
  value: string;
}

/** What a reader checks an object against: SHA-256 when recorded, else CRC-32C; undefined when neither is (seed-tool entries). */
export function recordedDigest(entry: SegmentDigestFields): RecordedDigest | undefined {
  if (entry.sha256) return { algorithm: 'sha256', value: entry.sha256 };
  if (entry.crc32c) return { algorithm: 'crc32c', value: entry.crc32c };
  return undefined;
}

export function digestLabel(algorithm: SegmentDigestAlgorithm): string {
  return algorithm === 'sha256' ? 'SHA-256' : 'CRC-32C';
}

/** A CRC-32C as the index writes it: 8 lowercase hex digits. */
export function crc32cHex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, '0');
}

/** Incremental digest of an object read in chunks, in the algorithm an entry recorded. */
export class SegmentDigester {
  readonly algorithm: SegmentDigestAlgorithm;
  readonly #hash: Hash | undefined;
  #crc = 0;

  constructor(algorithm: SegmentDigestAlgorithm) {
    this.algorithm = algorithm;
    if (algorithm === 'sha256') this.#hash = createHash('sha256');
  }

  update(chunk: Uint8Array): void {
    if (this.#hash) this.#hash.update(chunk);
    else this.#crc = crc32c(chunk, this.#crc);
  }

  digest(): string {
    return this.#hash ? this.#hash.digest('hex') : crc32cHex(this.#crc);
  }
}

/** The digest of a whole object in memory. */
export function digestOf(bytes: Uint8Array, algorithm: SegmentDigestAlgorithm): string {
  const d = new SegmentDigester(algorithm);
  d.update(bytes);
  return d.digest();
}

/**
 * Checks bytes against the entry's recorded digest: undefined when they match (or the entry records
 * none), else the problem, e.g. "CRC-32C mismatch: index records 1a2b3c4d, object has 5e6f7a8b".
 */
export function digestProblem(entry: SegmentDigestFields, bytes: Uint8Array): string | undefined {
  const rec = recordedDigest(entry);
  if (!rec) return undefined;
  const got = digestOf(bytes, rec.algorithm);
  return got === rec.value ? undefined : `${digestLabel(rec.algorithm)} mismatch: index records ${rec.value}, object has ${got}`;
}
