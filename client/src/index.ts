// Tally's typed client: `import { createTallyClient } from 'tally/client'`.
// Decimal values are strings, DateTime values ISO strings, BigInt counters numbers, enums
// string unions; every error is a TallyError with a contract code.
export { createUsageBuffer, type UsageBuffer, type UsageBufferOptions } from './buffer';
export {
  createTallyClient,
  type QuotaAlert,
  type QuotaStatus,
  type RecordUsageInput,
  type TallyClient,
  type TallyClientOptions,
  type UsageEvent,
  type UsageSummary,
} from './client';
export * as documents from './documents';
export { ERROR_CODES, TallyError, type TallyErrorCode } from './errors';
export { type FragmentOf, graphql, type ResultOf, type VariablesOf } from './graphql';
export type { SubscriptionOptions } from './subscriptions';
export {
  type AnthropicUsage,
  anthropicCacheWriteSplit,
  fromAnthropicUsage,
  fromGeminiUsage,
  fromOpenAIUsage,
  type GeminiUsage,
  type OpenAIInputDetails,
  type OpenAIOutputDetails,
  type OpenAIUsage,
  type TokenFields,
} from './usage-helpers';
