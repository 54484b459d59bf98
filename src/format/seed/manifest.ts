import { z } from 'zod';
import type { Manifest } from '../manifest.js';
import type { PartitionIndex, SegmentEntry } from '../partition-index.js';
import { isValidTopicName } from '../layout.js';
import { CorruptDataError } from '../../util/errors.js';
import type { SeedCompression } from './segment.js';

/*
  {backup_id}/manifest.json as the seed tool (osodevops/kafka-backup 0.17.x) writes it: one JSON
  object holding every segment of every partition (there are no partition indexes). Read leniently
  where the seed tool itself is (later versions add keys; older ones omit the sizes and gaps), and
  converted into our Manifest plus one synthetic PartitionIndex per partition, so describe, list,
  validate and restore read it through the structures they already use.

  What it lacks and how that is filled in:
  - no status or mode: a seed manifest lists only finished segments, so it reads as a complete
    snapshot whose end offsets are one past each partition's last segment;
  - start_timestamp / end_timestamp are the first and last record's timestamps, NOT the smallest
    and largest (an out-of-order record can lie outside them): they are shown as the segment's
    range, but a time window never trusts them (see isSeedEntry in the restore plan);
  - no SHA-256 (the segment carries its own CRC-32), no topic configs, no batch structure.
*/

const safeInt = z.number().int().refine(Number.isSafeInteger, 'must be a safe integer');
const nonNeg = safeInt.refine((n) => n >= 0, 'must be >= 0');

const seedSegmentSchema = z.object({
  key: z.string().min(1),
  start_offset: nonNeg,
  end_offset: nonNeg,
  start_timestamp: safeInt,
  end_timestamp: safeInt,
  record_count: nonNeg,
  uncompressed_size: nonNeg.optional(),
  compressed_size: nonNeg.optional(),
});

const seedGapSchema = z.object({
  start_offset: nonNeg,
  /** Exclusive. */
  end_offset: nonNeg,
  reason: z.string().optional(),
  detected_at: safeInt.optional(),
});

export const seedManifestSchema = z.object({
  backup_id: z.string(),
  created_at: safeInt,
  source_cluster_id: z.string().nullable().optional(),
  source_brokers: z.array(z.string()).optional(),
  compression: z.enum(['zstd', 'lz4', 'none']).optional(),
  topics: z.array(
    z.object({
      name: z.string(),
      original_partition_count: safeInt.nullable().optional(),
      partitions: z.array(z.object({ partition_id: nonNeg, segments: z.array(seedSegmentSchema), gaps: z.array(seedGapSchema).optional() })),
    }),
  ),
});

export type SeedManifest = z.infer<typeof seedManifestSchema>;

/** What a segment entry of a seed-tool backup carries beyond ours (its presence marks the entry). */
export interface SeedSegmentMeta {
  codec: SeedCompression;
  /** Inflated size of the record block, when the manifest records it. */
  uncompressedSize?: number;
  /** The manifest's start_timestamp / end_timestamp: first and last record, not min and max. */
  firstTimestamp: number;
  lastTimestamp: number;
}

export type SeedSegmentEntry = SegmentEntry & { seed: SeedSegmentMeta };

export function isSeedEntry(e: SegmentEntry): e is SeedSegmentEntry {
  return (e as Partial<SeedSegmentEntry>).seed !== undefined;
}

export const SEED_TOOL_VERSION = 'seed tool (osodevops/kafka-backup) format';

/**
 * A manifest.json that is the seed tool's rather than ours: ours always carries format_version,
 * tool_version and status, the seed tool's none of them, and topics whose partitions have partition_id.
 */
export function isSeedManifestJson(raw: unknown): boolean {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return false;
  const o = raw as Record<string, unknown>;
  if ('format_version' in o || 'tool_version' in o || 'status' in o) return false;
  return typeof o.backup_id === 'string' && Array.isArray(o.topics);
}

const EXT: Record<string, SeedCompression> = { '': 'none', '.zst': 'zstd', '.lz4': 'lz4' };

/**
 * The codec of a segment key, which must be exactly the seed tool's key for that backup, topic,
 * partition and start offset; anything else (`../`, another partition, another object) is refused
 * before it is read.
 */
export function seedSegmentCodec(backupId: string, topic: string, partition: number, key: string, start: number, where: string): SeedCompression {
  const prefix = `${backupId}/topics/${topic}/partition=${partition}/segment-${String(start).padStart(20, '0')}.bin`;
  const codec = key.startsWith(prefix) ? EXT[key.slice(prefix.length)] : undefined;
  if (codec === undefined)
    throw new CorruptDataError(
      `${where}: segment key "${key}" is not the seed tool's key of offset ${start} of ${topic}/${partition} (expected ${prefix}, .zst or .lz4); refusing to read it`,
      where,
    );
  return codec;
}

