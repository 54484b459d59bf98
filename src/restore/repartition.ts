import { murmur2 } from '../kafka/lib.js';
import { EARLIEST, LATEST, type KafkaAdmin } from '../kafka/admin.js';
import type { KafkaCluster } from '../kafka/cluster.js';
import type { PartitionTransactions } from '../kafka/transactions.js';
import type { RawProducer } from '../kafka/producer.js';
import { decodeBatch, encodeBatch, type KafkaRecord } from '../kafka/protocol/record-batch.js';
import { UserError } from '../util/errors.js';
import type { TimeWindow } from '../util/time-window.js';
import { OffsetMapBuilder } from './offset-map.js';
import type { RestoreOptions } from './options.js';
import type { PlannedTopic } from './plan.js';
import type { SchemaIdRewriter } from './schema-ids.js';
import type { RateLimiter } from './rate-limiter.js';
import { restoreBatches } from './record-stream.js';
import { checkContiguous, ResumeTail, settledEnds } from './resume.js';
import type { RestoreState } from '../format/restore-state.js';

/**
 * Kafka's default partitioner for keyed records: murmur2 of the key bytes, made positive, modulo
 * the partition count (an empty key is hashed too). Records without a key, and every record with
 * `automatic`, go round-robin by their position in the topic's restore sequence, which keeps the
 * routing deterministic so that a resumed restore routes every record to the same partition.
 */
export function partitionFor(strategy: 'murmur2' | 'automatic', key: Buffer | null, index: number, partitions: number): number {
  if (strategy === 'murmur2' && key !== null) return (murmur2(key) & 0x7fffffff) % partitions;
  return index % partitions;
}

export interface RepartitionContext {
  opts: RestoreOptions;
  /** The plan's window (RestorePlan.window). */
  window: TimeWindow;
  cluster: KafkaCluster;
  admin: KafkaAdmin;
  producer: RawProducer;
  state: RestoreState;
  stateKey: string;
  recordLimiter?: RateLimiter;
  byteLimiter?: RateLimiter;
  /** restore.rewrite_schema_ids (src/restore/schema-ids.ts). */
  schemaIds?: SchemaIdRewriter;
  stats: { skippedOutsideWindow: number; abortedSkipped: number; bytesRead: number; reused: number; rebuilt: number };
  markDirty: () => void;
  /** Runs before each produce request of a target partition (distributed restore: the fenced checkpoint, src/restore/workers). */
  beforeProduce?: () => Promise<void>;
  /**
   * Distributed restore: the target partition is written in transactions under its own transactional id
   * (src/kafka/transactions.ts), one per produced chunk, so the broker fences a former owner. Unset: the
   * idempotent producer, no transactions (the single-process restore).
   */
  transaction?: PartitionTransactions;
}

interface Lane {
  key: string;
  map: OffsetMapBuilder;
  /** Records of this target partition already on the target: skipped (the first `known` are already mapped). */
  skip: number;
  known: number;
  /** The target's records past the last checkpoint, checked against the records routed here. */
  tail?: ResumeTail;
  nextTarget: number;
  pending: { record: KafkaRecord; sourcePartition: number }[];
  bytes: number;
  restored: number;
}

/**
 * Restores one topic re-spread over a new partition count (restore.repartitioning). The source
 * partitions are read one after the other in partition order; each record goes to the target
 * partition its key (or position) picks, keeping the source order within every target partition.
 */
