/** Counting semaphore: at most `limit` holders at once; waiters are served in arrival order. */
export class Semaphore {
  #free: number;
  readonly #waiters: (() => void)[] = [];
  constructor(readonly limit: number) {
    this.#free = Math.max(1, limit);
  }

  /** True when someone is waiting for a slot: holders should not hold it idly. */
  get contended(): boolean {
    return this.#waiters.length > 0;
  }

  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiters.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next) next();
      else this.#free++;
    };
  }
}
