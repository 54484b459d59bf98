/** The program: global flags (verbosity, encryption key), the commands (./commands/), and how errors become exit codes. */
import { Command, CommanderError, Option } from 'commander';
import { setDefaultEncryption } from '../storage/index.js';
import { KafkaBackupError, UserError } from '../util/errors.js';
import { configureLogger, type LogOutput } from '../util/logger.js';
import { TOOL_VERSION } from '../util/version.js';
import { commandsToLoad } from './command-name.js';
import { registerCommands } from './commands/index.js';
import { setProgressMode } from './progress.js';

let verbosity = 0;

/** --log-format, --quiet and colour: human log lines on a terminal unless asked otherwise (docs/output.md). */
function outputMode(g: { logFormat?: string; quiet?: boolean; color?: boolean }): LogOutput {
  const f = (g.logFormat ?? 'auto').toLowerCase();
  if (!['auto', 'text', 'json'].includes(f)) throw new UserError('USAGE', `--log-format: "${g.logFormat}" is not one of auto, text, json`);
  const tty = process.stderr.isTTY === true;
  const format = f === 'auto' ? (tty ? 'text' : 'json') : (f as 'text' | 'json');
  return { format, quiet: g.quiet === true, color: tty && g.color !== false && !process.env.NO_COLOR };
}

/** The program for one command line (`argv` as process.argv): only the command it runs is loaded. */
export async function buildProgram(argv: readonly string[]): Promise<Command> {
  const program = new Command();
  program
    .name('kafka-backup')
    .description('Back up Apache Kafka topics to object storage and restore them, whole or to any point in time.')
    .version(`kafka-backup ${TOOL_VERSION}`, '-V, --version')
    .option('-v, --verbose', 'more logging: -v debug, -vv trace (repeatable)', (_v, prev: number) => prev + 1, 0)
    .addOption(
      new Option(
        '--encryption-key-file <path>',
        "encrypted backups: file holding the 256-bit key (commands without a config file; a config's encryption: section wins)",
      ).env('KAFKA_BACKUP_ENCRYPTION_KEY_FILE'),
    )
    .addOption(
      new Option('--encryption-key-env <name>', 'encrypted backups: environment variable holding the key (hex or base64)').env(
        'KAFKA_BACKUP_ENCRYPTION_KEY_ENV',
      ),
    )
    .addOption(new Option('--encryption-key-id <id>', 'key id to record when writing (default: derived from the key)').env('KAFKA_BACKUP_ENCRYPTION_KEY_ID'))
    .showHelpAfterError()
    .addOption(
      new Option('--log-format <format>', 'logs on stderr: auto (human lines on a terminal, JSON otherwise), text or json')
        .env('KAFKA_BACKUP_LOG_FORMAT')
        .default('auto'),
    )
    .option('-q, --quiet', 'for scripts: no progress display and only warnings and errors in the logs (reports still go to stdout)')
    .hook('preAction', (cmd) => {
      const g = cmd.opts() as { verbose?: number; logFormat?: string; quiet?: boolean; color?: boolean };
      verbosity = g.verbose ?? 0;
      const out = outputMode(g);
      configureLogger(verbosity, out);
      setProgressMode(out.quiet ? 'off' : process.stderr.isTTY === true ? 'live' : 'lines');
      const e = cmd.opts() as { encryptionKeyFile?: string; encryptionKeyEnv?: string; encryptionKeyId?: string };
      setDefaultEncryption(
        e.encryptionKeyFile !== undefined || e.encryptionKeyEnv !== undefined
          ? { keyFile: e.encryptionKeyFile, keyEnv: e.encryptionKeyEnv, keyId: e.encryptionKeyId }
          : undefined,
      );
    });

  program.addOption(new Option('--no-color', 'plain output').hideHelp());
  await registerCommands(program, commandsToLoad(program, argv.slice(2)));
  return program;
}

export async function main(argv: string[]): Promise<number> {
  let program: Command;
  try {
    program = await buildProgram(argv);
  } catch (err) {
    process.stderr.write(`error: ${(err as Error)?.message ?? String(err)}\n`);
    return 1;
  }
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof UserError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    if (err instanceof KafkaBackupError) {
      process.stderr.write(`error: ${err.message}\n`);
      if (verbosity > 0 && err.stack) process.stderr.write(err.stack + '\n');
      return 1;
    }
    const e = err as Error;
    process.stderr.write(`error: ${e?.message ?? String(err)}\n`);
    if (e?.stack) process.stderr.write((verbosity > 0 ? e.stack : e.stack.split('\n').slice(0, 4).join('\n')) + '\n');
    return 1;
  }
}
