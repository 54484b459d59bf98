import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';
import { normalizeRootPrefix } from './keys.js';
import type { StorageSpec } from './spec.js';

export const ACCEPTED_STORAGE_URLS =
  '/abs/path, ./rel/path, file:///abs/path, s3://bucket[/prefix][?region=R&endpoint=URL&path_style=true&allow_http=true] (or s3a://), ' +
  'az:// or azure://ACCOUNT[.blob.core.windows.net]/CONTAINER[/prefix], az://container@account[/prefix], gs://bucket[/prefix] (or gcs://) [?endpoint=URL&allow_http=true], memory://';

/** Hide anything credential-like before a URL goes into a message. */
export function redactUrl(url: string): string {
  return url
    .replace(/\/\/[^/@?#]*@/, '//***@')
    .replace(
      /([?&](?:sig|se|sp|sv|sr|st|spr|srt|ss|skoid|sktid|skt|ske|sks|skv|secret[_-]?key|access[_-]?key|session[_-]?token|account[_-]?key|sas(?:[_-]?token)?|token|key)=)[^&#]*/gi,
      '$1***',
    );
}

function bad(url: string, why: string): UserError {
  return new UserError('BAD_STORAGE_URL', `invalid storage URL "${redactUrl(url)}": ${why}; accepted forms: ${ACCEPTED_STORAGE_URLS}`);
}

function prefixOf(url: string, p: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(p);
  } catch {
    throw bad(url, 'bad percent-encoding in the path');
  }
  try {
    const n = normalizeRootPrefix(decoded);
    return n === '' ? undefined : n;
  } catch (e) {
    throw bad(url, `bad prefix (${e instanceof Error ? e.message : String(e)})`);
  }
}

function bool(url: string, name: string, v: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw bad(url, `${name} must be true or false`);
}

function checkParams(url: string, u: URL, allowed: string[]): void {
  for (const k of u.searchParams.keys()) {
    if (!allowed.includes(k)) throw bad(url, `unknown query parameter "${k}"${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`);
  }
}

/** azure://ACCOUNT[.blob.core.windows.net]/CONTAINER[/prefix] (also az://, as in the reference). */
function azureAccountUrl(url: string, u: URL, scheme: 'az' | 'azure'): StorageSpec {
  const host = u.hostname;
  if (!host) throw bad(url, 'missing storage account');
  const m = /^([a-z0-9]+)(\.blob\.core\.windows\.net)?$/i.exec(host);
  if (!m?.[1]) throw bad(url, 'host must be ACCOUNT or ACCOUNT.blob.core.windows.net');
  const [, container = '', ...rest] = u.pathname.split('/');
  if (!container) throw bad(url, `missing container: ${scheme}://ACCOUNT/CONTAINER[/prefix]`);
  checkParams(url, u, ['endpoint', 'allow_http']);
  const spec: Extract<StorageSpec, { backend: 'azure' }> = { backend: 'azure', accountName: m[1].toLowerCase(), container: decodeURIComponent(container) };
  const prefix = prefixOf(url, rest.join('/'));
  if (prefix) spec.prefix = prefix;
  return withEndpoint(url, u, spec);
}

/**
 * `?endpoint=` and `?allow_http=` of a cloud URL into the spec. A plain http:// endpoint is refused
 * here, naming the parameter, unless `allow_http=true` (the backend checks again for other callers).
 */
function withEndpoint<S extends Extract<StorageSpec, { backend: 's3' | 'azure' | 'gcs' }>>(url: string, u: URL, spec: S): S {
  const q = u.searchParams;
  const ah = q.get('allow_http');
  if (ah !== null) spec.allowHttp = bool(url, 'allow_http', ah);
  const endpoint = q.get('endpoint');
  if (endpoint) {
    if (!/^https?:\/\/[^/\s]+/i.test(endpoint)) throw bad(url, 'endpoint must be http(s)://host[:port]');
    if (/^http:/i.test(endpoint) && spec.allowHttp !== true)
      throw bad(url, 'endpoint is plain http://: credentials and data would travel unencrypted; use https://, or add &allow_http=true to allow it');
    spec.endpoint = endpoint;
  }
  return spec;
}

/**
 * Parse a storage URL into a StorageSpec. Credentials are never taken from URLs: they come from
 * the YAML `storage:` block or the environment (see docs/storage.md).
 */
export function parseStorageUrl(url: string): StorageSpec {
  const raw = url.trim();
  if (raw === '') throw bad(url, 'empty');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined || (scheme.length === 1 && /^[a-zA-Z]:[\\/]/.test(raw))) {
    // A plain path (absolute or relative); Windows drive letters land here too.
    if (raw.includes('\0')) throw bad(url, 'NUL in path');
    return { backend: 'filesystem', path: raw };
  }
  if (!raw.slice(scheme.length + 1).startsWith('//')) throw bad(url, `expected ${scheme}://...`);
  // WHATWG URL parsing silently resolves '.'/'..' segments: refuse them before it sees them.
  const rawPath = raw.slice(scheme.length + 3).split(/[?#]/)[0] ?? '';
  if (rawPath.split(/[/\\]/).some((seg) => /^(\.|%2e){1,2}$/i.test(seg))) throw bad(url, "bad prefix ('.' and '..' segments are not allowed)");
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad(url, 'not a valid URL');
  }
  if (u.hash) throw bad(url, 'fragments (#...) are not allowed');
  if ((u.username || u.password) && scheme !== 'az') throw bad(url, 'credentials do not belong in the URL; use the config file or environment');
  switch (scheme) {
    case 'file': {
      if (u.host !== '' && u.host !== 'localhost') throw bad(url, 'file:// URLs must be local (file:///path)');
      checkParams(url, u, []);
      return { backend: 'filesystem', path: fileURLToPath(u) };
    }
    case 'memory': {
      if (u.host !== '' || (u.pathname !== '' && u.pathname !== '/')) throw bad(url, 'memory:// takes no bucket or path');
      checkParams(url, u, []);
      return { backend: 'memory' };
    }
    case 's3':
    case 's3a': {
      if (!u.hostname) throw bad(url, 'missing bucket name');
      if (u.port) throw bad(url, 'a bucket has no port; use ?endpoint=http://host:port for a custom endpoint');
      checkParams(url, u, ['region', 'endpoint', 'path_style', 'allow_http']);
      const spec: Extract<StorageSpec, { backend: 's3' }> = { backend: 's3', bucket: u.hostname };
      const prefix = prefixOf(url, u.pathname);
      if (prefix) spec.prefix = prefix;
      const q = u.searchParams;
      const region = q.get('region');
      if (region) spec.region = region;
      const ps = q.get('path_style');
      if (ps !== null) spec.pathStyle = bool(url, 'path_style', ps);
      return withEndpoint(url, u, spec);
    }
    case 'az': {
      // The reference's form is az://ACCOUNT/CONTAINER, as azure:// (below). Ours: az://container@account/prefix.
      if (u.password) throw bad(url, 'credentials do not belong in the URL; use the config file or environment');
      if (!u.username) return azureAccountUrl(url, u, 'az');
      const container = decodeURIComponent(u.username);
      const accountName = u.hostname.replace(/\.blob\.core\.windows\.net$/i, '');
      if (!accountName) throw bad(url, 'missing storage account: az://ACCOUNT/CONTAINER[/prefix]');
      checkParams(url, u, ['endpoint', 'allow_http']);
      const spec: Extract<StorageSpec, { backend: 'azure' }> = { backend: 'azure', accountName, container };
      const prefix = prefixOf(url, u.pathname);
      if (prefix) spec.prefix = prefix;
      return withEndpoint(url, u, spec);
    }
    case 'azure':
      return azureAccountUrl(url, u, 'azure');
    case 'gs':
    case 'gcs': {
      if (!u.hostname) throw bad(url, 'missing bucket name');
      checkParams(url, u, ['endpoint', 'allow_http']);
      const spec: Extract<StorageSpec, { backend: 'gcs' }> = { backend: 'gcs', bucket: u.hostname };
      const prefix = prefixOf(url, u.pathname);
      if (prefix) spec.prefix = prefix;
      return withEndpoint(url, u, spec);
    }
    default:
      throw bad(url, `unsupported scheme "${scheme}:"`);
  }
}
