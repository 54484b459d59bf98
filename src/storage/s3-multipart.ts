import {
  AbortMultipartUploadCommand,
  ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  type CompletedPart,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { StorageError } from '../util/errors.js';
import type { PartLease, PartPool } from './part-pool.js';

/** S3's limit on parts per multipart upload. */
const MAX_PARTS = 10_000;

export interface StreamUploadTarget {
  client: S3Client;
  bucket: string;
  key: string;
  /** Conditional create: If-None-Match: * on the PutObject or the CompleteMultipartUpload. */
  ifNotExists: boolean;
  pool: PartPool;
}

/**
 * Streams `body` to one S3 object. The body's chunks are held by reference until they make a
 * part; the part is then copied into a buffer lent by the process-wide pool with one of its send
 * slots (one copy, no concatenation) and sent while the next part gathers. A body that fits one
 * part becomes a single PutObject. The object appears only at the end, whole; on any failure (of
 * a request or of the body's iteration) the multipart upload is aborted and the error rethrown.
 *
 * Memory: up to one part of the body's own chunks per open upload, plus the pool's parts in flight.
 */
export async function uploadStream(t: StreamUploadTarget, body: AsyncIterable<Uint8Array>): Promise<{ size: number }> {
  const up = new StreamUpload(t);
  try {
    for await (const chunk of body) await up.write(chunk);
    await up.end();
  } catch (e) {
    await up.abort();
    throw e;
  }
  return { size: up.size };
}

class StreamUpload {
  readonly #t: StreamUploadTarget;
  /** Chunks (views, not copies) not yet in a part, and their total length. */
  readonly #pending: Buffer[] = [];
  #pendingBytes = 0;
  size = 0;
  #uploadId: string | undefined;
  #nextPart = 1;
  readonly #parts: CompletedPart[] = [];
  readonly #sending = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;

  constructor(t: StreamUploadTarget) {
    this.#t = t;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#failure) throw this.#failure.error;
    if (chunk.byteLength === 0) return;
    this.#pending.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.#pendingBytes += chunk.byteLength;
    this.size += chunk.byteLength;
    // Strictly more than a part: a body of exactly one part stays a single PutObject.
    while (this.#pendingBytes > this.#t.pool.partSize) await this.#sendPart();
  }

  async end(): Promise<void> {
    const t = this.#t;
    if (this.#uploadId === undefined) return this.#putWhole();
    if (this.#pendingBytes > 0) await this.#sendPart();
    await Promise.all(this.#sending);
    if (this.#failure) throw this.#failure.error;
    this.#parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await t.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: t.bucket,
        Key: t.key,
        UploadId: this.#uploadId,
        MultipartUpload: { Parts: this.#parts },
        ...(t.ifNotExists ? { IfNoneMatch: '*' } : {}),
      }),
    );
    this.#uploadId = undefined;
  }

  /** Best effort: lets the parts in flight end, then aborts the multipart upload. */
  async abort(): Promise<void> {
    await Promise.allSettled(this.#sending);
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    const uploadId = this.#uploadId;
    this.#uploadId = undefined;
    if (uploadId === undefined) return;
    const t = this.#t;
    await t.client.send(new AbortMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, UploadId: uploadId })).catch(() => {});
  }

  /** Copies the next `length` pending bytes into the lent part. */
  #fill(part: Buffer, length: number): void {
    let at = 0;
    while (at < length) {
      const c = this.#pending[0]!;
      const n = Math.min(c.length, length - at);
      part.set(n === c.length ? c : c.subarray(0, n), at);
      at += n;
      if (n === c.length) this.#pending.shift();
      else this.#pending[0] = c.subarray(n);
    }
    this.#pendingBytes -= length;
  }

  async #putWhole(): Promise<void> {
    const t = this.#t;
    const lease = await t.pool.take();
    const length = this.#pendingBytes;
    this.#fill(lease.buf, length);
    let ok = false;
    try {
      await t.client.send(
        new PutObjectCommand({
          Bucket: t.bucket,
          Key: t.key,
          Body: lease.buf.subarray(0, length),
          ContentLength: length,
          ...(t.ifNotExists ? { IfNoneMatch: '*' } : {}),
        }),
      );
      ok = true;
    } finally {
      lease.done(ok);
    }
  }

  async #create(): Promise<string> {
    const t = this.#t;
    // As AWS lib-storage does: with the SDK's default checksum setting every part carries a CRC-32,
    // which the upload must announce at creation (the completion then lists each part's).
    const checksum = (await t.client.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
    const r = await t.client.send(
      new CreateMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, ...(checksum ? { ChecksumAlgorithm: ChecksumAlgorithm.CRC32 } : {}) }),
    );
    if (!r.UploadId) throw new StorageError('S3', `s3 putStream ${t.key}: CreateMultipartUpload returned no UploadId`, t.key);
    return r.UploadId;
  }

  /** Waits for a send slot and its part, fills it, and starts its request without waiting for it. */
  async #sendPart(): Promise<void> {
    const t = this.#t;
    this.#uploadId ??= await this.#create();
    const partNumber = this.#nextPart++;
    if (partNumber > MAX_PARTS) throw new StorageError('S3', `s3 putStream ${t.key}: more than ${MAX_PARTS} parts of ${t.pool.partSize} bytes`, t.key);
    const lease = await t.pool.take();
    const length = Math.min(this.#pendingBytes, t.pool.partSize);
    this.#fill(lease.buf, length);
    const sending = this.#upload(lease, length, partNumber).finally(() => this.#sending.delete(sending));
    this.#sending.add(sending);
  }

  async #upload(lease: PartLease, length: number, partNumber: number): Promise<void> {
    const t = this.#t;
    let ok = false;
    try {
      const r = await t.client.send(
        new UploadPartCommand({
          Bucket: t.bucket,
          Key: t.key,
          UploadId: this.#uploadId,
          PartNumber: partNumber,
          Body: lease.buf.subarray(0, length),
          ContentLength: length,
        }),
      );
      if (!r.ETag) throw new StorageError('S3', `s3 putStream ${t.key}: part ${partNumber} was answered without an ETag`, t.key);
      this.#parts.push({ PartNumber: partNumber, ETag: r.ETag, ...(r.ChecksumCRC32 ? { ChecksumCRC32: r.ChecksumCRC32 } : {}) });
      ok = true;
    } catch (e) {
      this.#failure ??= { error: e };
    } finally {
      lease.done(ok);
    }
  }
}
