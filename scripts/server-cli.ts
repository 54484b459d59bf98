/**
 * Shared logic of scripts/kafka-cli.ts and scripts/minio-cli.ts:
 *   start            run in the foreground, print the address, stop on Ctrl-C
 *   start --detach   start, write .run/<name>.json, exit (the server keeps running)
 *   stop             stop a detached server recorded in .run/<name>.json
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, RUN_DIR, sleep } from './proc.js';

export interface Started {
  /** One-line address written to .run/<name>.<addressFileSuffix>. */
  address: string;
  pid: number;
  dir: string;
  info: Record<string, unknown>;
  stop(): Promise<void>;
}

export interface ServerCli {
  name: string;
  installScript: string;
  installed(): boolean;
  addressFile: string;
  start(detached: boolean): Promise<Started>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function runServerCli(cli: ServerCli, argv: string[]): Promise<void> {
  const [cmd = 'start', ...rest] = argv;
  const stateFile = join(RUN_DIR, `${cli.name}.json`);
  const addressFile = join(RUN_DIR, cli.addressFile);
  mkdirSync(RUN_DIR, { recursive: true });

  if (cmd === 'stop') {
    if (!existsSync(stateFile)) {
      console.log(`${cli.name}: no detached server recorded in ${stateFile}`);
      return;
    }
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number; dir: string };
    if (alive(state.pid)) {
      process.kill(-state.pid, 'SIGTERM');
      for (let i = 0; i < 150 && alive(state.pid); i++) await sleep(100);
      if (alive(state.pid)) process.kill(-state.pid, 'SIGKILL');
    }
    rmSync(state.dir, { recursive: true, force: true });
    rmSync(stateFile, { force: true });
    rmSync(addressFile, { force: true });
    console.log(`${cli.name}: stopped`);
    return;
  }
  if (cmd !== 'start') {
    console.error(`usage: ${cli.name}-cli.ts start [--detach] | stop`);
    process.exit(2);
  }
  const detach = rest.includes('--detach') || rest.includes('-d');
  if (existsSync(stateFile)) {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number };
    if (alive(state.pid)) {
      console.error(`${cli.name}: already running (pid ${state.pid}, ${readFileSync(addressFile, 'utf8').trim()}); npm run ${cli.name}:stop first`);
      process.exit(1);
    }
    rmSync(stateFile, { force: true });
  }
  if (!cli.installed()) execFileSync('bash', [join(ROOT, 'scripts', cli.installScript)], { stdio: 'inherit' });

  const s = await cli.start(detach);
  writeFileSync(addressFile, `${s.address}\n`);
  console.log(JSON.stringify(s.info, null, 2));
  console.log(`${cli.name}: ${s.address} (written to ${addressFile})`);
  if (detach) {
    writeFileSync(stateFile, JSON.stringify({ pid: s.pid, dir: s.dir, ...s.info }, null, 2));
    console.log(`${cli.name}: running detached (process group ${s.pid}); stop with: npm run ${cli.name}:stop`);
    process.exit(0);
  }
  console.log(`${cli.name}: running; press Ctrl-C to stop`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${cli.name}: stopping ...`);
    await s.stop();
    rmSync(addressFile, { force: true });
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  // Keep the process alive until a signal arrives.
  setInterval(() => {}, 1 << 30);
}
