/**
 * `cat`: the records of one topic of a backup as a read_committed consumer saw them (key, value,
 * headers in order with duplicates and nulls, timestamp and its type, original offset), without a
 * cluster. Only what can hold a wanted record is read: segments by the partition index (offsets,
 * min/max timestamps), then blocks by the segment footer; a segment every record of which is
 * wanted is streamed whole and checked against its SHA-256, as a restore does. Seed-tool backups
 * are read through the same segment source (whole segments: their format has no block index).
 */
import type { Manifest } from '../format/manifest.js';
import type { PartitionIndex, SegmentEntry } from '../format/partition-index.js';
import type { BlockMeta } from '../format/segment.js';
import { isSeedBackup, readBackupIndex, requireBackupManifest } from '../format/seed/backup.js';
import { isSeedEntry } from '../format/seed/manifest.js';
import { decodeBatch, readBatchHeader, type KafkaRecord, type RecordHeader } from '../kafka/protocol/record-batch.js';
import type { ObjectStore } from '../storage/store.js';
import { UserError } from '../util/errors.js';
import { TimeWindow } from '../util/time-window.js';
import { AbortedFilter } from './aborted-filter.js';
import { readBlockBatches, readFooter, readSegmentBatches } from './segment-source.js';

export interface CatOptions {
  store: ObjectStore;
  backupId: string;
  topic: string;
  /** Partitions to read, each in offset order, in the order given (default: all, ascending). */
  partitions?: number[];
  /** Original offsets, both inclusive; either may be open. */
  fromOffset?: number;
  toOffset?: number;
  /** Record timestamps (epoch ms), both inclusive, like restore.time_window_start/end. */
  windowStart?: number;
  windowEnd?: number;
  /** Only records whose key is exactly these bytes. */
  key?: Buffer;
  /** Stop after this many records. */
  limit?: number;
  signal?: AbortSignal;
}

export type CatTimestampType = 'CreateTime' | 'LogAppendTime';

export interface CatRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  /** null for a seed-tool backup: that format does not keep it. */
  timestampType: CatTimestampType | null;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface CatStats {
  /** Segments of the selected partitions, and those read. */
  segmentsTotal: number;
  segmentsRead: number;
  /** Blocks read (a seed-tool segment counts as one). */
  blocksRead: number;
  /** Stored bytes fetched: segments, footers and blocks. */
  bytesRead: number;
  recordsScanned: number;
  recordsMatched: number;
  /** Records of aborted transactions, which a read_committed consumer never sees. */
  abortedSkipped: number;
}

export interface CatRun {
  backupId: string;
  topic: string;
  partitions: number[];
  /** 'seed-tool' when the backup was written by the seed tool (osodevops/kafka-backup). */
  format: 'kafka-backup' | 'seed-tool';
  warnings: string[];
  /** Filled in while `records` is consumed. */
  stats: CatStats;
  records: AsyncGenerator<CatRecord>;
}

interface PartitionSource {
  partition: number;
  segments: SegmentEntry[];
}

const TIMESTAMP_TYPE = { create: 'CreateTime', logAppend: 'LogAppendTime' } as const;

/** The options with the time window built once (util/time-window.ts). */
type Wanted = CatOptions & { window: TimeWindow };

function usage(message: string): UserError {
  return new UserError('USAGE', message);
}

function checkRanges(o: CatOptions, window: TimeWindow): void {
  if (o.fromOffset !== undefined && o.toOffset !== undefined && o.fromOffset > o.toOffset)
    throw usage(`--offset: start ${o.fromOffset} is after end ${o.toOffset} (accepted: A..B with A <= B, A.., ..B or one offset)`);
  if (window.problem) throw usage(`--from (${o.windowStart}) is after --to (${o.windowEnd}); the window would be empty`);
  if (o.limit !== undefined && (!Number.isSafeInteger(o.limit) || o.limit < 1)) throw usage(`--limit: ${o.limit} is not a whole number >= 1`);
}

/** The selected partitions, refused with the partitions the topic has when one is not in the backup. */
function selectPartitions(manifest: Manifest, o: CatOptions): number[] {
  const t = manifest.topics.find((x) => x.name === o.topic);
  if (!t) throw usage(`--topic: "${o.topic}" is not in backup ${o.backupId} (it holds: ${manifest.topics.map((x) => x.name).join(', ') || 'nothing'})`);
  const have = t.partitions.map((p) => p.partition).sort((a, b) => a - b);
  if (!o.partitions) return have;
  for (const p of o.partitions)
    if (!have.includes(p)) throw usage(`--partition: ${o.topic} has no partition ${p} in backup ${o.backupId} (it has ${have.join(', ') || 'none'})`);
  return o.partitions;
}

/** Whether the index says the segment may hold a wanted record (a seed entry's timestamps are first/last, not min/max). */
function segmentMeets(s: SegmentEntry, o: Wanted): boolean {
  if ((o.fromOffset !== undefined && s.last_offset < o.fromOffset) || (o.toOffset !== undefined && s.first_offset > o.toOffset)) return false;
  if (isSeedEntry(s)) return true;
  if (s.min_timestamp === null || s.max_timestamp === null) return false; // control batches only
  return o.window.overlaps(s.min_timestamp, s.max_timestamp);
}

