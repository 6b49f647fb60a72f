// What the credits module publishes after commit, for walletUpdated watchers on any instance.
import type { Publisher } from '../../pubsub';

export type CreditsTopics = {
  /** Something that moves a wallet of the tenant committed: a grant, a void, a debit, a hold, a threshold. */
  'credits:changed': [tenantId: string, payload: { tenantId: string }];
};

export class CreditsNews {
  constructor(private readonly publisher: Publisher<CreditsTopics>) {}

  changed(tenantIds: Iterable<string>): void {
    // Only where someone may listen (in-process: a walletUpdated watcher of the tenant here).
    for (const t of new Set(tenantIds))
      if (this.publisher.listens('credits:changed', t)) this.publisher.publish('credits:changed', t, { tenantId: t });
  }
}
