import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { ObjectStore } from '../storage/store.js';
import { readJsonObject, writeJsonObject } from './json-object.js';
import { checkBackupId, isValidTopicName } from './layout.js';

/*
  {backup_id}/erasure-log.json — what `erase` removed from the backup and when (docs/lifecycle.md,
  "Erasure"). The owner of this object: its key, schema, and the salted hash of an erased key.

  An erased key is never stored: each entry holds a random salt and SHA-256(salt || key bytes), so
  whoever holds a key can check whether it was erased, but the log does not list the keys. An entry
  is appended with status "started" before any segment is rewritten and set to "complete" after the
  last old segment was deleted, so a crash leaves a "started" entry that the next run of the same
  erase (found by recomputing the hash with the entry's salt) completes.
*/

const safeInt = z.number().int().refine(Number.isSafeInteger, 'must be a safe integer');
const nonNeg = safeInt.refine((n) => n >= 0, 'must be >= 0');
const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));

export const erasurePartitionSchema = z.strictObject({
  partition: nonNeg,
  /** Records removed from this partition. */
  records: nonNeg,
  /** Offsets of the removed records (not personal data: where they were). */
  offsets: z.array(nonNeg),
  /** Segment objects rewritten: the old key (deleted) and the key of its replacement. */
  segments: z.array(z.strictObject({ from: z.string(), to: z.string() })),
});

export const erasureEntrySchema = z.strictObject({
  topic: z.string().refine(isValidTopicName, 'is not a valid Kafka topic name'),
  key_hash: z.strictObject({ algorithm: z.literal('sha256-salted'), salt: hex(16), hash: hex(32) }),
  status: z.enum(['started', 'complete']),
  started_at: safeInt,
  completed_at: safeInt.nullable(),
  records: nonNeg,
  partitions: z.array(erasurePartitionSchema),
});

export const erasureLogSchema = z.strictObject({
  format_version: z.literal(1),
  backup_id: z.string(),
  entries: z.array(erasureEntrySchema),
});

export type ErasureLog = z.infer<typeof erasureLogSchema>;
export type ErasureEntry = z.infer<typeof erasureEntrySchema>;
export type ErasurePartition = z.infer<typeof erasurePartitionSchema>;

export const erasureLogKey = (backupId: string): string => `${checkBackupId(backupId)}/erasure-log.json`;

/** SHA-256 of salt || key, lowercase hex. */
export function saltedKeyHash(key: Buffer, salt: Buffer): string {
  return createHash('sha256').update(salt).update(key).digest('hex');
}

/** A new salted hash of `key` (fresh 16-byte salt). */
export function newKeyHash(key: Buffer): ErasureEntry['key_hash'] {
  const salt = randomBytes(16);
  return { algorithm: 'sha256-salted', salt: salt.toString('hex'), hash: saltedKeyHash(key, salt) };
}

/** True when the entry's hash is the hash of `key`. */
export function entryMatchesKey(entry: ErasureEntry, topic: string, key: Buffer): boolean {
  return entry.topic === topic && saltedKeyHash(key, Buffer.from(entry.key_hash.salt, 'hex')) === entry.key_hash.hash;
}

export async function readErasureLog(store: ObjectStore, backupId: string): Promise<ErasureLog> {
  return (await readJsonObject(store, erasureLogKey(backupId), erasureLogSchema)) ?? { format_version: 1, backup_id: backupId, entries: [] };
}

export async function writeErasureLog(store: ObjectStore, log: ErasureLog): Promise<void> {
  await writeJsonObject(store, erasureLogKey(log.backup_id), log);
}
