/**
 * stdout for commands that print a stream of unknown length (`cat`): writes are gathered into
 * chunks, wait for the reader when it is slower (backpressure), and stop quietly when it goes away
 * (`kafka-backup cat … | head` closes the pipe: EPIPE is the reader's choice, not a failure).
 */
const CHUNK = 64 * 1024;

export class StreamOut {
  #pending: string[] = [];
  #size = 0;
  #closed = false;
  #error: Error | undefined;

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {
    out.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') this.#error = e; // raised by the next write
      this.#closed = true;
    });
  }

  /** The reader closed its end: nothing more will be seen. */
  get closed(): boolean {
    return this.#closed;
  }

  async write(s: string): Promise<void> {
    this.#pending.push(s);
    this.#size += s.length;
    if (this.#size >= CHUNK) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#pending.length === 0 || this.#closed) return;
    const data = this.#pending.join('');
    this.#pending = [];
    this.#size = 0;
    if (this.out.write(data)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.out.off('drain', done);
        this.out.off('close', done);
        this.out.off('error', done);
        resolve();
      };
      this.out.on('drain', done);
      this.out.on('close', done);
      this.out.on('error', done);
    });
    if (this.#error) throw this.#error;
  }
}
