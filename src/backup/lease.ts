/**
 * One writer per backup id: a lease object `{backup_id}/lease.json`, created with a conditional
 * create (`ifNotExists`: S3 If-None-Match, Azure If-None-Match, GCS ifGenerationMatch=0, link()
 * on a filesystem), renewed every ttl/3 while the backup runs, deleted at the end.
 *
 * Takeover of a stale lease (its `expires_at` passed, or its holder is a dead process on this
 * host) goes through a marker `{backup_id}/lease-takeover-{stale owner id}.json`, also created
 * with `ifNotExists`: of any number of racing takers exactly one creates it, and only that one
 * deletes the stale lease and creates its own (again with `ifNotExists`). A taker that crashed
 * after creating its marker is itself treated as a stale holder: the next taker races for
 * `lease-takeover-{crashed taker's owner id}.json`. Race analysis: docs/security.md.
 *
 * The holder checks on every renewal that lease.json is still its own and that it is renewing
 * before its own expiry (else a taker may legitimately be replacing it). Once it has lost the
 * lease it aborts the run and its store refuses every further write (`LeaseLostError`): what
 * the indexes name stays valid, the segment in flight is dropped as after a crash, and the new
 * holder continues from the indexes.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { keys } from '../format/layout.js';
import { ForwardingStore } from '../storage/forwarding.js';
import { AlreadyExistsError, KafkaBackupError, NotFoundError, PreconditionFailedError, UserError } from '../util/errors.js';
import { logger } from '../util/logger.js';
import type { ObjectStore, PutOptions } from '../storage/store.js';

const log = logger('lease');

export const DEFAULT_LEASE_TTL_MS = 60_000;

export interface LeaseOptions {
  /** Lease lifetime; renewed every ttl/3. Default 60 s. */
  ttlMs?: number;
  /** Renewal period; default ttl/3. */
  renewIntervalMs?: number;
  /** Clock (tests). */
  now?: () => number;
  /** Identity overrides (tests): host name and process id recorded in the lease. */
  host?: string;
  pid?: number;
  /** Treat a holder on this host whose pid is not running as stale at once (default true). */
  detectDeadLocalHolder?: boolean;
}

/** The content of lease.json. */
export interface LeaseRecord {
  format_version: 1;
  backup_id: string;
  owner_id: string;
  host: string;
  pid: number;
  acquired_at: number;
  renewed_at: number;
  expires_at: number;
  ttl_ms: number;
}

/** The content of a takeover marker. */
export interface TakeoverMarker {
  format_version: 1;
  owner_id: string;
  host: string;
  pid: number;
  created_at: number;
  takes_over: string;
}

export const leaseKey = keys.lease;
export const takeoverKey = (backupId: string, staleOwner: string): string => `${backupId}/lease-takeover-${staleOwner}.json`;

const iso = (ms: number): string => new Date(ms).toISOString();

/** Another process holds the backup id. */
export class LeaseHeldError extends UserError {
  constructor(
    message: string,
    readonly holder?: LeaseRecord | TakeoverMarker,
  ) {
    super('LEASE_HELD', message, { holder });
  }
}

/** This process lost its lease while running: it stopped writing. */
export class LeaseLostError extends KafkaBackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('LEASE_LOST', message, {}, options);
  }
}

/** Owner ids of leases held by this process (a same-pid holder not listed here is a dead former process). */
const liveOwners = new Set<string>();

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseLease(key: string, bytes: Buffer): LeaseRecord {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    v = undefined;
  }
  if (
    !isRecord(v) ||
    typeof v['owner_id'] !== 'string' ||
    typeof v['host'] !== 'string' ||
    typeof v['pid'] !== 'number' ||
    typeof v['expires_at'] !== 'number' ||
    typeof v['acquired_at'] !== 'number'
  ) {
    // An unreadable lease is treated as expired long ago: it can be taken over (through the marker).
    return {
      format_version: 1,
      backup_id: '',
      owner_id: `unreadable-${key.length}`,
      host: '?',
      pid: 0,
      acquired_at: 0,
      renewed_at: 0,
      expires_at: 0,
      ttl_ms: 0,
    };
  }
  return v as unknown as LeaseRecord;
}

function parseMarker(bytes: Buffer): TakeoverMarker | undefined {
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    if (isRecord(v) && typeof v['owner_id'] === 'string' && typeof v['created_at'] === 'number') return v as unknown as TakeoverMarker;
  } catch {
    /* fallthrough */
  }
  return undefined;
}

async function readOpt(store: ObjectStore, key: string): Promise<Buffer | undefined> {
  try {
    return await store.get(key);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as { code?: string }).code === 'ESRCH';
  }
}

function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v, null, 2) + '\n', 'utf8');
}

