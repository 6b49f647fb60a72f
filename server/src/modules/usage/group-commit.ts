// Group commit: recordUsage / recordUsageBatch calls arriving at one process are gathered
// into shared transactions. A flush starts when `maxItems` entries wait or `maxDelayMs` after
// the first one arrived, whichever comes first, with at most `maxConcurrent` flushes at once
// (arrivals during a flush form the next batch, so batches grow with load and a lone call
// waits only maxDelayMs). Each caller is answered with its own outcomes, and only after COMMIT.
//
// If a shared batch fails as a whole (not a per-item problem: those were judged before), each
// call is written again on its own, so one bad call never fails its batch-mates.
// Backpressure: at most `maxQueued` entries wait; further callers wait for room and get
// RATE_LIMITED after `queueTimeoutMs`. Nothing is dropped. close() flushes everything.
import { AppError } from '../../lib/errors';

export interface GroupCommitOptions {
  maxItems: number;
  maxDelayMs: number;
  maxConcurrent: number;
  maxQueued: number;
  queueTimeoutMs: number;
}

export const DEFAULT_GROUP_COMMIT: GroupCommitOptions = {
  maxItems: 1000,
  maxDelayMs: 1,
  maxConcurrent: 2,
  maxQueued: 50_000,
  queueTimeoutMs: 10_000,
};

interface Call<E, O> {
  entries: E[];
  /** performance.now() at submit: the wait measured for metrics starts here. */
  since: number;
  resolve: (o: O[]) => void;
  reject: (e: unknown) => void;
}

export interface GroupCommitStats {
  flushes: number;
  entries: number;
  calls: number;
}

export class GroupCommitter<E, O> {
  private queue: Call<E, O>[] = [];
  private queued = 0;
  private inflight = 0;
  private timer: NodeJS.Timeout | null = null;
  private waiters: (() => void)[] = [];
  private closing = false;
  private idle: (() => void)[] = [];
  readonly stats: GroupCommitStats = { flushes: 0, entries: 0, calls: 0 };
  /** Told, as each call's flush starts, how long the call waited since submit, in seconds (metrics). */
  onWait: ((seconds: number) => void) | null = null;

  constructor(
    /** Writes the entries of several calls in one transaction; outcomes in entry order. */
    private readonly writeBatch: (entries: E[]) => Promise<O[]>,
    private readonly o: GroupCommitOptions = DEFAULT_GROUP_COMMIT,
  ) {}

  async submit(entries: E[]): Promise<O[]> {
    if (entries.length === 0) return [];
    if (this.closing)
      throw new AppError('INTERNAL', 'the server is shutting down; retry', undefined, { retryable: true });
    const since = performance.now();
    await this.reserve(entries.length);
    return new Promise<O[]>((resolve, reject) => {
      this.queue.push({ entries, since, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Waits until the queue has room for n entries and takes it in the same synchronous step
   * as the check, so callers woken together cannot all claim the same room. (One call larger
   * than the whole queue is let in alone.)
   */
  private async reserve(n: number): Promise<void> {
    const deadline = Date.now() + this.o.queueTimeoutMs;
    while (this.queued > 0 && this.queued + n > this.o.maxQueued) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new AppError('RATE_LIMITED', 'the ingest queue is full; retry with the same idempotency key', undefined, {
          retryable: true,
        });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.queued += n;
  }

  private schedule() {
    if (this.inflight >= this.o.maxConcurrent) return; // a finishing flush picks the queue up
    if (this.queued >= this.o.maxItems || this.closing) {
      this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.o.maxDelayMs);
  }

  private flush() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.queue.length || this.inflight >= this.o.maxConcurrent) return;
    // Take whole calls up to maxItems entries (at least one call).
    const calls: Call<E, O>[] = [];
    let n = 0;
    while (
      this.queue.length &&
      (calls.length === 0 || n + (this.queue[0] as Call<E, O>).entries.length <= this.o.maxItems)
    ) {
      const c = this.queue.shift() as Call<E, O>;
      calls.push(c);
      n += c.entries.length;
    }
    this.queued -= n;
    if (this.onWait) {
      const at = performance.now();
      for (const c of calls) this.onWait((at - c.since) / 1000);
    }
    for (const w of this.waiters.splice(0)) w();
    this.inflight++;
    this.stats.flushes++;
    this.stats.entries += n;
    this.stats.calls += calls.length;
    void this.write(calls).finally(() => {
      this.inflight--;
      if (this.queue.length) this.schedule();
      else if (this.inflight === 0) for (const r of this.idle.splice(0)) r();
    });
  }

  private async write(calls: Call<E, O>[]) {
    try {
      const outcomes = await this.writeBatch(calls.flatMap((c) => c.entries));
      let i = 0;
      for (const c of calls) {
        c.resolve(outcomes.slice(i, i + c.entries.length));
        i += c.entries.length;
      }
    } catch (err) {
      if (calls.length === 1) {
        (calls[0] as Call<E, O>).reject(err);
        return;
      }
      // Retry each call alone, so a failure stays with the call that caused it.
      await Promise.all(
        calls.map(async (c) => {
          try {
            c.resolve(await this.writeBatch(c.entries));
          } catch (e) {
            c.reject(e);
          }
        }),
      );
    }
  }

  /** Entries in the queue, waiting for their flush. */
  get queuedEntries(): number {
    return this.queued;
  }

  /** Flushes (shared transactions) in progress. */
  get inflightFlushes(): number {
    return this.inflight;
  }

  /** Flushes everything waiting and resolves when nothing is in flight. */
  async close(): Promise<void> {
    this.closing = true;
    while (this.queue.length || this.inflight) {
      if (this.queue.length) this.flush();
      await new Promise<void>((r) => this.idle.push(r));
    }
  }
}
