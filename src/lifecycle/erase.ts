/**
 * `erase`: removes every record with given keys from one topic of a backup (a data-protection
 * request), rewriting only the segments that hold such a record (erase-segment.ts). Plan-only
 * unless `execute`. Under the backup's writer lease (src/backup/lease.ts), so it never races a
 * running backup, prune or another erase.
 *
 * Crash safety, per partition: each rewritten segment is written whole under the other legal key of
 * its offsets (`{first}.kbseg` <-> `{first}-{last}.kbseg`, docs/format.md 3), never over the object
 * the index names; then the index is switched to the new objects (one atomic put); then the old
 * objects are deleted. A crash before the switch leaves the old, valid index and an orphan under the
 * other key; after it, the new index and an old object nobody names. Either leftover is the
 * "other key" of an indexed segment, which no writer uses otherwise: the next erase deletes it.
 * The erasure log (src/format/erasure-log.ts) gets a "started" entry first, each partition's erased
 * offsets before its index switch (as a set union, so a redone run records nothing twice), and
 * "complete" last.
 */
import { digestProblem } from '../format/segment-digest.js';
import { BackupLease, type LeaseOptions } from '../backup/lease.js';
import { entryMatchesKey, newKeyHash, readErasureLog, writeErasureLog, type ErasureEntry, type ErasureLog } from '../format/erasure-log.js';
import { writeJsonObject } from '../format/json-object.js';
import { keys } from '../format/layout.js';
import { requireManifest, writeManifest, type Manifest } from '../format/manifest.js';
import { readPartitionIndex, type PartitionIndex, type SegmentEntry } from '../format/partition-index.js';
import type { ObjectStore } from '../storage/store.js';
import { CorruptDataError, UserError } from '../util/errors.js';
import { keyMatcher, rewriteSegment, scanSegment } from './erase-segment.js';

export interface EraseOptions {
  store: ObjectStore;
  backupId: string;
  topic: string;
  /** The record keys to erase (bytes; at least one). */
  keys: Buffer[];
  /** false: plan only (reads, writes nothing). */
  execute: boolean;
  lease?: LeaseOptions | false;
  /** Tests: called after each step of a partition's switch (throw to simulate a crash there). */
  afterStep?: (step: 'segments-written' | 'log-updated' | 'index-switched', partition: number) => void | Promise<void>;
}

export interface EraseSegmentResult {
  key: string;
  /** The replacement's key (execute only). */
  newKey?: string;
  records: number;
  offsets: number[];
}

export interface ErasePartitionResult {
  partition: number;
  segmentsScanned: number;
  segments: EraseSegmentResult[];
  records: number;
}

export interface EraseResult {
  backupId: string;
  topic: string;
  executed: boolean;
  keys: number;
  segmentsScanned: number;
  segmentsRewritten: number;
  records: number;
  partitions: ErasePartitionResult[];
  /** Objects left by an earlier interrupted erase, deleted by this one. */
  leftoversRemoved: string[];
}

/** The other legal key of a segment's offsets: where its replacement is written. */
export function alternateSegmentKey(backupId: string, topic: string, partition: number, s: SegmentEntry): string {
  const streamed = keys.streamedSegment(backupId, topic, partition, s.first_offset);
  return s.key === streamed ? keys.segment(backupId, topic, partition, s.first_offset, s.last_offset) : streamed;
}

async function readManifest(store: ObjectStore, backupId: string): Promise<Manifest> {
  return requireManifest(store, backupId);
}

async function readVerifiedSegment(store: ObjectStore, s: SegmentEntry): Promise<Buffer> {
  const bytes = await store.get(s.key);
  const problem = bytes.length !== s.stored_bytes ? `${bytes.length} bytes, index: ${s.stored_bytes}` : digestProblem(s, bytes);
  if (problem !== undefined) {
    throw new CorruptDataError(`${s.key}: does not match its index entry (${problem}); run validate, nothing was erased from this segment`, s.key);
  }
  return bytes;
}

