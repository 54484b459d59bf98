/**
 * Where a resumed restore continues in a target partition, and the proof that the records the
 * target gained after the last checkpoint are ours.
 *
 * The state holds what was acknowledged at the last checkpoint (initial_end_offset + produced).
 * Records acknowledged later, and in-flight batches the broker appended before the crash, are on
 * the target too. Two rules make counting them sound on a replicated target:
 *  - the resume point is read only once the partition has settled: its high watermark has
 *    reached the leader's log end offset (OffsetForLeaderEpoch for the current epoch). A batch
 *    appended on the leader but not yet replicated is either committed (the followers catch up,
 *    or the ISR shrinks to the leader) or truncated by a leader change; in both cases its fate
 *    is decided before we look, so it is neither written again nor counted without being there.
 *  - every record between the checkpoint and that end must be, in content (key, value, headers,
 *    CreateTime timestamp), the next record this restore would write. A record another producer
 *    appended after the crash is not, and the restore refuses, naming the partition and offset,
 *    instead of taking it for one of ours (which would drop one of ours from the target and put a
 *    foreign record in the offset map). Only the records past the checkpoint are read: cheap.
 */
import { createHash } from 'node:crypto';
import { offsetForLeaderEpochV4 } from '../kafka/lib.js';
import { LATEST, type KafkaAdmin } from '../kafka/admin.js';
import type { KafkaCluster } from '../kafka/cluster.js';
import { fetchPartition } from '../kafka/fetcher.js';
import type { AbortedTransaction } from '../kafka/protocol/fetch.js';
import { type BatchHeader, decodeBatch, readBatchHeader, splitBatches, type RecordHeader } from '../kafka/protocol/record-batch.js';
import { KafkaError, UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { sleep } from '../util/time.js';

const log = logger('restore');

/** A record as the restore writes it, for comparison with what the target holds. */
export interface RecordContent {
  key: Buffer | null;
  value: Buffer | null;
  headers: readonly RecordHeader[];
  timestamp: bigint;
}

function digest(r: Omit<RecordContent, 'timestamp'>): string {
  const h = createHash('sha256');
  const part = (b: Buffer | null): void => {
    const len = Buffer.alloc(4);
    len.writeInt32BE(b === null ? -1 : b.length);
    h.update(len);
    if (b) h.update(b);
  };
  part(r.key);
  part(r.value);
  part(Buffer.from(String(r.headers.length)));
  for (const x of r.headers) {
    part(x.key);
    part(x.value);
  }
  return h.digest('base64');
}

/** The leader's log end offset (the end offset of the current leader epoch). */
export async function logEndOffset(cluster: KafkaCluster, topic: string, partition: number): Promise<bigint> {
  const p = await cluster.leader(topic, partition);
  const conn = await cluster.connection(p.leader, 'admin');
  const res = await conn.call(offsetForLeaderEpochV4.api, -1, [
    { name: topic, partitions: [{ partitionIndex: partition, currentLeaderEpoch: p.leaderEpoch, leaderEpoch: p.leaderEpoch }] },
  ]);
  const r = res.topics[0]?.partitions.find((x) => x.partition === partition);
  if (r?.errorCode !== 0) throw new KafkaError(`OffsetForLeaderEpoch ${topic}/${partition}: error ${r?.errorCode ?? 'no answer'}`, r?.errorCode);
  return r.endOffset;
}

/**
 * The end offset of each partition once nothing is left above the high watermark: waits (up to
 * `timeoutMs`) until the high watermark has reached the log end offset the leader reported.
 */
export async function settledEnds(
  cluster: KafkaCluster,
  admin: KafkaAdmin,
  topic: string,
  partitions: number[],
  timeoutMs: number,
): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const deadline = Date.now() + timeoutMs;
  for (const p of partitions) {
    for (let attempt = 0; ; attempt++) {
      let leo: bigint | undefined;
      try {
        leo = await logEndOffset(cluster, topic, p);
      } catch {
        // A leader change in progress (NOT_LEADER, FENCED/UNKNOWN_LEADER_EPOCH): look again.
        await cluster.refresh().catch(() => {});
      }
      const hw = (await admin.listOffsets(topic, [p], LATEST)).get(p) ?? 0n;
      if (leo !== undefined && hw >= leo) {
        out.set(p, Number(hw));
        break;
      }
      if (attempt === 0)
        log.info(
          { partition: `${topic}/${p}`, highWatermark: Number(hw), logEndOffset: leo === undefined ? null : Number(leo) },
          'waiting for the records above the high watermark to be replicated or truncated before resuming',
        );
      if (Date.now() > deadline) {
        const what =
          leo === undefined
            ? 'its leader did not report its log end offset'
            : `the leader holds records up to offset ${leo} that are not replicated yet (high watermark ${hw})`;
        throw new UserError(
          'TARGET_NOT_SETTLED',
          `${topic}/${p}: cannot resume: ${what} after ${Math.round(timeoutMs / 1000)} s; where this restore stopped is not known until the in-sync replicas catch up. Run it again once the partition is healthy.`,
        );
      }
      await sleep(Math.min(100 * 2 ** attempt, 1000));
    }
  }
  return out;
}

export interface TargetRecord {
  offset: number;
  /** Undefined for a control record (a transaction marker): never one of ours. */
  digest?: string;
  /** The CreateTime timestamp; undefined when the broker stamped LogAppendTime. */
  timestamp?: bigint;
}

/** A target record as compared: its offset, content digest, and timestamp when it is CreateTime. */
export function targetRecord(offset: number, r: Omit<RecordContent, 'timestamp'> & { timestamp: bigint }, createTime: boolean): TargetRecord {
  return { offset, digest: digest(r), timestamp: createTime ? r.timestamp : undefined };
}

