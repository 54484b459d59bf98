/**
 * Evidence reports in storage and their detached signatures.
 *
 * Layout (reference section 6): `{prefix}{report_id}/{YYYY}/{MM}/{report_id}.json`, with `.pdf` and
 * `.sig` alongside; YYYY/MM are the UTC year and month the run started; default prefix
 * `evidence-reports/` (concatenated as is).
 *
 * Signature file (the reference tool's text format):
 *
 *     -----BEGIN KAFKA BACKUP EVIDENCE SIGNATURE-----
 *     Algorithm: ECDSA-P256-SHA256
 *     Report-ID: validation-…
 *     Report-SHA256: <hex SHA-256 of the exact bytes of the stored .json>
 *     Signature: <base64 of the 64-byte r||s (IEEE P1363) ECDSA P-256 signature over those bytes, SHA-256>
 *     -----END KAFKA BACKUP EVIDENCE SIGNATURE-----
 *
 * Verification also accepts a DER-encoded signature in the Signature line.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { ObjectStore } from '../storage/store.js';
import { UserError } from '../util/errors.js';

export const DEFAULT_EVIDENCE_PREFIX = 'evidence-reports/';
export const SIGNATURE_ALGORITHM = 'ECDSA-P256-SHA256';
export type EvidenceFileType = 'json' | 'pdf' | 'sig';

export function evidenceKey(prefix: string, reportId: string, startedAtMs: number, ext: EvidenceFileType): string {
  const d = new Date(startedAtMs);
  const yyyy = String(d.getUTCFullYear()).padStart(4, '0');
  const mm = String(d.getUTCMonth() + 1).padStart(2, '0');
  return `${prefix}${reportId}/${yyyy}/${mm}/${reportId}.${ext}`;
}

export const REPORT_ID_RE = /^validation-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface EvidenceEntry {
  reportId: string;
  key: string;
  size: number;
  lastModified?: Date;
}

/** The `.json` evidence reports under `prefix`, newest first (by storage modification time, then key). */
export async function listEvidence(store: ObjectStore, prefix = DEFAULT_EVIDENCE_PREFIX): Promise<EvidenceEntry[]> {
  const out: EvidenceEntry[] = [];
  for await (const o of store.list(prefix)) {
    const m = /^([^/]+)\/\d{4}\/\d{2}\/([^/]+)\.json$/.exec(o.key.slice(prefix.length));
    if (!m || m[1] !== m[2]) continue;
    out.push({ reportId: m[1]!, key: o.key, size: o.size, ...(o.lastModified ? { lastModified: o.lastModified } : {}) });
  }
  return out.sort((a, b) => (b.lastModified?.getTime() ?? 0) - (a.lastModified?.getTime() ?? 0) || b.key.localeCompare(a.key));
}

/** Finds the stored key of one report file (`{prefix}{id}/YYYY/MM/{id}.{ext}`). */
export async function findEvidenceKey(
  store: ObjectStore,
  reportId: string,
  ext: EvidenceFileType,
  prefix = DEFAULT_EVIDENCE_PREFIX,
): Promise<string | undefined> {
  if (reportId.includes('/') || reportId === '' || reportId === '.' || reportId === '..')
    throw new UserError('USAGE', `invalid report id ${JSON.stringify(reportId)}`);
  for await (const o of store.list(`${prefix}${reportId}/`)) {
    const rest = o.key.slice(prefix.length + reportId.length + 1);
    if (/^\d{4}\/\d{2}\/[^/]+$/.test(rest) && rest.endsWith(`/${reportId}.${ext}`)) return o.key;
  }
  return undefined;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface SignatureBundle {
  algorithm: string;
  reportId: string;
  reportSha256: string;
  /** Base64 text as written in the file. */
  signature: string;
}

export function loadPrivateKey(pem: string | Buffer, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new UserError('BAD_KEY', `${where}: not a PEM private key (${(err as Error).message})`);
  }
  checkP256(key, where);
  return key;
}

export function loadPublicKey(pem: string | Buffer, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new UserError('BAD_KEY', `${where}: not a PEM public key (or certificate) (${(err as Error).message})`);
  }
  checkP256(key, where);
  return key;
}

function checkP256(key: KeyObject, where: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new UserError(
      'BAD_KEY',
      `${where}: expected an ECDSA P-256 (prime256v1) key, got ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''}`,
    );
  }
}

