import {
  BLOCK_ENTRY_SIZE,
  decodeBlock,
  DEFAULT_BLOCK_SIZE,
  FOOTER_HEADER_SIZE,
  MAX_BLOCKS,
  parseSegmentFooter,
  parseSegmentTail,
  SEGMENT_TRAILER_SIZE,
  type BlockMeta,
  type SegmentFooter,
} from '../format/segment.js';
import type { SegmentEntry } from '../format/partition-index.js';
import { digestLabel, recordedDigest, SegmentDigester } from '../format/segment-digest.js';
import { isSeedEntry } from '../format/seed/manifest.js';
import type { ObjectStore } from '../storage/store.js';
import { CorruptDataError } from '../util/errors.js';
import { readSeedSegmentBatches } from './seed-source.js';
import { TimeWindow } from '../util/time-window.js';

// One ranged GET of the tail brings the footer; a segment no larger than this comes whole with it,
// so a small segment is never fetched twice (tail, then its block).
const TAIL_BYTES = 256 * 1024;
// A larger segment's tail is sized to its footer (72 bytes per block of about DEFAULT_BLOCK_SIZE raw
// bytes), with room to spare; a footer larger than the guess costs one more ranged GET.
const MIN_TAIL_BYTES = 64 * 1024;
// The largest footer and trailer the format allows: the index's raw_bytes (which a forged index
// may overstate) never makes the tail read more than this.
const MAX_TAIL_BYTES = SEGMENT_TRAILER_SIZE + FOOTER_HEADER_SIZE + BLOCK_ENTRY_SIZE * MAX_BLOCKS;

function tailLength(entry: SegmentEntry): number {
  const size = entry.stored_bytes;
  if (size <= TAIL_BYTES) return size;
  const footer = SEGMENT_TRAILER_SIZE + FOOTER_HEADER_SIZE + BLOCK_ENTRY_SIZE * (Math.ceil(entry.raw_bytes / DEFAULT_BLOCK_SIZE) + 1);
  return Math.min(size, MAX_TAIL_BYTES, Math.max(MIN_TAIL_BYTES, 2 * footer));
}

export interface SourceBatch {
  batch: Buffer;
  /** Stored bytes read for this batch's block, counted once per block (0 for the others). */
  bytes: number;
}

/** Runs a format check, naming the object in what it throws (the format layer knows no keys). */
function named<T>(entry: SegmentEntry, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof CorruptDataError && e.object === undefined)
      throw new CorruptDataError(`${entry.key}: ${e.message.replace(/^segment: /, '')}`, entry.key, e.context);
    throw e;
  }
}

/** The segment's footer (block index), with at most two ranged GETs. */
export async function readFooter(store: ObjectStore, entry: SegmentEntry): Promise<{ footer: SegmentFooter; tail: Buffer; tailBytes: number }> {
  const size = entry.stored_bytes;
  const want = tailLength(entry);
  const tail = await store.get(entry.key, { start: size - want });
  if (tail.length !== want) throw new CorruptDataError(`${entry.key}: object is shorter than the ${size} bytes the index records`, entry.key);
  const parsed = named(entry, () => parseSegmentTail(tail, size));
  if (parsed.footer) return { footer: parsed.footer, tail, tailBytes: tail.length };
  const fb = await store.get(entry.key, parsed.footerRange);
  return { footer: named(entry, () => parseSegmentFooter(fb, parsed.trailer)), tail, tailBytes: tail.length + fb.length };
}

/**
 * One block's batches, checked against its CRC-32C and footer entry (errors name the object); the
 * first carries `bytes`, what reading the block cost (a block holds at least one batch).
 */
function* blockBatches(entry: SegmentEntry, stored: Buffer, meta: BlockMeta, bytes: number): Generator<SourceBatch> {
  let first = true;
  for (const batch of named(entry, () => decodeBlock(stored, meta))) {
    yield { batch, bytes: first ? bytes : 0 };
    first = false;
  }
}

