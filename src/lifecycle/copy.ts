/**
 * `copy`: copies backups between two stores (any backends; each store decrypts and encrypts with
 * its own key, so encryption is kept, changed or added by how the two stores are opened).
 *
 * Order on the destination, so that what its indexes name is always complete and verified:
 * segments first (each hashed as it streams from the source and checked against the source
 * index's digest (SHA-256, or CRC-32C: format/segment-digest.ts), then read back from the destination and hashed again), then the partition index
 * (the source's bytes, read back and compared), then consumer-group snapshots and the erasure log,
 * the manifest last. Segment objects the destination holds that the copied index no longer names
 * (pruned or erased at the source) are deleted after the index, so erasure reaches the copy.
 *
 * Incremental and resumable: a segment the destination's index already names with the same key and
 * digest (and present with its size) is skipped; one present without an index entry (a copy
 * interrupted before its index) is read back and hashed on the destination, and kept if it matches:
 * nothing is transferred twice from the source. The destination backup id's writer lease is held
 * while copying, so two copies (or a backup) never write it at once; the source is only read.
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { BackupLease, type LeaseOptions } from '../backup/lease.js';
import { listBackupIds } from '../format/backup-view.js';
import { checkBackupId, keys } from '../format/layout.js';
import { manifestSchema, readManifest, writeManifest, type Manifest } from '../format/manifest.js';
import { partitionIndexSchema, verifyPartitionIndex, type PartitionIndex, type SegmentEntry } from '../format/partition-index.js';
import { digestLabel, recordedDigest, SegmentDigester, type SegmentDigestAlgorithm } from '../format/segment-digest.js';
import type { ObjectStore } from '../storage/store.js';
import { CorruptDataError, errorMessage, NotFoundError, UserError } from '../util/errors.js';

export interface CopyOptions {
  from: ObjectStore;
  to: ObjectStore;
  /** One backup; undefined: every backup in `from`. */
  backupId?: string;
  lease?: LeaseOptions | false;
  /** Stop after the current object (the copy is resumable). */
  signal?: AbortSignal;
  onProgress?: (p: CopyProgress) => void;
}

export interface CopyProgress {
  backupId: string;
  key: string;
  /** A segment transferred, unchanged or verified in place; or a partition index written. */
  action: 'copied' | 'unchanged' | 'verified' | 'index';
  bytes: number;
}

export interface BackupCopyResult {
  backupId: string;
  /** Segments transferred from the source (and verified on the destination). */
  segmentsCopied: number;
  /** Segments the destination's index already named with the same digest. */
  segmentsUnchanged: number;
  /** Segments found on the destination from an interrupted copy, verified by their digest, not transferred again. */
  segmentsVerified: number;
  /** Segment bytes transferred. */
  bytesCopied: number;
  /** Indexes, manifest, group snapshots, erasure log written. */
  metadataObjects: number;
  /** Destination segments no index names any more (pruned or erased at the source), deleted. */
  removed: string[];
  /** false when stopped by the signal before the manifest was written. */
  complete: boolean;
}

export interface CopyResult {
  from: string;
  to: string;
  backups: BackupCopyResult[];
}

/** A source object changed while it was copied (a backup, prune or erase running there): copying again resumes. */
export class SourceChangedError extends UserError {
  constructor(message: string) {
    super('SOURCE_CHANGED', message);
  }
}

/** What identifies a segment's content in its entry: the digest a reader checks. */
const digestKey = (s: SegmentEntry): string => {
  const rec = recordedDigest(s);
  return rec ? `${rec.algorithm}:${rec.value}` : '';
};

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function parseJson<T>(bytes: Buffer, key: string, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new CorruptDataError(`${key}: not valid JSON (${errorMessage(err)})`, key);
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw new CorruptDataError(`${key}: ${r.error.issues[0]?.message ?? 'invalid content'}`, key);
  return r.data;
}

