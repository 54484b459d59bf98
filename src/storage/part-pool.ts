import { Semaphore } from '../util/semaphore.js';

/** A part buffer lent for one request; `done` gives it and its send slot back. */
export interface PartLease {
  readonly buf: Buffer;
  /** `reusable: false` for a part whose request failed: the HTTP layer may still hold its bytes. */
  done(reusable?: boolean): void;
}

/**
 * Part buffers and send slots shared by every multipart upload of the process. A part buffer is
 * only lent together with one of `maxInFlight` send slots, so the uploads of the whole process
 * hold at most `maxInFlight` part buffers, however many uploads are open; a returned buffer is
 * lent again (up to `maxIdle` are kept) instead of allocating a fresh 5 MiB per part, external
 * memory that only a full garbage collection gives back.
 */
export class PartPool {
  readonly partSize: number;
  readonly maxIdle: number;
  readonly #slots: Semaphore;
  readonly #free: Buffer[] = [];
  #out = 0;
  #peakOut = 0;
  #allocated = 0;

  constructor(opts: { partSize: number; maxInFlight: number; maxIdle: number }) {
    this.partSize = opts.partSize;
    this.maxIdle = opts.maxIdle;
    this.#slots = new Semaphore(opts.maxInFlight);
  }

  get maxInFlight(): number {
    return this.#slots.limit;
  }

  /** Parts lent and not yet given back. */
  get outstanding(): number {
    return this.#out;
  }

  /** The most parts ever lent at once (never above `maxInFlight`). */
  get peakOutstanding(): number {
    return this.#peakOut;
  }

  /** Part buffers allocated since the pool was made (every other loan reused one). */
  get allocated(): number {
    return this.#allocated;
  }

  /** Waits for a send slot (served in arrival order), then lends a part buffer of `partSize` bytes. */
  async take(): Promise<PartLease> {
    const releaseSlot = await this.#slots.acquire();
    let buf = this.#free.pop();
    if (!buf) {
      // Its own allocation (not a slice of V8's shared pool), so a dropped part is freed whole.
      buf = Buffer.allocUnsafeSlow(this.partSize);
      this.#allocated++;
    }
    this.#out++;
    if (this.#out > this.#peakOut) this.#peakOut = this.#out;
    let lent = true;
    return {
      buf,
      done: (reusable = true) => {
        if (!lent) return;
        lent = false;
        this.#out--;
        if (reusable && this.#free.length < this.maxIdle) this.#free.push(buf);
        releaseSlot();
      },
    };
  }
}
