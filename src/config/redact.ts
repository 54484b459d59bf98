/** Copies of configs that are safe to log. */

/** Keys whose values are secrets, in both the YAML (snake_case) and StorageSpec (camelCase) spellings. */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'sasl_password',
  'ssl_key_password',
  'secret_key',
  'secret_access_key',
  'account_key',
  'client_secret',
  'sas_token',
  'connection_string',
  'service_account_json',
  'session_token',
  'secretKey',
  'sessionToken',
  'accountKey',
  'clientSecret',
  'sasToken',
  'serviceAccountJson',
  'password',
]);

export const REDACTED = '[redacted]';

/**
 * Returns a deep copy of `cfg` with every secret value replaced by `[redacted]`: SASL passwords,
 * key passwords, S3 secret keys, Azure account keys / client secrets / SAS tokens, inline GCS
 * service-account JSON. Absent secrets stay absent. The input is not modified.
 */
export function redactConfig<T>(cfg: T): T {
  return copy(cfg) as T;
}

function copy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copy);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v)) {
      const value = SECRET_KEYS.has(k) && val !== undefined && val !== null ? REDACTED : copy(val);
      Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return v;
}
