import { createHash } from 'node:crypto';
import { decodeBlock, parseSegmentFooter, parseSegmentTail, readSegment, type SegmentFooter } from '../format/segment.js';
import type { SegmentEntry } from '../format/partition-index.js';
import type { ObjectStore } from '../storage/store.js';
import { CorruptDataError } from '../util/errors.js';

// One ranged GET of the tail brings the footer; a segment no larger than this comes whole with it,
// so a small segment is never fetched twice (tail, then its block).
const TAIL_BYTES = 256 * 1024;

export interface SourceBatch {
  batch: Buffer;
  /** Stored bytes read for this batch's block, counted once per block (0 for the others). */
  bytes: number;
}

export interface ReadWindow {
  windowStart?: number;
  windowEnd?: number;
}

function checkSha(entry: SegmentEntry, bytes: Buffer): void {
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== entry.sha256) throw new CorruptDataError(`${entry.key}: SHA-256 mismatch (index says ${entry.sha256}, object has ${sha})`, entry.key);
}

/** The segment's footer (block index), with at most two ranged GETs. */
export async function readFooter(store: ObjectStore, entry: SegmentEntry): Promise<{ footer: SegmentFooter; tail: Buffer; tailBytes: number }> {
  const size = entry.stored_bytes;
  const tail = await store.get(entry.key, { start: Math.max(0, size - TAIL_BYTES) });
  if (tail.length !== Math.min(size, TAIL_BYTES)) throw new CorruptDataError(`${entry.key}: object is shorter than the ${size} bytes the index records`, entry.key);
  const parsed = parseSegmentTail(tail, size);
  if (parsed.footer) return { footer: parsed.footer, tail, tailBytes: tail.length };
  const fb = await store.get(entry.key, parsed.footerRange);
  return { footer: parseSegmentFooter(fb, parsed.trailer), tail, tailBytes: tail.length + fb.length };
}

/**
 * The stored batches of one segment, in order. When a time window cuts through the segment,
 * only the footer and the blocks whose timestamp range meets the window are fetched (ranged
 * GETs, each block checked against its CRC-32C); otherwise the whole object is fetched and
 * checked against the SHA-256 in the index.
 */
export async function* readSegmentBatches(store: ObjectStore, entry: SegmentEntry, w: ReadWindow = {}): AsyncGenerator<SourceBatch> {
  const windowed = w.windowStart !== undefined || w.windowEnd !== undefined;
  const fully =
    !windowed ||
    (entry.min_timestamp !== null && entry.max_timestamp !== null && (w.windowStart === undefined || entry.min_timestamp >= w.windowStart) && (w.windowEnd === undefined || entry.max_timestamp <= w.windowEnd));
  if (fully) {
    const bytes = await store.get(entry.key);
    if (bytes.length !== entry.stored_bytes) throw new CorruptDataError(`${entry.key}: ${bytes.length} bytes, the index records ${entry.stored_bytes}`, entry.key);
    checkSha(entry, bytes);
    const { batches } = readSegment(bytes);
    let first = true;
    for (const batch of batches) {
      yield { batch, bytes: first ? bytes.length : 0 };
      first = false;
    }
    return;
  }
  const { footer, tail, tailBytes } = await readFooter(store, entry);
  // A small segment came whole with the tail read: cut its blocks from that instead of fetching again.
  const tailStart = entry.stored_bytes - tail.length;
  let extra = tailBytes;
  for (const b of footer.blocks) {
    // Blocks holding only control batches have no meaningful time range but carry transaction
    // markers, which the aborted-transaction logic needs: always read them.
    const onlyControl = b.controlBatchCount === b.batchCount;
    const meets = (w.windowStart === undefined || b.maxTimestamp >= BigInt(w.windowStart)) && (w.windowEnd === undefined || b.minTimestamp <= BigInt(w.windowEnd));
    if (!meets && !onlyControl) continue;
    const inTail = b.storedOffset >= tailStart;
    const stored = inTail
      ? tail.subarray(b.storedOffset - tailStart, b.storedOffset - tailStart + b.storedLength)
      : await store.get(entry.key, { start: b.storedOffset, end: b.storedOffset + b.storedLength });
    const batches = decodeBlock(stored, b);
    let first = true;
    for (const batch of batches) {
      yield { batch, bytes: first ? (inTail ? 0 : stored.length) + extra : 0 };
      first = false;
      extra = 0;
    }
  }
}