export async function restoreRepartitioned(t: PlannedTopic, ctx: RepartitionContext): Promise<{ targetPartition: number; restored: number }[]> {
  const { opts, state } = ctx;
  const rp = t.repartition!;
  const parts = Array.from({ length: rp.targetPartitions }, (_, i) => i);
  // As in engine.ts: the end once settled, and the records past the checkpoint checked to be ours.
  const ends = await settledEnds(ctx.cluster, ctx.admin, t.targetTopic, parts, opts.produceTimeoutMs);
  const lanes: Lane[] = [];
  for (const p of parts) {
    const key = `${t.targetTopic}/${p}`;
    const ps = state.partitions[key]!;
    const end = ends.get(p) ?? 0;
    const expected = ps.initial_end_offset + ps.produced;
    if (end < expected)
      throw new UserError(
        'TARGET_CHANGED',
        `${key}: the target partition ends at offset ${end} but this restore had already written up to ${expected}; delete the restore state ${ctx.stateKey} to start over`,
      );
    const map = new OffsetMapBuilder();
    map.runs.push(...ps.runs);
    ps.runs = map.runs;
    const tail = end > expected ? await ResumeTail.read(ctx.cluster, t.targetTopic, p, expected, end, ctx.stateKey) : undefined;
    lanes.push({ key, map, skip: end - ps.initial_end_offset, known: ps.produced, tail, nextTarget: expected, pending: [], bytes: 0, restored: 0 });
  }

  const flush = async (p: number): Promise<void> => {
    const lane = lanes[p]!;
    if (lane.pending.length === 0) return;
    const batch = encodeBatch(
      lane.pending.map((x, i) => ({ key: x.record.key, value: x.record.value, headers: x.record.headers, timestamp: x.record.timestamp, offsetDelta: i })),
      { compression: 'lz4' },
    );
    await ctx.recordLimiter?.take(lane.pending.length, opts.signal);
    await ctx.byteLimiter?.take(batch.length, opts.signal);
    const [res] = await ctx.producer.send(t.targetTopic, p, [batch]);
    checkContiguous(lane.key, res!.baseOffset, lane.nextTarget);
    // acks 0 reports no offset: the records follow on from the partition's end (we are its only writer).
    let target = res!.baseOffset === undefined ? lane.nextTarget : Number(res!.baseOffset);
    for (const x of lane.pending) lane.map.add(t.sourceTopic, x.sourcePartition, Number(x.record.offset), target++);
    const ps = state.partitions[lane.key]!;
    ps.produced += lane.pending.length;
    ps.runs = lane.map.runs;
    lane.nextTarget = target;
    lane.restored += lane.pending.length;
    lane.pending = [];
    lane.bytes = 0;
    ctx.markDirty();
    ctx.stats.rebuilt++;
  };

  let index = 0;
  const sources = [...t.partitions].sort((a, b) => a.sourcePartition - b.sourcePartition);
  for (const src of sources) {
    if (opts.signal?.aborted) break;
    const streamStats = { skippedOutsideWindow: 0, abortedSkipped: 0, bytesRead: 0 };
    const stream = restoreBatches(opts.store, src, {
      window: ctx.window,
      includeOriginalOffsetHeader: opts.includeOriginalOffsetHeader,
      stripOffsetHeaders: opts.stripOffsetHeaders,
      schemaIds: ctx.schemaIds,
      skip: 0,
      stats: streamStats,
    });
    for await (const out of stream) {
      if (opts.signal?.aborted) break;
      const records = decodeBatch(out.batch).records;
      for (let i = 0; i < records.length; i++) {
        // Carry the source offset, not the offset inside the re-encoded batch.
        const record = { ...records[i]!, offset: BigInt(out.sourceOffsets[i]!) };
        const p = partitionFor(rp.strategy, record.key, index++, rp.targetPartitions);
        const lane = lanes[p]!;
        if (lane.skip > 0) {
          lane.skip--;
          if (lane.known > 0) lane.known--;
          else {
            lane.tail?.match(record, Number(record.offset));
            lane.map.add(t.sourceTopic, src.sourcePartition, Number(record.offset), lane.nextTarget++);
            state.partitions[lane.key]!.produced++;
            lane.restored++;
          }
          continue;
        }
        lane.pending.push({ record, sourcePartition: src.sourcePartition });
        lane.bytes += (record.value?.length ?? 0) + (record.key?.length ?? 0);
        if (lane.pending.length >= opts.produceBatchSize || lane.bytes >= 1024 * 1024) await flush(p);
      }
    }
    for (const p of parts) await flush(p);
    ctx.stats.skippedOutsideWindow += streamStats.skippedOutsideWindow;
    ctx.stats.abortedSkipped += streamStats.abortedSkipped;
    ctx.stats.bytesRead += streamStats.bytesRead;
  }
  if (!opts.signal?.aborted) for (const l of lanes) l.tail?.finish();
  return lanes.map((l, p) => ({ targetPartition: p, restored: state.partitions[l.key]!.runs.reduce((n, r) => n + r.count, 0) }));
}

/** restore.purge_topics: empty the target partitions before the first write (DeleteRecords to the end). */
export async function purgePartitions(admin: KafkaAdmin, topic: string, partitions: number[]): Promise<number> {
  const starts = await admin.listOffsets(topic, partitions, EARLIEST);
  const ends = await admin.listOffsets(topic, partitions, LATEST);
  const todo = partitions.filter((p) => (ends.get(p) ?? 0n) > (starts.get(p) ?? 0n));
  if (todo.length) await admin.deleteRecords(topic, new Map(todo.map((p) => [p, ends.get(p)!])));
  return todo.reduce((n, p) => n + Number(ends.get(p)! - starts.get(p)!), 0);
}