/**
 * The records of one target partition in [from, to) (written after the last checkpoint), matched
 * one by one against the records the restore would write next.
 */
export class ResumeTail {
  readonly #key: string;
  readonly #records: TargetRecord[];
  readonly #to: number;
  readonly #stateKey: string;
  #next = 0;

  private constructor(key: string, records: TargetRecord[], to: number, stateKey: string) {
    this.#key = key;
    this.#records = records;
    this.#to = to;
    this.#stateKey = stateKey;
  }

  /**
   * `stateKey` names the restore state, for the message of a refusal. `committedOnly` (a partition written
   * in transactions, src/restore/workers): what a read_committed consumer sees, so transaction markers and
   * the records of aborted transactions (a former owner's chunk it never committed) are not in the tail.
   */
  static async read(
    cluster: KafkaCluster,
    topic: string,
    partition: number,
    from: number,
    to: number,
    stateKey: string,
    committedOnly = false,
  ): Promise<ResumeTail> {
    const records: TargetRecord[] = [];
    const aborted = new CommittedFilter();
    let offset = from;
    while (offset < to) {
      const at = offset;
      const res = await fetchPartition(cluster, topic, partition, BigInt(offset), { maxWaitMs: 0, maxBytes: 4 * 1024 * 1024, readCommitted: committedOnly });
      const { batches } = splitBatches(res.records);
      if (batches.length === 0)
        throw new KafkaError(`${topic}/${partition}: no records at offset ${offset} though the partition ends at ${to}`, undefined, { topic, partition });
      aborted.startFetch(res.abortedTransactions);
      for (const b of batches) {
        const h = readBatchHeader(b);
        if (committedOnly && aborted.skip(h)) {
          // A marker or an aborted record: not visible to a read_committed consumer, never one of ours.
          offset = Math.max(offset, Number(h.lastOffset) + 1);
          continue;
        }
        if (h.isControl) {
          for (let o = Number(h.baseOffset); o <= Number(h.lastOffset); o++) if (o >= offset && o < to) records.push({ offset: o });
        } else {
          for (const r of decodeBatch(b).records) {
            const o = Number(r.offset);
            if (o < offset || o >= to) continue;
            records.push(targetRecord(o, r, h.timestampType === 'create'));
          }
        }
        offset = Math.max(offset, Number(h.lastOffset) + 1);
      }
      if (offset === at)
        throw new KafkaError(`${topic}/${partition}: the fetch at offset ${at} returned no record at or after it`, undefined, { topic, partition });
    }
    return ResumeTail.of(`${topic}/${partition}`, records, to, stateKey);
  }

  /** From records already read (`targetRecord`); `to` is the partition's end. */
  static of(key: string, records: TargetRecord[], to: number, stateKey: string): ResumeTail {
    return new ResumeTail(key, records, to, stateKey);
  }

  get size(): number {
    return this.#records.length;
  }

  /** True while target records remain to be matched. */
  get pending(): boolean {
    return this.#next < this.#records.length;
  }

  /** The next record the restore would write must be the next one on the target; returns its target offset. */
  match(expected: RecordContent, sourceOffset: number): number | undefined {
    const t = this.#records[this.#next];
    if (!t) return undefined;
    const same = t.digest !== undefined && t.digest === digest(expected) && (t.timestamp === undefined || t.timestamp === expected.timestamp);
    if (!same) throw this.#foreign(t.offset, `is not the record this restore would write there (source offset ${sourceOffset})`);
    this.#next++;
    return t.offset;
  }

  /** After the restore's whole sequence: target records left over are not ours. */
  finish(): void {
    const t = this.#records[this.#next];
    if (t) throw this.#foreign(t.offset, 'lies past the last record this restore writes');
  }

  #foreign(offset: number, why: string): UserError {
    return new UserError(
      'TARGET_CHANGED',
      `${this.#key}: the record at offset ${offset} ${why}: another producer wrote to the partition after this restore was interrupted (offsets ${this.#records[0]!.offset}..${this.#to - 1} were written after its last checkpoint). Refusing to count foreign records as restored; remove them (or restore into a new topic with topic_mapping) and delete the restore state ${this.#stateKey} to start over.`,
      { partition: this.#key, offset },
    );
  }
}

/**
 * What a read_committed consumer skips in fetched batches: control batches (transaction markers) and
 * the batches of a producer whose aborted transaction (the fetch response's list) is open at them.
 */
class CommittedFilter {
  readonly #open = new Set<bigint>();
  #aborted: AbortedTransaction[] = [];

  startFetch(aborted: readonly AbortedTransaction[]): void {
    this.#aborted = [...aborted].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  }

  skip(h: BatchHeader): boolean {
    while (this.#aborted.length > 0 && this.#aborted[0]!.firstOffset <= h.lastOffset) this.#open.add(this.#aborted.shift()!.producerId);
    if (h.isControl) {
      this.#open.delete(h.producerId);
      return true;
    }
    return h.isTransactional && this.#open.has(h.producerId);
  }
}

/**
 * Our records of a partition are contiguous: a batch placed elsewhere than right after our previous
 * record means another producer is writing to the partition (or a batch of a killed run was still
 * above the high watermark), and the resume arithmetic would no longer hold. acks 0 gives no offset.
 */
export function checkContiguous(key: string, baseOffset: bigint | undefined, expected: number): void {
  if (baseOffset === undefined || baseOffset < 0n || Number(baseOffset) === expected) return;
  throw new UserError(
    'TARGET_CHANGED',
    `${key}: the broker put this restore's batch at offset ${baseOffset}, but its previous record ends at ${expected}: another producer is writing to the partition; stop it, or restore into a new topic with topic_mapping`,
  );
}
