import { initProducerIdV4, listOffsetsV7 } from './lib.js';
import { ClientClosedError, KafkaError } from '../util/errors.js';
import { sleep } from '../util/time.js';
import type { KafkaCluster } from './cluster.js';
import type { BrokerConnection } from './connection.js';
import { ErrorCode, errorName, isFatal, isFencedCode, isRetriable, needsMetadataRefresh, ProducerFencedError } from './errors.js';
import { createProduceRequest, parseProduceResponse, PRODUCE_API_KEY, PRODUCE_VERSION } from './protocol/produce.js';
import { readBatchHeader, rewriteBatchForProduce } from './protocol/record-batch.js';

export interface ProduceResult {
  /**
   * Target offset of the batch's first record; its other records follow consecutively.
   * Undefined with acks 0: the broker reports no offsets (they follow on from the partition's end).
   */
  baseOffset: bigint | undefined;
  recordCount: number;
}

export interface RawProducerOptions {
  acks?: -1 | 0 | 1;
  timeoutMs?: number;
  retries?: number;
  /**
   * Produce requests in flight per partition (1..5, default 5). Idempotence keeps the order with
   * up to 5: the broker checks each batch's sequence and caches the last 5 per producer.
   */
  maxInFlight?: number;
}

/**
 * A transactional producer's identity (src/kafka/transactions.ts): its batches are stamped with
 * this producer id and epoch and the transactional bit, its requests carry the transactional id,
 * and its sequence numbers are its own (they start at 0 for each producer id and epoch).
 */
export interface TransactionalIdentity {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
}

/** Who a request is sent as: the producer's own idempotent id, or a transactional identity. */
interface Sender {
  producerId: bigint;
  producerEpoch: number;
  transactionalId: string | null;
}

/** Outcome of one pipelined request: the base offset, or why it must be sent again. */
type Attempt = { ok: true; baseOffset: bigint } | { ok: false; error: unknown };

/**
 * An idempotent producer of ready-made record batches. Each batch is stamped with our
 * producer id, epoch and the partition's next sequence number, so a retry after a lost
 * response is recognised by the broker as a duplicate instead of being written twice.
 * Callers send the batches of one partition in order (one `send` at a time per partition);
 * within a `send`, up to `maxInFlight` requests are pipelined on the partition's connection.
 */
export class RawProducer {
  readonly #cluster: KafkaCluster;
  readonly #opts: Required<RawProducerOptions>;
  #producerId = -1n;
  #producerEpoch = -1;
  readonly #sequences = new Map<string, number>();

