import { initProducerIdV4 } from '@platformatic/kafka';
import { KafkaError } from '../util/errors.js';
import { sleep } from '../util/time.js';
import type { KafkaCluster } from './cluster.js';
import { ErrorCode, errorName, isRetriable, needsMetadataRefresh } from './errors.js';
import { createProduceRequest, parseProduceResponse, PRODUCE_API_KEY, PRODUCE_VERSION } from './protocol/produce.js';
import { readBatchHeader, rewriteBatchForProduce } from './protocol/record-batch.js';

export interface ProduceResult {
  /** Target offset of the first record of the first batch; the others follow consecutively. */
  baseOffset: bigint;
  recordCount: number;
}

export interface RawProducerOptions {
  acks?: -1 | 0 | 1;
  timeoutMs?: number;
  retries?: number;
}

/**
 * An idempotent producer of ready-made record batches. Each batch is stamped with our
 * producer id, epoch and the partition's next sequence number, so a retry after a lost
 * response is recognised by the broker as a duplicate instead of being written twice.
 * Callers send the batches of one partition in order, one request at a time.
 */
export class RawProducer {
  readonly #cluster: KafkaCluster;
  readonly #opts: Required<RawProducerOptions>;
  #producerId = -1n;
  #producerEpoch = -1;
  readonly #sequences = new Map<string, number>();

  private constructor(cluster: KafkaCluster, opts: RawProducerOptions) {
    this.#cluster = cluster;
    this.#opts = { acks: opts.acks ?? -1, timeoutMs: opts.timeoutMs ?? 30_000, retries: opts.retries ?? 10 };
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
    const conn = await this.#cluster.connection(broker, 'admin');
    const res = await conn.call(initProducerIdV4.api, null, -1, -1n, -1);
    if (res.errorCode !== 0) throw new KafkaError(`InitProducerId: ${errorName(res.errorCode)}`, res.errorCode);
    this.#producerId = res.producerId;
    this.#producerEpoch = res.producerEpoch;
  }

  /**
   * Appends `batches` (complete v2 record batches, in order) to one partition and returns
   * the offset the broker gave the first record. Batches are re-stamped, not re-encoded.
   */
  async send(topic: string, partition: number, batches: Buffer[]): Promise<ProduceResult> {
    const key = `${topic}\u0000${partition}`;
    let seq = this.#sequences.get(key) ?? 0;
    const stamped: Buffer[] = [];
    let recordCount = 0;
    for (const b of batches) {
      const n = readBatchHeader(b).recordCount;
      stamped.push(rewriteBatchForProduce(b, { producerId: this.#producerId, producerEpoch: this.#producerEpoch, baseSequence: seq }));
      seq = (seq + n) % 0x80000000;
      recordCount += n;
    }
    let lastErr: unknown;
    for (let attempt = 0; attempt <= this.#opts.retries; attempt++) {
      if (attempt > 0) await sleep(Math.min(100 * 2 ** attempt, 5000));
      let conn;
      try {
        conn = await this.#cluster.leaderConnection(topic, partition, `produce-${topic}-${partition}`);
        const res = await conn.send(PRODUCE_API_KEY, PRODUCE_VERSION, () => createProduceRequest(this.#opts.acks, this.#opts.timeoutMs, [{ topic, partitions: [{ partition, records: stamped }] }]), parseProduceResponse);
        const p = res.get(topic)?.find((x) => x.partition === partition);
        if (!p) throw new KafkaError(`produce ${topic}/${partition}: partition missing from the response`);
        if (p.errorCode === ErrorCode.NONE || p.errorCode === ErrorCode.DUPLICATE_SEQUENCE_NUMBER) {
          this.#sequences.set(key, seq);
          return { baseOffset: p.baseOffset, recordCount };
        }
        const detail = [p.errorMessage, ...p.recordErrors.map((e) => e.message)].filter(Boolean).join('; ');
        const err = new KafkaError(`produce ${topic}/${partition}: ${errorName(p.errorCode)}${detail ? ` (${detail})` : ''}`, p.errorCode, { topic, partition });
        if (!isRetriable(p.errorCode)) throw err;
        lastErr = err;
        if (needsMetadataRefresh(p.errorCode)) await this.#cluster.refresh().catch(() => {});
      } catch (err) {
        if (err instanceof KafkaError && err.kafkaCode !== undefined && !isRetriable(err.kafkaCode)) throw err;
        lastErr = err;
        if (conn) await this.#cluster.dropConnection(conn);
        await this.#cluster.refresh().catch(() => {});
      }
    }
    throw new KafkaError(`produce ${topic}/${partition} failed after ${this.#opts.retries} retries: ${(lastErr as Error)?.message}`, undefined, { topic, partition }, { cause: lastErr });
  }
}
