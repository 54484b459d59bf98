/** Every command, in the order `--help` lists them. Each file parses its flags, calls one engine function and prints. */
import type { Command } from 'commander';
import { registerBackupCommand } from './backup.js';
import { registerCatCommand } from './cat.js';
import { registerCopyCommand } from './copy.js';
import { registerDescribeCommand } from './describe.js';
import { registerEraseCommand } from './erase.js';
import { registerListCommand } from './list.js';
import { registerOffsetResetCommands } from './offset-reset.js';
import { registerOffsetRollbackCommands } from './offset-rollback.js';
import { registerPruneCommand } from './prune.js';
import { registerRestoreCommand } from './restore.js';
import { registerShowOffsetMappingCommand } from './show-offset-mapping.js';
import { registerSnapshotGroupsCommand } from './snapshot-groups.js';
import { registerStatusCommand } from './status.js';
import { registerThreePhaseRestoreCommand } from './three-phase-restore.js';
import { registerTimelineCommand } from './timeline.js';
import { registerValidateRestoreCommand } from './validate-restore.js';
import { registerValidateCommand } from './validate.js';
import { registerValidationCommands } from './validation.js';

export function registerCommands(program: Command): void {
  registerBackupCommand(program);
  registerRestoreCommand(program);
  registerValidateRestoreCommand(program);
  registerDescribeCommand(program);
  registerListCommand(program);
  registerCatCommand(program);
  registerValidateCommand(program);
  registerTimelineCommand(program);
  registerShowOffsetMappingCommand(program);
  registerThreePhaseRestoreCommand(program);
  registerOffsetResetCommands(program);
  registerOffsetRollbackCommands(program);
  registerStatusCommand(program);
  registerSnapshotGroupsCommand(program);
  registerPruneCommand(program);
  registerCopyCommand(program);
  registerEraseCommand(program);
  registerValidationCommands(program);
}
