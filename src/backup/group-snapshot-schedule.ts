/**
 * Consumer-group snapshots of a running backup (issue 19 item 10). A continuous backup used to write
 * one `consumer-groups/{taken_at}.json` at every sync, forever, whether or not an offset moved: a
 * month at the default 30 s is 86,400 objects. Now a snapshot is written only when the committed
 * offsets differ from the last one this run wrote, and, with `backup.consumer_group_snapshot_min_interval_secs`,
 * no sooner than that after it (the end of the run always writes a changed state). Restore picks the
 * newest snapshot taken before the window's end, so a skipped unchanged snapshot changes nothing it reads.
 */
import type { KafkaAdmin } from '../kafka/admin.js';
import { writeGroupSnapshot, type GroupSnapshot } from '../format/group-snapshot.js';
import type { ObjectStore } from '../storage/store.js';
import { collectGroupSnapshot } from './group-snapshot.js';

/** A snapshot's offsets in a canonical form (groups, topics and partitions sorted), to tell a change. */
function fingerprint(snap: GroupSnapshot): string {
  const groups = [...snap.groups].sort((a, b) => (a.group_id < b.group_id ? -1 : a.group_id > b.group_id ? 1 : 0));
  return JSON.stringify(
    groups.map((g) => [
      g.group_id,
      Object.keys(g.offsets)
        .sort()
        .map((t) => [t, Object.entries(g.offsets[t]!).sort(([a], [b]) => Number(a) - Number(b))]),
    ]),
  );
}

export class GroupSnapshotter {
  readonly #store: ObjectStore;
  readonly #backupId: string;
  readonly #minIntervalMs: number;
  #last: { fingerprint: string; at: number; groups: number } | undefined;

  constructor(store: ObjectStore, backupId: string, minIntervalMs = 0) {
    this.#store = store;
    this.#backupId = backupId;
    this.#minIntervalMs = minIntervalMs;
  }

  /**
   * Writes a snapshot if the offsets changed since the last one written (the first of a run is always
   * written) and, unless `final`, the minimum interval has passed. Returns the number of groups.
   */
  async take(admin: KafkaAdmin, topics: Set<string>, final = false): Promise<number> {
    const snap = await collectGroupSnapshot(admin, topics);
    const fp = fingerprint(snap);
    const last = this.#last;
    const due = !last || (fp !== last.fingerprint && (final || snap.taken_at - last.at >= this.#minIntervalMs));
    if (!due) return snap.groups.length;
    await writeGroupSnapshot(this.#store, this.#backupId, snap);
    this.#last = { fingerprint: fp, at: snap.taken_at, groups: snap.groups.length };
    return snap.groups.length;
  }
}
