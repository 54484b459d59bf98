import { sleep } from './time.js';

/** Token bucket with one second of burst: `take(n)` waits until n units fit under the rate. */
export class RateLimiter {
  #tokens: number;
  #last = Date.now();
  constructor(readonly perSecond: number) {
    this.#tokens = perSecond;
  }
  async take(n: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.#tokens = Math.min(this.perSecond, this.#tokens + ((now - this.#last) / 1000) * this.perSecond);
      this.#last = now;
      // A request larger than the bucket may go once the bucket is full, else it would wait forever.
      if (this.#tokens >= Math.min(n, this.perSecond)) {
        this.#tokens -= n;
        return;
      }
      if (signal?.aborted) return;
      await sleep(Math.ceil(((Math.min(n, this.perSecond) - this.#tokens) / this.perSecond) * 1000), signal);
    }
  }
}
