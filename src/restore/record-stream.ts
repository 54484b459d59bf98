import { batchReuseProblem, decodeBatch, encodeBatch, readBatchHeader, scanBatch, type KafkaRecord } from '../kafka/protocol/record-batch.js';
import type { ObjectStore } from '../storage/store.js';
import { AbortedFilter } from './aborted-filter.js';
import { TimeWindow } from '../util/time-window.js';
import { originHeaders, stripOffsetHeaders } from './headers.js';
import type { PlannedPartition } from './plan.js';
import type { RecordContent } from './resume.js';
import { readSegmentBatches } from './segment-source.js';
import type { SchemaIdRewriter } from './schema-ids.js';

/** A batch ready to produce, and the source offsets of its records in order. */
export interface OutBatch {
  batch: Buffer;
  sourceOffsets: number[];
  /** True when the stored batch is sent as is (only the producer fields are re-stamped). */
  reused: boolean;
}

export interface StreamOptions {
  window: TimeWindow;
  includeOriginalOffsetHeader: boolean;
  stripOffsetHeaders: boolean;
  /** restore.rewrite_schema_ids: batches with a schema id to change are rebuilt (offsets map, timestamps, headers, order kept). */
  schemaIds?: SchemaIdRewriter;
  /** Skip this many leading records of the sequence (resume after a crash). */
  skip: number;
  /** Each skipped record, as the restore would write it (resume checks it against the target). */
  onSkipped?: (sourceOffset: number, record: () => RecordContent) => void;
  stats: { skippedOutsideWindow: number; abortedSkipped: number; bytesRead: number };
}

/**
 * The records of one source partition that a restore writes, as batches, in source offset order.
 * The sequence is deterministic for a given backup and configuration, which is what makes a
 * resumed restore exact: it skips as many records as the target partition already holds.
 * Aborted transactions are dropped the way a read_committed consumer drops them, and control
 * batches (transaction markers) are never produced.
 */
export async function* restoreBatches(store: ObjectStore, pp: PlannedPartition, o: StreamOptions): AsyncGenerator<OutBatch> {
  const aborts = new AbortedFilter();
  const transform = o.includeOriginalOffsetHeader || o.stripOffsetHeaders;
  const outHeaders = (r: KafkaRecord) => {
    const headers = o.stripOffsetHeaders ? stripOffsetHeaders(r.headers) : r.headers;
    return o.includeOriginalOffsetHeader ? [...headers, ...originHeaders(pp.sourceTopic, pp.sourcePartition, r.offset, r.timestamp)] : headers;
  };
  const where = (r: KafkaRecord, part: string) => () => `${part} of ${pp.sourceTopic}/${pp.sourcePartition} offset ${r.offset}`;
  const outKey = (r: KafkaRecord) => (o.schemaIds ? o.schemaIds.rewrite(r.key, where(r, 'key')) : r.key);
  const outValue = (r: KafkaRecord) => (o.schemaIds ? o.schemaIds.rewrite(r.value, where(r, 'value')) : r.value);
  for (const seg of pp.segments) {
    aborts.startSegment(seg.entry);
    // A segment with aborted transactions is read whole even when the window cuts it: the blocks
    // outside the window may hold the markers that end them.
    const read = seg.entry.aborted_transactions.length > 0 ? TimeWindow.ALL : o.window;
    for await (const { batch, bytes } of readSegmentBatches(store, seg.entry, read)) {
      o.stats.bytesRead += bytes;
      const h = readBatchHeader(batch);
      const skipped = aborts.skip(h);
      if (skipped === 'control') continue;
      if (skipped === 'aborted') {
        o.stats.abortedSkipped += h.recordCount;
        continue;
      }
      if (h.recordCount === 0) continue;
      // Whole stored batches are kept untouched when every record is in the window: decided per
      // segment from the index, else per batch from its own timestamp range.
      // One record scan serves both the window check and the reuse check.
      const reusable = !transform && o.skip === 0 && !(o.schemaIds?.affects(batch, pp.sourceTopic, pp.sourcePartition) ?? false);
      const scan = reusable ? scanBatch(batch) : undefined;
      const batchInside = seg.fullyInside || !o.window.bounded || (scan !== undefined && o.window.covers(scan.min, scan.max));
      if (batchInside && reusable && batchReuseProblem(batch, {}, scan) === null) {
        const first = Number(h.baseOffset);
        yield { batch, sourceOffsets: Array.from({ length: h.recordCount }, (_, i) => first + i), reused: true };
        continue;
      }
      const decoded = decodeBatch(batch);
      const keep: KafkaRecord[] = [];
      for (const r of decoded.records) {
        if (!o.window.contains(r.timestamp)) {
          o.stats.skippedOutsideWindow++;
          continue;
        }
        if (o.skip > 0) {
          o.skip--;
          o.onSkipped?.(Number(r.offset), () => ({ key: outKey(r), value: outValue(r), headers: outHeaders(r), timestamp: r.timestamp }));
          continue;
        }
        keep.push(r);
      }
      if (keep.length === 0) continue;
      const out = encodeBatch(
        keep.map((r, i) => ({ key: outKey(r), value: outValue(r), headers: outHeaders(r), timestamp: r.timestamp, offsetDelta: i })),
        { compression: h.compression, timestampType: 'create' },
      );
      yield { batch: out, sourceOffsets: keep.map((r) => Number(r.offset)), reused: false };
    }
  }
}