  private constructor(cluster: KafkaCluster, opts: RawProducerOptions) {
    this.#cluster = cluster;
    const maxInFlight = opts.maxInFlight ?? 5;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 5) throw new RangeError('maxInFlight must be 1..5 (idempotent producer)');
    this.#opts = { acks: opts.acks ?? -1, timeoutMs: opts.timeoutMs ?? 30_000, retries: opts.retries ?? 10, maxInFlight };
  }

  static async create(cluster: KafkaCluster, opts: RawProducerOptions = {}): Promise<RawProducer> {
    const p = new RawProducer(cluster, opts);
    await p.#initProducerId();
    return p;
  }

  async #initProducerId(): Promise<void> {
    const meta = await this.#cluster.metadata();
    const broker = [...meta.brokers.keys()][0];
    if (broker === undefined) throw new KafkaError('the target cluster reports no brokers');
    // Right after a broker starts, the transaction coordinator may still be loading: retry.
    for (let attempt = 0; ; attempt++) {
      const conn = await this.#cluster.connection(broker, 'admin');
      let code: number;
      try {
        const res = await conn.call(initProducerIdV4.api, null, -1, -1n, -1);
        code = res.errorCode;
        if (code === 0) {
          this.#producerId = res.producerId;
          this.#producerEpoch = res.producerEpoch;
          return;
        }
      } catch (err) {
        if (err instanceof ClientClosedError) throw err;
        code = err instanceof KafkaError && err.kafkaCode !== undefined ? err.kafkaCode : -1;
        if (!isRetriable(code) || attempt >= this.#opts.retries) throw err;
      }
      if (!isRetriable(code) || attempt >= this.#opts.retries) throw new KafkaError(`InitProducerId: ${errorName(code)}`, code);
      await sleep(Math.min(200 * 2 ** attempt, 3000));
    }
  }

  /**
   * Appends `batches` (complete v2 record batches, in order) to one partition and returns the
   * offset the broker gave the first record of each. Batches are re-stamped, not re-encoded.
   * Produce v3+ carries exactly one batch per partition per request, so each batch is its own
   * request; up to `maxInFlight` of them are in flight at once on one connection (which keeps
   * them in order: requests are written in call order and Kafka handles a connection's requests
   * one after another). After a failure the requests that followed it, which the broker refuses
   * with OUT_OF_ORDER_SEQUENCE_NUMBER (or, if the failure was only a lost response, accepted),
   * are sent again one by one with their original sequence numbers; duplicates are recognised.
   */
  async send(topic: string, partition: number, batches: Buffer[], as?: TransactionalIdentity): Promise<ProduceResult[]> {
    const who: Sender = as ?? { producerId: this.#producerId, producerEpoch: this.#producerEpoch, transactionalId: null };
    // Sequences are per producer id and epoch: a transactional identity (or a new epoch of it) starts at 0.
    const key = as ? `${as.producerId}/${as.producerEpoch}/${topic}\u0000${partition}` : `${topic}\u0000${partition}`;
    let seq = this.#sequences.get(key) ?? 0;
    const stamped: { batch: Buffer; count: number }[] = [];
    for (const b of batches) {
      const n = readBatchHeader(b).recordCount;
      stamped.push({
        batch: rewriteBatchForProduce(b, { producerId: who.producerId, producerEpoch: who.producerEpoch, baseSequence: seq, transactional: as !== undefined }),
        count: n,
      });
      seq = (seq + n) % 0x80000000;
    }
    if (this.#opts.acks === 0) {
      await this.#sendUnacknowledged(topic, partition, stamped);
      this.#sequences.set(key, seq);
      return stamped.map((s) => ({ baseOffset: undefined, recordCount: s.count }));
    }
    const offsets: (bigint | undefined)[] = new Array<bigint | undefined>(stamped.length);
    let next = 0;
    while (next < stamped.length) {
      const failedAt = await this.#pipeline(who, topic, partition, stamped, next, offsets);
      if (failedAt === undefined) break;
      // Recover in order: the failed request and every later one of its window, one at a time.
      next = failedAt.sentUpTo;
      for (let i = failedAt.index; i < next; i++) {
        if (offsets[i] === undefined) offsets[i] = await this.#sendOne(who, topic, partition, stamped[i]!.batch);
      }
    }
    this.#sequences.set(key, seq);
    return stamped.map((s, i) => ({ baseOffset: offsets[i]!, recordCount: s.count }));
  }

  /**
   * acks 0: the broker answers no Produce, so none is awaited (a wait would last the request
   * timeout). It handles one connection's requests one at a time, in order, and closes the
   * connection when it refuses an acks-0 produce; so a ListOffsets sent after the batches on the
   * same connection is answered only once they were appended, and fails if one was refused. That
   * keeps `send` returning when the records are written, never earlier, and never silent on a
   * refusal. There is no retry: the broker gives no reason, and a re-send past its 5-batch
   * duplicate window would be refused; a re-run of the restore resumes from the target's end.
   */
  async #sendUnacknowledged(topic: string, partition: number, stamped: { batch: Buffer }[]): Promise<void> {
    // The partition's usual lane: a shared connection only makes the barrier wait for the other partitions' requests too.
    const conn = await this.#cluster.leaderConnection(topic, partition, this.#lane(topic, partition));
    try {
      // Resolves as soon as the request is written (no response); errors surface on the barrier.
      for (const s of stamped)
        void conn
          .send(
            PRODUCE_API_KEY,
            PRODUCE_VERSION,
            () => createProduceRequest(0, this.#opts.timeoutMs, [{ topic, partitions: [{ partition, records: [s.batch] }] }]),
            parseProduceResponse,
          )
          .catch(() => {});
      await conn.call(listOffsetsV7.api, -1, 0, [{ name: topic, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: -1n }] }]);
    } catch (err) {
      await this.#cluster.dropConnection(conn);
      throw new KafkaError(
        `produce ${topic}/${partition} with produce_acks: 0 failed: the broker closed the connection or refused the request that follows the records (with acks 0 it gives no reason); run the restore again to resume from the end of the target, or use produce_acks: -1 to see the broker's error`,
        undefined,
        { topic, partition },
        { cause: err },
      );
    }
  }

  /**
   * Sends stamped[from..] with at most maxInFlight requests outstanding on one connection, filling
   * `offsets`. Stops issuing at the first failure and returns its index and how far it had sent.
   */
  async #pipeline(
    who: Sender,
    topic: string,
    partition: number,
    stamped: { batch: Buffer }[],
    from: number,
    offsets: (bigint | undefined)[],
  ): Promise<{ index: number; sentUpTo: number } | undefined> {
    let conn: BrokerConnection;
    try {
      conn = await this.#cluster.leaderConnection(topic, partition, this.#lane(topic, partition));
    } catch {
      return { index: from, sentUpTo: from + 1 };
    }
    const c = conn;
    let next = from;
    let failed: number | undefined;
    await new Promise<void>((resolve) => {
      let inflight = 0;
      const pump = (): void => {
        // Requests are handed to the connection synchronously, in order: the wire order is the call order.
        while (failed === undefined && inflight < this.#opts.maxInFlight && next < stamped.length) {
          const i = next++;
          inflight++;
          void this.#attempt(who, c, topic, partition, stamped[i]!.batch).then((a) => {
            inflight--;
            if (a.ok) offsets[i] = a.baseOffset;
            else if (failed === undefined || i < failed) failed = i;
            if (inflight === 0 && (failed !== undefined || next >= stamped.length)) resolve();
            else pump();
          });
        }
      };
      pump();
    });
    if (failed === undefined) return undefined;
    // The connection may be broken: the sequential retry path reconnects as needed.
    return { index: failed, sentUpTo: next };
  }

  /** One produce request; never throws (a non-retriable error is rethrown by the sequential retry). */
  async #attempt(who: Sender, conn: BrokerConnection, topic: string, partition: number, batch: Buffer): Promise<Attempt> {
    try {
      const res = await conn.send(
        PRODUCE_API_KEY,
        PRODUCE_VERSION,
        () => createProduceRequest(this.#opts.acks, this.#opts.timeoutMs, [{ topic, partitions: [{ partition, records: [batch] }] }], who.transactionalId),
        parseProduceResponse,
      );
      const p = res.get(topic)?.find((x) => x.partition === partition);
      if (!p) return { ok: false, error: new KafkaError(`produce ${topic}/${partition}: partition missing from the response`) };
      if (p.errorCode === ErrorCode.NONE || p.errorCode === ErrorCode.DUPLICATE_SEQUENCE_NUMBER) return { ok: true, baseOffset: p.baseOffset };
      return { ok: false, error: new KafkaError(`produce ${topic}/${partition}: ${errorName(p.errorCode)}`, p.errorCode, { topic, partition }) };
    } catch (error) {
      return { ok: false, error };
    }
  }

  /**
   * A partition's own produce connection: its pipelined requests stay in order, and a connection dropped
   * after one partition's failure never cuts another partition's requests in flight (shared lanes were
   * seen to let a broker kill duplicate a batch under load). Released when the partition is done, so
   * the connections follow the partitions being written, not all the partitions of a restore.
   */
  #lane(topic: string, partition: number): string {
    return `produce-${topic}-${partition}`;
  }

  /** Closes the partition's produce connection: call once nothing more will be sent to it. */
  async release(topic: string, partition: number): Promise<void> {
    await this.#cluster.closeLane(this.#lane(topic, partition));
  }

  async #sendOne(who: Sender, topic: string, partition: number, batch: Buffer): Promise<bigint> {
    let lastErr: unknown;
    for (let attempt = 0; attempt <= this.#opts.retries; attempt++) {
      if (attempt > 0) await sleep(Math.min(100 * 2 ** attempt, 5000));
      let conn: BrokerConnection | undefined;
      try {
        conn = await this.#cluster.leaderConnection(topic, partition, this.#lane(topic, partition));
        const res = await conn.send(
          PRODUCE_API_KEY,
          PRODUCE_VERSION,
          () => createProduceRequest(this.#opts.acks, this.#opts.timeoutMs, [{ topic, partitions: [{ partition, records: [batch] }] }], who.transactionalId),
          parseProduceResponse,
        );
        const p = res.get(topic)?.find((x) => x.partition === partition);
        if (!p) throw new KafkaError(`produce ${topic}/${partition}: partition missing from the response`);
        if (p.errorCode === ErrorCode.NONE || p.errorCode === ErrorCode.DUPLICATE_SEQUENCE_NUMBER) return p.baseOffset;
        if (who.transactionalId !== null && isFencedCode(p.errorCode))
          throw new ProducerFencedError(who.transactionalId, `produce ${topic}/${partition}`, p.errorCode, { topic, partition });
        const detail = [p.errorMessage, ...p.recordErrors.map((e) => e.message)].filter(Boolean).join('; ');
        const err = new KafkaError(`produce ${topic}/${partition}: ${errorName(p.errorCode)}${detail ? ` (${detail})` : ''}`, p.errorCode, {
          topic,
          partition,
        });
        if (!isRetriable(p.errorCode)) throw err;
        lastErr = err;
        if (needsMetadataRefresh(p.errorCode)) await this.#cluster.refresh().catch(() => {});
      } catch (err) {
        if (isFatal(err)) throw err;
        lastErr = err;
        if (conn) await this.#cluster.dropConnection(conn);
        await this.#cluster.refresh().catch(() => {});
      }
    }
    throw new KafkaError(
      `produce ${topic}/${partition} failed after ${this.#opts.retries} retries: ${(lastErr as Error)?.message}`,
      undefined,
      { topic, partition },
      { cause: lastErr },
    );
  }
}
