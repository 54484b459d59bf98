import { randomBytes } from 'node:crypto';
import { constants, type Dirent } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { AlreadyExistsError, NotFoundError, PreconditionFailedError, StorageError } from '../util/errors.js';
import { casRename, contentVersion } from './fs-cas.js';
import { TEMP_MARKER, checkRange, compareKeys, validateKey, validatePrefix } from './keys.js';
import type { ByteRange, ObjectMeta, ObjectStore, PutOptions, VersionedObject } from './store.js';
import { existsViaHead } from './util.js';

function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

const MISSING = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

/**
 * A backup holds record data: only its owner may read it. Files 0600, directories this store
 * creates 0700; the process umask applies on top, so it can only make them stricter. Directories
 * that exist already (the root a user made) keep their mode.
 */
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/**
 * Local filesystem store rooted at a directory, private to its owner (FILE_MODE, DIR_MODE). Writes go to a temp file in the target directory,
 * are fsynced, then renamed (or, for `ifNotExists`, hard-linked: link() fails with EEXIST, so two
 * racing creators cannot both win). Temp files contain TEMP_MARKER, which keys may not contain,
 * and are skipped by `list`.
 */
export class FsStore implements ObjectStore {
  readonly url: string;
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.url = this.root;
  }

  #path(key: string): string {
    return path.join(this.root, ...validateKey(key).split('/'));
  }

  #fail(op: string, key: string, e: unknown): StorageError {
    if (e instanceof StorageError) return e;
    const code = errno(e) ?? 'IO';
    const msg = e instanceof Error ? e.message : String(e);
    return new StorageError(
      code === 'EACCES' || code === 'EPERM' ? 'ACCESS_DENIED' : code === 'EROFS' ? 'READ_ONLY' : 'IO',
      `filesystem ${op} of ${key} under ${this.root} failed: ${msg}`,
      key,
      { cause: e },
    );
  }

  /** A recursive mkdir on a read-only mount fails with ENOENT; the root's own access check names the real cause. */
  async #readOnlyOr(e: unknown): Promise<never> {
    if (errno(e) === 'ENOENT') await fsp.access(this.root, constants.W_OK).catch((ro: unknown) => Promise.reject(errno(ro) === 'EROFS' ? ro : e));
    throw e;
  }

  async #writeTemp(key: string, file: string, write: (fh: fsp.FileHandle) => Promise<number>): Promise<{ tmp: string; size: number }> {
    const dir = path.dirname(file);
    const tmp = path.join(dir, `.${path.basename(file)}${TEMP_MARKER}${process.pid}-${randomBytes(6).toString('hex')}`);
    let fh: fsp.FileHandle;
    try {
      await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE }).catch((e: unknown) => this.#readOnlyOr(e));
      fh = await fsp.open(tmp, 'wx', FILE_MODE);
    } catch (e) {
      throw this.#fail('write', key, e);
    }
    try {
      const size = await write(fh);
      await fh.sync();
      await fh.close();
      return { tmp, size };
    } catch (e) {
      await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true });
      throw this.#fail('write', key, e);
    }
  }

  async #commit(key: string, file: string, tmp: string, opts?: PutOptions): Promise<void> {
    try {
      if (opts?.ifNotExists) {
        try {
          await fsp.link(tmp, file);
        } catch (e) {
          if (errno(e) === 'EEXIST') throw new AlreadyExistsError(key);
          throw e;
        } finally {
          await fsp.rm(tmp, { force: true });
        }
      } else {
        await fsp.rename(tmp, file);
      }
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw this.#fail('write', key, e);
    }
    await syncDir(path.dirname(file));
  }

  async put(key: string, data: Uint8Array, opts?: PutOptions): Promise<void> {
    const file = this.#path(key);
    const { tmp } = await this.#writeTemp(key, file, async (fh) => {
      await fh.writeFile(data);
      return data.byteLength;
    });
    await this.#commit(key, file, tmp, opts);
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<{ size: number }> {
    const file = this.#path(key);
    const { tmp, size } = await this.#writeTemp(key, file, async (fh) => {
      let n = 0;
      for await (const chunk of body) {
        let off = 0;
        while (off < chunk.byteLength) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
          off += bytesWritten;
        }
        n += chunk.byteLength;
      }
      return n;
    });
    await this.#commit(key, file, tmp, opts);
    return { size };
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    try {
      const data = await this.get(key);
      return { data, version: contentVersion(data) };
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
  }

  /** Compare-and-swap under a per-key lock file (fs-cas.ts). */
  async putIfMatch(key: string, data: Uint8Array, expected: string | null): Promise<string> {
    const file = this.#path(key);
    const { tmp } = await this.#writeTemp(key, file, async (fh) => {
      await fh.writeFile(data);
      return data.byteLength;
    });
    try {
      const v = await casRename(key, file, tmp, data, expected);
      await syncDir(path.dirname(file));
      return v;
    } catch (e) {
      if (e instanceof PreconditionFailedError) throw e;
      throw this.#fail('write', key, e);
    }
  }

  async #open(key: string): Promise<{ fh: fsp.FileHandle; size: number }> {
    const file = this.#path(key);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, constants.O_RDONLY);
    } catch (e) {
      if (MISSING.has(errno(e) ?? '')) throw new NotFoundError(key, { cause: e });
      throw this.#fail('read', key, e);
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new NotFoundError(key);
    }
    return { fh, size: st.size };
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    const [start, endReq] = checkRange(key, range);
    const { fh, size } = await this.#open(key);
    try {
      const end = Math.min(endReq ?? size, size);
      const len = Math.max(0, end - start);
      const buf = Buffer.allocUnsafe(len);
      let off = 0;
      while (off < len) {
        const { bytesRead } = await fh.read(buf, off, len - off, start + off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return off === len ? buf : buf.subarray(0, off);
    } catch (e) {
      throw this.#fail('read', key, e);
    } finally {
      await fh.close();
    }
  }

  async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Buffer>> {
    const [start, endReq] = checkRange(key, range);
    const { fh, size } = await this.#open(key);
    const end = Math.min(endReq ?? size, size);
    if (start >= end) {
      await fh.close();
      return (async function* () {})();
    }
    // createReadStream's `end` is inclusive; the stream closes the handle when done.
    return fh.createReadStream({ start, end: end - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
  }

  async head(key: string): Promise<ObjectMeta | undefined> {
    try {
      const st = await fsp.stat(this.#path(key));
      return st.isFile() ? { key, size: st.size, lastModified: st.mtime } : undefined;
    } catch (e) {
      if (MISSING.has(errno(e) ?? '')) return undefined;
      throw this.#fail('stat', key, e);
    }
  }

  async exists(key: string): Promise<boolean> {
    return existsViaHead(this, key);
  }

  async *list(prefix: string): AsyncIterable<ObjectMeta> {
    validatePrefix(prefix);
    // Start the walk at the deepest directory the prefix fully names.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash < 0 ? '' : prefix.slice(0, slash);
    yield* this.#walk(dirKey, prefix);
  }

  async *#walk(dirKey: string, prefix: string): AsyncGenerator<ObjectMeta> {
    const dir = dirKey === '' ? this.root : path.join(this.root, ...dirKey.split('/'));
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (e) {
      if (MISSING.has(errno(e) ?? '')) return;
      throw this.#fail('list', dirKey || '.', e);
    }
    // Sorting directories as "name/" makes a depth-first walk yield keys in lexicographic order.
    const sorted = entries
      .filter((d) => !d.name.includes(TEMP_MARKER) && (d.isFile() || d.isDirectory()))
      .map((d) => ({ d, sortKey: d.isDirectory() ? `${d.name}/` : d.name }))
      .sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    for (const { d } of sorted) {
      const key = dirKey === '' ? d.name : `${dirKey}/${d.name}`;
      if (d.isDirectory()) {
        const k = `${key}/`;
        if (k.startsWith(prefix) || prefix.startsWith(k)) yield* this.#walk(key, prefix);
      } else if (key.startsWith(prefix)) {
        try {
          const st = await fsp.stat(path.join(dir, d.name));
          yield { key, size: st.size, lastModified: st.mtime };
        } catch (e) {
          if (!MISSING.has(errno(e) ?? '')) throw this.#fail('list', key, e);
        }
      }
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await fsp.unlink(this.#path(key));
    } catch (e) {
      if (MISSING.has(errno(e) ?? '')) return;
      throw this.#fail('delete', key, e);
    }
  }

  async close(): Promise<void> {}
}

async function syncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, constants.O_RDONLY);
    await fh.sync();
  } catch {
    // Best effort: some filesystems refuse fsync on directories.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
