/**
 * The shape every consumer-group offset reset produces, whatever asked for it (a restore's offset
 * phase, three-phase-restore, the offset-reset commands): first as a plan (status `planned`),
 * then, once applied, with each group's outcome.
 */
import type { SourceCommit, Technique } from './translate.js';

export type ResetStrategy = Technique;

/** group → source topic → source partition → committed source offset (the `manual_offsets` shape). */
export type CommittedOffsets = Record<string, Record<string, Record<number, number>>>;

export interface PartitionReset {
  targetTopic: string;
  targetPartition: number;
  /** The source positions this target position stands for (several when partitions were merged). */
  sources: SourceCommit[];
  /** The group's committed offset on the target before the reset (null = none). */
  before: number | null;
  after: number;
  /** Records at or after `after` the group had already consumed on the source. */
  duplicates: number;
  /** `duplicates` is an upper bound (timestamp-based), not an exact count. */
  duplicatesApproximate: boolean;
  /** No restored record is left to read for this group here. */
  atEnd: boolean;
}

export type GroupStatus = 'reset' | 'planned' | 'refused' | 'no-offsets';

export interface GroupReset {
  groupId: string;
  technique: ResetStrategy;
  status: GroupStatus;
  reason?: string;
  partitions: PartitionReset[];
}

/** Where the committed source offsets came from. */
export type OffsetsFrom = { kind: 'snapshot'; takenAt: number; key: string } | { kind: 'manual' };

export interface ResetReport {
  backupId: string;
  restoreId: string;
  technique: ResetStrategy;
  offsetsFrom: OffsetsFrom;
  /** Nothing was committed: a plan (with each group's current offsets read). */
  dryRun: boolean;
  warnings: string[];
  groups: GroupReset[];
}

/** Groups that could not be reset (active members), for the caller's exit status. */
export function refusedGroups(rep: ResetReport): GroupReset[] {
  return rep.groups.filter((g) => g.status === 'refused');
}

/** Groups of a plan that have something to commit. */
export function groupsToChange(rep: ResetReport): GroupReset[] {
  return rep.groups.filter((g) => g.status === 'planned' && g.partitions.length > 0);
}