async function getOpt(store: ObjectStore, key: string): Promise<Buffer | undefined> {
  try {
    return await store.get(key);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** The digest of an object streamed from a store, in the algorithm its index entry recorded (SHA-256 or CRC-32C). */
async function hashObject(store: ObjectStore, key: string, algorithm: SegmentDigestAlgorithm): Promise<{ sha: string; size: number }> {
  const h = new SegmentDigester(algorithm);
  let size = 0;
  for await (const c of await store.getStream(key)) {
    h.update(c);
    size += c.length;
  }
  return { sha: h.digest(), size };
}

export async function runCopy(opts: CopyOptions): Promise<CopyResult> {
  if (opts.from.url === opts.to.url) throw new UserError('USAGE', `copy: --from and --to are the same location (${opts.from.url})`);
  const ids = opts.backupId !== undefined ? [checkBackupId(opts.backupId)] : await listBackupIds(opts.from);
  if (ids.length === 0) throw new UserError('BACKUP_NOT_FOUND', `copy --from ${opts.from.url}: no backups there (no {backup_id}/manifest.json)`);
  const out: CopyResult = { from: opts.from.url, to: opts.to.url, backups: [] };
  for (const id of ids) {
    if (opts.signal?.aborted) break;
    out.backups.push(await copyOneLeased(opts, id));
  }
  return out;
}

async function copyOneLeased(opts: CopyOptions, backupId: string): Promise<BackupCopyResult> {
  if (opts.lease === false) return copyBackup(opts, opts.to, backupId, opts.signal);
  const lease = await BackupLease.acquire(opts.to, backupId, opts.lease);
  return lease.run(opts.to, opts.signal, (to, signal) => copyBackup(opts, to, backupId, signal));
}

interface SourceSnapshot {
  manifestBytes: Buffer;
  manifest: Manifest;
  indexes: { topic: string; partition: number; bytes: Buffer; index: PartitionIndex }[];
}

/**
 * The manifest, then every index it lists, read so that they agree (docs/format.md 4.2): an index
 * written after a newer manifest than the one read (a backup running at the source) makes us read
 * the manifest again. The manifest read first pins only index generations we read or newer.
 */
async function readSource(from: ObjectStore, backupId: string): Promise<SourceSnapshot> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const mk = keys.manifest(backupId);
    const manifestBytes = await getOpt(from, mk);
    if (!manifestBytes)
      throw new UserError(
        'BACKUP_NOT_FOUND',
        `backup "${backupId}" not found in ${from.url} (no ${mk}); "kafka-backup list --path ${from.url}" lists the backups there`,
      );
    const manifest = parseJson(manifestBytes, mk, manifestSchema);
    if (manifest.backup_id !== backupId) throw new CorruptDataError(`${mk}: the manifest is for backup_id "${manifest.backup_id}", not "${backupId}"`, mk);
    const indexes: SourceSnapshot['indexes'] = [];
    let newer = false;
    for (const t of manifest.topics) {
      for (const p of t.partitions) {
        const ik = keys.partitionIndex(backupId, t.name, p.partition);
        const bytes = await getOpt(from, ik);
        if (!bytes) continue; // not started yet at the source (validate reports a pinned one)
        const index = verifyPartitionIndex(parseJson(bytes, ik, partitionIndexSchema), backupId, t.name, p.partition);
        if ((index.manifest_generation ?? 0) > (manifest.generation ?? 0)) newer = true;
        indexes.push({ topic: t.name, partition: p.partition, bytes, index });
      }
    }
    if (!newer) return { manifestBytes, manifest, indexes };
  }
  throw new SourceChangedError(`copy: the source backup "${backupId}" kept changing while its manifest and indexes were read; run copy again`);
}

