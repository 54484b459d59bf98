import { z } from 'zod';
import type { KafkaRecord } from '../../kafka/protocol/record-batch.js';
import type { ObjectStore } from '../../storage/store.js';
import { CorruptDataError, errorMessage } from '../../util/errors.js';
import { readJsonObject } from '../json-object.js';
import { keys } from '../layout.js';
import { manifestSchema, requireManifest, type Manifest } from '../manifest.js';
import { readPartitionIndex, type PartitionIndex } from '../partition-index.js';
import { convertSeedManifest, isSeedManifestJson, seedManifestSchema, type SeedSegmentEntry } from './manifest.js';
import { decodeSeedSegment, parseSeedSegmentFrame, withoutSeedOffsetHeaders, type SeedSegment } from './segment.js';

/*
  Where a backup's format is decided: `{backup_id}/manifest.json` is read once and, when it is the
  seed tool's (isSeedManifestJson), converted into our Manifest and synthetic partition indexes.
  The indexes stay attached to that Manifest object, so readBackupIndex answers from them instead
  of looking for index.json objects a seed backup does not have.
*/

const seedIndexes = new WeakMap<Manifest, Map<string, PartitionIndex>>();

function parseFailure(key: string, issues: z.core.$ZodIssue[]): CorruptDataError {
  const first = issues[0];
  return new CorruptDataError(`${key}: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid content'}`, key);
}

/** The backup's manifest, ours or the seed tool's (converted); `undefined` when there is none. */
export async function readBackupManifest(store: ObjectStore, backupId: string): Promise<Manifest | undefined> {
  const key = keys.manifest(backupId);
  const raw = await readJsonObject(store, key, z.unknown());
  if (raw === undefined) return undefined;
  if (!isSeedManifestJson(raw)) {
    const ours = manifestSchema.safeParse(raw);
    if (!ours.success) throw parseFailure(key, ours.error.issues);
    return ours.data;
  }
  const seed = seedManifestSchema.safeParse(raw);
  if (!seed.success) throw parseFailure(key, seed.error.issues);
  // Older seed versions omit compressed_size: the object's size then comes from storage (a missing
  // object reads as 0 bytes, which the restore plan and validate report as missing).
  const sizes = new Map<string, number>();
  const unsized = seed.data.topics.flatMap((t) => t.partitions.flatMap((p) => p.segments.filter((s) => s.compressed_size === undefined).map((s) => s.key)));
  for (const k of unsized) sizes.set(k, (await store.head(k))?.size ?? 0);
  const { manifest, indexes } = convertSeedManifest(seed.data, key, (k) => sizes.get(k) ?? 0);
  seedIndexes.set(manifest, indexes);
  return manifest;
}

/** True when the manifest was read from a seed-tool backup. */
/** The manifest of a backup that must exist, ours or the seed tool's (a missing one is a clear error). */
export async function requireBackupManifest(store: ObjectStore, backupId: string): Promise<Manifest> {
  return requireManifest(store, backupId, readBackupManifest);
}

export function isSeedBackup(manifest: Manifest): boolean {
  return seedIndexes.has(manifest);
}

/** The partition's index: the synthetic one of a seed-tool backup, else its index.json (undefined when absent). */
export async function readBackupIndex(
  store: ObjectStore,
  backupId: string,
  manifest: Manifest,
  topic: string,
  partition: number,
): Promise<PartitionIndex | undefined> {
  const seed = seedIndexes.get(manifest);
  if (seed) return seed.get(`${topic}/${partition}`);
  return readPartitionIndex(store, backupId, topic, partition);
}

/**
 * One seed-tool segment's records, read whole (the format has no block index) and checked (size,
 * CRC-32, record count and offsets against the header and the manifest), with the offset headers
 * the seed tool appended removed: the records as the source's consumers saw them.
 */
export async function readSeedSegment(store: ObjectStore, entry: SeedSegmentEntry): Promise<{ records: KafkaRecord[]; storedBytes: number }> {
  const bytes = await store.get(entry.key);
  return { records: decodeSeedEntry(bytes, entry).map(withoutSeedOffsetHeaders), storedBytes: bytes.length };
}

/** A seed-tool segment's bytes decoded and checked against its manifest entry (records as stored, offset headers included). */
export function decodeSeedEntry(bytes: Buffer, entry: SeedSegmentEntry): KafkaRecord[] {
  if (bytes.length !== entry.stored_bytes)
    throw new CorruptDataError(`${entry.key}: object is ${bytes.length} bytes, the manifest records ${entry.stored_bytes}`, entry.key);
  let seg: SeedSegment;
  try {
    seg = decodeSeedSegment(bytes, entry.key, entry.seed.uncompressedSize !== undefined ? { rawLength: entry.seed.uncompressedSize } : {});
  } catch (e) {
    if (e instanceof CorruptDataError && e.object === undefined) throw new CorruptDataError(e.message, entry.key, e.context);
    throw e;
  }
  const problems: string[] = [];
  if (seg.header.compression !== entry.seed.codec) problems.push(`compressed with ${seg.header.compression}, its key says ${entry.seed.codec}`);
  if (seg.records.length !== entry.record_count) problems.push(`${seg.records.length} records, the manifest says ${entry.record_count}`);
  if (seg.header.startOffset !== BigInt(entry.first_offset) || seg.header.endOffset !== BigInt(entry.last_offset))
    problems.push(`offsets ${seg.header.startOffset}..${seg.header.endOffset}, the manifest says ${entry.first_offset}..${entry.last_offset}`);
  const first = seg.records[0];
  const last = seg.records.at(-1);
  if (first && last && (Number(first.timestamp) !== entry.seed.firstTimestamp || Number(last.timestamp) !== entry.seed.lastTimestamp)) {
    problems.push(
      `first and last timestamps ${first.timestamp}, ${last.timestamp}, the manifest says ${entry.seed.firstTimestamp}, ${entry.seed.lastTimestamp}`,
    );
  }
  if (problems.length) throw new CorruptDataError(`${entry.key}: ${problems.join('; ')}`, entry.key);
  return seg.records;
}

/**
 * validate's check of one seed-tool segment: the frame (magics, CRC-32 of header and block); with
 * `deep`, every record decoded and checked against the header and the manifest entry.
 */
export function checkSeedSegment(bytes: Buffer, entry: SeedSegmentEntry, deep: boolean): { records: number; problem?: string } {
  try {
    if (!deep) {
      parseSeedSegmentFrame(bytes, entry.key);
      return { records: 0 };
    }
    return { records: decodeSeedEntry(bytes, entry).length };
  } catch (e) {
    return { records: 0, problem: errorMessage(e).replace(`${entry.key}: `, '') };
  }
}
