import { decodeBatch } from '../kafka/protocol/record-batch.js';
import { UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { registryMapping } from './schema-registry.js';

/**
 * restore.rewrite_schema_ids: Schema Registry ids in the Confluent wire format (byte 0 = magic 0,
 * bytes 1-4 = the schema id, big-endian, then the serialized payload) are replaced in record keys
 * and values by the id the target's registry gave the same schema. Anything else (null, shorter
 * than 5 bytes, another first byte) is not in that format and passes unchanged. A wire-format id
 * with no target id is an error naming it: producing it unchanged would make consumers of the
 * target decode the record with whatever schema has that number there.
 */
export class SchemaIdRewriter {
  readonly #mapping: ReadonlyMap<number, number>;
  /** Keys and values whose id was changed (an id mapped to itself is not counted). */
  rewritten = 0;

  constructor(mapping: ReadonlyMap<number, number>) {
    this.#mapping = mapping;
  }

  get size(): number {
    return this.#mapping.size;
  }

  /** The target id of a wire-format key or value, or undefined when it is not in that format. Throws on an unmapped id. */
  #targetId(buf: Buffer | null, where: () => string): { from: number; to: number } | undefined {
    if (buf === null || buf.length < 5 || buf[0] !== 0) return undefined;
    const from = buf.readUInt32BE(1);
    const to = this.#mapping.get(from);
    if (to === undefined) {
      throw new UserError(
        'SCHEMA_ID_UNMAPPED',
        `restore.rewrite_schema_ids: schema id ${from} (${where()}) has no target id; add it to restore.schema_id_mapping (or register the schema in the target registry)`,
      );
    }
    return { from, to };
  }

  /** The key or value with its schema id replaced; the same buffer when nothing changes. */
  rewrite(buf: Buffer | null, where: () => string): Buffer | null {
    const ids = this.#targetId(buf, where);
    if (ids === undefined || ids.from === ids.to) return buf;
    const out = Buffer.from(buf!);
    out.writeUInt32BE(ids.to, 1);
    this.rewritten++;
    return out;
  }

  /** Whether any record of the batch would change (then it is rebuilt; else it can be sent as stored). Throws on an unmapped id. */
  affects(batch: Buffer, topic: string, partition: number): boolean {
    for (const r of decodeBatch(batch).records) {
      for (const [buf, part] of [
        [r.key, 'key'],
        [r.value, 'value'],
      ] as const) {
        const ids = this.#targetId(buf, () => `${part} of ${topic}/${partition} offset ${r.offset}`);
        if (ids !== undefined && ids.from !== ids.to) return true;
      }
    }
    return false;
  }
}

/** restore.schema_id_mapping as written (`{"1": 101}`) as a map of ids. */
export function mappingFromConfig(m: Readonly<Record<string, number>>): Map<number, number> {
  return new Map(Object.entries(m).map(([k, v]) => [Number(k), v]));
}

/**
 * The rewriter a restore uses, or undefined when restore.rewrite_schema_ids is off. Ids set in
 * schema_id_mapping win over what the registries say.
 */
export async function schemaIdRewriterFor(o: {
  rewriteSchemaIds?: boolean;
  schemaIdMapping?: Readonly<Record<string, number>>;
  sourceSchemaRegistryUrl?: string;
  targetSchemaRegistryUrl?: string;
}): Promise<SchemaIdRewriter | undefined> {
  if (!o.rewriteSchemaIds) return undefined;
  const fixed = mappingFromConfig(o.schemaIdMapping ?? {});
  const mapping = new Map(fixed);
  if (o.sourceSchemaRegistryUrl !== undefined && o.targetSchemaRegistryUrl !== undefined) {
    for (const [from, to] of await registryMapping(o.sourceSchemaRegistryUrl, o.targetSchemaRegistryUrl, new Set(fixed.keys()))) mapping.set(from, to);
    logger('restore').info({ fromRegistries: mapping.size - fixed.size, fromConfig: fixed.size }, 'schema id mapping built');
  }
  return new SchemaIdRewriter(mapping);
}
