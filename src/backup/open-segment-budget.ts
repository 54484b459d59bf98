/**
 * A bound on the bytes held by open segment uploads across all partition workers. An object store
 * upload keeps the part being assembled in memory until the part fills or the segment rolls, and a
 * continuous backup keeps a segment open for every partition, so without a bound memory grows with
 * the partition count. Workers report what their open segment can hold (at most about one part),
 * so a few large segments in flight never trigger it; a thousand small open ones do. When the open segments together exceed the limit, a worker whose segment is at least the
 * average size rolls it early (an ordinary, smaller segment); the largest go first, and every
 * roll frees at least the average, so the total comes back under the limit.
 */
export class OpenSegmentBudget {
  readonly limit: number;
  readonly #held = new Map<object, number>();
  #total = 0;

  constructor(limit: number) {
    if (!(limit > 0)) throw new RangeError('open segment budget must be > 0');
    this.limit = limit;
  }

  get total(): number {
    return this.#total;
  }

  /** Records what `owner`'s open segment holds now (0 once it is stored or abandoned). */
  set(owner: object, bytes: number): void {
    const before = this.#held.get(owner) ?? 0;
    this.#total += bytes - before;
    if (bytes > 0) this.#held.set(owner, bytes);
    else this.#held.delete(owner);
  }

  /** True when the budget is exceeded and `owner`'s segment is one that should roll now. */
  shouldRoll(owner: object): boolean {
    if (this.#total <= this.limit) return false;
    const mine = this.#held.get(owner) ?? 0;
    return mine > 0 && mine * this.#held.size >= this.#total;
  }
}
