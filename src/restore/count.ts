/**
 * The exact number of records a restore will write, for validate-restore: what the index and the
 * segment footers already say is counted from them, and only the blocks a time window cuts
 * through are read and decoded.
 */
import { decodeBatch, readBatchHeader } from '../kafka/protocol/record-batch.js';
import { isSeedEntry } from '../format/seed/manifest.js';
import type { ObjectStore } from '../storage/store.js';
import type { PlannedPartition, RestorePlan } from './plan.js';
import { restoreBatches } from './record-stream.js';
import { readBlockBatches, readFooter } from './segment-source.js';

export interface CountCost {
  /** Segment footers read (ranged GETs of the tail). */
  footersRead: number;
  /** Blocks read and decoded because the window cuts through them. */
  blocksDecoded: number;
  /** Partitions read whole because they hold aborted transactions (the markers decide what is dropped). */
  partitionsStreamed: number;
}

/**
 * Replaces the plan's estimates with exact counts (per partition and in total): after this the
 * lower bound, upper bound and estimate are all the number of records the restore writes.
 */
export async function countExactly(plan: RestorePlan, store: ObjectStore): Promise<CountCost> {
  const cost: CountCost = { footersRead: 0, blocksDecoded: 0, partitionsStreamed: 0 };
  let total = 0;
  for (const t of plan.topics) {
    for (const pp of t.partitions) {
      // Seed-tool segments have no block index: they are read and counted record by record too.
      const n = pp.segments.some((s) => s.entry.aborted_transactions.length > 0 || isSeedEntry(s.entry))
        ? await countByStreaming(plan, store, pp, cost)
        : await countByBlocks(plan, store, pp, cost);
      pp.recordsExact = n;
      pp.recordsPartialUpperBound = 0;
      pp.recordsEstimate = n;
      total += n;
    }
  }
  plan.recordsEstimate = total;
  plan.recordsLowerBound = total;
  plan.recordsUpperBound = total;
  plan.footersRead += cost.footersRead;
  return cost;
}

/** Segments and blocks wholly inside the window from the index and footers; the cut blocks decoded. */
async function countByBlocks(plan: RestorePlan, store: ObjectStore, pp: PlannedPartition, cost: CountCost): Promise<number> {
  const w = plan.window;
  let n = 0;
  for (const seg of pp.segments) {
    if (seg.fullyInside) {
      n += seg.entry.record_count; // data records only, as the restore writes them
      continue;
    }
    const { footer, tail } = await readFooter(store, seg.entry);
    cost.footersRead++;
    for (const b of footer.blocks) {
      if (b.recordCount - b.controlBatchCount <= 0) continue;
      // A block's range covers every record in it (control batches too), so "inside" is safe.
      if (!w.overlaps(b.minTimestamp, b.maxTimestamp)) continue;
      if (w.covers(b.minTimestamp, b.maxTimestamp)) {
        n += b.recordCount - b.controlBatchCount;
        continue;
      }
      cost.blocksDecoded++;
      for (const batch of await readBlockBatches(store, seg.entry, b, tail)) {
        if (readBatchHeader(batch).isControl) continue;
        for (const r of decodeBatch(batch).records) if (w.contains(r.timestamp)) n++;
      }
    }
  }
  return n;
}

/** The restore's own record stream, counted (drops aborted transactions exactly as the restore does). */
async function countByStreaming(plan: RestorePlan, store: ObjectStore, pp: PlannedPartition, cost: CountCost): Promise<number> {
  cost.partitionsStreamed++;
  let n = 0;
  const stats = { skippedOutsideWindow: 0, abortedSkipped: 0, bytesRead: 0 };
  for await (const b of restoreBatches(store, pp, { window: plan.window, includeOriginalOffsetHeader: false, stripOffsetHeaders: false, skip: 0, stats })) {
    n += b.sourceOffsets.length;
  }
  return n;
}
