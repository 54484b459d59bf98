import type { z } from 'zod';
import type { ObjectStore } from '../storage/store.js';
import { CorruptDataError, errorMessage, KafkaBackupError, NotFoundError, StorageError } from '../util/errors.js';

/**
 * Largest JSON object (manifest, partition index, restore state, group snapshot) this tool writes
 * or reads: about 190 000 segments in one partition index, or 800 000 partitions in a manifest.
 * A larger object is damaged or not ours, and reading it whole could exhaust memory.
 */
export const MAX_JSON_OBJECT_BYTES = 64 * 1024 * 1024;

function tooLarge(key: string, size: number | string): CorruptDataError {
  return new CorruptDataError(
    `${key}: ${size} bytes, over the ${MAX_JSON_OBJECT_BYTES}-byte limit for a manifest, index or state object (damaged, or not written by kafka-backup)`,
    key,
  );
}

/** The object's bytes, read as a stream and abandoned past the limit; `undefined` when it does not exist. */
async function readCapped(store: ObjectStore, key: string): Promise<Buffer | undefined> {
  let body: AsyncIterable<Buffer>;
  try {
    body = await store.getStream(key);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of body) {
      size += c.length;
      if (size > MAX_JSON_OBJECT_BYTES) throw tooLarge(key, `more than ${MAX_JSON_OBJECT_BYTES}`);
      parts.push(c);
    }
  } catch (err) {
    if (err instanceof KafkaBackupError) throw err;
    throw new StorageError('STORAGE_READ', `reading ${store.url}/${key} failed: ${errorMessage(err)}`, key, { cause: err });
  }
  return Buffer.concat(parts, size);
}

/** Reads and validates a stored JSON object (at most MAX_JSON_OBJECT_BYTES); damage is reported with the object's key. */
export async function readJsonObject<T>(store: ObjectStore, key: string, schema: z.ZodType<T>): Promise<T | undefined> {
  const bytes = await readCapped(store, key);
  if (bytes === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new CorruptDataError(`${key}: not valid JSON (${(err as Error).message})`, key);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new CorruptDataError(`${key}: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid content'}`, key);
  }
  return parsed.data;
}

/** Writes a JSON object; one over MAX_JSON_OBJECT_BYTES is refused (it could not be read back). */
export async function writeJsonObject(store: ObjectStore, key: string, value: unknown): Promise<void> {
  const bytes = Buffer.from(JSON.stringify(value, null, 2) + '\n', 'utf8');
  if (bytes.length > MAX_JSON_OBJECT_BYTES) throw tooLarge(key, bytes.length);
  await store.put(key, bytes);
}