/**
 * The holder of the backup id's lease when it is live (not expired, and not a dead process on this
 * host); undefined when there is no lease or it is stale. Read-only: the distributed workers ask it
 * before they write (src/backup/workers/mode-guard.ts).
 */
export async function liveLeaseHolder(store: ObjectStore, backupId: string, now = Date.now()): Promise<LeaseRecord | undefined> {
  const key = leaseKey(backupId);
  const bytes = await readOpt(store, key);
  if (!bytes) return undefined;
  const cur = parseLease(key, bytes);
  if (now > cur.expires_at) return undefined;
  if (cur.host === hostname() && (cur.pid === process.pid ? !liveOwners.has(cur.owner_id) : processGone(cur.pid))) return undefined;
  return cur;
}

/** A held lease. `acquire` it, `run` the backup under it (renewal, fencing, release). */
export class BackupLease {
  readonly ownerId = randomBytes(12).toString('hex');
  readonly key: string;
  readonly ttlMs: number;
  readonly #store: ObjectStore;
  readonly #now: () => number;
  readonly #host: string;
  readonly #pid: number;
  readonly #renewMs: number;
  readonly #detectDead: boolean;
  #record: LeaseRecord | undefined;
  #lostReason: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | undefined;
  readonly #ac = new AbortController();

  private constructor(
    store: ObjectStore,
    readonly backupId: string,
    o: LeaseOptions,
  ) {
    this.#store = store;
    this.key = leaseKey(backupId);
    this.ttlMs = o.ttlMs ?? DEFAULT_LEASE_TTL_MS;
    this.#renewMs = o.renewIntervalMs ?? Math.max(1, Math.floor(this.ttlMs / 3));
    this.#now = o.now ?? Date.now;
    this.#host = o.host ?? hostname();
    this.#pid = o.pid ?? process.pid;
    this.#detectDead = o.detectDeadLocalHolder ?? true;
  }

