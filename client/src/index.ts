// Tally's typed client: `import { createTallyClient } from '@tally/client'`.
// Decimal values are strings, DateTime values ISO strings, BigInt counters numbers, enums
// string unions; every error is a TallyError with a contract code (or TIMEOUT / ABORTED).
export { type BatchResult, createUsageBuffer, type UsageBuffer, type UsageBufferOptions } from './buffer';
export {
  type CreditGrant,
  createTallyClient,
  type QuotaAlert,
  type QuotaStatus,
  type RecordUsageInput,
  type TallyClient,
  type TallyClientOptions,
  type UsageEvent,
  type UsageSummary,
  type Wallet,
} from './client';
export type { ClientErrorCode, ErrorCode } from './codes';
export * as documents from './documents';
export { CLIENT_ERROR_CODES, ERROR_CODES, type GraphQLErrorShape, TallyError, type TallyErrorCode } from './errors';
export { type FragmentOf, graphql, type ResultOf, type TadaDocumentNode, type VariablesOf } from './graphql';
export type { SubscribeOptions, SubscriptionOptions } from './subscriptions';
export { type CallOptions, DEFAULT_TIMEOUT_MS } from './transport';
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