export async function runErase(opts: EraseOptions): Promise<EraseResult> {
  if (opts.keys.length === 0) throw new UserError('USAGE', 'erase: no key given (--key or --keys-file)');
  const manifest = await readManifest(opts.store, opts.backupId);
  const topic = manifest.topics.find((t) => t.name === opts.topic);
  if (!topic) {
    throw new UserError(
      'USAGE',
      `erase --topic ${opts.topic}: backup "${opts.backupId}" has no such topic (it has: ${manifest.topics.map((t) => t.name).join(', ') || 'none'})`,
    );
  }
  const partitions = topic.partitions.map((p) => p.partition).sort((a, b) => a - b);
  if (!opts.execute) return eraseIn(opts, opts.store, partitions);
  if (opts.lease === false) return eraseIn(opts, opts.store, partitions);
  const lease = await BackupLease.acquire(opts.store, opts.backupId, opts.lease);
  return lease.run(opts.store, undefined, (store) => eraseIn(opts, store, partitions));
}

async function eraseIn(opts: EraseOptions, store: ObjectStore, partitions: number[]): Promise<EraseResult> {
  const drop = keyMatcher(opts.keys);
  const out: EraseResult = {
    backupId: opts.backupId,
    topic: opts.topic,
    executed: opts.execute,
    keys: opts.keys.length,
    segmentsScanned: 0,
    segmentsRewritten: 0,
    records: 0,
    partitions: [],
    leftoversRemoved: [],
  };
  const log = opts.execute ? await startLog(store, opts) : undefined;
  // Each index's generation as this run leaves it: pinned in the manifest at the end (also those an interrupted run switched).
  const generations = new Map<number, number>();
  let anySwitched = false;
  for (const partition of partitions) {
    const idx = await readPartitionIndex(store, opts.backupId, opts.topic, partition);
    if (!idx) continue;
    // Recorded before the index switch (a union of offsets: a run redone after a crash adds nothing twice).
    const record = async (pr: ErasePartitionResult, removed: Removed[]): Promise<void> => {
      recordPartition(log!.entries, opts, pr, removed);
      await writeErasureLog(store, log!.log);
      await opts.afterStep?.('log-updated', partition);
    };
    const pr = await erasePartition(opts, store, idx, drop, out, record);
    out.partitions.push(pr);
    out.records += pr.records;
    if (!opts.execute) continue;
    const rewritten = pr.segments.length > 0;
    if (idx.generation !== undefined) generations.set(partition, idx.generation + (rewritten ? 1 : 0));
    if (!rewritten) continue;
    anySwitched = true;
    // The replaced objects: deleted only now, after the index naming the new ones is stored.
    for (const s of pr.segments) await store.delete(s.key);
  }
  if (!opts.execute) return out;
  if (anySwitched || out.leftoversRemoved.length > 0) await pinIndexes(store, opts.backupId, opts.topic, generations);
  const now = Date.now();
  for (const e of log!.entries) {
    e.status = 'complete';
    e.completed_at = now;
  }
  await writeErasureLog(store, log!.log);
  return out;
}

type Removed = { offset: number; key: Buffer };

