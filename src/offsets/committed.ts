/**
 * The committed source offsets a reset translates: the user's (`manual_offsets`) or those of the
 * backup's consumer-group snapshot taken at or before the restore's window end.
 */
import { groupSnapshotsLocation, listGroupSnapshots, type GroupSnapshot } from '../format/group-snapshot.js';
import type { ObjectStore } from '../storage/store.js';
import { UserError } from '../util/errors.js';
import type { CommittedOffsets, OffsetsFrom } from './report.js';
import { chooseSnapshot } from './translate.js';

export interface Committed {
  offsets: CommittedOffsets;
  from: OffsetsFrom;
}

function offsetsOf(snapshot: GroupSnapshot): CommittedOffsets {
  const offsets: CommittedOffsets = {};
  for (const g of snapshot.groups) {
    const topics: Record<string, Record<number, number>> = {};
    for (const [t, parts] of Object.entries(g.offsets)) topics[t] = Object.fromEntries(Object.entries(parts).map(([p, off]) => [Number(p), off]));
    offsets[g.group_id] = topics;
  }
  return offsets;
}

/** The latest snapshot taken at or before `windowEnd` (the earliest one, with a warning, when none is). */
export async function snapshotOffsets(
  store: ObjectStore,
  backupId: string,
  windowEnd: number | undefined,
  warnings: string[],
  hint: string,
): Promise<Committed> {
  const snaps = await listGroupSnapshots(store, backupId);
  const chosen = chooseSnapshot(
    snaps.map((s) => ({ taken_at: s.snapshot.taken_at, s })),
    windowEnd,
  );
  if (!chosen.snapshot)
    throw new UserError('NO_GROUP_SNAPSHOT', `backup ${backupId} has no consumer-group snapshot (${groupSnapshotsLocation(backupId)}); ${hint}`);
  if (chosen.warning) warnings.push(chosen.warning);
  return { offsets: offsetsOf(chosen.snapshot.s.snapshot), from: { kind: 'snapshot', takenAt: chosen.snapshot.taken_at, key: chosen.snapshot.s.key } };
}

export function manualOffsets(manual: CommittedOffsets | undefined): Committed {
  if (!manual || Object.keys(manual).length === 0) {
    throw new UserError(
      'CONFIG',
      'consumer_group_strategy: manual needs restore.manual_offsets: {group: {source topic: {partition: committed source offset}}}',
    );
  }
  return { offsets: manual, from: { kind: 'manual' } };
}
