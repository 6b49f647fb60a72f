// Live quota for subscribers (quotaUpdated): the shared live feed (lib/live-feed.ts) over
// 'quota:changed', keyed by scope (tenant, key, subject).
import type { PubSub } from 'graphql-yoga';
import { LiveFeed } from '../../lib/live-feed';
import type { QuotaTopics } from './quota.topics';
import type { QuotaStatus } from './quota.types';

export { COALESCE_MS } from '../../lib/live-feed';

export class QuotaFeed extends LiveFeed<QuotaStatus> {
  constructor(pubsub: Pick<PubSub<QuotaTopics>, 'subscribe'>) {
    super((tenantId) => pubsub.subscribe('quota:changed', tenantId));
  }
}
