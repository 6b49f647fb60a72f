// The outbox port (ports.ts) implemented: emit() is one INSERT ... SELECT in the caller's
// transaction (no statement at all for no events), and it tells this instance's worker to look
// soon; the worker's poll finds what other instances committed.
import type { Sql } from '../../db/database';
import type { WebhookEvent, WebhookOutbox } from './ports';
import * as store from './webhooks.store';

export class Outbox implements WebhookOutbox {
  /** Set by emit, cleared by the first committed() after it. */
  private pending = false;
  private soon: NodeJS.Timeout | null = null;

  /** `wake`: the worker's (it runs after the caller's commit, or finds nothing yet). */
  constructor(private readonly wake: () => void) {}

  async emit(tx: Sql, events: WebhookEvent[]): Promise<void> {
    if (!events.length) return;
    if ((await store.emit(tx, events)) === 0) return;
    this.pending = true;
    // The caller's commit usually follows within milliseconds; ledger writes also call committed() at once.
    // This look 25 ms on stays even when a committed() comes first: that one may be another
    // transaction's, run before this one committed (its look then found nothing of ours).
    this.soon ??= setTimeout(() => {
      this.soon = null;
      this.wake();
    }, 25).unref();
  }

  /** After a transaction that may have emitted committed: wake the worker if something was emitted. */
  committed(): void {
    if (!this.pending) return;
    this.pending = false;
    this.wake();
  }
}
