// Provider usage objects -> the token fields of a RecordUsageInput. Tally's inputTokens
// counts every input token, cached and cache-writing ones included; reasoningTokens is the part
// of outputTokens spent on reasoning.
//
// The parameter types are structural and loose on purpose (every count may be absent or null):
// the SDKs' own types (`openai`'s CompletionUsage and ResponseUsage, `@anthropic-ai/sdk`'s Usage
// and MessageDeltaUsage, `@google/genai`'s usage metadata) are accepted as they are, and `usage`
// itself may be undefined or null (it is optional in the SDK types): that gives all zeros.
// Nothing here imports an SDK (test/types/sdk-usage.test-d.ts checks against their types).

export interface TokenFields {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteInputTokens: number;
  reasoningTokens: number;
}

/** A count as the SDKs type it: present, absent or null. */
type Count = number | null | undefined;

const n = (v: Count): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** OpenAI `usage`: Chat Completions (`prompt_tokens`, …) or the Responses API (`input_tokens`, …). */
export interface OpenAIUsage {
  prompt_tokens?: Count;
  completion_tokens?: Count;
  input_tokens?: Count;
  output_tokens?: Count;
  prompt_tokens_details?: OpenAIInputDetails | null;
  input_tokens_details?: OpenAIInputDetails | null;
  completion_tokens_details?: OpenAIOutputDetails | null;
  output_tokens_details?: OpenAIOutputDetails | null;
}
/** Both are parts of prompt_tokens / input_tokens. */
export interface OpenAIInputDetails {
  cached_tokens?: Count;
  cache_write_tokens?: Count;
}
/** Part of completion_tokens / output_tokens. */
export interface OpenAIOutputDetails {
  reasoning_tokens?: Count;
}

/**
 * OpenAI usage of either API. `prompt_tokens` / `input_tokens` already include cached and
 * cache-written tokens, so they map one to one: cached_tokens -> cachedInputTokens,
 * cache_write_tokens -> cacheWriteInputTokens, reasoning_tokens -> reasoningTokens.
 */
export function fromOpenAIUsage(u: OpenAIUsage | null | undefined): TokenFields {
  const input = u?.prompt_tokens_details ?? u?.input_tokens_details;
  const output = u?.completion_tokens_details ?? u?.output_tokens_details;
  return {
    inputTokens: n(u?.prompt_tokens ?? u?.input_tokens),
    outputTokens: n(u?.completion_tokens ?? u?.output_tokens),
    cachedInputTokens: n(input?.cached_tokens),
    cacheWriteInputTokens: n(input?.cache_write_tokens),
    reasoningTokens: n(output?.reasoning_tokens),
  };
}

/**
 * Anthropic `usage` of a Message, or of a streamed `message_delta` (whose counts are cumulative
 * and whose `input_tokens` may be null: then pass the `message_start` usage for the input, or
 * use the SDK's `finalMessage()`).
 */
export interface AnthropicUsage {
  input_tokens?: Count;
  output_tokens?: Count;
  cache_read_input_tokens?: Count;
  cache_creation_input_tokens?: Count;
  /** The cache writes split by time to live; together they are cache_creation_input_tokens. */
  cache_creation?: { ephemeral_5m_input_tokens?: Count; ephemeral_1h_input_tokens?: Count } | null;
  output_tokens_details?: { thinking_tokens?: Count } | null;
}

/**
 * Anthropic's input_tokens excludes cache reads and writes, so both are added to inputTokens.
 * Cache writes of both lifetimes (5 minutes and 1 hour) go to cacheWriteInputTokens: Tally has
 * one cache-write rate (`cacheWriteInputPerMillion`); keep the split with
 * `anthropicCacheWriteSplit` (e.g. in metadata) when 1-hour writes must be billed apart.
 * output_tokens_details.thinking_tokens -> reasoningTokens (they are part of output_tokens).
 */
export function fromAnthropicUsage(u: AnthropicUsage | null | undefined): TokenFields {
  const read = n(u?.cache_read_input_tokens);
  const split = anthropicCacheWriteSplit(u);
  const write = u?.cache_creation_input_tokens ?? split.cacheWrite5mInputTokens + split.cacheWrite1hInputTokens;
  return {
    inputTokens: n(u?.input_tokens) + read + n(write),
    outputTokens: n(u?.output_tokens),
    cachedInputTokens: read,
    cacheWriteInputTokens: n(write),
    reasoningTokens: n(u?.output_tokens_details?.thinking_tokens),
  };
}

/** Anthropic's cache writes by lifetime (zeros when the usage has no `cache_creation`). */
export function anthropicCacheWriteSplit(u: AnthropicUsage | null | undefined): {
  cacheWrite5mInputTokens: number;
  cacheWrite1hInputTokens: number;
} {
  return {
    cacheWrite5mInputTokens: n(u?.cache_creation?.ephemeral_5m_input_tokens),
    cacheWrite1hInputTokens: n(u?.cache_creation?.ephemeral_1h_input_tokens),
  };
}

/** Gemini's `usageMetadata` (Gemini API and Vertex AI, `@google/genai` and REST alike). */
export interface GeminiUsage {
  /** The prompt, cached content included. */
  promptTokenCount?: Count;
  /** The answer, thoughts excluded. */
  candidatesTokenCount?: Count;
  /** Part of promptTokenCount read from the context cache. */
  cachedContentTokenCount?: Count;
  /** Thinking, billed as output but not part of candidatesTokenCount. */
  thoughtsTokenCount?: Count;
  /** Tool results given back to the model, billed as input but not part of promptTokenCount. */
  toolUsePromptTokenCount?: Count;
  totalTokenCount?: Count;
}

/**
 * Gemini: inputTokens = prompt + tool-use prompt; outputTokens = candidates + thoughts (so that
 * input + output = totalTokenCount); cachedInputTokens = cachedContentTokenCount;
 * reasoningTokens = thoughtsTokenCount. Gemini reports no cache writes (context caches are
 * created and billed apart), so cacheWriteInputTokens is 0.
 */
export function fromGeminiUsage(u: GeminiUsage | null | undefined): TokenFields {
  const thoughts = n(u?.thoughtsTokenCount);
  return {
    inputTokens: n(u?.promptTokenCount) + n(u?.toolUsePromptTokenCount),
    outputTokens: n(u?.candidatesTokenCount) + thoughts,
    cachedInputTokens: n(u?.cachedContentTokenCount),
    cacheWriteInputTokens: 0,
    reasoningTokens: thoughts,
  };
}