async function erasePartition(
  opts: EraseOptions,
  store: ObjectStore,
  idx: PartitionIndex,
  drop: ReturnType<typeof keyMatcher>,
  out: EraseResult,
  record: (pr: ErasePartitionResult, removed: Removed[]) => Promise<void>,
): Promise<ErasePartitionResult> {
  const { backupId, topic } = opts;
  const partition = idx.partition;
  const pr: ErasePartitionResult = { partition, segmentsScanned: 0, segments: [], records: 0 };
  const entries: SegmentEntry[] = [];
  const removed: Removed[] = [];
  for (const s of idx.segments) {
    pr.segmentsScanned++;
    out.segmentsScanned++;
    const alt = alternateSegmentKey(backupId, topic, partition, s);
    if (opts.execute && (await store.exists(alt))) {
      // Left by an interrupted erase (before or after its index switch): nothing names it.
      await store.delete(alt);
      out.leftoversRemoved.push(alt);
    }
    const bytes = await readVerifiedSegment(store, s);
    if (!opts.execute) {
      const { matches } = scanSegment(bytes, drop);
      if (matches.length) pr.segments.push({ key: s.key, records: matches.length, offsets: matches.map((m) => m.offset) });
      pr.records += matches.length;
      entries.push(s);
      continue;
    }
    const rw = rewriteSegment(bytes, s, alt, drop);
    if (!rw) {
      entries.push(s);
      continue;
    }
    // Whole object under the other key: the indexed object stays valid until the switch.
    await store.put(alt, rw.bytes);
    entries.push(rw.entry);
    removed.push(...rw.removed);
    pr.segments.push({ key: s.key, newKey: alt, records: rw.removed.length, offsets: rw.removed.map((r) => r.offset) });
    pr.records += rw.removed.length;
    out.segmentsRewritten++;
  }
  if (!opts.execute || pr.segments.length === 0) return pr;
  await opts.afterStep?.('segments-written', partition);
  await record(pr, removed);
  const next: PartitionIndex = { ...idx, segments: entries, updated_at: Date.now() };
  if (idx.generation !== undefined) next.generation = idx.generation + 1;
  await writeJsonObject(store, keys.partitionIndex(backupId, topic, partition), next);
  await opts.afterStep?.('index-switched', partition);
  return pr;
}

interface OpenLog {
  log: ErasureLog;
  /** One entry per key, in the order of opts.keys. */
  entries: ErasureEntry[];
}

/** Appends a "started" entry per key, or takes over the unfinished entry of an interrupted run for that key. */
async function startLog(store: ObjectStore, opts: EraseOptions): Promise<OpenLog> {
  const log = await readErasureLog(store, opts.backupId);
  const entries: ErasureEntry[] = [];
  const now = Date.now();
  for (const k of opts.keys) {
    let e = log.entries.find((x) => x.status === 'started' && entryMatchesKey(x, opts.topic, k));
    if (!e) {
      e = { topic: opts.topic, key_hash: newKeyHash(k), status: 'started', started_at: now, completed_at: null, records: 0, partitions: [] };
      log.entries.push(e);
    }
    entries.push(e);
  }
  await writeErasureLog(store, log);
  return { log, entries };
}

/** Adds what one partition's switch removed to each key's entry. */
function recordPartition(entries: ErasureEntry[], opts: EraseOptions, pr: ErasePartitionResult, removed: Removed[]): void {
  opts.keys.forEach((k, i) => {
    const e = entries[i]!;
    const offsets = removed.filter((r) => r.key.equals(k)).map((r) => r.offset);
    if (offsets.length === 0) return;
    let p = e.partitions.find((x) => x.partition === pr.partition);
    if (!p) {
      p = { partition: pr.partition, records: 0, offsets: [], segments: [] };
      e.partitions.push(p);
    }
    const mine = new Set(offsets);
    const had = new Set(p.offsets);
    const added = offsets.filter((o) => !had.has(o));
    for (const s of pr.segments.filter((x) => x.offsets.some((o) => mine.has(o)))) {
      if (!p.segments.some((x) => x.from === s.key && x.to === s.newKey)) p.segments.push({ from: s.key, to: s.newKey! });
    }
    p.offsets.push(...added);
    p.offsets.sort((a, b) => a - b);
    p.records += added.length;
    e.records += added.length;
  });
}

/**
 * Pins the switched indexes in the manifest (a new manifest generation), as a backup run does
 * after its index writes: an older index put back in place of an erased one is then detected.
 */
async function pinIndexes(store: ObjectStore, backupId: string, topic: string, generations: Map<number, number>): Promise<void> {
  const m = await readManifest(store, backupId);
  if (m.generation === undefined) return; // a backup written before generations: nothing is pinned
  const t = m.topics.find((x) => x.name === topic);
  for (const p of t?.partitions ?? []) {
    const g = generations.get(p.partition);
    if (g !== undefined && g > (p.index_generation ?? 0)) p.index_generation = g;
  }
  m.generation++;
  m.updated_at = Date.now();
  await writeManifest(store, backupId, m);
}