export function signReport(report: Uint8Array, key: KeyObject, reportId: string): SignatureBundle {
  const sig = sign('sha256', report, { key, dsaEncoding: 'ieee-p1363' });
  return { algorithm: SIGNATURE_ALGORITHM, reportId, reportSha256: sha256Hex(report), signature: sig.toString('base64') };
}

export function signatureFileText(b: SignatureBundle): string {
  return [
    '-----BEGIN KAFKA BACKUP EVIDENCE SIGNATURE-----',
    `Algorithm: ${b.algorithm}`,
    `Report-ID: ${b.reportId}`,
    `Report-SHA256: ${b.reportSha256}`,
    `Signature: ${b.signature}`,
    '-----END KAFKA BACKUP EVIDENCE SIGNATURE-----',
    '',
  ].join('\n');
}

export function parseSignatureFile(text: string): SignatureBundle {
  const b: SignatureBundle = { algorithm: '', reportId: '', reportSha256: '', signature: '' };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const m = /^(Algorithm|Report-ID|Report-SHA256|Signature):\s*(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!.trim();
    if (m[1] === 'Algorithm') b.algorithm = v;
    else if (m[1] === 'Report-ID') b.reportId = v;
    else if (m[1] === 'Report-SHA256') b.reportSha256 = v.toLowerCase();
    else b.signature = v;
  }
  if (b.signature === '') throw new UserError('BAD_SIGNATURE_FILE', 'not an evidence signature file: no "Signature:" line');
  return b;
}

/** verified: the ECDSA signature checks out with the given key; unverified: no key was given, so nothing is proven. */
export type VerifyStatus = 'verified' | 'unverified' | 'failed';

export interface VerifyOutcome {
  /** Only when `status` is 'verified'. */
  ok: boolean;
  status: VerifyStatus;
  reportId?: string;
  sha256: string;
  expectedSha256: string;
  sha256Match: boolean;
  reportIdMatch: boolean | null;
  /** null when no public key was given. */
  signatureValid: boolean | null;
  algorithm: string;
  problems: string[];
}

/** Checks the report bytes against a signature bundle: SHA-256, report id, and (with a key) the ECDSA signature. */
export function verifyReport(report: Uint8Array, bundle: SignatureBundle, publicKey?: KeyObject): VerifyOutcome {
  const problems: string[] = [];
  const sha = sha256Hex(report);
  const sha256Match = bundle.reportSha256 !== '' && sha === bundle.reportSha256;
  if (bundle.reportSha256 === '') problems.push('the signature file has no Report-SHA256 line');
  else if (!sha256Match)
    problems.push(`SHA-256 mismatch: the report hashes to ${sha}, the signature file says ${bundle.reportSha256} (the report was changed)`);
  let reportId: string | undefined;
  try {
    const parsed = JSON.parse(Buffer.from(report).toString('utf8')) as { report_id?: unknown };
    if (typeof parsed.report_id === 'string') reportId = parsed.report_id;
  } catch {
    problems.push('the report is not valid JSON');
  }
  let reportIdMatch: boolean | null = null;
  if (bundle.reportId !== '' && reportId !== undefined) {
    reportIdMatch = bundle.reportId === reportId;
    if (!reportIdMatch) problems.push(`report id mismatch: the report is ${reportId}, the signature is for ${bundle.reportId}`);
  }
  if (bundle.algorithm !== '' && bundle.algorithm !== SIGNATURE_ALGORITHM)
    problems.push(`unsupported algorithm ${bundle.algorithm} (expected ${SIGNATURE_ALGORITHM})`);
  let signatureValid: boolean | null = null;
  if (publicKey) {
    const sig = Buffer.from(bundle.signature, 'base64');
    try {
      signatureValid = verify('sha256', report, { key: publicKey, dsaEncoding: sig.length === 64 ? 'ieee-p1363' : 'der' }, sig);
    } catch {
      signatureValid = false;
    }
    if (!signatureValid) problems.push('ECDSA signature does not verify with this public key');
  }
  // Without a key nothing is proven: whoever can rewrite the report recomputes its SHA-256 and id too.
  const status: VerifyStatus = problems.length ? 'failed' : signatureValid ? 'verified' : 'unverified';
  return {
    ok: status === 'verified',
    status,
    ...(reportId !== undefined ? { reportId } : {}),
    sha256: sha,
    expectedSha256: bundle.reportSha256,
    sha256Match,
    reportIdMatch,
    signatureValid,
    algorithm: bundle.algorithm,
    problems,
  };
}
