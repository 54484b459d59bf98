/**
 * The restore engine's front door: what the engines above it (offsets, recovery, validation) may
 * use. They import from here, never from the files behind it (test/unit/import-rules.test.ts).
 */
export { countExactly } from './count.js';
export { reportJson, restoreIdFor, runRestore, type PartitionResult, type RestoreResult } from './engine.js';
export { readOriginalOffset } from './headers.js';
export type { RestoreOptions } from './options.js';
export { runDistributedRestore } from './workers/distributed.js';
export { listRestoresStatus, loadRestoreStatus, type RestoreListEntry, type RestoreStatus } from './restore-status.js';
export { planRestore, refineWithFooters, type PlannedPartition, type PlannedTopic, type RestorePlan } from './plan.js';
export { readFooter, readSegmentBatches } from './segment-source.js';
export { RestoreStateStore } from './state-store.js';
export { checkTarget } from './target-check.js';
export { topicConfigLines } from './topic-configs.js';
export { catBackup, type CatOptions, type CatRecord, type CatRun, type CatStats } from './cat.js';
