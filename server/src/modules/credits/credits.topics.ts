// What the credits module publishes after commit, for walletUpdated watchers on any instance.
import type { OncePerTurn } from '../../lib/once-per-turn';
import { type Publisher, tenantChanges } from '../../pubsub';

export type CreditsTopics = {
  /** Something that moves a wallet of the tenant committed: a grant, a void, a debit, a hold, a threshold. */
  'credits:changed': [tenantId: string, payload: { tenantId: string }];
};

export class CreditsNews {
  /** One 'credits:changed' per tenant per event-loop turn, however many writes told it (once-per-turn.ts). */
  private readonly changes: OncePerTurn;

  constructor(publisher: Publisher<CreditsTopics>) {
    this.changes = tenantChanges(publisher, 'credits:changed');
  }

  changed(tenantIds: Iterable<string>): void {
    this.changes.add(tenantIds);
  }
}
