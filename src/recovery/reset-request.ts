import type { CommittedOffsets, ResetStrategy } from '../offsets/report.js';

/** The consumer-group part of a restore config, as the recovery jobs need it. */
export interface ResetRequest {
  /** reset_consumer_offsets or auto_consumer_groups: `restore` resets the groups after the data. */
  asked: boolean;
  strategy: ResetStrategy;
  /** Empty = every group of the chosen snapshot. */
  groups: string[];
  manualOffsets?: CommittedOffsets;
}
