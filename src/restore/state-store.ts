/**
 * Where a restore keeps its progress and its report (with the exact offset map): in the backup
 * storage (`{backup_id}/restores/{restore_id}/state.json` and `report.json`), and, when
 * restore.checkpoint_state names a local file, in that file too. Disaster-recovery credentials
 * are often read-only: with a local file the restore runs from a store that refuses writes,
 * resumes from the local file, and writes the report beside it; without one it stops before
 * producing anything and says which key to set.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readJsonObject, writeJsonObject } from '../format/json-object.js';
import { keys } from '../format/layout.js';
import type { ObjectStore } from '../storage/store.js';
import { ConfigError, StorageError, UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { restoreStateSchema, type RestoreState } from '../format/restore-state.js';

const log = logger('restore');

/** Storage errors that mean "this store takes no writes from us", as opposed to a passing fault. */
function refusesWrites(err: unknown): boolean {
  return err instanceof StorageError && (err.code === 'ACCESS_DENIED' || err.code === 'READ_ONLY');
}

/** Where the report went, for the user. */
export interface ReportLocation {
  /** The report's key in the backup storage, when the store took it. */
  storeKey?: string;
  /** The local file holding it, when written locally. */
  localFile?: string;
}

export class RestoreStateStore {
  readonly #store: ObjectStore;
  readonly #backupId: string;
  readonly #restoreId: string;
  readonly #localFile: string | undefined;
  /** False once the store refused a write: from then on only the local file is written. */
  #storeWritable = true;

  constructor(store: ObjectStore, backupId: string, restoreId: string, localFile: string | undefined) {
    this.#store = store;
    this.#backupId = backupId;
    this.#restoreId = restoreId;
    this.#localFile = localFile;
  }

  /** Where the state is kept, for messages: the local file when there is one, else the store key. */
  get location(): string {
    return this.#localFile ?? keys.restoreState(this.#backupId, this.#restoreId);
  }

  get storeWritable(): boolean {
    return this.#storeWritable;
  }

  /** The state of an earlier run of this restore: the local file wins, as it is written first and always. */
  async load(): Promise<RestoreState | undefined> {
    const local = this.#localFile ? await this.#readLocal(this.#localFile) : undefined;
    return local ?? (await readJsonObject(this.#store, keys.restoreState(this.#backupId, this.#restoreId), restoreStateSchema));
  }

  async save(state: RestoreState): Promise<void> {
    state.updated_at = Date.now();
    if (this.#localFile) await writeLocalJson(this.#localFile, state);
    await this.#toStore(keys.restoreState(this.#backupId, this.#restoreId), state);
  }

  /** Removes the state this run saved (a restore refused before it wrote anything). */
  async discard(): Promise<void> {
    if (this.#localFile) await rm(this.#localFile, { force: true });
    if (this.#storeWritable) await this.#store.delete(keys.restoreState(this.#backupId, this.#restoreId));
  }

  async saveReport(report: unknown, offsetReport: string | undefined): Promise<ReportLocation> {
    const key = keys.restoreReport(this.#backupId, this.#restoreId);
    const where: ReportLocation = {};
    if (await this.#toStore(key, report)) where.storeKey = key;
    const local = offsetReport ?? (where.storeKey ? undefined : reportFileBeside(this.#localFile!));
    if (local) {
      await writeLocalJson(local, report);
      where.localFile = local;
    }
    return where;
  }

  /** Writes to the backup storage; false when it refuses writes and a local file keeps the data instead. */
  async #toStore(key: string, value: unknown): Promise<boolean> {
    if (!this.#storeWritable) return false;
    try {
      await writeJsonObject(this.#store, key, value);
      return true;
    } catch (err) {
      if (!refusesWrites(err)) throw err;
      if (!this.#localFile) {
        throw new UserError(
          'READ_ONLY_STORAGE',
          `the backup storage refuses writes (${(err as Error).message}); a restore keeps its progress and offset map, so set restore.checkpoint_state: /path/restore-state.json to keep them in a local file instead`,
        );
      }
      this.#storeWritable = false;
      log.warn({ file: this.#localFile }, 'the backup storage refuses writes: the restore state and report are kept in local files only');
      return false;
    }
  }

  async #readLocal(file: string): Promise<RestoreState | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ConfigError(`restore.checkpoint_state: cannot read ${file}: ${(err as Error).message}`);
    }
    let parsed: RestoreState;
    try {
      parsed = restoreStateSchema.parse(JSON.parse(text));
    } catch {
      throw new ConfigError(`restore.checkpoint_state: ${file} is not a restore state file (remove it to start the restore afresh)`);
    }
    if (parsed.backup_id !== this.#backupId || parsed.restore_id !== this.#restoreId) {
      throw new ConfigError(
        `restore.checkpoint_state: ${file} holds the state of restore ${parsed.restore_id} of backup ${parsed.backup_id}, not of this restore (${this.#restoreId} of ${this.#backupId}); use another file for this restore`,
      );
    }
    return parsed;
  }
}

export function reportFileBeside(stateFile: string): string {
  return stateFile.replace(/(\.json)?$/, '.report.json');
}

/** Written whole or not at all: a crash mid-write leaves the previous state file. */
export async function writeLocalJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, path);
}
