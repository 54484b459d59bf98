/**
 * What the consumer-group keys of `restore` mean together, decided once from the config alone so
 * that `restore`, `validate-restore` and `three-phase-restore` agree and a combination that
 * cannot work is refused when the file is loaded, before any data is written.
 */
import type { ConsumerGroupStrategy, RestoreOptions } from './types.js';

/** The techniques that actually move groups (`skip` moves none; `cluster-scan` is not supported). */
export type ResetTechnique = Exclude<ConsumerGroupStrategy, 'skip' | 'cluster-scan'>;

type GroupKeys = Pick<RestoreOptions, 'consumer_group_strategy' | 'reset_consumer_offsets' | 'auto_consumer_groups' | 'manual_offsets'>;

/** `restore` resets groups after writing the data (the reference runs its reset phase for either key). */
export function resetAsked(r: GroupKeys): boolean {
  return r.reset_consumer_offsets || r.auto_consumer_groups;
}

/**
 * The technique a reset uses. `skip` is the default strategy, and a reset that was asked for with
 * it must still run (the reference tool runs its reset phase whatever the strategy): it uses
 * `exact`, the restore's own offset map, which is the most precise technique we have.
 */
export function resetTechnique(r: GroupKeys): ResetTechnique {
  const s = r.consumer_group_strategy;
  if (s === 'skip') return 'exact';
  if (s === 'cluster-scan') throw new RangeError('cluster-scan is refused when the config is loaded');
  return s;
}

/** Combinations that cannot work, as {key under restore, one-line reason with the alternative}. */
export function consumerGroupProblems(r: GroupKeys): { key: string; message: string }[] {
  const out: { key: string; message: string }[] = [];
  if (r.consumer_group_strategy === 'cluster-scan') {
    out.push({
      key: 'consumer_group_strategy',
      message:
        "cluster-scan is not supported (the reference tool never implemented it either); use exact (the restore's offset map, the default when reset_consumer_offsets is true), header-based or timestamp-based",
    });
  }
  const manualGiven = Object.keys(r.manual_offsets).length > 0;
  if (r.consumer_group_strategy === 'manual' && !manualGiven) {
    out.push({
      key: 'consumer_group_strategy',
      message:
        "manual needs restore.manual_offsets: {group: {source topic: {partition: committed source offset}}}; or use exact to take the positions from the backup's group snapshot",
    });
  }
  if (manualGiven && r.consumer_group_strategy !== 'manual') {
    out.push({
      key: 'manual_offsets',
      message: `is only used with consumer_group_strategy: manual (it is ${r.consumer_group_strategy}); set consumer_group_strategy: manual or remove manual_offsets`,
    });
  }
  return out;
}
