// What the usage module publishes, after commit, for subscribers on any instance.
import type { EventRow } from './usage.types';

/** A ledger entry as subscribers receive it (JSON-safe: instants may arrive as ISO strings). */
export type PublishedEvent = Omit<EventRow, 'fingerprint'>;

export type UsageTopics = {
  /** Every entry created (recordings and reversals), by tenant; published only when someone may listen. */
  'usage:recorded': [tenantId: string, payload: PublishedEvent];
};
