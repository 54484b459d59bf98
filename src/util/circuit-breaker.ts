/**
 * A process-wide circuit breaker for long runs (backup.circuit_breaker, restore.circuit_breaker):
 * transient storage and broker failures are ridden through, and the run stops cleanly only once
 * they have lasted `failureThreshold` cool-downs in a row.
 *
 * Failures are counted in rounds, not one by one, so the count does not grow with the number of
 * partitions failing at once: the first failure starts a round, every failure during the round's
 * cool-down waits for its end, and the first failure after it starts the next round. Any success
 * (a segment stored, an index read, a batch produced) closes the breaker again (count 0). When the
 * count reaches `failureThreshold`, the breaker opens: `signal` aborts and every waiting or failing
 * caller gets the CircuitOpenError. Which failures are transient is the engines' call (src/backup/transient.ts).
 */
import { KafkaBackupError, errorMessage } from './errors.js';
import { logger } from './logger.js';
import { sleep } from './time.js';

export interface CircuitBreakerSettings {
  /** Consecutive failed rounds after which the breaker opens (the run stops). */
  failureThreshold: number;
  /** Length of a round: how long failing callers wait before they try again. */
  coolDownMs: number;
}

/** The breaker opened: transient failures lasted too long. The run stopped cleanly. */
export class CircuitOpenError extends KafkaBackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CIRCUIT_OPEN', message, {}, options);
  }
}

export class CircuitBreaker {
  readonly #what: string;
  readonly #settings: CircuitBreakerSettings;
  readonly #ac = new AbortController();
  readonly #log;
  #rounds = 0;
  #roundEnds = 0;
  #open: CircuitOpenError | undefined;

  constructor(what: string, settings: CircuitBreakerSettings) {
    this.#what = what;
    this.#settings = settings;
    this.#log = logger(what);
  }

  /** Aborted when the breaker opens. */
  get signal(): AbortSignal {
    return this.#ac.signal;
  }

  get openError(): CircuitOpenError | undefined {
    return this.#open;
  }

  /** Consecutive failed rounds so far (0 = closed and healthy). */
  get rounds(): number {
    return this.#rounds;
  }

  succeeded(): void {
    if (this.#rounds > 0 && !this.#open) this.#log.info({ rounds: this.#rounds }, `${this.#what}: storage and broker answer again; carrying on`);
    if (!this.#open) {
      this.#rounds = 0;
      this.#roundEnds = 0;
    }
  }

  /**
   * A transient failure of one caller: waits until the current round's cool-down ends (starting a
   * round if none is running), then returns so the caller tries again. Throws the CircuitOpenError
   * once the breaker is open; returns early when `stop` aborts (the caller then stops).
   */
  async failed(err: unknown, stop?: AbortSignal): Promise<void> {
    if (this.#open) throw this.#open;
    const now = Date.now();
    if (now >= this.#roundEnds) {
      this.#rounds++;
      const { failureThreshold, coolDownMs } = this.#settings;
      if (this.#rounds >= failureThreshold) {
        this.#open = new CircuitOpenError(
          `${this.#what} stopped: the circuit breaker opened after ${this.#rounds} consecutive rounds of failures ${Math.round(coolDownMs / 1000)} s apart ` +
            `(failure_threshold ${failureThreshold}); last error: ${errorMessage(err)}. What is stored is consistent; run the same command again to continue`,
          { cause: err },
        );
        this.#log.error({ rounds: this.#rounds }, this.#open.message);
        this.#ac.abort(this.#open);
        throw this.#open;
      }
      this.#roundEnds = now + coolDownMs;
      this.#log.warn(
        { round: this.#rounds, failureThreshold, err: errorMessage(err) },
        `${this.#what}: storage or broker failing; holding and retrying in ${Math.round(coolDownMs / 1000)} s (the breaker opens after ${failureThreshold} failed rounds in a row)`,
      );
    }
    await sleep(this.#roundEnds - now, stop ? AbortSignal.any([stop, this.#ac.signal]) : this.#ac.signal);
    if (this.#open) throw this.#open;
  }
}
