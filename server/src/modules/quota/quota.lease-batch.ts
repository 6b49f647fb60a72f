// The fast path's group commit (quota.leases.ts): admissions of this instance share one
// statement and one commit. Unlike the usage writer's GroupCommitter, it never waits for
// company on a timer: a call arriving while fewer than `maxConcurrent` statements are out is
// written at the end of the current event-loop turn (setImmediate), with everything that
// arrived in that turn; calls arriving while the statements are out form the next batch,
// written as soon as one comes back. So a lone call waits for no timer, and under load
// batches grow with the commit time (many answered reservations share one WAL flush).
// Each caller is answered only after the statement holding its entry committed; a failed
// statement fails each of its callers (the fast path then gives its slices back and asks
// the locked path). At most `maxQueued` entries wait: beyond that a call is refused at once
// (the fast path then asks the locked path, which has its own backpressure).

export interface LeaseBatchOptions {
  maxItems: number;
  maxConcurrent: number;
  maxQueued: number;
}

interface Waiting<E, O> {
  entry: E;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

export class LeaseBatcher<E, O> {
  private queue: Waiting<E, O>[] = [];
  private inflight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];
  /** Statements written and entries they held (for tests and the bench's reading of batch sizes). */
  readonly stats = { flushes: 0, calls: 0 };
  /** Told after each write, how long it took (seconds) and how many entries it held (metrics). */
  onWrite: ((seconds: number, entries: number) => void) | null = null;

  constructor(
    /** Writes the entries in one statement; outcomes in entry order. */
    private readonly write: (entries: E[]) => Promise<O[]>,
    private readonly o: LeaseBatchOptions,
  ) {}

  /** The entry's outcome once its statement committed; null when the queue is full. */
  submit(entry: E): Promise<O> | null {
    if (this.queue.length >= this.o.maxQueued) return null;
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      this.schedule();
    });
  }

  private schedule() {
    if (this.scheduled || this.inflight >= this.o.maxConcurrent || !this.queue.length) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush() {
    if (this.inflight >= this.o.maxConcurrent || !this.queue.length) return;
    const batch = this.queue.splice(0, this.o.maxItems);
    this.inflight++;
    this.stats.flushes++;
    this.stats.calls += batch.length;
    const t0 = performance.now();
    this.write(batch.map((w) => w.entry))
      .then(
        (out) => {
          for (const [i, w] of batch.entries()) w.resolve(out[i] as O);
        },
        (err) => {
          for (const w of batch) w.reject(err);
        },
      )
      .finally(() => {
        this.onWrite?.((performance.now() - t0) / 1000, batch.length);
        this.inflight--;
        if (this.queue.length) this.flush();
        else if (this.inflight === 0) for (const f of this.idle.splice(0)) f();
      });
    // More waiting than one statement takes: the next one starts too (up to maxConcurrent).
    if (this.queue.length) this.schedule();
  }

  /** Resolves when everything submitted so far is answered. */
  drain(): Promise<void> {
    if (!this.queue.length && this.inflight === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }
}
