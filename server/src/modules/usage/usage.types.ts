// Shapes shared inside the usage module: a ledger row as read back, and totals.
export const KINDS = ['LLM', 'ASR', 'CALL'] as const;
export type UsageKind = (typeof KINDS)[number];
export const DIMENSIONS = ['API_KEY', 'SUBJECT', 'MODEL', 'PROVIDER', 'KIND'] as const;
export type UsageDimension = (typeof DIMENSIONS)[number];
export const GRANULARITIES = ['HOUR', 'DAY', 'WEEK', 'MONTH'] as const;
export type Granularity = (typeof GRANULARITIES)[number];
export type RecordOutcome = 'CREATED' | 'DUPLICATE' | 'CONFLICT' | 'INVALID';

export interface EventRow {
  id: string;
  tenantId: string;
  idempotencyKey: string;
  fingerprint: Buffer;
  apiKeyId: string | null;
  subject: string | null;
  kind: UsageKind;
  provider: string | null;
  model: string | null;
  modelSource: 'VENDOR' | 'BYOK';
  status: 'SUCCEEDED' | 'FAILED';
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteInputTokens: number;
  reasoningTokens: number;
  durationMs: number | null;
  quantity: string | null;
  cost: string;
  currency: string;
  priceId: string | null;
  latencyMs: number | null;
  sessionId: string | null;
  metadata: unknown;
  occurredAt: Date;
  recordedAt: Date;
  reversesId: string | null;
  reason: string | null;
}

export const EVENT_COLUMNS = `id, tenant_id AS "tenantId", idempotency_key AS "idempotencyKey", fingerprint,
  api_key_id AS "apiKeyId", subject, kind, provider, model, model_source AS "modelSource", status, requests,
  input_tokens AS "inputTokens", output_tokens AS "outputTokens", cached_input_tokens AS "cachedInputTokens",
  cache_write_input_tokens AS "cacheWriteInputTokens", reasoning_tokens AS "reasoningTokens", duration_ms AS "durationMs",
  quantity, cost, currency, price_id AS "priceId", latency_ms AS "latencyMs", session_id AS "sessionId", metadata,
  occurred_at AS "occurredAt", recorded_at AS "recordedAt", reverses_id AS "reversesId", reason`;

/** UsageTotals as served: counters are bigint (exact), money a decimal string. */
export interface Totals {
  requests: bigint;
  failedRequests: bigint;
  inputTokens: bigint;
  outputTokens: bigint;
  cachedInputTokens: bigint;
  cacheWriteInputTokens: bigint;
  reasoningTokens: bigint;
  totalTokens: bigint;
  asrMilliseconds: bigint;
  quantity: string;
  cost: string;
  currency: string;
}
