// The delivery worker, one per server instance. It claims due deliveries (webhooks.store.ts
// claimDue: FOR UPDATE SKIP LOCKED, so one instance sends each attempt), sends each on its own
// (webhooks.send.ts) with at most `concurrency` in flight and at most a quarter of them for
// one endpoint (a slow endpoint never holds every slot), and records each outcome with the
// next attempt's time from the retry schedule. It looks when woken (after a commit that
// emitted, after an attempt frees a slot) and every `pollMs` (what other instances committed,
// retries coming due, claims of a crashed instance expiring). Outcomes are recorded in batches
// (one statement per RECORD_DELAY_MS or RECORD_BATCH outcomes), and a freed slot claims again
// only once a quarter of the slots are free (or none is busy): the worker's statements stay
// few while it sends hundreds of attempts a second beside ingest.
import type { Database } from '../../db/database';
import { retryDelay, type WebhookOptions } from './webhooks.options';
import { type AttemptOutcome, type AttemptResult, createAgents, send } from './webhooks.send';
import type { AttemptRecord } from './webhooks.store';
import * as store from './webhooks.store';
import type { ClaimedDelivery, DeliveryStatus } from './webhooks.types';

/** Beyond the attempt's own timeout, how long a claim holds before another instance may retry it. */
const CLAIM_SLACK_MS = 30_000;
const RECORD_DELAY_MS = 5;
const RECORD_BATCH = 64;

export interface WorkerStats {
  attempts: number;
  delivered: number;
  failedAttempts: number;
}

/** The body of a delivery (Standard Webhooks: type, timestamp, data), the same on every attempt. */
export function bodyOf(d: Pick<ClaimedDelivery, 'eventType' | 'occurredAt' | 'data'>): string {
  return JSON.stringify({ type: d.eventType, timestamp: new Date(d.occurredAt).toISOString(), data: d.data });
}

export class DeliveryWorker {
  readonly stats: WorkerStats = { attempts: 0, delivered: 0, failedAttempts: 0 };
  /** Told about failures of the worker itself (a claim or a record that did not reach the database). */
  onError: (err: unknown, what: string) => void = () => {};
  /** Told each attempt's outcome (metrics). */
  onAttempt: (outcome: AttemptOutcome) => void = () => {};
  private readonly inFlight = new Map<string, number>();
  private readonly attemptsInFlight = new Set<Promise<void>>();
  private running = 0;
  private pumping: Promise<void> | null = null;
  private again = false;
  private poll: NodeJS.Timeout | null = null;
  private closed = false;
  private records: AttemptRecord[] = [];
  private recordTimer: NodeJS.Timeout | null = null;
  private recording: Promise<void> = Promise.resolve();
  private readonly agents = createAgents();

  constructor(
    private readonly db: Database,
    private readonly opts: WebhookOptions,
  ) {}

  private get perEndpoint() {
    return Math.max(1, Math.floor(this.opts.concurrency / 4));
  }

  start(): void {
    if (this.poll || this.closed) return;
    this.poll = setInterval(() => this.wake(), this.opts.pollMs).unref();
    this.wake();
  }

  /** Look for due deliveries now (coalesced: a wake during a look makes one more look). */
  wake(): void {
    if (this.closed || !this.poll) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async pump(): Promise<void> {
    while (!this.closed) {
      const free = this.opts.concurrency - this.running;
      if (free <= 0) return;
      const busy = [...this.inFlight.entries()];
      let claimed: ClaimedDelivery[];
      try {
        claimed = await store.claimDue(this.db, free, this.opts.timeoutMs + CLAIM_SLACK_MS, this.perEndpoint, {
          endpointIds: busy.map(([id]) => id),
          inFlight: busy.map(([, n]) => n),
        });
      } catch (err) {
        this.onError(err, 'claiming due webhook deliveries failed');
        return;
      }
      for (const d of claimed) this.begin(d);
      if (claimed.length < free) return;
    }
  }

  private begin(d: ClaimedDelivery): void {
    this.running++;
    this.inFlight.set(d.endpointId, (this.inFlight.get(d.endpointId) ?? 0) + 1);
    const p = this.attempt(d).finally(() => {
      this.running--;
      const n = (this.inFlight.get(d.endpointId) ?? 1) - 1;
      if (n > 0) this.inFlight.set(d.endpointId, n);
      else this.inFlight.delete(d.endpointId);
      this.attemptsInFlight.delete(p);
      if (this.opts.concurrency - this.running >= this.perEndpoint || this.running === 0) this.wake();
    });
    this.attemptsInFlight.add(p);
  }

  private async attempt(d: ClaimedDelivery): Promise<void> {
    const at = new Date();
    const result = await send(
      { url: d.url, secret: d.secret, eventId: d.eventId, body: bodyOf(d) },
      { timeoutMs: this.opts.timeoutMs, allowPrivate: this.opts.allowPrivateAddresses, agents: this.agents },
    );
    this.stats.attempts++;
    if (result.outcome === 'SUCCESS') this.stats.delivered++;
    else this.stats.failedAttempts++;
    this.onAttempt(result.outcome);
    this.record({ d, result, at, next: this.next(d, result) });
  }

  /** Queues an outcome for the next batch (a delivery already queued flushes the batch first). */
  private record(r: AttemptRecord): void {
    if (this.records.some((x) => x.d.id === r.d.id)) this.flush();
    this.records.push(r);
    if (this.records.length >= RECORD_BATCH) this.flush();
    else this.recordTimer ??= setTimeout(() => this.flush(), RECORD_DELAY_MS);
  }

  private flush(): void {
    if (this.recordTimer) clearTimeout(this.recordTimer);
    this.recordTimer = null;
    const batch = this.records.splice(0);
    if (!batch.length) return;
    // One batch at a time, in order.
    this.recording = this.recording.then(() =>
      store.recordAttempts(this.db, batch).catch((err) => {
        // The claims expire and the deliveries are attempted again (receivers dedupe on webhook-id).
        this.onError(err, 'recording webhook attempts failed');
      }),
    );
  }

  /** The delivery's state after this attempt: delivered, retried after the schedule's next delay, or given up. */
  private next(d: ClaimedDelivery, r: AttemptResult): { status: DeliveryStatus; nextAttemptAt: Date | null } {
    if (r.outcome === 'SUCCESS') return { status: 'DELIVERED', nextAttemptAt: null };
    const failures = d.attempts + 1 - d.roundStart;
    const delay = retryDelay(this.opts.retryScheduleMs, failures);
    return delay === null
      ? { status: 'FAILED', nextAttemptAt: null }
      : { status: 'PENDING', nextAttemptAt: new Date(Date.now() + delay) };
  }

  /** Stops looking; waits for the attempts in flight (each ends by its timeout) to be recorded. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    await this.pumping;
    await Promise.allSettled([...this.attemptsInFlight]);
    this.flush();
    await this.recording;
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