/** Every record of the segment is in the offset range and the time window (the key filter aside). */
function segmentInside(s: SegmentEntry, o: Wanted): boolean {
  const offsets = (o.fromOffset === undefined || s.first_offset >= o.fromOffset) && (o.toOffset === undefined || s.last_offset <= o.toOffset);
  if (!o.window.bounded) return offsets;
  return offsets && s.min_timestamp !== null && s.max_timestamp !== null && o.window.covers(s.min_timestamp, s.max_timestamp);
}

function blockMeets(b: BlockMeta, o: Wanted): boolean {
  if (b.controlBatchCount === b.batchCount) return false; // transaction markers only: nothing to show
  if ((o.fromOffset !== undefined && b.lastOffset < BigInt(o.fromOffset)) || (o.toOffset !== undefined && b.firstOffset > BigInt(o.toOffset))) return false;
  return o.window.overlaps(b.minTimestamp, b.maxTimestamp);
}

/**
 * The stored batches of a segment that may hold wanted records: the whole segment (streamed,
 * SHA-256 checked) when the range covers it, when it has aborted transactions (their markers may
 * be in any block) or when it is the seed tool's; otherwise the footer and the overlapping blocks.
 */
async function* segmentBatches(store: ObjectStore, s: SegmentEntry, o: Wanted, stats: CatStats): AsyncGenerator<Buffer> {
  if (isSeedEntry(s) || s.aborted_transactions.length > 0 || segmentInside(s, o)) {
    for await (const { batch, bytes } of readSegmentBatches(store, s)) {
      if (bytes > 0) stats.blocksRead++; // the first batch of each block carries the block's bytes
      stats.bytesRead += bytes;
      yield batch;
    }
    return;
  }
  const { footer, tail, tailBytes } = await readFooter(store, s);
  stats.bytesRead += tailBytes;
  const tailStart = s.stored_bytes - tail.length;
  for (const b of footer.blocks) {
    if (!blockMeets(b, o)) continue;
    const batches = await readBlockBatches(store, s, b, tail);
    stats.blocksRead++;
    if (b.storedOffset < tailStart) stats.bytesRead += b.storedLength; // else cut from the tail already read
    yield* batches;
  }
}

function recordMatches(r: KafkaRecord, o: Wanted): boolean {
  if (!o.window.contains(r.timestamp)) return false;
  if (o.fromOffset !== undefined && r.offset < BigInt(o.fromOffset)) return false;
  return o.key === undefined || r.key?.equals(o.key) === true;
}

async function* partitionRecords(o: Wanted, src: PartitionSource, stats: CatStats): AsyncGenerator<CatRecord> {
  const aborted = new AbortedFilter();
  for (const s of src.segments) {
    if (!segmentMeets(s, o)) continue;
    stats.segmentsRead++;
    aborted.startSegment(s);
    for await (const batch of segmentBatches(o.store, s, o, stats)) {
      const h = readBatchHeader(batch);
      const skip = aborted.skip(h);
      if (skip === 'aborted') stats.abortedSkipped += h.recordCount;
      if (skip !== null || h.recordCount === 0) continue;
      const timestampType = isSeedEntry(s) ? null : TIMESTAMP_TYPE[h.timestampType];
      for (const r of decodeBatch(batch).records) {
        stats.recordsScanned++;
        if (o.toOffset !== undefined && r.offset > BigInt(o.toOffset)) return; // offsets ascend: nothing further is wanted
        if (!recordMatches(r, o)) continue;
        stats.recordsMatched++;
        yield {
          topic: o.topic,
          partition: src.partition,
          offset: Number(r.offset),
          timestamp: Number(r.timestamp),
          timestampType,
          key: r.key,
          value: r.value,
          headers: r.headers,
        };
      }
      if (o.signal?.aborted) return;
    }
  }
}

async function* allRecords(o: Wanted, sources: PartitionSource[], stats: CatStats): AsyncGenerator<CatRecord> {
  for (const src of sources) {
    for await (const r of partitionRecords(o, src, stats)) {
      yield r;
      if (o.limit !== undefined && stats.recordsMatched >= o.limit) return;
    }
    if (o.signal?.aborted) return;
  }
}

/**
 * Checks the request against the backup (topic, partitions, ranges: a mistake is a UserError
 * before anything is printed) and returns the records as a stream, read lazily.
 */
export async function catBackup(o: CatOptions): Promise<CatRun> {
  const window = TimeWindow.of(o.windowStart, o.windowEnd);
  checkRanges(o, window);
  const manifest = await requireBackupManifest(o.store, o.backupId);
  const partitions = selectPartitions(manifest, o);
  const warnings: string[] = [];
  const sources: PartitionSource[] = [];
  for (const p of partitions) {
    const idx: PartitionIndex | undefined = await readBackupIndex(o.store, o.backupId, manifest, o.topic, p);
    if (!idx) warnings.push(`${o.topic}/${p}: no partition index in backup ${o.backupId} (status ${manifest.status}): nothing of this partition is backed up`);
    sources.push({ partition: p, segments: idx?.segments ?? [] });
  }
  const stats: CatStats = {
    segmentsTotal: sources.reduce((n, s) => n + s.segments.length, 0),
    segmentsRead: 0,
    blocksRead: 0,
    bytesRead: 0,
    recordsScanned: 0,
    recordsMatched: 0,
    abortedSkipped: 0,
  };
  const format = isSeedBackup(manifest) ? 'seed-tool' : 'kafka-backup';
  return { backupId: o.backupId, topic: o.topic, partitions, format, warnings, stats, records: allRecords({ ...o, window }, sources, stats) };
}
