// What the credits module publishes after commit, for walletUpdated watchers on any instance.
import { OncePerTurn } from '../../lib/once-per-turn';
import type { Publisher } from '../../pubsub';

export type CreditsTopics = {
  /** Something that moves a wallet of the tenant committed: a grant, a void, a debit, a hold, a threshold. */
  'credits:changed': [tenantId: string, payload: { tenantId: string }];
};

export class CreditsNews {
  /** One 'credits:changed' per tenant per event-loop turn, however many writes told it (once-per-turn.ts). */
  private readonly changes: OncePerTurn;

  constructor(private readonly publisher: Publisher<CreditsTopics>) {
    // Only where someone may listen (in-process: a walletUpdated watcher of the tenant here).
    this.changes = new OncePerTurn((t) => {
      if (this.publisher.listens('credits:changed', t)) this.publisher.publish('credits:changed', t, { tenantId: t });
    });
  }

  changed(tenantIds: Iterable<string>): void {
    this.changes.add(tenantIds);
  }
}
