/**
 * Small process/port utilities shared by scripts/kafka.ts and scripts/minio.ts.
 *
 * Servers are spawned through a tiny bash watchdog in their own process group:
 *  - stop() signals the whole group (SIGTERM, then SIGKILL after a grace period);
 *  - if the owning node process dies without calling stop() (crash, SIGKILL, a test
 *    runner killing a file on timeout), the watchdog notices within ~1 s, stops the
 *    server and deletes its run directory, so no stray java/minio processes remain.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (scripts/..). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Scratch area for server data, logs and pid files (git-ignored). */
export const RUN_DIR = process.env.KB_RUN_DIR ? resolve(process.env.KB_RUN_DIR) : resolve(ROOT, '.run');
export const CACHE_DIR = resolve(ROOT, '.cache');

/** Returns a currently free TCP port on 127.0.0.1 (the OS picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolvePort(port) : reject(new Error('could not allocate a port'))));
    });
  });
}

/** `n` distinct free ports. */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort(host));
  return [...out];
}

/** True when a TCP connection to host:port succeeds. */
export function canConnect(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((res) => {
    const sock = connect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      res(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Last `lines` lines of a text file ('' when missing). */
export function tail(file: string, lines = 60): string {
  if (!existsSync(file)) return `(no log file ${file})`;
  const text = readFileSync(file, 'utf8');
  return text.split('\n').slice(-lines).join('\n');
}

const WATCHDOG = `
owner="$1"; dir="$2"; shift 2
"$@" &
child=$!
stop_child() {
  kill -TERM "$child" 2>/dev/null
  for _ in $(seq 1 150); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$child" 2>/dev/null
  wait "$child" 2>/dev/null
}
trap 'stop_child; exit 143' TERM INT HUP
while kill -0 "$child" 2>/dev/null; do
  if [ "$owner" != 0 ] && ! kill -0 "$owner" 2>/dev/null; then
    stop_child
    if [ -n "$dir" ]; then rm -rf "$dir"; fi
    exit 0
  fi
  sleep 1 & wait $!
done
wait "$child"
`;

export interface Supervised {
  child: ChildProcess;
  /** pid of the watchdog = process group id of the server. */
  pid: number;
  /** Resolves with the exit code once the server (and its watchdog) exited. */
  exited: Promise<number | null>;
  isRunning(): boolean;
  /** SIGTERM the group, wait up to graceMs, then SIGKILL. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface SuperviseOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** stdout+stderr of the server go here (appended). */
  logFile: string;
  /** Deleted by the watchdog when the owner dies without stopping the server. */
  dir?: string;
  /**
   * Stop the server when this node process exits (default true). false = the server
   * outlives us (used by `npm run kafka:start -- --detach`).
   */
  ownedByThisProcess?: boolean;
}

/** Spawns `cmd args` under the watchdog, detached into its own process group. */
export function supervise(cmd: string, args: string[], opts: SuperviseOptions): Supervised {
  const owned = opts.ownedByThisProcess !== false;
  const fd = openSync(opts.logFile, 'a');
  const child = spawn('bash', ['-c', WATCHDOG, 'kb-watchdog', owned ? String(process.pid) : '0', opts.dir ?? '', cmd, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`failed to spawn ${cmd}`);
  let running = true;
  const exited = new Promise<number | null>((res) => {
    child.once('exit', (code, signal) => {
      running = false;
      process.removeListener('exit', onExit);
      res(code ?? (signal ? 128 : null));
    });
    child.once('error', () => {
      running = false;
      res(null);
    });
  });
  // Do not keep the event loop alive just because a server is running.
  child.unref();
  // Synchronous last-chance cleanup when node exits normally or via process.exit().
  const onExit = () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    if (opts.dir) rmSync(opts.dir, { recursive: true, force: true });
  };
  if (owned) process.on('exit', onExit);

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 15_000): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener('exit', onExit);
      if (!running) return;
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), graceMs);
      });
      const result = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (result === 'timeout') {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        await exited;
      }
    })();
    return stopping;
  };
  return { child, pid, exited, isRunning: () => running, stop };
}

/** Polls `check` every `intervalMs` until it returns true; throws `onTimeout()` after timeoutMs. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; abort?: () => string | undefined },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const aborted = opts.abort?.();
    if (aborted) throw new Error(`${what}: ${aborted}`);
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(opts.intervalMs ?? 250);
  }
  const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`${what}: timed out after ${opts.timeoutMs} ms${detail}`);
}
