import { formatRollbackProblems, indexFreshnessProblems } from '../format/generations.js';
import type { Manifest } from '../format/manifest.js';
import type { PartitionIndex } from '../format/partition-index.js';
import { CorruptDataError } from '../util/errors.js';

/**
 * The generations one backup run writes (src/format/generations.ts): the manifest's last completed
 * write, and per partition the generation of its index as last stored. Shared by the engine (which
 * writes the manifest and pins the indexes in it) and the partition workers (which write the indexes).
 * Only completed writes are recorded, so no object ever names a generation that storage may lack.
 */
export class GenerationBook {
  /** Generation of the manifest as read when the run started (0: new backup, or written before generations). */
  readonly startManifestGeneration: number;
  /** Generation of the last manifest write that completed. */
  manifestGeneration: number;
  readonly #indexes = new Map<string, number>();

  constructor(existing: Manifest | undefined) {
    this.startManifestGeneration = existing?.generation ?? 0;
    this.manifestGeneration = this.startManifestGeneration;
    for (const t of existing?.topics ?? []) {
      for (const p of t.partitions) if (p.index_generation !== undefined) this.#indexes.set(slot(t.name, p.partition), p.index_generation);
    }
  }

  /** Generation of the partition's index as last stored (or pinned by the manifest read at start); 0 if none. */
  indexGeneration(topic: string, partition: number): number {
    return this.#indexes.get(slot(topic, partition)) ?? 0;
  }

  indexStored(topic: string, partition: number, generation: number): void {
    const k = slot(topic, partition);
    this.#indexes.set(k, Math.max(generation, this.#indexes.get(k) ?? 0));
  }

  /**
   * A resumed partition's index (undefined: none stored) checked against the manifest read at the start:
   * an index or manifest put back by someone else stops the backup instead of being built upon.
   */
  checkResumed(backupId: string, topic: string, partition: number, idx: PartitionIndex | undefined): void {
    const problems = indexFreshnessProblems(backupId, this.startManifestGeneration, this.indexGeneration(topic, partition), topic, partition, idx);
    if (problems.length === 0) return;
    throw new CorruptDataError(`refusing to resume backup ${backupId}: ${formatRollbackProblems(problems)}`, problems[0]!.object);
  }
}

function slot(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