  /** Aborted when the lease is lost. */
  get signal(): AbortSignal {
    return this.#ac.signal;
  }
  get lost(): boolean {
    return this.#lostReason !== undefined;
  }
  get record(): LeaseRecord | undefined {
    return this.#record;
  }
  /** The holder stops trusting its lease this long before expires_at (clock skew allowance). */
  get #margin(): number {
    return Math.floor(this.ttlMs / 6);
  }

  #fresh(acquiredAt?: number): LeaseRecord {
    const now = this.#now();
    return {
      format_version: 1,
      backup_id: this.backupId,
      owner_id: this.ownerId,
      host: this.#host,
      pid: this.#pid,
      acquired_at: acquiredAt ?? now,
      renewed_at: now,
      expires_at: now + this.ttlMs,
      ttl_ms: this.ttlMs,
    };
  }

  /** Takes the lease, or throws `LeaseHeldError` naming the holder. */
  static async acquire(store: ObjectStore, backupId: string, o: LeaseOptions = {}): Promise<BackupLease> {
    const l = new BackupLease(store, backupId, o);
    await l.#acquire();
    liveOwners.add(l.ownerId);
    log.debug({ backupId, owner: l.ownerId, expiresAt: l.#record?.expires_at }, 'lease acquired');
    return l;
  }

  async #create(): Promise<boolean> {
    const rec = this.#fresh();
    try {
      await this.#store.put(this.key, json(rec), { ifNotExists: true });
      this.#record = rec;
      return true;
    } catch (err) {
      if (err instanceof AlreadyExistsError) return false;
      throw err;
    }
  }

  /** Whether `cur` may be taken over now, and why. */
  #stale(cur: LeaseRecord): string | undefined {
    const now = this.#now();
    if (now > cur.expires_at) return `expired at ${iso(cur.expires_at)}`;
    if (this.#detectDead && cur.host === this.#host) {
      if (cur.pid === process.pid ? !liveOwners.has(cur.owner_id) : processGone(cur.pid)) return `its process ${cur.pid} on ${cur.host} is no longer running`;
    }
    return undefined;
  }

  #heldMessage(cur: LeaseRecord): string {
    return (
      `backup "${this.backupId}" is being written by another process: host ${cur.host}, pid ${cur.pid}, since ${iso(cur.acquired_at)} ` +
      `(lease ${this.key} renewed ${iso(cur.renewed_at ?? cur.acquired_at)}, expires ${iso(cur.expires_at)}). Two backups must not write the same backup id. ` +
      `If that process is gone (crashed, machine lost), the lease goes stale at ${iso(cur.expires_at)} and the next run takes it over automatically; ` +
      `to take over sooner, make sure it is stopped and delete ${this.key}`
    );
  }

  async #acquire(): Promise<void> {
    for (let attempt = 0; attempt < 8; attempt++) {
      if (await this.#create()) return;
      const bytes = await readOpt(this.#store, this.key);
      if (!bytes) continue; // released meanwhile: try again
      const cur = parseLease(this.key, bytes);
      const why = this.#stale(cur);
      if (!why) throw new LeaseHeldError(this.#heldMessage(cur), cur);
      log.warn({ backupId: this.backupId, host: cur.host, pid: cur.pid, owner: cur.owner_id }, `taking over a stale lease (${why})`);
      if (await this.#takeover(cur)) return;
    }
    throw new LeaseHeldError(`backup "${this.backupId}": could not acquire ${this.key} (it kept changing hands); try again`);
  }

  /**
   * Replaces the stale lease `stale`. True when this process now holds the lease; false when the
   * lease changed meanwhile (the caller starts over); LeaseHeldError when another taker is at work.
   */
  async #takeover(stale: LeaseRecord): Promise<boolean> {
    const chain = [stale.owner_id];
    let target = stale.owner_id;
    for (;;) {
      const mk = takeoverKey(this.backupId, target);
      const marker: TakeoverMarker = {
        format_version: 1,
        owner_id: this.ownerId,
        host: this.#host,
        pid: this.#pid,
        created_at: this.#now(),
        takes_over: target,
      };
      try {
        await this.#store.put(mk, json(marker), { ifNotExists: true });
        break;
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
      }
      const mb = await readOpt(this.#store, mk);
      if (!mb) return false; // a taker finished and cleaned up: the lease has a new holder
      const other = parseMarker(mb);
      const otherAlive =
        other &&
        this.#now() <= other.created_at + this.ttlMs &&
        !(this.#detectDead && other.host === this.#host && other.pid !== process.pid && processGone(other.pid));
      if (other && otherAlive) {
        throw new LeaseHeldError(
          `backup "${this.backupId}": its stale lease is being taken over by another process: host ${other.host}, pid ${other.pid}, since ${iso(other.created_at)} (${mk}). ` +
            `If that process is gone too, its takeover goes stale at ${iso(other.created_at + this.ttlMs)} and the next run continues it`,
          other,
        );
      }
      // The other taker died before finishing: race for the takeover of its takeover.
      target = other?.owner_id ?? `unreadable-${target}`;
      chain.push(target);
      if (chain.length > 16)
        throw new LeaseHeldError(
          `backup "${this.backupId}": too many abandoned lease takeovers (${mk}); delete ${this.backupId}/lease*.json after making sure no backup of this id runs`,
        );
    }
    const cleanup = async (all: boolean): Promise<void> => {
      const ids = all ? chain : [target];
      for (const id of ids) await this.#store.delete(takeoverKey(this.backupId, id)).catch(() => {});
    };
    // We alone may replace a lease whose owner is in `chain`. Check it still is that lease, still stale.
    const nowBytes = await readOpt(this.#store, this.key);
    if (nowBytes) {
      const cur = parseLease(this.key, nowBytes);
      if (!chain.includes(cur.owner_id) || !this.#stale(cur)) {
        await cleanup(false);
        throw new LeaseHeldError(this.#heldMessage(cur), cur);
      }
      await this.#store.delete(this.key);
    }
    if (!(await this.#create())) {
      // A fresh start slipped in between the delete and the create: it holds the lease legitimately.
      await cleanup(false);
      const b = await readOpt(this.#store, this.key);
      if (!b) return false;
      const cur = parseLease(this.key, b);
      throw new LeaseHeldError(this.#heldMessage(cur), cur);
    }
    await cleanup(true);
    return true;
  }

  #markLost(reason: string): void {
    if (this.#lostReason !== undefined) return;
    this.#lostReason = reason;
    liveOwners.delete(this.ownerId);
    log.error({ backupId: this.backupId }, `lease lost: ${reason}; stopping the backup`);
    this.#ac.abort(new LeaseLostError(this.lostMessage()));
  }

  lostMessage(): string {
    return `backup "${this.backupId}" stopped: this process lost its lease ${this.key} (${this.#lostReason ?? 'unknown'}); it wrote nothing more. What the partition indexes name is complete; another process may be continuing this backup`;
  }

  /** Checks the lease is still ours and extends it. Marks it lost when it is not. */
  async renew(): Promise<void> {
    if (this.lost || !this.#record) return;
    const rec = this.#record;
    try {
      if (this.#now() >= rec.expires_at - this.#margin) {
        this.#markLost(
          `it was not renewed before ${iso(rec.expires_at - this.#margin)} (expires ${iso(rec.expires_at)}); another process may have taken it over`,
        );
        return;
      }
      const stored = await this.#store.getVersioned(this.key);
      if (!stored) {
        this.#markLost(`${this.key} was deleted`);
        return;
      }
      const cur = parseLease(this.key, stored.data);
      if (cur.owner_id !== this.ownerId) {
        this.#markLost(`it is now held by host ${cur.host}, pid ${cur.pid}, since ${iso(cur.acquired_at)}`);
        return;
      }
      if (this.#now() >= rec.expires_at - this.#margin) {
        this.#markLost(`the renewal came too late (expires ${iso(rec.expires_at)})`);
        return;
      }
      const next = this.#fresh(rec.acquired_at);
      // Compare-and-swap against what was just read: a taker's lease written between the read and this write
      // (this process paused there past its expiry) must not be overwritten, or two processes would hold it.
      await this.#store.putIfMatch(this.key, json(next), stored.version);
      this.#record = next;
    } catch (err) {
      if (err instanceof PreconditionFailedError) {
        this.#markLost(`it was replaced while renewing${await this.#holderNow()}`);
        return;
      }
      log.warn({ backupId: this.backupId, err: (err as Error).message }, 'lease renewal failed; will retry');
      if (this.#now() >= rec.expires_at - this.#margin) this.#markLost(`renewals failed until it expired (${(err as Error).message})`);
    }
  }

  /** `; it is now held by host …, pid …, since …` as far as the stored lease says, or nothing. */
  async #holderNow(): Promise<string> {
    try {
      const bytes = await readOpt(this.#store, this.key);
      if (!bytes) return '';
      const cur = parseLease(this.key, bytes);
      return `; it is now held by host ${cur.host}, pid ${cur.pid}, since ${iso(cur.acquired_at)}`;
    } catch {
      return '';
    }
  }

  /** Renews every ttl/3 until `release`. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#renewing) return;
      this.#renewing = this.renew().finally(() => (this.#renewing = undefined));
    }, this.#renewMs);
    this.#timer.unref?.();
  }

  /** Stops renewing and deletes the lease if it is still ours and not expired. */
  async release(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#renewing;
    liveOwners.delete(this.ownerId);
    if (this.lost || !this.#record) return;
    // Past our expiry a taker may be replacing the lease: deleting then could delete its new one.
    if (this.#now() >= this.#record.expires_at - this.#margin) return;
    try {
      const b = await readOpt(this.#store, this.key);
      if (b && parseLease(this.key, b).owner_id === this.ownerId) await this.#store.delete(this.key);
      log.debug({ backupId: this.backupId }, 'lease released');
    } catch (err) {
      log.warn({ backupId: this.backupId, err: (err as Error).message }, `could not release the lease ${this.key}; it expires by itself`);
    }
  }

  /** `store` that refuses writes once this lease is lost. */
  fence(store: ObjectStore): ObjectStore {
    return new FencedStore(store, this);
  }

  /**
   * Runs `fn` under the lease: renewal timer, a signal aborted on loss (or by `signal`), a fenced
   * store; releases at the end. A run that fails after losing the lease fails with LeaseLostError.
   */
  async run<T>(store: ObjectStore, signal: AbortSignal | undefined, fn: (store: ObjectStore, signal: AbortSignal) => Promise<T>): Promise<T> {
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    signal?.addEventListener('abort', stop, { once: true });
    this.#ac.signal.addEventListener('abort', stop, { once: true });
    if (signal?.aborted) ac.abort();
    this.start();
    try {
      return await fn(this.fence(store), ac.signal);
    } catch (err) {
      if (this.lost && !(err instanceof LeaseLostError)) throw new LeaseLostError(this.lostMessage(), { cause: err });
      throw err;
    } finally {
      signal?.removeEventListener('abort', stop);
      await this.release();
    }
  }

  /** Throws LeaseLostError if the lease is lost. */
  check(): void {
    if (this.lost) throw new LeaseLostError(this.lostMessage());
  }
}

/** Writes refused after the lease is lost; reads pass. */
class FencedStore extends ForwardingStore {
  constructor(
    inner: ObjectStore,
    readonly lease: BackupLease,
  ) {
    super(inner);
  }
  override async put(key: string, data: Uint8Array, opts?: PutOptions): Promise<void> {
    this.lease.check();
    await this.inner.put(key, data, opts);
  }
  override async putStream(key: string, body: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<{ size: number }> {
    this.lease.check();
    const lease = this.lease;
    // Checked again between chunks: a streamed segment is abandoned (not committed) once the lease is lost.
    async function* fenced(): AsyncGenerator<Uint8Array> {
      for await (const c of body) {
        lease.check();
        yield c;
      }
      lease.check();
    }
    return this.inner.putStream(key, fenced(), opts);
  }
  override async putIfMatch(key: string, data: Uint8Array, expected: string | null): Promise<string> {
    this.lease.check();
    return this.inner.putIfMatch(key, data, expected);
  }
  override async delete(key: string): Promise<void> {
    this.lease.check();
    await this.inner.delete(key);
  }
}
