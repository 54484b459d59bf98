import { hostname } from 'node:os';
import { keys } from '../../format/layout.js';
import { encodeJson, parseRestorePartitionState, type RestorePartitionState } from '../../format/restore-partition-state.js';
import type { TargetPartitionState } from '../../format/restore-state.js';
import type { ObjectStore } from '../../storage/store.js';
import { KafkaBackupError, PreconditionFailedError } from '../../util/errors.js';
import { logger } from '../../util/logger.js';
import { sleep } from '../../util/time.js';

/*
  Fenced ownership of one target partition of a distributed restore. The partition's stored
  state is written only by compare-and-swap against the version this owner last wrote; a takeover
  is one swap that raises the epoch. The owner swaps the state BEFORE each produce request
  (partition-job's beforeProduce), so once another worker has taken the partition over, the
  former owner's next produce is never sent: its swap names a replaced version and the store
  refuses it. A takeover from a live owner waits for it to release the partition (it stops at
  its next batch on a rebalance), or for the session timeout when the owner is silent.
*/

const log = logger('restore-workers');

/** This worker no longer owns the target partition: another took it over and the store refused our write. */
export class RestorePartitionLostError extends KafkaBackupError {
  constructor(key: string, options?: { cause?: unknown }) {
    super(
      'PARTITION_LOST',
      `${key}: another restore worker took the partition over; this worker's state write was refused by the store`,
      { partition: key },
      options,
    );
  }
}

export interface RestoreOwnerIdentity {
  memberId: string;
  groupGeneration: number;
}

/** One owned target partition: its stored state and the version to swap against. */
export class OwnedRestorePartition {
  #version: string;
  #lost: RestorePartitionLostError | undefined;

  private constructor(
    readonly store: ObjectStore,
    readonly key: string,
    readonly doc: RestorePartitionState,
    version: string,
  ) {
    this.#version = version;
  }

  get lost(): boolean {
    return this.#lost !== undefined;
  }

  /**
   * Takes the target partition over (creating its state from `initial` if none is stored): waits
   * up to `waitMs` for another owner to release it, then one swap raising the epoch.
   */
  static async takeOver(
    store: ObjectStore,
    backupId: string,
    restoreId: string,
    topic: string,
    partition: number,
    initial: TargetPartitionState,
    who: RestoreOwnerIdentity,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<OwnedRestorePartition | undefined> {
    const key = keys.restorePartitionState(backupId, restoreId, topic, partition);
    const firstSeen = Date.now();
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) return undefined;
      const cur = await store.getVersioned(key);
      const prior = cur ? parseRestorePartitionState(key, cur.data) : undefined;
      if (prior?.done) return undefined;
      const holder = prior?.owner;
      if (holder && holder.member_id !== who.memberId && Date.now() - firstSeen < waitMs) {
        if (attempt === 0) log.info({ partition: `${topic}/${partition}`, owner: holder.member_id }, 'waiting for the former owner to release the partition');
        await sleep(200);
        continue;
      }
      const epoch = (prior?.epoch ?? 0) + 1;
      const doc: RestorePartitionState = {
        format_version: 1,
        restore_id: restoreId,
        target_topic: topic,
        target_partition: partition,
        epoch,
        owner: { epoch, member_id: who.memberId, group_generation: who.groupGeneration, host: hostname(), pid: process.pid, since: Date.now() },
        done: false,
        updated_at: Date.now(),
        state: prior?.state ?? initial,
      };
      try {
        const version = await store.putIfMatch(key, encodeJson(doc), cur?.version ?? null);
        log.info({ partition: `${topic}/${partition}`, epoch, from: holder?.member_id ?? null, produced: doc.state.produced }, 'target partition taken over');
        return new OwnedRestorePartition(store, key, doc, version);
      } catch (err) {
        if (!(err instanceof PreconditionFailedError) || attempt >= 50) throw err;
        await sleep(20 + Math.random() * 100);
      }
    }
  }

  /** Swaps the state in; once refused, the partition is lost and every further save is refused too. */
  async save(state: TargetPartitionState, done = false): Promise<void> {
    if (this.#lost) throw this.#lost;
    this.doc.state = { initial_end_offset: state.initial_end_offset, produced: state.produced, runs: [...state.runs] };
    this.doc.done = done;
    this.doc.updated_at = Date.now();
    try {
      this.#version = await this.store.putIfMatch(this.key, encodeJson(this.doc), this.#version);
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      this.#lost = new RestorePartitionLostError(this.key, { cause: err });
      throw this.#lost;
    }
  }

  /** Hands the partition back on a rebalance (owner null), so the next owner need not wait for the session timeout. */
  async release(state: TargetPartitionState): Promise<void> {
    if (this.#lost) return;
    this.doc.owner = null;
    await this.save(state, this.doc.done).catch((err: unknown) => {
      if (!(err instanceof RestorePartitionLostError)) throw err;
    });
  }
}

/** Every stored partition state of one restore (absent partitions are missing from the map). */
export async function readPartitionStates(
  store: ObjectStore,
  backupId: string,
  restoreId: string,
  partitions: { topic: string; partition: number }[],
): Promise<Map<string, RestorePartitionState>> {
  const out = new Map<string, RestorePartitionState>();
  await Promise.all(
    partitions.map(async ({ topic, partition }) => {
      const key = keys.restorePartitionState(backupId, restoreId, topic, partition);
      const cur = await store.getVersioned(key);
      if (cur) out.set(`${topic}/${partition}`, parseRestorePartitionState(key, cur.data));
    }),
  );
  return out;
}
