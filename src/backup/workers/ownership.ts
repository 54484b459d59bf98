import { hostname } from 'node:os';
import { keys } from '../../format/layout.js';
import { emptyIndex, partitionIndexSchema, verifyPartitionIndex, type PartitionIndex } from '../../format/partition-index.js';
import { ForwardingStore } from '../../storage/forwarding.js';
import type { ObjectStore, PutOptions } from '../../storage/store.js';
import { CorruptDataError, KafkaBackupError, PreconditionFailedError } from '../../util/errors.js';
import { logger } from '../../util/logger.js';

/*
  Per-partition fenced ownership for distributed backup. The partition index is the commit point
  of a partition (a segment counts once the index names it), so it is also the fence: an owner
  writes the index only by compare-and-swap against the version it last wrote (`putIfMatch`).
  Taking a partition over is one such swap that raises `owner.epoch`; from then on every index
  write of the former owner names a replaced version and is refused by the store itself, however
  late it arrives (a paused VM, a long GC, a network split). Segments of an owner carry its epoch
  in their key, so two owners never write the same segment key; a segment the fenced owner
  finished after the takeover is never named by an index (an orphan, removed by a later takeover).
*/

const log = logger('workers');

/** This worker no longer owns the partition: another took it over, and our write was refused. */
export class PartitionLostError extends KafkaBackupError {
  constructor(
    readonly topic: string,
    readonly partition: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('PARTITION_LOST', message, { topic, partition }, options);
  }
}

export interface OwnerIdentity {
  memberId: string;
  groupGeneration: number;
}

export interface Takeover {
  index: PartitionIndex;
  /** Version of the index object as we wrote it: the next write must match it. */
  version: string;
  epoch: number;
}

function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v, null, 2) + '\n', 'utf8');
}

function parseIndex(key: string, data: Buffer, backupId: string, topic: string, partition: number): PartitionIndex {
  let raw: unknown;
  try {
    raw = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new CorruptDataError(`${key}: not valid JSON (${(err as Error).message})`, key);
  }
  const r = partitionIndexSchema.safeParse(raw);
  if (!r.success) throw new CorruptDataError(`${key}: ${r.error.issues[0]?.message ?? 'invalid content'}`, key);
  return verifyPartitionIndex(r.data, backupId, topic, partition);
}

/**
 * Takes the partition over: one swap of its index that raises the ownership epoch (creating the
 * index at `startAt` if there is none). Retries while other writers change the index under us
 * (a former owner flushing on its way out); gives up after `attempts`.
 */
export async function takeOver(
  store: ObjectStore,
  backupId: string,
  topic: string,
  partition: number,
  startAt: number,
  who: OwnerIdentity,
  manifestGeneration: number,
  attempts = 20,
): Promise<Takeover> {
  const key = keys.partitionIndex(backupId, topic, partition);
  for (let i = 0; ; i++) {
    const cur = await store.getVersioned(key);
    const idx = cur ? parseIndex(key, cur.data, backupId, topic, partition) : undefined;
    const prior = idx?.owner;
    if (prior && prior.member_id !== who.memberId && prior.group_generation > who.groupGeneration) {
      throw new PartitionLostError(
        topic,
        partition,
        `${topic}/${partition}: owned by member ${prior.member_id} of group generation ${prior.group_generation}, newer than ours (${who.groupGeneration}); this worker is behind the group`,
      );
    }
    const epoch = (prior?.epoch ?? 0) + 1;
    const base = idx ?? { ...emptyIndex(topic, partition), next_offset: startAt };
    const next: PartitionIndex = {
      ...base,
      owner: { epoch, member_id: who.memberId, group_generation: who.groupGeneration, host: hostname(), pid: process.pid, since: Date.now() },
      generation: (base.generation ?? 0) + 1,
      manifest_generation: Math.max(manifestGeneration, base.manifest_generation ?? 0),
      updated_at: Date.now(),
    };
    try {
      const version = await store.putIfMatch(key, json(next), cur?.version ?? null);
      log.info({ topic, partition, epoch, from: prior?.member_id ?? null, nextOffset: next.next_offset }, 'partition taken over');
      await removeOrphans(store, backupId, topic, partition, next, epoch);
      return { index: next, version, epoch };
    } catch (err) {
      if (!(err instanceof PreconditionFailedError) || i + 1 >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 100 * Math.min(i + 1, 10)));
    }
  }
}

const EPOCH_RE = /\.e(\d{1,15})\.kbseg$/;

/**
 * Segments of earlier epochs that the index (as we just took it over) does not name: uploads a
 * fenced owner finished too late. Safe to delete: no earlier owner can still make them named (its
 * index writes are refused), and our own and later epochs' keys are never touched.
 */
async function removeOrphans(store: ObjectStore, backupId: string, topic: string, partition: number, idx: PartitionIndex, epoch: number): Promise<void> {
  const named = new Set(idx.segments.map((s) => s.key));
  try {
    for await (const m of store.list(keys.partitionPrefix(backupId, topic, partition))) {
      const e = EPOCH_RE.exec(m.key);
      if (e && Number(e[1]) < epoch && !named.has(m.key)) {
        log.info({ topic, partition, key: m.key }, 'removing a segment a former owner stored after losing the partition');
        await store.delete(m.key);
      }
    }
  } catch (err) {
    log.warn({ topic, partition, err: (err as Error).message }, 'could not remove orphaned segments; they are unreferenced and harmless');
  }
}

/**
 * The store one partition worker writes through: its index goes out only as a swap against the
 * version this owner last wrote; once a swap is refused the partition is lost and every further
 * write of this worker is refused too (a streamed segment is abandoned between chunks).
 */
export class OwnedPartitionStore extends ForwardingStore {
  #version: string;
  #lost: PartitionLostError | undefined;

  constructor(
    inner: ObjectStore,
    readonly indexKey: string,
    readonly topic: string,
    readonly partition: number,
    version: string,
    readonly onLost: (err: PartitionLostError) => void,
  ) {
    super(inner);
    this.#version = version;
  }

  get lost(): boolean {
    return this.#lost !== undefined;
  }

  check(): void {
    if (this.#lost) throw this.#lost;
  }

  override async put(key: string, data: Uint8Array, opts?: PutOptions): Promise<void> {
    this.check();
    if (key !== this.indexKey) return this.inner.put(key, data, opts);
    try {
      this.#version = await this.inner.putIfMatch(key, data, this.#version);
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      this.#lost = new PartitionLostError(
        this.topic,
        this.partition,
        `${this.topic}/${this.partition}: another worker took the partition over; this worker's write of ${key} was refused by the store`,
        { cause: err },
      );
      this.onLost(this.#lost);
      throw this.#lost;
    }
  }

  override async putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<{ size: number }> {
    this.check();
    const self = this;
    async function* fenced(): AsyncGenerator<Uint8Array> {
      for await (const c of body) {
        self.check();
        yield c;
      }
      self.check();
    }
    return this.inner.putStream(key, fenced(), opts);
  }

  override putIfMatch(key: string, data: Uint8Array, expected: string | null): Promise<string> {
    this.check();
    return this.inner.putIfMatch(key, data, expected);
  }
  override async delete(key: string): Promise<void> {
    this.check();
    await this.inner.delete(key);
  }
  /** Shared with the other partitions: closed by the engine, not by a partition worker. */
  override async close(): Promise<void> {}
}