/** Pulls exact byte counts off a chunked stream, copying only when a block straddles chunks. */
class StreamTaker {
  readonly #it: AsyncIterator<Buffer>;
  #buf: Buffer[] = [];
  #have = 0;
  constructor(source: AsyncIterable<Buffer>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  /** The next `n` bytes, or fewer when the stream ends first. */
  async take(n: number): Promise<Buffer> {
    while (this.#have < n) {
      const r = await this.#it.next();
      if (r.done) break;
      this.#buf.push(r.value);
      this.#have += r.value.length;
    }
    const first = this.#buf[0];
    let out: Buffer;
    if (first && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#buf.shift();
      else this.#buf[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.#buf, this.#have);
      out = all.subarray(0, Math.min(n, all.length));
      this.#buf = all.length > n ? [all.subarray(n)] : [];
    }
    this.#have -= out.length;
    return out;
  }

  /** Reads the stream to its end (the footer and trailer after the last block), discarding it. */
  async drain(): Promise<void> {
    this.#buf = [];
    this.#have = 0;
    for (let r = await this.#it.next(); !r.done; r = await this.#it.next());
  }
}

/**
 * A whole segment, block by block: the tail read gives the footer, then one streamed GET of the
 * rest brings the blocks in order, each checked against its CRC-32C before its batches are
 * yielded, so at most about one block is held, whatever the segment's size. The digest in the
 * index (SHA-256, or CRC-32C since format decision 18: segment-digest.ts) covers the whole object and is checked when the stream ends (a mismatch there fails the
 * restore; the batches already yielded passed their block's CRC-32C and their own).
 */
async function* readWholeSegment(store: ObjectStore, entry: SegmentEntry): AsyncGenerator<SourceBatch> {
  const { footer, tail } = await readFooter(store, entry);
  const tailStart = entry.stored_bytes - tail.length;
  const rec = recordedDigest(entry);
  if (!rec) throw new CorruptDataError(`${entry.key}: the index entry records no digest of the object`, entry.key);
  const hash = new SegmentDigester(rec.algorithm);
  let streamed = 0;
  const source = async function* (): AsyncGenerator<Buffer> {
    if (tailStart > 0) {
      for await (const chunk of await store.getStream(entry.key, { start: 0, end: tailStart })) {
        hash.update(chunk);
        streamed += chunk.length;
        yield chunk;
      }
      if (streamed !== tailStart)
        throw new CorruptDataError(`${entry.key}: object is shorter than the ${entry.stored_bytes} bytes the index records`, entry.key);
    }
    hash.update(tail);
    yield tail;
  };
  const taker = new StreamTaker(source());
  // The footer, trailer and tail are counted with the first block.
  let extra = entry.stored_bytes - footer.blocks.reduce((n, b) => n + b.storedLength, 0);
  for (const b of footer.blocks) {
    yield* blockBatches(entry, await taker.take(b.storedLength), b, b.storedLength + extra);
    extra = 0;
  }
  await taker.drain();
  const got = hash.digest();
  if (got !== rec.value)
    throw new CorruptDataError(`${entry.key}: ${digestLabel(rec.algorithm)} mismatch (index says ${rec.value}, object has ${got})`, entry.key);
}

/**
 * The stored batches of one segment, in order. When a time window cuts through the segment,
 * only the footer and the blocks whose timestamp range meets the window are fetched (ranged
 * GETs, each block checked against its CRC-32C); otherwise the whole object is streamed block
 * by block and checked against the digest in the index (see readWholeSegment).
 */
export async function* readSegmentBatches(store: ObjectStore, entry: SegmentEntry, window: TimeWindow = TimeWindow.ALL): AsyncGenerator<SourceBatch> {
  if (isSeedEntry(entry)) {
    yield* readSeedSegmentBatches(store, entry); // no block index: read whole, the window is applied per record
    return;
  }
  const fully = !window.bounded || (entry.min_timestamp !== null && entry.max_timestamp !== null && window.covers(entry.min_timestamp, entry.max_timestamp));
  if (fully) {
    yield* readWholeSegment(store, entry);
    return;
  }
  const { footer, tail, tailBytes } = await readFooter(store, entry);
  // A small segment came whole with the tail read: fetchBlock cuts its blocks from that instead of fetching again.
  let extra = tailBytes;
  for (const b of footer.blocks) {
    // Blocks holding only control batches have no meaningful time range but carry transaction
    // markers, which the aborted-transaction logic needs: always read them.
    const onlyControl = b.controlBatchCount === b.batchCount;
    if (!window.overlaps(b.minTimestamp, b.maxTimestamp) && !onlyControl) continue;
    const { stored, fetched } = await fetchBlock(store, entry, b, tail);
    yield* blockBatches(entry, stored, b, fetched + extra);
    extra = 0;
  }
}

/** One block's stored bytes: cut from the segment's tail when it came with it, else one ranged GET. */
async function fetchBlock(store: ObjectStore, entry: SegmentEntry, b: BlockMeta, tail: Buffer): Promise<{ stored: Buffer; fetched: number }> {
  const tailStart = entry.stored_bytes - tail.length;
  if (b.storedOffset >= tailStart) return { stored: tail.subarray(b.storedOffset - tailStart, b.storedOffset - tailStart + b.storedLength), fetched: 0 };
  const stored = await store.get(entry.key, { start: b.storedOffset, end: b.storedOffset + b.storedLength });
  return { stored, fetched: stored.length };
}

/** The batches of one block of a segment whose footer was read with readFooter (checked as in readSegmentBatches). */
export async function readBlockBatches(store: ObjectStore, entry: SegmentEntry, b: BlockMeta, tail: Buffer): Promise<Buffer[]> {
  const { stored } = await fetchBlock(store, entry, b, tail);
  return [...blockBatches(entry, stored, b, 0)].map((x) => x.batch);
}
