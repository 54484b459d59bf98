import { z } from 'zod';
import type { ObjectStore } from '../storage/store.js';
import { CorruptDataError, NotFoundError, UserError } from '../util/errors.js';
import { SEGMENT_CODECS } from './codec.js';
import { readJsonObject, writeJsonObject } from './json-object.js';
import { checkBackupId, isValidTopicName, keys } from './layout.js';

/*
  {backup_id}/manifest.json — the backup's manifest, format version 1. Written when a backup
  starts (status "running"), refreshed every sync interval, and finalised at the end
  ("complete" for a snapshot whose every partition reached its end_offset, "incomplete" for a
  snapshot stopped before that, "stopped" when a continuous backup was stopped cleanly). A manifest
  left at "running" by a crashed process is incomplete too: `validate` says so, `restore` refuses a
  snapshot that is not "complete" unless restore.allow_incomplete_backup is set, and the next
  `backup` with the same id resumes it. Per-partition record counts and time ranges
  live in the partition indexes, which are the source of truth.
*/

const safeInt = z.number().int().refine(Number.isSafeInteger, 'must be a safe integer');
const nonNeg = safeInt.refine((n) => n >= 0, 'must be >= 0');

export const manifestPartitionSchema = z.strictObject({
  partition: nonNeg,
  /** Log start and end (high watermark) when the backup (or this run of it) started. */
  log_start_offset: nonNeg,
  end_offset: nonNeg,
  /** Generation of this partition's index.json as last stored before this manifest was written (generations.ts); absent before that. */
  index_generation: nonNeg.optional(),
});

export const manifestTopicSchema = z
  .strictObject({
    /** Becomes a path segment of every key of the topic: only Kafka's legal names ([a-zA-Z0-9._-], not "." or ".."). */
    name: z.string().refine(isValidTopicName, 'is not a valid Kafka topic name ([a-zA-Z0-9._-], 1-249 characters, not "." or "..")'),
    partition_count: safeInt.refine((n) => n > 0 && n <= 100_000, 'must be between 1 and 100000'),
    /** Topic configs set on the topic itself (non-default), to recreate it faithfully. */
    configs: z.record(z.string(), z.string()),
    /** Replicas per partition on the source (the most of any partition); absent in backups made before it was recorded. */
    replication_factor: safeInt.refine((n) => n >= 1 && n <= 32_767, 'must be between 1 and 32767').optional(),
    partitions: z.array(manifestPartitionSchema),
  })
  .superRefine((t, ctx) => {
    const seen = new Set<number>();
    t.partitions.forEach((p, i) => {
      if (p.partition >= t.partition_count)
        ctx.addIssue({
          code: 'custom',
          path: ['partitions', i, 'partition'],
          message: `partition ${p.partition} of ${t.name} is not below its partition_count ${t.partition_count}`,
        });
      if (seen.has(p.partition))
        ctx.addIssue({ code: 'custom', path: ['partitions', i, 'partition'], message: `partition ${p.partition} of ${t.name} is listed twice` });
      seen.add(p.partition);
    });
  });

export const manifestSchema = z.strictObject({
  format_version: z.literal(1),
  /** +1 on every write of the manifest (generations.ts); absent in backups written before rollback detection (read as 0). */
  generation: nonNeg.optional(),
  tool_version: z.string(),
  backup_id: z.string(),
  status: z.enum(['running', 'complete', 'incomplete', 'stopped', 'failed']),
  mode: z.enum(['snapshot', 'continuous']),
  source_cluster_id: z.string().nullable(),
  source_bootstrap_servers: z.array(z.string()),
  compression: z.enum(SEGMENT_CODECS),
  include_offset_headers: z.boolean(),
  created_at: safeInt,
  updated_at: safeInt,
  completed_at: safeInt.nullable(),
  topics: z.array(manifestTopicSchema).superRefine((topics, ctx) => {
    const seen = new Set<string>();
    topics.forEach((t, i) => {
      if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `topic ${t.name} is listed twice` });
      seen.add(t.name);
    });
  }),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestTopic = z.infer<typeof manifestTopicSchema>;

export const FORMAT_VERSION = 1;

/**
 * Whether a snapshot partition is short of the end offset it was started for, given how far the backup reached
 * (its index's next offset; null or undefined without an index). Nothing below the log start exists to back up,
 * so a reach below it counts as the log start: a partition with no records is never short. The one rule the
 * backup, validate and restore apply alike.
 */
export function snapshotPartitionShort(p: { log_start_offset: number; end_offset: number }, reached: number | null | undefined): boolean {
  return Math.max(reached ?? p.log_start_offset, p.log_start_offset) < p.end_offset;
}

export async function readManifest(store: ObjectStore, backupId: string): Promise<Manifest | undefined> {
  return readJsonObject(store, keys.manifest(backupId), manifestSchema);
}

/** The manifest of a backup that must exist: a missing one or one of another backup id is a clear error. */
export async function requireManifest(
  store: ObjectStore,
  backupId: string,
  read: (store: ObjectStore, backupId: string) => Promise<Manifest | undefined> = readManifest,
): Promise<Manifest> {
  checkBackupId(backupId);
  const key = keys.manifest(backupId);
  const manifest = await read(store, backupId);
  if (!manifest)
    throw new UserError(
      'BACKUP_NOT_FOUND',
      `backup "${backupId}" not found in ${store.url} (no ${key}); "kafka-backup list --path ${store.url}" lists the backups there`,
    );
  if (manifest.backup_id !== backupId) throw new CorruptDataError(`${key}: the manifest is for backup_id "${manifest.backup_id}", not "${backupId}"`, key);
  return manifest;
}

export async function writeManifest(store: ObjectStore, backupId: string, manifest: Manifest): Promise<void> {
  await writeJsonObject(store, keys.manifest(backupId), manifest);
}

/** The manifest's stored bytes (evidence reports hash them); empty when there is none. */
export async function readManifestBytes(store: ObjectStore, backupId: string): Promise<Buffer> {
  try {
    return await store.get(keys.manifest(backupId));
  } catch (err) {
    if (err instanceof NotFoundError) return Buffer.alloc(0);
    throw err;
  }
}
