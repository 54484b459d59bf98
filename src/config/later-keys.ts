/** Cross-key checks of the keys from the seed tool's later releases (issue 19). */
import type { RestoreOptions } from './types.js';

export interface KeyProblem {
  key: string;
  message: string;
}

/**
 * restore.rewrite_schema_ids needs ids to map (a mapping or two registries); a mapping or a
 * registry set without it would be ignored, which the user must hear about rather than find out
 * from consumers failing on the target.
 */
export function schemaIdProblems(r: RestoreOptions): KeyProblem[] {
  const hasMapping = Object.keys(r.schema_id_mapping).length > 0;
  const src = r.source_schema_registry_url !== undefined;
  const dst = r.target_schema_registry_url !== undefined;
  const out: KeyProblem[] = [];
  if (src !== dst)
    out.push({
      key: src ? 'target_schema_registry_url' : 'source_schema_registry_url',
      message: 'required together with the other registry URL: the mapping pairs each source schema with the same schema in the target registry',
    });
  if (r.rewrite_schema_ids && !hasMapping && !(src && dst)) {
    out.push({
      key: 'rewrite_schema_ids',
      message: 'needs restore.schema_id_mapping ({source id: target id}) or both restore.source_schema_registry_url and restore.target_schema_registry_url',
    });
  }
  if (!r.rewrite_schema_ids) {
    const set = [
      hasMapping ? 'schema_id_mapping' : undefined,
      src ? 'source_schema_registry_url' : undefined,
      dst ? 'target_schema_registry_url' : undefined,
    ].filter((k) => k !== undefined);
    for (const k of set) out.push({ key: k, message: 'has no effect without restore.rewrite_schema_ids: true (add it, or remove this key)' });
  }
  return out;
}
