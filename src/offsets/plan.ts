/**
 * The offset plan of a restore config: which groups, which committed source offsets (the backup's
 * snapshot or manual_offsets), and where each group must resume on the restore's target, by the
 * configured technique. Nothing is committed here: apply.ts does that, for every caller.
 */
import { keys } from '../format/layout.js';
import { KafkaAdmin } from '../kafka/admin.js';
import { KafkaCluster } from '../kafka/cluster.js';
import { planRestore, restoreIdFor, RestoreStateStore, type RestoreOptions, type RestorePlan } from '../restore/index.js';
import type { RestoreState } from '../format/restore-state.js';
import { UserError } from '../util/errors.js';
import { manualOffsets, snapshotOffsets, type Committed } from './committed.js';
import type { CommittedOffsets, GroupReset, OffsetsFrom, PartitionReset, ResetReport, ResetStrategy } from './report.js';
import { translatePartition, type TargetPartitionPlan, type TranslateContext } from './target-translate.js';
import type { SourceCommit } from './translate.js';

export interface GroupResetOptions {
  /** The restore whose target the groups are moved to (same options as the restore itself). */
  restore: RestoreOptions;
  strategy: ResetStrategy;
  /** Groups to reset; empty = every group of the chosen snapshot (or of manualOffsets). */
  groups: string[];
  /** For `manual`: the committed source offsets, translated with the restore's exact map. */
  manualOffsets?: CommittedOffsets;
  /** Compute and report, commit nothing. */
  dryRun?: boolean;
}

export async function loadRestoreState(opts: RestoreOptions): Promise<RestoreState | undefined> {
  return new RestoreStateStore(opts.store, opts.backupId, restoreIdFor(opts), opts.checkpointState).load();
}

async function committedOffsets(o: Omit<GroupResetOptions, 'dryRun'>, warnings: string[]): Promise<Committed> {
  if (o.strategy === 'manual') return manualOffsets(o.manualOffsets);
  return snapshotOffsets(
    o.restore.store,
    o.restore.backupId,
    o.restore.windowEnd,
    warnings,
    'nothing to translate (use consumer_group_strategy: manual with restore.manual_offsets)',
  );
}

/** What a reset after the restore will do, or why it cannot, known before any data is written. */
export interface ResetPreview {
  technique: ResetStrategy;
  /** Groups that will be reset (the configured ones, or those of the snapshot used). */
  groups: string[];
  offsetsFrom?: OffsetsFrom;
  warnings: string[];
  /** Reasons the reset cannot work; `restore` refuses to start when there is one. */
  problems: string[];
}

/**
 * The reset's inputs checked against the backup and the plan: the group snapshot it translates
 * (or manual_offsets) exists, and a technique that needs one source per target partition is not
 * used on merged partitions. `restore` runs this before writing anything; validate-restore prints it.
 */
export async function previewReset(o: Omit<GroupResetOptions, 'dryRun'>, plan: RestorePlan): Promise<ResetPreview> {
  const warnings: string[] = [];
  const problems: string[] = [];
  let committed: Committed | undefined;
  try {
    committed = await committedOffsets(o, warnings);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    problems.push(err.message);
  }
  if (o.strategy === 'header-based' || o.strategy === 'timestamp-based') {
    const fix = `${o.strategy} needs one source per target partition; use consumer_group_strategy: exact (the restore's offset map)`;
    for (const tp of targetPartitionPlans(plan).values()) {
      if (tp.targetPartition === -1) problems.push(`${tp.targetTopic} is repartitioned (restore.repartitioning): ${fix}`);
      else if (tp.sources.length > 1)
        problems.push(
          `${tp.targetTopic}/${tp.targetPartition} holds records of several source partitions (${tp.sources.map((s) => `${s.sourceTopic}/${s.sourcePartition}`).join(', ')}): ${fix}`,
        );
    }
  }
  const groups = o.groups.length ? o.groups : Object.keys(committed?.offsets ?? {}).sort();
  return { technique: o.strategy, groups, offsetsFrom: committed?.from, warnings, problems };
}

/** The planned partitions grouped by the target partition they are written to. */
function targetPartitionPlans(plan: RestorePlan): Map<string, TargetPartitionPlan> {
  const targets = new Map<string, TargetPartitionPlan>();
  for (const t of plan.topics) {
    for (const p of t.partitions) {
      const k = `${p.targetTopic}/${p.targetPartition}`;
      const tp = targets.get(k) ?? { targetTopic: p.targetTopic, targetPartition: p.targetPartition, sources: [] };
      tp.sources.push(p);
      targets.set(k, tp);
    }
  }
  return targets;
}

/** One group's plan: each target partition it has a committed source position for, translated. */
async function planGroup(
  groupId: string,
  committed: Committed,
  o: GroupResetOptions,
  targets: Map<string, TargetPartitionPlan>,
  ctx: TranslateContext,
): Promise<GroupReset> {
  const technique = o.strategy;
  const mine = committed.offsets[groupId];
  if (!mine) {
    const reason =
      committed.from.kind === 'manual' ? 'not in restore.manual_offsets' : 'the group has no committed offsets on a backed-up topic in the snapshot';
    return { groupId, technique, status: 'no-offsets', reason, partitions: [] };
  }
  const partitions: PartitionReset[] = [];
  for (const tp of targets.values()) {
    const commits: SourceCommit[] = [];
    for (const s of tp.sources) {
      const c = mine[s.sourceTopic]?.[s.sourcePartition];
      if (c !== undefined) commits.push({ topic: s.sourceTopic, partition: s.sourcePartition, offset: c });
    }
    if (commits.length) partitions.push(await translatePartition(technique, ctx, tp, commits));
  }
  if (partitions.length === 0) return { groupId, technique, status: 'no-offsets', reason: 'none of its committed partitions was restored', partitions };
  return { groupId, technique, status: 'planned', partitions };
}

/** Translates the committed offsets of the groups to the restore's target (reads only; commits nothing). */
export async function planGroupResets(o: GroupResetOptions): Promise<ResetReport> {
  const r = o.restore;
  if (!r.target) throw new UserError('CONFIG', 'target.bootstrap_servers is required to reset consumer-group offsets');
  const warnings: string[] = [];
  const restoreId = restoreIdFor(r);
  const committed = await committedOffsets(o, warnings);
  const plan = await planRestore(r);
  if (plan.errors.length) throw new UserError('INVALID_RESTORE', `restore configuration is not valid:\n  - ${plan.errors.join('\n  - ')}`);
  const needsMap = o.strategy === 'exact' || o.strategy === 'manual';
  const state = await loadRestoreState(r);
  if (needsMap && !state) {
    throw new UserError(
      'NO_OFFSET_MAP',
      `no stored offset map for this restore (${keys.restoreState(r.backupId, restoreId)}): run the restore with this configuration first (the map is tied to the backup, the target and the selection)`,
    );
  }
  if (needsMap && state && state.completed_at === null) warnings.push(`restore ${restoreId} has not finished: only the records restored so far are mapped`);
  const admin = new KafkaAdmin(r.target);
  const cluster = o.strategy === 'header-based' ? await KafkaCluster.connect(r.target) : undefined;
  try {
    const targets = targetPartitionPlans(plan);
    const groups: GroupReset[] = [];
    for (const g of o.groups.length ? o.groups : Object.keys(committed.offsets).sort())
      groups.push(await planGroup(g, committed, o, targets, { restore: r, state, admin, cluster }));
    return { backupId: r.backupId, restoreId, technique: o.strategy, offsetsFrom: committed.from, dryRun: true, warnings, groups };
  } finally {
    await admin.close();
    await cluster?.close();
  }
}
