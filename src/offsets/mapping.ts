/** `show-offset-mapping`: the exact source → target offset maps of a backup's stored restores. */
import { listRestores } from '../format/restores.js';
import type { ObjectStore } from '../storage/store.js';

export interface MappingEntry {
  restore_id: string;
  completed_at: number | null;
  target_topic: string;
  target_partition: number;
  source_topic: string;
  source_partition: number;
  source_first_offset: number;
  source_last_offset: number;
  target_first_offset: number;
  target_last_offset: number;
  records: number;
  runs: number;
}

/** The exact offset maps of every restore of a backup (from the stored restore states), one entry per target partition and source. */
export async function offsetMappings(store: ObjectStore, backupId: string): Promise<MappingEntry[]> {
  const out: MappingEntry[] = [];
  for (const { state: st } of await listRestores(store, backupId)) {
    for (const [k, ps] of Object.entries(st.partitions)) {
      const slash = k.lastIndexOf('/');
      const bySource = new Map<string, typeof ps.runs>();
      for (const r of ps.runs) {
        const sk = `${r.source_topic}/${r.source_partition}`;
        bySource.set(sk, [...(bySource.get(sk) ?? []), r]);
      }
      for (const runs of bySource.values()) {
        const first = runs[0]!;
        const last = runs.at(-1)!;
        out.push({
          restore_id: st.restore_id,
          completed_at: st.completed_at,
          target_topic: k.slice(0, slash),
          target_partition: Number(k.slice(slash + 1)),
          source_topic: first.source_topic,
          source_partition: first.source_partition,
          source_first_offset: Math.min(...runs.map((r) => r.source)),
          source_last_offset: Math.max(...runs.map((r) => r.source + r.count - 1)),
          target_first_offset: first.target,
          target_last_offset: last.target + last.count - 1,
          records: runs.reduce((n, r) => n + r.count, 0),
          runs: runs.length,
        });
      }
    }
  }
  return out.sort(
    (a, b) => a.restore_id.localeCompare(b.restore_id) || a.target_topic.localeCompare(b.target_topic) || a.target_partition - b.target_partition,
  );
}
