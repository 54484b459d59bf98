/** The kafka-backup CLI from the sources, as a child process: what a user's shell sees of a command. */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Added to the test process's environment. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  maxBuffer?: number;
}

export function runCli(args: string[], opts: CliOptions = {}): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    timeout: opts.timeoutMs ?? 180_000,
    ...(opts.maxBuffer ? { maxBuffer: opts.maxBuffer } : {}),
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The command line of the CLI from the sources: `spawn(CLI_ARGV[0], [...CLI_ARGV.slice(1), ...args], { cwd: CLI_CWD })`. */
export const CLI_ARGV = [process.execPath, '--import', 'tsx', join(ROOT, 'src/cli/run.ts')] as const;
export const CLI_CWD = ROOT;

/**
 * As runCli, without blocking this process: for a CLI that talks to a server running in the test process
 * (an OAuth endpoint, a registry stand-in) or runs while the test watches it.
 */
export function runCliAsync(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const child = spawn(CLI_ARGV[0], [...CLI_ARGV.slice(1), ...args], { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 180_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    }),
  );
}
