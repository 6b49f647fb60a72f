// Live wallets for walletUpdated: the shared live feed (lib/live-feed.ts) over
// 'credits:changed', one scope per wallet (the tenant's own, or one subject's), as quotaUpdated.
import type { PubSub, Repeater } from 'graphql-yoga';
import { LiveFeed } from '../../lib/live-feed';
import type { CreditsTopics } from './credits.topics';
import type { WalletView } from './credits.types';

export class WalletFeed {
  private readonly feed: LiveFeed<WalletView>;

  constructor(pubsub: Pick<PubSub<CreditsTopics>, 'subscribe'>) {
    this.feed = new LiveFeed((tenantId) => pubsub.subscribe('credits:changed', tenantId));
  }

  /** The wallet's state at once, then after each change of its tenant's wallets (coalesced). */
  watch(tenantId: string, subject: string | null, compute: () => Promise<WalletView>): Repeater<WalletView> {
    return this.feed.watch(tenantId, JSON.stringify([subject]), compute);
  }
}
