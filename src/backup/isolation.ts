import type { BatchHeader } from '../kafka/protocol/record-batch.js';

/**
 * backup.isolation_level: read_committed. Decides, batch by batch in log order, which batches of
 * one Fetch response belong to aborted transactions, exactly as a read_committed Kafka consumer
 * does: the response's aborted-transaction list names every aborted transaction overlapping the
 * fetched range (with its first offset); a producer is "in an aborted transaction" from that
 * first offset until its transaction marker, and its transactional data batches meanwhile are
 * aborted. The state lives for one response only, since each response carries its own list.
 */
export class AbortedBatchFilter {
  readonly #pending: { producerId: bigint; firstOffset: bigint }[];
  readonly #aborted = new Set<bigint>();

  constructor(abortedTransactions: readonly { producerId: bigint; firstOffset: bigint }[]) {
    this.#pending = [...abortedTransactions].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  }

  /** True when the batch holds records of an aborted transaction (to be left out of the backup). Call for every batch, in order. */
  isAborted(h: Pick<BatchHeader, 'baseOffset' | 'lastOffsetDelta' | 'producerId' | 'isTransactional' | 'isControl'>): boolean {
    const last = h.baseOffset + BigInt(h.lastOffsetDelta);
    while (this.#pending.length > 0 && this.#pending[0]!.firstOffset <= last) this.#aborted.add(this.#pending.shift()!.producerId);
    if (h.isControl) {
      // The marker ends the producer's transaction (kept in the backup: it holds no record).
      this.#aborted.delete(h.producerId);
      return false;
    }
    return h.isTransactional && this.#aborted.has(h.producerId);
  }
}
