import { UserError } from '../util/errors.js';

/**
 * Fills restore.schema_id_mapping from two Schema Registries (restore.source_schema_registry_url,
 * restore.target_schema_registry_url) through their REST API: every version of every subject
 * (`GET /subjects`, `/subjects/{s}/versions`, `/subjects/{s}/versions/{v}`) on both sides; a
 * source id maps to the target id of the same schema (same type, same text once JSON is
 * normalised) under the same subject. Schemas only the source has stay unmapped (a record using
 * one is refused by name). Credentials in the URL (`https://user:pass@host`) are sent as HTTP
 * Basic authentication.
 */

interface SubjectVersion {
  subject: string;
  version: number;
  id: number;
  schema: string;
  schemaType?: string;
}

type Fetch = typeof fetch;

/** A registry that does not answer fails the restore (before anything is written) instead of holding it. */
const REQUEST_TIMEOUT_MS = 30_000;

class Registry {
  readonly #base: URL;
  readonly #auth: string | undefined;
  readonly #fetch: Fetch;
  readonly #name: string;

  constructor(url: string, name: string, fetchImpl: Fetch) {
    const u = new URL(url);
    this.#auth =
      u.username !== '' ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}` : undefined;
    u.username = '';
    u.password = '';
    if (!u.pathname.endsWith('/')) u.pathname += '/';
    this.#base = u;
    this.#name = name;
    this.#fetch = fetchImpl;
  }

  async get<T>(path: string): Promise<T> {
    const url = new URL(path, this.#base);
    const where = `restore.${this.#name}: GET ${url.origin}${url.pathname}`;
    let res: Response;
    try {
      res = await this.#fetch(url, {
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        headers: { accept: 'application/vnd.schemaregistry.v1+json, application/json', ...(this.#auth ? { authorization: this.#auth } : {}) },
      });
    } catch (err) {
      throw new UserError(
        'SCHEMA_REGISTRY',
        `${where}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`,
      );
    }
    if (!res.ok) throw new UserError('SCHEMA_REGISTRY', `${where}: HTTP ${res.status} ${(await res.text().catch(() => '')).slice(0, 200)}`);
    try {
      return (await res.json()) as T;
    } catch {
      throw new UserError('SCHEMA_REGISTRY', `${where}: the answer is not JSON`);
    }
  }

  async all(): Promise<SubjectVersion[]> {
    const out: SubjectVersion[] = [];
    for (const subject of await this.get<string[]>('subjects')) {
      const s = encodeURIComponent(subject);
      for (const v of await this.get<number[]>(`subjects/${s}/versions`)) out.push(await this.get<SubjectVersion>(`subjects/${s}/versions/${v}`));
    }
    return out;
  }
}

/** Schema text compared across registries: JSON (Avro, JSON Schema) without formatting differences; other types as written. */
function canonical(sv: SubjectVersion): string {
  const type = sv.schemaType ?? 'AVRO';
  let text = sv.schema;
  if (type !== 'PROTOBUF') {
    try {
      text = JSON.stringify(JSON.parse(text));
    } catch {
      // not JSON after all: compared as written
    }
  }
  return `${sv.subject}\u0000${type}\u0000${text}`;
}

/** Source id -> target id from the two registries; ids in `fixed` (set by hand in schema_id_mapping) are left to the caller. */
export async function registryMapping(
  sourceUrl: string,
  targetUrl: string,
  fixed: ReadonlySet<number> = new Set(),
  fetchImpl: Fetch = fetch,
): Promise<Map<number, number>> {
  const [source, target] = await Promise.all([
    new Registry(sourceUrl, 'source_schema_registry_url', fetchImpl).all(),
    new Registry(targetUrl, 'target_schema_registry_url', fetchImpl).all(),
  ]);
  const targetIds = new Map(target.map((sv) => [canonical(sv), sv.id]));
  const out = new Map<number, number>();
  for (const sv of source) {
    const to = targetIds.get(canonical(sv));
    if (to === undefined || fixed.has(sv.id)) continue;
    const had = out.get(sv.id);
    // One source schema registered under several subjects that the target numbered differently: no single answer.
    if (had !== undefined && had !== to)
      throw new UserError(
        'SCHEMA_REGISTRY',
        `restore.target_schema_registry_url: source schema id ${sv.id} matches target ids ${had} and ${to} (subject ${sv.subject}); set it in restore.schema_id_mapping`,
      );
    out.set(sv.id, to);
  }
  return out;
}
