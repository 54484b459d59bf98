import { UserError } from '../util/errors.js';
import type { ObjectStore } from './store.js';

/**
 * Refuses a plain-http storage endpoint unless allow_http is set: credentials (S3 signatures are
 * replayable within their window, Azure SAS tokens and keys' signatures, bearer tokens) and the
 * backup's data would travel in clear text. Shared by every backend, so the YAML form and the URL
 * form (`?endpoint=http://…`) are checked alike. Shows only the endpoint's origin (never a query).
 */
export function checkEndpointScheme(backend: 's3' | 'azure' | 'gcs', endpoint: string | undefined, allowHttp: boolean | undefined): void {
  if (endpoint === undefined) return;
  let ep: URL;
  try {
    ep = new URL(endpoint);
  } catch {
    throw new UserError('BAD_STORAGE_CONFIG', `storage.endpoint of the ${backend} backend is not a URL: expected https://host[:port]`);
  }
  if (ep.protocol !== 'https:' && ep.protocol !== 'http:')
    throw new UserError(
      'BAD_STORAGE_CONFIG',
      `storage.endpoint ${ep.protocol}//${ep.host} of the ${backend} backend: expected an https:// (or, with allow_http, http://) URL`,
    );
  if (ep.protocol === 'http:' && allowHttp !== true) {
    throw new UserError(
      'BAD_STORAGE_CONFIG',
      `storage.endpoint ${ep.origin} (${backend}) is plain http: credentials and data would travel unencrypted; use https://, or allow it with storage.allow_http: true (in a storage URL: &allow_http=true)`,
    );
  }
}

/** Chunks of a buffer as an async iterable (for `getStream` over an in-memory result). */
export async function* bufferChunks(buf: Buffer, chunkSize = 1 << 20): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += chunkSize) yield buf.subarray(i, Math.min(buf.length, i + chunkSize));
}

/** Collect an async iterable of byte chunks into one Buffer. */
export async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  return Buffer.concat(parts);
}

/** `exists` in terms of `head`, for the backends with nothing cheaper (fs, S3, Azure, GCS). */
export async function existsViaHead(store: Pick<ObjectStore, 'head'>, key: string): Promise<boolean> {
  return (await store.head(key)) !== undefined;
}

/** Counts bytes flowing through, and normalises chunks to Buffers. */
export function counting(body: AsyncIterable<Uint8Array>): { iterable: AsyncGenerator<Buffer>; size: () => number } {
  let n = 0;
  async function* gen(): AsyncGenerator<Buffer> {
    for await (const c of body) {
      n += c.byteLength;
      if (c.byteLength > 0) yield Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    }
  }
  return { iterable: gen(), size: () => n };
}

/** Slice [start, end) clipped to the buffer (start past the end gives an empty buffer). */
export function sliceRange(buf: Buffer, start: number, end: number | undefined): Buffer {
  const s = Math.min(start, buf.length);
  const e = end === undefined ? buf.length : Math.min(end, buf.length);
  return buf.subarray(s, Math.max(s, e));
}
