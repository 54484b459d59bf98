import { addPartitionsToTxnV3, endTxnV4, findCoordinatorV4, initProducerIdV4 } from './lib.js';
import { ClientClosedError, KafkaError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import { sleep } from '../util/time.js';
import type { KafkaCluster } from './cluster.js';
import type { BrokerConnection } from './connection.js';
import { ErrorCode, errorName, isFencedCode, isRetriable, ProducerFencedError } from './errors.js';
import type { ProduceResult, RawProducer, TransactionalIdentity } from './producer.js';

/*
  One transactional producer for ONE partition (the distributed restore's broker-side fence).

  InitProducerId with the transactional id returns the id's producer id with its epoch raised; the
  coordinator first aborts a transaction the former holder of the id left open, writing abort markers
  with the raised epoch to its partitions. From then on the coordinator refuses the old epoch
  (PRODUCER_FENCED on AddPartitionsToTxn and EndTxn) and so does the partition leader, which holds the
  newer epoch since the marker (INVALID_PRODUCER_EPOCH on Produce). So a producer paused with a batch
  in hand, however long, can no longer append it once another took the id over.

  Each chunk is one transaction: AddPartitionsToTxn, the produce requests (RawProducer, stamped with
  this identity), EndTxn commit. The commit marker takes one offset after the chunk's records. The
  client side is transaction version 1 (AddPartitionsToTxn v3, EndTxn v4): the epoch stays the same
  across transactions, and a new AddPartitionsToTxn is answered CONCURRENT_TRANSACTIONS until the
  previous transaction's markers are written, so the next chunk lands after the marker.
*/

const log = logger('transactions');

/** FindCoordinator key type of a transactional id. */
const TRANSACTION_COORDINATOR = 1;

/** The steps of a chunk's transaction, for a test's hook. */
export type TransactionStep = 'before-add' | 'before-produce' | 'before-commit' | 'after-commit';

export interface PartitionTransactionsOptions {
  /** transaction.timeout.ms: the coordinator aborts a transaction left open longer (a dead owner's). */
  transactionTimeoutMs: number;
  /** How long to retry the coordinator's retriable answers (loading, moved, concurrent transactions). */
  retryForMs?: number;
  /** Test hook (src/restore/workers/test-stop.ts): runs at each step of a chunk's transaction. */
  testHook?: (step: TransactionStep) => void;
}

export class PartitionTransactions {
  readonly #cluster: KafkaCluster;
  readonly #producer: RawProducer;
  readonly #topic: string;
  readonly #partition: number;
  readonly #opts: Required<Omit<PartitionTransactionsOptions, 'testHook'>> & Pick<PartitionTransactionsOptions, 'testHook'>;
  #identity: TransactionalIdentity;

  private constructor(
    cluster: KafkaCluster,
    producer: RawProducer,
    topic: string,
    partition: number,
    id: TransactionalIdentity,
    opts: PartitionTransactionsOptions,
  ) {
    this.#cluster = cluster;
    this.#producer = producer;
    this.#topic = topic;
    this.#partition = partition;
    this.#identity = id;
    this.#opts = { retryForMs: 60_000, ...opts };
  }

  /**
   * Takes the transactional id over (InitProducerId): fences every former holder and aborts the
   * transaction it left open; returns once the abort markers are written (the partition then holds
   * nothing of ours above its last stable offset).
   */
  static async init(
    cluster: KafkaCluster,
    producer: RawProducer,
    topic: string,
    partition: number,
    transactionalId: string,
    opts: PartitionTransactionsOptions,
  ): Promise<PartitionTransactions> {
    const t = new PartitionTransactions(cluster, producer, topic, partition, { transactionalId, producerId: -1n, producerEpoch: -1 }, opts);
    const res = await t.#coordinatorCall('InitProducerId', (conn) => conn.call(initProducerIdV4.api, transactionalId, opts.transactionTimeoutMs, -1n, -1));
    t.#identity = { transactionalId, producerId: res.producerId, producerEpoch: res.producerEpoch };
    log.info({ transactionalId, producerId: String(res.producerId), epoch: res.producerEpoch }, 'transactional id taken over');
    return t;
  }

  get identity(): TransactionalIdentity {
    return this.#identity;
  }

  /** One chunk in its own transaction, up to the produce responses (the caller checks the offsets, then commits). */
  async send(batches: Buffer[]): Promise<ProduceResult[]> {
    const { transactionalId, producerId, producerEpoch } = this.#identity;
    this.#opts.testHook?.('before-add');
    await this.#coordinatorCall('AddPartitionsToTxn', (conn) =>
      conn.call(addPartitionsToTxnV3.api, [
        { transactionalId, producerId, producerEpoch, verifyOnly: false, topics: [{ name: this.#topic, partitions: [this.#partition] }] },
      ]),
    );
    this.#opts.testHook?.('before-produce');
    return this.#producer.send(this.#topic, this.#partition, batches, this.#identity);
  }

  /** EndTxn commit of the chunk sent last: its records become visible to read_committed consumers. */
  async commit(): Promise<void> {
    const { transactionalId, producerId, producerEpoch } = this.#identity;
    this.#opts.testHook?.('before-commit');
    await this.#coordinatorCall('EndTxn', (conn) => conn.call(endTxnV4.api, transactionalId, producerId, producerEpoch, true));
    this.#opts.testHook?.('after-commit');
  }

  /**
   * A request to the transaction coordinator of our id, found again when it moved; retriable answers
   * (coordinator loading or moved, CONCURRENT_TRANSACTIONS while markers are written) are retried.
   */
  async #coordinatorCall<R>(what: string, call: (conn: BrokerConnection) => Promise<R>): Promise<R> {
    const id = this.#identity.transactionalId;
    const deadline = Date.now() + this.#opts.retryForMs;
    for (let attempt = 0; ; attempt++) {
      let code: number | undefined;
      try {
        return await call(await this.#coordinator());
      } catch (err) {
        if (err instanceof ClientClosedError) throw err;
        code = err instanceof KafkaError ? err.kafkaCode : undefined;
        const where = { topic: this.#topic, partition: this.#partition };
        if (isFencedCode(code)) throw new ProducerFencedError(id, `${what} ${this.#topic}/${this.#partition}`, code!, where);
        const retriable = code === undefined || code === ErrorCode.CONCURRENT_TRANSACTIONS || isRetriable(code);
        if (!retriable || Date.now() > deadline)
          throw new KafkaError(
            `${what} for transactional id "${id}" failed${code === undefined ? '' : ` (${errorName(code)})`}: ${(err as Error).message}`,
            code,
            { ...where, transactionalId: id },
            { cause: err },
          );
      }
      if (code === ErrorCode.NOT_COORDINATOR || code === ErrorCode.COORDINATOR_NOT_AVAILABLE || code === undefined) this.#coordinatorNode = undefined;
      await sleep(code === ErrorCode.CONCURRENT_TRANSACTIONS ? Math.min(20 * 2 ** attempt, 500) : Math.min(100 * 2 ** attempt, 2000));
    }
  }

  #coordinatorNode: number | undefined;

  async #coordinator(): Promise<BrokerConnection> {
    if (this.#coordinatorNode === undefined) {
      const meta = await this.#cluster.metadata();
      const any = [...meta.brokers.keys()][0];
      if (any === undefined) throw new KafkaError('the target cluster reports no brokers');
      const conn = await this.#cluster.connection(any, 'admin');
      const res = await conn.call(findCoordinatorV4.api, TRANSACTION_COORDINATOR, [this.#identity.transactionalId]);
      const c = res.coordinators[0];
      if (c?.errorCode !== 0)
        throw new KafkaError(`FindCoordinator for transactional id "${this.#identity.transactionalId}": ${errorName(c?.errorCode ?? -1)}`, c?.errorCode);
      this.#coordinatorNode = c.nodeId;
    }
    return this.#cluster.connection(this.#coordinatorNode, 'txn');
  }
}
