import { keys } from '../../format/layout.js';
import { manifestSchema, type Manifest, type ManifestTopic } from '../../format/manifest.js';
import type { ObjectStore } from '../../storage/store.js';
import { CorruptDataError, PreconditionFailedError } from '../../util/errors.js';

/*
  The manifest of a distributed backup is shared by every worker. It is never overwritten blindly:
  each write is a compare-and-swap on the version read, of the stored manifest merged with what
  this worker knows (topics and partitions are a union, index generations the larger pin), so a
  worker's write never drops what another worker wrote. A lost swap reads again and merges again.
*/

function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v, null, 2) + '\n', 'utf8');
}

export async function readManifestVersioned(store: ObjectStore, backupId: string): Promise<{ manifest: Manifest; version: string } | undefined> {
  const key = keys.manifest(backupId);
  const cur = await store.getVersioned(key);
  if (!cur) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(cur.data.toString('utf8'));
  } catch (err) {
    throw new CorruptDataError(`${key}: not valid JSON (${(err as Error).message})`, key);
  }
  const r = manifestSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new CorruptDataError(`${key}: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid content'}`, key);
  }
  return { manifest: r.data, version: cur.version };
}

/** Union of topics and partitions; an existing entry keeps its offsets, and the larger index pin wins. */
export function mergeTopics(stored: ManifestTopic[], mine: ManifestTopic[], pins: (topic: string, partition: number) => number): ManifestTopic[] {
  const out = new Map(stored.map((t) => [t.name, { ...t, partitions: t.partitions.map((p) => ({ ...p })) }]));
  for (const t of mine) {
    const cur = out.get(t.name);
    if (!cur) {
      out.set(t.name, { ...t, partitions: t.partitions.map((p) => ({ ...p })) });
      continue;
    }
    cur.partition_count = Math.max(cur.partition_count, t.partition_count);
    for (const p of t.partitions) if (!cur.partitions.some((q) => q.partition === p.partition)) cur.partitions.push({ ...p });
    cur.partitions.sort((a, b) => a.partition - b.partition);
  }
  for (const t of out.values()) {
    for (const p of t.partitions) {
      const g = Math.max(p.index_generation ?? 0, pins(t.name, p.partition));
      if (g > 0) p.index_generation = g;
    }
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Writes `change(stored)` (stored: undefined when there is no manifest yet) as the next
 * generation, by compare-and-swap; on a lost swap reads again and re-applies `change`.
 */
export async function updateManifest(
  store: ObjectStore,
  backupId: string,
  change: (stored: Manifest | undefined) => Manifest,
  attempts = 50,
): Promise<Manifest> {
  const key = keys.manifest(backupId);
  for (let i = 0; ; i++) {
    const cur = await readManifestVersioned(store, backupId);
    const next = change(cur ? structuredClone(cur.manifest) : undefined);
    next.generation = (cur?.manifest.generation ?? 0) + 1;
    next.updated_at = Date.now();
    try {
      await store.putIfMatch(key, json(next), cur?.version ?? null);
      return next;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError) || i + 1 >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 40 * Math.min(i + 1, 10)));
    }
  }
}