async function copyBackup(opts: CopyOptions, to: ObjectStore, backupId: string, signal: AbortSignal | undefined): Promise<BackupCopyResult> {
  const res: BackupCopyResult = {
    backupId,
    segmentsCopied: 0,
    segmentsUnchanged: 0,
    segmentsVerified: 0,
    bytesCopied: 0,
    metadataObjects: 0,
    removed: [],
    complete: false,
  };
  const src = await readSource(opts.from, backupId);
  await raiseManifestGeneration(to, backupId, src);
  for (const p of src.indexes) {
    if (signal?.aborted) return res;
    const done = await copyPartition(opts, to, backupId, p, res, signal);
    if (!done) return res;
  }
  await copyGroupSnapshots(opts.from, to, backupId, res);
  await copyBackupLogs(opts.from, to, backupId, res);
  await putVerified(to, keys.manifest(backupId), src.manifestBytes, res);
  res.complete = true;
  return res;
}

/**
 * Before any index of an incremental copy is replaced: the destination's manifest (the previous copy's)
 * gets the generation of the new indexes' manifest, its content unchanged. The copy is then a
 * consistent backup at every instant (docs/format.md 4.2: the old manifest pins only older index
 * generations, and no index names a newer manifest), so a restore from it works mid-copy.
 */
async function raiseManifestGeneration(to: ObjectStore, backupId: string, src: SourceSnapshot): Promise<void> {
  const needed = src.indexes.reduce((g, p) => Math.max(g, p.index.manifest_generation ?? 0), 0);
  let old: Manifest | undefined;
  try {
    old = await readManifest(to, backupId);
  } catch {
    return; // a damaged destination manifest is replaced at the end
  }
  if (!old || old.generation === undefined || old.generation >= needed) return;
  await writeManifest(to, backupId, { ...old, generation: needed });
}

/** Whole small object: put, read back, compare digests. */
async function putVerified(to: ObjectStore, key: string, bytes: Buffer, res: BackupCopyResult): Promise<void> {
  await to.put(key, bytes);
  const back = await to.get(key);
  if (sha256(back) !== sha256(bytes))
    throw new CorruptDataError(
      `${to.url}/${key}: read back after the copy, the object differs from the source (SHA-256 ${sha256(back)}, expected ${sha256(bytes)})`,
      key,
    );
  res.metadataObjects++;
}

/** Copies one partition's segments, then its index, then removes destination segments it no longer names. false: stopped by the signal. */
async function copyPartition(
  opts: CopyOptions,
  to: ObjectStore,
  backupId: string,
  p: SourceSnapshot['indexes'][number],
  res: BackupCopyResult,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const ik = keys.partitionIndex(backupId, p.topic, p.partition);
  const destBytes = await getOpt(to, ik);
  let dest: PartitionIndex | undefined;
  try {
    dest = destBytes ? parseJson(destBytes, ik, partitionIndexSchema) : undefined;
  } catch {
    dest = undefined; // a damaged destination index is replaced; its segments are verified again
  }
  const known = new Map((dest?.segments ?? []).map((s) => [s.key, digestKey(s)]));
  for (const s of p.index.segments) {
    if (signal?.aborted) return false;
    await copySegment(opts, to, backupId, s, known.get(s.key) === digestKey(s), res);
  }
  if (!destBytes?.equals(p.bytes)) {
    await putVerified(to, ik, p.bytes, res);
    opts.onProgress?.({ backupId, key: ik, action: 'index', bytes: p.bytes.length });
  }
  const named = new Set(p.index.segments.map((s) => s.key));
  const prefix = keys.partitionPrefix(backupId, p.topic, p.partition);
  for await (const o of to.list(prefix)) {
    if (!/^\d{20}(-\d{20})?\.kbseg$/.test(o.key.slice(prefix.length)) || named.has(o.key)) continue;
    await to.delete(o.key);
    res.removed.push(o.key);
  }
  return true;
}

