/** Which command files the CLI must load for one command line, read before commander parses it (src/cli/commands/index.ts). */
import type { Command } from 'commander';

/** A top-level command's name, every command ('all': help, no command, an unknown name) or none ('none': --version alone). */
export type CommandsToLoad = string | 'all' | 'none';

/**
 * The command `args` (argv without node and the script) runs: its first word that is neither an option nor
 * the value of one of `program`'s global options that takes a value (`--log-format json restore`).
 */
export function commandsToLoad(program: Command, args: readonly string[]): CommandsToLoad {
  const takesValue = new Set(program.options.filter((o) => o.required || o.optional).flatMap((o) => [o.long, o.short].filter((f) => f !== undefined)));
  const help = args.some((a) => a === '-h' || a === '--help');
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (!a.startsWith('-')) return a === 'help' ? 'all' : a;
    if (takesValue.has(a)) i++;
  }
  return !help && args.some((a) => a === '-V' || a === '--version') ? 'none' : 'all';
}
