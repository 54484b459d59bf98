import { createHash, randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { PreconditionFailedError, StorageError } from '../util/errors.js';
import { TEMP_MARKER } from './keys.js';

/*
  Compare-and-swap on a POSIX filesystem, which has no atomic compare-and-rename. A per-key lock
  file `.{name}.kbtmp-lock` (created with O_EXCL; skipped by `list` like every temp file) makes
  "read the current version, compare, rename the new file into place" one step for every
  conditional writer. The version of a file is a hash of its content: a kafka-backup index or
  manifest never repeats its content (each write carries a new generation), so there is no ABA.

  A holder paused while it holds the lock (SIGSTOP, a VM pause) keeps everyone else waiting until
  it resumes; its write is then a valid CAS (it compared under the lock) and the waiters compare
  against it. A holder that died (same host, pid gone) is stolen from at once. A holder on another
  host (a shared network filesystem) cannot be checked: after LOCK_WAIT_MS the write fails, naming
  the lock file. Two processes stealing the same dead holder's lock at the same instant is not
  excluded (docs/reliability.md): a dead holder exists only if a process was killed in the
  microseconds between creating the lock and removing it.
*/

const LOCK_WAIT_MS = 120_000;

export function contentVersion(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 32);
}

function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) !== 'ESRCH';
  }
}

async function readCurrent(file: string): Promise<Buffer | undefined> {
  try {
    return await fsp.readFile(file);
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw e;
  }
}

async function acquire(lock: string, key: string): Promise<string> {
  const token = randomBytes(8).toString('hex');
  const body = JSON.stringify({ pid: process.pid, host: hostname(), token });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      await fsp.writeFile(lock, body, { flag: 'wx', mode: 0o600 });
      return token;
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
    }
    const held = await fsp.readFile(lock, 'utf8').catch(() => '');
    let holder: { pid?: number; host?: string } = {};
    try {
      holder = JSON.parse(held) as typeof holder;
    } catch {
      /* being written: wait */
    }
    if (holder.host === hostname() && typeof holder.pid === 'number' && !alive(holder.pid)) {
      const aside = `${lock}-dead-${randomBytes(6).toString('hex')}`;
      await fsp.rename(lock, aside).then(
        () => fsp.rm(aside, { force: true }),
        () => undefined,
      );
      continue;
    }
    if (Date.now() > deadline) {
      throw new StorageError(
        'LOCKED',
        `conditional write of ${key}: the lock ${lock} has been held for over ${LOCK_WAIT_MS / 1000} s by pid ${holder.pid ?? '?'} on ${holder.host ?? '?'}; if that process is gone, delete the lock file`,
        key,
      );
    }
    await new Promise((r) => setTimeout(r, wait));
  }
}

/**
 * Renames `tmp` (the new content, already written and fsynced) onto `file` if `file` is still at
 * `expected`; removes `tmp` otherwise. Returns the new version.
 */
export async function casRename(key: string, file: string, tmp: string, data: Uint8Array, expected: string | null): Promise<string> {
  const lock = path.join(path.dirname(file), `.${path.basename(file)}${TEMP_MARKER}lock`);
  let token: string | undefined;
  try {
    token = await acquire(lock, key);
    const cur = await readCurrent(file);
    const version = cur === undefined ? null : contentVersion(cur);
    if (version !== expected) throw new PreconditionFailedError(key, expected);
    await fsp.rename(tmp, file);
    return contentVersion(data);
  } finally {
    await fsp.rm(tmp, { force: true });
    if (token !== undefined) {
      const still = await fsp.readFile(lock, 'utf8').catch(() => '');
      if (still.includes(token)) await fsp.rm(lock, { force: true });
    }
  }
}