export interface ConvertedSeedBackup {
  manifest: Manifest;
  /** "topic/partition" → its synthetic index (every partition below the topic's count has one). */
  indexes: Map<string, PartitionIndex>;
}

/**
 * Our manifest and partition indexes for a seed-tool manifest. `storedSize` gives a segment's object
 * size when the manifest omits compressed_size (older seed versions). Throws CorruptDataError naming
 * `where` for names, keys or offsets that cannot be right (overlapping segments, a partition listed twice).
 */
export function convertSeedManifest(seed: SeedManifest, where: string, storedSize: (key: string) => number): ConvertedSeedBackup {
  const bad = (m: string): never => {
    throw new CorruptDataError(`${where}: ${m}`, where);
  };
  const indexes = new Map<string, PartitionIndex>();
  const topics: Manifest['topics'] = [];
  const seenTopics = new Set<string>();
  for (const t of seed.topics) {
    if (!isValidTopicName(t.name)) bad(`topic "${t.name}" is not a valid Kafka topic name`);
    if (seenTopics.has(t.name)) bad(`topic ${t.name} is listed twice`);
    seenTopics.add(t.name);
    const ids = t.partitions.map((p) => p.partition_id);
    if (new Set(ids).size !== ids.length) bad(`a partition of ${t.name} is listed twice`);
    const count = Math.max(t.original_partition_count ?? 0, ...ids.map((i) => i + 1), 1);
    if (count > 100_000) bad(`topic ${t.name} has ${count} partitions (at most 100000 are accepted)`);
    const partitions: Manifest['topics'][number]['partitions'] = [];
    for (let p = 0; p < count; p++) {
      const sp = t.partitions.find((x) => x.partition_id === p);
      const segments: SegmentEntry[] = [...(sp?.segments ?? [])]
        .sort((a, b) => a.start_offset - b.start_offset)
        .map((s): SeedSegmentEntry => {
          if (s.end_offset < s.start_offset) bad(`segment ${s.key}: end_offset ${s.end_offset} is before start_offset ${s.start_offset}`);
          const codec = seedSegmentCodec(seed.backup_id, t.name, p, s.key, s.start_offset, where);
          return {
            key: s.key,
            first_offset: s.start_offset,
            last_offset: s.end_offset,
            record_count: s.record_count,
            batch_count: 0, // the seed format has no batches
            min_timestamp: Math.min(s.start_timestamp, s.end_timestamp),
            max_timestamp: Math.max(s.start_timestamp, s.end_timestamp),
            raw_bytes: s.uncompressed_size ?? 0,
            stored_bytes: s.compressed_size ?? storedSize(s.key),
            codec,
            sha256: '',
            aborted_transactions: [],
            created_at: seed.created_at,
            seed: {
              codec,
              ...(s.uncompressed_size !== undefined ? { uncompressedSize: s.uncompressed_size } : {}),
              firstTimestamp: s.start_timestamp,
              lastTimestamp: s.end_timestamp,
            },
          };
        });
      for (let i = 1; i < segments.length; i++) {
        if (segments[i]!.first_offset <= segments[i - 1]!.last_offset) bad(`segment ${segments[i]!.key} overlaps ${segments[i - 1]!.key}`);
      }
      const last = segments.at(-1);
      const next = last ? last.last_offset + 1 : null;
      indexes.set(`${t.name}/${p}`, {
        format_version: 1,
        topic: t.name,
        partition: p,
        next_offset: next,
        segments,
        gaps: (sp?.gaps ?? []).map((g) => ({
          from_offset: g.start_offset,
          to_offset: g.end_offset,
          reason: g.reason ?? 'offset_out_of_range',
          detected_at: g.detected_at ?? seed.created_at,
        })),
        updated_at: seed.created_at,
      });
      const start = Math.min(segments[0]?.first_offset ?? 0, ...(sp?.gaps ?? []).map((g) => g.start_offset));
      partitions.push({ partition: p, log_start_offset: start, end_offset: next ?? start });
    }
    topics.push({ name: t.name, partition_count: count, configs: {}, partitions });
  }
  const codecs = [...indexes.values()].flatMap((i) => i.segments.map((s) => s.codec));
  const manifest: Manifest = {
    format_version: 1,
    tool_version: SEED_TOOL_VERSION,
    backup_id: seed.backup_id,
    status: 'complete',
    mode: 'snapshot',
    source_cluster_id: seed.source_cluster_id ?? null,
    source_bootstrap_servers: seed.source_brokers ?? [],
    compression: seed.compression ?? codecs[0] ?? 'none',
    // Recorded only; the offset headers the seed tool added are removed when its records are read.
    include_offset_headers: false,
    created_at: seed.created_at,
    updated_at: seed.created_at,
    completed_at: seed.created_at,
    topics,
  };
  return { manifest, indexes };
}
