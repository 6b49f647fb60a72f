// What the usage module publishes, after commit, for subscribers on any instance.
import type { PublishedEvent } from './usage.columns';

/** A ledger entry as subscribers receive it (usage.columns.ts says which columns; JSON-safe: instants may arrive as ISO strings). */
export type { PublishedEvent };

export type UsageTopics = {
  /** Every entry created (recordings and reversals), by tenant; published only when someone may listen. */
  'usage:recorded': [tenantId: string, payload: PublishedEvent];
};
