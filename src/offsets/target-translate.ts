/**
 * Translating one target partition's committed source position(s) with the technique the user
 * chose: exact (the restore's stored offset map), header-based (binary search on the restored
 * records' x-original-offset header) or timestamp-based (ListOffsets by the record's timestamp).
 */
import type { RestoreState } from '../format/restore-state.js';
import { EARLIEST, type KafkaAdmin, LATEST } from '../kafka/admin.js';
import type { KafkaCluster } from '../kafka/cluster.js';
import { fetchPartition } from '../kafka/fetcher.js';
import { decodeBatch, readBatchHeader, splitBatches } from '../kafka/protocol/record-batch.js';
import { readOriginalOffset, readSegmentBatches, type PlannedPartition, type RestoreOptions } from '../restore/index.js';
import { UserError } from '../util/errors.js';
import { TimeWindow } from '../util/time-window.js';
import type { PartitionReset, ResetStrategy } from './report.js';
import { searchByHeader, timestampLookup, translateExact, type SourceCommit, type SourceRecordTime } from './translate.js';

/** The planned source partitions written into one target partition. */
export interface TargetPartitionPlan {
  targetTopic: string;
  targetPartition: number;
  sources: PlannedPartition[];
}

export interface TranslateContext {
  restore: RestoreOptions;
  state: RestoreState | undefined;
  admin: KafkaAdmin;
  /** Connected for header-based translation only. */
  cluster: KafkaCluster | undefined;
}

export async function translatePartition(
  technique: ResetStrategy,
  ctx: TranslateContext,
  tp: TargetPartitionPlan,
  commits: SourceCommit[],
): Promise<PartitionReset> {
  const key = `${tp.targetTopic}/${tp.targetPartition}`;
  const base = { targetTopic: tp.targetTopic, targetPartition: tp.targetPartition, sources: commits, before: null };
  if (technique === 'exact' || technique === 'manual') {
    const ps = ctx.state?.partitions[key];
    if (!ps) throw new UserError('NO_OFFSET_MAP', `the stored restore state has no offset map for ${key}: the restore did not reach it`);
    const t = translateExact(ps.runs, commits, ps.initial_end_offset + ps.produced);
    return { ...base, after: t.targetOffset, duplicates: t.duplicates, duplicatesApproximate: false, atEnd: t.atEnd };
  }
  if (tp.sources.length > 1) {
    const merged = tp.sources.map((s) => `${s.sourceTopic}/${s.sourcePartition}`).join(', ');
    throw new UserError(
      'MERGED_PARTITION',
      `${key} holds records of several source partitions (${merged}): ${technique} translation needs one source per target partition; use consumer_group_strategy: exact (the restore's offset map)`,
    );
  }
  const { admin } = ctx;
  const start =
    ctx.state?.partitions[key]?.initial_end_offset ??
    Number((await admin.listOffsets(tp.targetTopic, [tp.targetPartition], EARLIEST)).get(tp.targetPartition) ?? 0n);
  const end = Number((await admin.listOffsets(tp.targetTopic, [tp.targetPartition], LATEST)).get(tp.targetPartition) ?? 0n);
  if (technique === 'header-based') {
    const t = await searchByHeader(headerProbe(ctx.cluster!, tp), commits[0]!.offset, start, end).catch((err: unknown) => {
      throw new UserError('NO_OFFSET_HEADERS', `${key}: ${(err as Error).message}`);
    });
    return { ...base, after: t.targetOffset, duplicates: 0, duplicatesApproximate: false, atEnd: t.atEnd };
  }
  const look = timestampLookup(await restoredRecordTimes(ctx.restore, tp.sources[0]!), commits[0]!.offset);
  if (look.timestamp === undefined) return { ...base, after: end, duplicates: 0, duplicatesApproximate: true, atEnd: true };
  const found = (await admin.listOffsets(tp.targetTopic, [tp.targetPartition], BigInt(look.timestamp))).get(tp.targetPartition);
  const after = found === undefined || found < 0n ? end : Math.min(end, Math.max(start, Number(found)));
  return { ...base, after, duplicates: look.duplicatesAtMost, duplicatesApproximate: true, atEnd: after >= end };
}

/** Reads the first data record at or after an offset of the target partition, with its x-original-offset. */
function headerProbe(
  cluster: KafkaCluster,
  tp: TargetPartitionPlan,
): (offset: number) => Promise<{ offset: number; original: number | undefined } | undefined> {
  return async (offset) => {
    const res = await fetchPartition(cluster, tp.targetTopic, tp.targetPartition, BigInt(offset), { maxWaitMs: 0, maxBytes: 1024 * 1024 });
    for (const b of splitBatches(res.records).batches) {
      if (readBatchHeader(b).isControl) continue;
      for (const rec of decodeBatch(b).records) {
        if (rec.offset < BigInt(offset)) continue;
        const orig = readOriginalOffset(rec.headers);
        return { offset: Number(rec.offset), original: orig === undefined ? undefined : Number(orig) };
      }
    }
    return undefined;
  };
}

/**
 * Offsets and timestamps of the records of one source partition that the restore writes:
 * data records of the planned segments inside the window. Aborted transactions are not
 * filtered out (this is the approximate technique; they only make the duplicate bound larger).
 */
async function restoredRecordTimes(r: RestoreOptions, pp: PlannedPartition): Promise<SourceRecordTime[]> {
  const out: SourceRecordTime[] = [];
  const window = TimeWindow.of(r.windowStart, r.windowEnd);
  for (const seg of pp.segments) {
    for await (const { batch } of readSegmentBatches(r.store, seg.entry, window)) {
      if (readBatchHeader(batch).isControl) continue;
      for (const rec of decodeBatch(batch).records) {
        if (!window.contains(rec.timestamp)) continue;
        out.push({ offset: Number(rec.offset), timestamp: Number(rec.timestamp) });
      }
    }
  }
  return out;
}
