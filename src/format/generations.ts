import type { ObjectStore } from '../storage/store.js';
import { readJsonObject } from './json-object.js';
import { keys } from './layout.js';
import { manifestSchema, type Manifest } from './manifest.js';
import type { PartitionIndex } from './partition-index.js';

/*
  Rollback detection (docs/format.md section 4.2). Encryption authenticates each object but not
  its age: an older ciphertext of the same key still decrypts. So the objects that change over a
  backup's life carry generations that bind them to each other, inside the authenticated plaintext:

  - manifest.json:  `generation`, +1 on every write; and per partition `index_generation`, the
                    generation of that partition's index as last stored before this manifest write.
  - index.json:     `generation`, +1 on every write; and `manifest_generation`, the generation of the
                    last manifest write that had completed when this index was written.

  An index older than the generation its manifest records was put back (index rollback); an index
  written after a manifest generation the stored manifest has not reached means the manifest was
  put back (manifest rollback). Objects without generations (written before this rule) count as
  generation 0: nothing is pinned, nothing is refused.
*/

/** One detected rollback (or deletion of a pinned index): the object at fault and why. */
export interface RollbackProblem {
  object: string;
  problem: string;
  /** For a manifest rollback: the manifest generation an index was written after. */
  manifestGenerationSeen?: number;
}

/** The generation a manifest records for one partition's index, if any (0: nothing pinned). */
export function pinnedIndexGeneration(manifest: Manifest, topic: string, partition: number): number {
  const t = manifest.topics.find((x) => x.name === topic);
  return t?.partitions.find((p) => p.partition === partition)?.index_generation ?? 0;
}

/**
 * Checks one partition's index (undefined: the object does not exist) against the manifest's
 * generation and the index generation it pins. Returns the problems found (at most one per rule).
 */
export function indexFreshnessProblems(
  backupId: string,
  manifestGeneration: number,
  pin: number,
  topic: string,
  partition: number,
  idx: PartitionIndex | undefined,
): RollbackProblem[] {
  const where = keys.partitionIndex(backupId, topic, partition);
  const out: RollbackProblem[] = [];
  if (!idx) {
    if (pin > 0)
      out.push({
        object: where,
        problem: `missing partition index, though the manifest records its generation ${pin}: it was deleted after the backup wrote it`,
      });
    return out;
  }
  const gen = idx.generation ?? 0;
  if (gen < pin) {
    out.push({
      object: where,
      problem: `rolled back: this is generation ${gen} of the index, but the manifest records generation ${pin}; an older copy of the object was put back, and the segments written since would be missed`,
    });
  }
  const seen = idx.manifest_generation ?? 0;
  if (seen > manifestGeneration) {
    out.push({
      object: keys.manifest(backupId),
      problem: `rolled back: this is generation ${manifestGeneration} of the manifest, but ${where} was written after generation ${seen} of it; an older copy of the manifest was put back`,
      manifestGenerationSeen: seen,
    });
  }
  return out;
}

/** indexFreshnessProblems with the manifest's own generation and pin. */
export function checkIndexAgainstManifest(manifest: Manifest, topic: string, partition: number, idx: PartitionIndex | undefined): RollbackProblem[] {
  return indexFreshnessProblems(manifest.backup_id, manifest.generation ?? 0, pinnedIndexGeneration(manifest, topic, partition), topic, partition, idx);
}

/** One line per problem, as used in errors: `object: problem`. */
export function formatRollbackProblems(problems: readonly RollbackProblem[]): string {
  return problems.map((p) => `${p.object}: ${p.problem}`).join('; ');
}

/**
 * A reader that read the manifest before a running backup rewrote it, and an index after, sees an
 * index newer than its manifest: not a rollback. Manifest problems stand only if the manifest,
 * read again, is still older than the newest generation an index names.
 */
export async function confirmRollbacks(store: ObjectStore, backupId: string, problems: RollbackProblem[]): Promise<RollbackProblem[]> {
  const needed = problems.reduce((n, p) => Math.max(n, p.manifestGenerationSeen ?? 0), 0);
  if (needed === 0) return problems;
  const again = await readJsonObject(store, keys.manifest(backupId), manifestSchema);
  if ((again?.generation ?? 0) < needed) return problems;
  return problems.filter((p) => p.manifestGenerationSeen === undefined);
}
