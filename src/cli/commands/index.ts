/**
 * Every command, in the order `--help` lists them. Each file parses its flags, calls one engine function and
 * prints. A file is loaded only when one of its commands runs (or for the full help): loading every
 * command's engines, the Kafka client, zod and the metrics library cost a third of a second of every start
 * (docs/performance.md, "Start-up").
 */
import type { Command } from 'commander';
import type { CommandsToLoad } from '../command-name.js';

interface CommandFile {
  /** The top-level commands the file registers. */
  names: readonly string[];
  load: () => Promise<(program: Command) => void>;
}

const COMMANDS: readonly CommandFile[] = [
  { names: ['backup'], load: async () => (await import('./backup.js')).registerBackupCommand },
  { names: ['restore'], load: async () => (await import('./restore.js')).registerRestoreCommand },
  { names: ['validate-restore'], load: async () => (await import('./validate-restore.js')).registerValidateRestoreCommand },
  { names: ['describe'], load: async () => (await import('./describe.js')).registerDescribeCommand },
  { names: ['list'], load: async () => (await import('./list.js')).registerListCommand },
  { names: ['cat'], load: async () => (await import('./cat.js')).registerCatCommand },
  { names: ['validate'], load: async () => (await import('./validate.js')).registerValidateCommand },
  { names: ['timeline'], load: async () => (await import('./timeline.js')).registerTimelineCommand },
  { names: ['show-offset-mapping'], load: async () => (await import('./show-offset-mapping.js')).registerShowOffsetMappingCommand },
  { names: ['three-phase-restore'], load: async () => (await import('./three-phase-restore.js')).registerThreePhaseRestoreCommand },
  { names: ['offset-reset', 'offset-reset-bulk'], load: async () => (await import('./offset-reset.js')).registerOffsetResetCommands },
  { names: ['offset-rollback'], load: async () => (await import('./offset-rollback.js')).registerOffsetRollbackCommands },
  { names: ['status'], load: async () => (await import('./status.js')).registerStatusCommand },
  { names: ['snapshot-groups'], load: async () => (await import('./snapshot-groups.js')).registerSnapshotGroupsCommand },
  { names: ['prune'], load: async () => (await import('./prune.js')).registerPruneCommand },
  { names: ['copy'], load: async () => (await import('./copy.js')).registerCopyCommand },
  { names: ['erase'], load: async () => (await import('./erase.js')).registerEraseCommand },
  { names: ['validation'], load: async () => (await import('./validation.js')).registerValidationCommands },
];

/**
 * Registers what `which` asks for (src/cli/command-name.ts): one command's file, none (`--version`), or every
 * file (help, and a name no file has, so that commander can suggest the one meant).
 */
export async function registerCommands(program: Command, which: CommandsToLoad): Promise<void> {
  if (which === 'none') return;
  const one = which === 'all' ? undefined : COMMANDS.find((c) => c.names.includes(which));
  const registers = await Promise.all((one ? [one] : COMMANDS).map((c) => c.load()));
  for (const register of registers) register(program);
}