async function copySegment(opts: CopyOptions, to: ObjectStore, backupId: string, s: SegmentEntry, indexed: boolean, res: BackupCopyResult): Promise<void> {
  const rec = recordedDigest(s);
  if (!rec) throw new CorruptDataError(`${opts.from.url}/${s.key}: its index entry records no digest of the object; not copied`, s.key);
  const label = digestLabel(rec.algorithm);
  const there = await to.head(s.key);
  if (there && there.size === s.stored_bytes) {
    if (indexed) {
      res.segmentsUnchanged++;
      opts.onProgress?.({ backupId, key: s.key, action: 'unchanged', bytes: 0 });
      return;
    }
    // Left by an interrupted copy (or a different object under the same key): its digest decides.
    if ((await hashObject(to, s.key, rec.algorithm)).sha === rec.value) {
      res.segmentsVerified++;
      opts.onProgress?.({ backupId, key: s.key, action: 'verified', bytes: 0 });
      return;
    }
  }
  const h = new SegmentDigester(rec.algorithm);
  let body: AsyncIterable<Buffer>;
  try {
    body = await opts.from.getStream(s.key);
  } catch (err) {
    if (err instanceof NotFoundError)
      throw new SourceChangedError(
        `copy: ${opts.from.url}/${s.key} disappeared during the copy (a prune or erase ran at the source); run copy again to resume`,
      );
    throw err;
  }
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const c of body) {
      h.update(c);
      yield c;
    }
  }
  const { size } = await to.putStream(s.key, hashed());
  const read = h.digest();
  if (read !== rec.value || size !== s.stored_bytes) {
    await to.delete(s.key);
    throw new CorruptDataError(
      `${opts.from.url}/${s.key}: the source object does not match its index (${size} bytes, ${label} ${read}; index: ${s.stored_bytes} bytes, ${rec.value}); not copied, run validate on the source`,
      s.key,
    );
  }
  const back = await hashObject(to, s.key, rec.algorithm);
  if (back.sha !== rec.value) {
    throw new CorruptDataError(`${to.url}/${s.key}: read back after the copy, ${label} ${back.sha} differs from the index's ${rec.value}`, s.key);
  }
  res.segmentsCopied++;
  res.bytesCopied += size;
  opts.onProgress?.({ backupId, key: s.key, action: 'copied', bytes: size });
}

/**
 * The backup's other top-level objects (`{backup_id}/*.json`: the erasure log, and any log a later
 * version keeps there), copied when they differ; not the manifest (written last) nor the lease.
 */
async function copyBackupLogs(from: ObjectStore, to: ObjectStore, backupId: string, res: BackupCopyResult): Promise<void> {
  const prefix = `${backupId}/`;
  for await (const o of from.list(prefix)) {
    const name = o.key.slice(prefix.length);
    if (!/^[a-zA-Z0-9._-]+\.json$/.test(name) || name === 'manifest.json' || name === 'lease.json' || name.startsWith('lease-takeover-')) continue;
    const bytes = await getOpt(from, o.key);
    if (!bytes) continue;
    const there = await getOpt(to, o.key);
    if (there?.equals(bytes)) continue;
    await putVerified(to, o.key, bytes, res);
  }
}

/** Group snapshots are written once under their time: copied when missing; ones pruned at the source are removed. */
async function copyGroupSnapshots(from: ObjectStore, to: ObjectStore, backupId: string, res: BackupCopyResult): Promise<void> {
  const prefix = keys.groupsPrefix(backupId);
  const have = new Map<string, number>();
  for await (const o of to.list(prefix)) have.set(o.key, o.size);
  const seen = new Set<string>();
  for await (const o of from.list(prefix)) {
    if (!/^\d{15}\.json$/.test(o.key.slice(prefix.length))) continue;
    seen.add(o.key);
    if (have.get(o.key) === o.size) continue;
    const bytes = await getOpt(from, o.key);
    if (bytes) await putVerified(to, o.key, bytes, res);
  }
  for (const k of have.keys()) {
    if (seen.has(k) || !/^\d{15}\.json$/.test(k.slice(prefix.length))) continue;
    await to.delete(k);
    res.removed.push(k);
  }
}
