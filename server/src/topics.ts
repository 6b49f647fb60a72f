// The composition root's topic map: every module declares its own topics (<module>.topics.ts)
// and this assembles them for the pub/sub port and the GraphQL context. pubsub.ts knows none.
import type { PubSub } from 'graphql-yoga';
import type { ApiKeysTopics } from './modules/api-keys/api-keys.topics';
import type { CreditsTopics } from './modules/credits/credits.topics';
import type { QuotaTopics } from './modules/quota/quota.topics';
import type { UsageTopics } from './modules/usage/usage.topics';

export type Topics = UsageTopics & QuotaTopics & ApiKeysTopics & CreditsTopics;

export type TallyPubSub = PubSub<Topics>;
