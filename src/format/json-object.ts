import type { z } from 'zod';
import type { ObjectStore } from '../storage/store.js';
import { CorruptDataError, NotFoundError } from '../util/errors.js';

/** Reads and validates a stored JSON object; damage is reported with the object's key. */
export async function readJsonObject<T>(store: ObjectStore, key: string, schema: z.ZodType<T>): Promise<T | undefined> {
  let bytes: Buffer;
  try {
    bytes = await store.get(key);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
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

export async function writeJsonObject(store: ObjectStore, key: string, value: unknown): Promise<void> {
  await store.put(key, Buffer.from(JSON.stringify(value, null, 2) + '\n', 'utf8'));
}
