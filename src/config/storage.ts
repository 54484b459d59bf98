/** The `storage:` section: spelling variants, cross-key checks, and conversion to a StorageSpec. */
import type { StorageSpec } from '../storage/spec.js';
import type { StorageConfig } from './types.js';
import { STORAGE_NO_EFFECT_KEYS, type StorageSectionParsed } from './schema.js';

export interface StorageNormalisation {
  config?: StorageConfig;
  problems: { key: string; message: string }[];
  warnings: string[];
}

function pick<K extends string>(
  a: string | undefined,
  b: string | undefined,
  aName: K,
  bName: string,
  problems: StorageNormalisation['problems'],
): string | undefined {
  if (a !== undefined && b !== undefined) {
    problems.push({ key: bName, message: `both ${aName} and ${bName} are set; they are two spellings of one key, keep one` });
    return undefined;
  }
  return a ?? b;
}

/**
 * storage.endpoint of s3, azure and gcs: a URL, http(s) only, and plain http only with allow_http.
 * `example`, `accepted` and `exposed` are each backend's words for the messages.
 */
function endpointProblems(
  endpoint: string | undefined,
  allowHttp: boolean,
  example: string,
  accepted: string,
  exposed: string,
): StorageNormalisation['problems'] {
  if (endpoint === undefined) return [];
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return [{ key: 'endpoint', message: `expected a URL such as ${example}` }];
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return [{ key: 'endpoint', message: `expected ${accepted}, got ${url.protocol}` }];
  if (url.protocol === 'http:' && !allowHttp) {
    return [
      {
        key: 'endpoint',
        message: `is a plain http:// URL (${exposed} would travel in clear text); use https://, or set storage.allow_http: true to allow unencrypted HTTP`,
      },
    ];
  }
  return [];
}

/** Merges spelling variants and checks combinations. */
export function normaliseStorage(s: StorageSectionParsed): StorageNormalisation {
  const problems: StorageNormalisation['problems'] = [];
  const warnings: string[] = [];
  for (const k of STORAGE_NO_EFFECT_KEYS[s.backend]) {
    if ((s as Record<string, unknown>)[k] !== undefined)
      warnings.push(`storage.${k} is accepted for compatibility with published docs but has no effect (backend ${s.backend})`);
  }
  switch (s.backend) {
    case 'memory':
      return { config: { backend: 'memory' }, problems, warnings };
    case 'filesystem':
      return { config: { backend: 'filesystem', path: s.path }, problems, warnings };
    case 's3': {
      const access_key = pick(s.access_key, s.access_key_id, 'access_key', 'access_key_id', problems);
      const secret_key = pick(s.secret_key, s.secret_access_key, 'secret_key', 'secret_access_key', problems);
      problems.push(...endpointProblems(s.endpoint, s.allow_http, 'https://minio.example.com:9000', 'an http:// or https:// URL', 'credentials and data'));
      return {
        config: {
          backend: 's3',
          bucket: s.bucket,
          region: s.region,
          endpoint: s.endpoint,
          access_key,
          secret_key,
          prefix: s.prefix,
          path_style: s.path_style,
          allow_http: s.allow_http,
        },
        problems,
        warnings,
      };
    }
    case 'azure': {
      const container_name = pick(s.container_name, s.container, 'container_name', 'container', problems);
      if (container_name === undefined && s.container_name === undefined && s.container === undefined)
        problems.push({ key: 'container_name', message: 'required key is missing (the blob container; `container` is accepted too)' });
      if (s.client_secret !== undefined && (s.client_id === undefined || s.tenant_id === undefined))
        warnings.push('storage.client_secret is only used together with client_id and tenant_id');
      problems.push(
        ...endpointProblems(
          s.endpoint,
          s.allow_http,
          'https://account.blob.core.windows.net',
          'an https:// URL',
          "the account key's signatures or the SAS token",
        ),
      );
      const sas_token = s.sas_token?.startsWith('?') ? s.sas_token.slice(1) : s.sas_token;
      return {
        config:
          container_name === undefined
            ? undefined
            : {
                backend: 'azure',
                account_name: s.account_name,
                container_name,
                account_key: s.account_key,
                prefix: s.prefix,
                endpoint: s.endpoint,
                use_workload_identity: s.use_workload_identity,
                client_id: s.client_id,
                tenant_id: s.tenant_id,
                client_secret: s.client_secret,
                sas_token,
                allow_http: s.allow_http,
              },
        problems,
        warnings,
      };
    }
    case 'gcs': {
      let service_account_path = s.service_account_path;
      let service_account_json: string | undefined;
      if (s.service_account_json !== undefined) {
        if (service_account_path !== undefined)
          problems.push({ key: 'service_account_json', message: 'both service_account_path and service_account_json are set; keep one' });
        else if (s.service_account_json.trim().startsWith('{')) {
          // Inline JSON key. Never echo it: it holds a private key.
          try {
            const parsed: unknown = JSON.parse(s.service_account_json);
            if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
            service_account_json = s.service_account_json;
          } catch {
            problems.push({
              key: 'service_account_json',
              message: 'looks like inline JSON but does not parse as a JSON object (value not shown: it is a secret)',
            });
          }
        } else service_account_path = s.service_account_json;
      }
      problems.push(...endpointProblems(s.endpoint, s.allow_http, 'https://storage.googleapis.com', 'an http:// or https:// URL', 'credentials and data'));
      return {
        config: {
          backend: 'gcs',
          bucket: s.bucket,
          service_account_path,
          service_account_json,
          prefix: s.prefix,
          endpoint: s.endpoint,
          allow_http: s.allow_http,
        },
        problems,
        warnings,
      };
    }
  }
}

function defined<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

/** Converts the normalised `storage:` section into the StorageSpec the backends consume. */
export function storageSpecFromConfig(storage: StorageConfig): StorageSpec {
  switch (storage.backend) {
    case 'memory':
      return { backend: 'memory' };
    case 'filesystem':
      return { backend: 'filesystem', path: storage.path };
    case 's3':
      return defined({
        backend: 's3',
        bucket: storage.bucket,
        prefix: storage.prefix,
        region: storage.region,
        endpoint: storage.endpoint,
        accessKey: storage.access_key,
        secretKey: storage.secret_key,
        pathStyle: storage.path_style,
        allowHttp: storage.allow_http,
      });
    case 'azure':
      return defined({
        backend: 'azure',
        accountName: storage.account_name,
        container: storage.container_name,
        prefix: storage.prefix,
        accountKey: storage.account_key,
        sasToken: storage.sas_token,
        endpoint: storage.endpoint,
        clientId: storage.client_id,
        tenantId: storage.tenant_id,
        clientSecret: storage.client_secret,
        useWorkloadIdentity: storage.use_workload_identity,
        allowHttp: storage.allow_http,
      });
    case 'gcs':
      return defined({
        backend: 'gcs',
        bucket: storage.bucket,
        prefix: storage.prefix,
        serviceAccountPath: storage.service_account_path,
        serviceAccountJson: storage.service_account_json,
        endpoint: storage.endpoint,
        allowHttp: storage.allow_http,
      });
  }
}
