import type { BatchHeader } from '../kafka/protocol/record-batch.js';
import type { SegmentEntry } from '../format/partition-index.js';

/**
 * What a read_committed consumer skips in one partition's stored batches: control batches
 * (transaction markers) and the batches of aborted transactions; the restore's record stream
 * (record-stream.ts) and `cat` both use it. A producer's transaction ends at its next control batch.
 *
 * Aborted transactions are tracked per segment, from the segment's own list: it names every aborted
 * transaction whose range overlaps the segment (one that began earlier and is still open at the
 * segment's first offset included). A global walk over the partition's list would need to see every
 * transaction marker, but a restore leaves out segments (outside the window, or holding only
 * markers): a producer whose abort marker sits in such a segment would stay "aborted" and its later
 * committed transactions would be dropped. The segment must be read whole when its list is not
 * empty (the markers may sit in any of its blocks).
 */
export class AbortedFilter {
  readonly #lastMarker = new Map<string, number>();
  readonly #open = new Set<string>();
  #aborted: SegmentEntry['aborted_transactions'] = [];
  #next = 0;

  /** Call before the first batch of each segment read, in offset order. */
  startSegment(entry: SegmentEntry): void {
    this.#aborted = [...entry.aborted_transactions].sort((a, b) => a.first_offset - b.first_offset);
    this.#open.clear();
    this.#next = 0;
    for (; this.#next < this.#aborted.length && this.#aborted[this.#next]!.first_offset < entry.first_offset; this.#next++) {
      // Open at the segment start unless this partition's stream already saw the producer's marker after it began.
      const a = this.#aborted[this.#next]!;
      const seen = this.#lastMarker.get(String(a.producer_id));
      if (seen === undefined || seen < a.first_offset) this.#open.add(String(a.producer_id));
    }
  }

  /** 'control' or 'aborted' when a read_committed consumer would not see the batch's records, else null. */
  skip(h: BatchHeader): 'control' | 'aborted' | null {
    const last = Number(h.lastOffset);
    while (this.#next < this.#aborted.length && this.#aborted[this.#next]!.first_offset <= last)
      this.#open.add(String(this.#aborted[this.#next++]!.producer_id));
    if (h.isControl) {
      this.#open.delete(String(h.producerId));
      this.#lastMarker.set(String(h.producerId), Number(h.baseOffset));
      return 'control';
    }
    return h.isTransactional && this.#open.has(String(h.producerId)) ? 'aborted' : null;
  }
}
