// The usage helpers take the official SDKs' own types as they are: checked by `tsc --noEmit -p .`
// (test/client-types.test.ts) and again under strict + exactOptionalPropertyTypes by
// test/usage-helpers.test.ts. Nothing here runs. The helpers are imported from their file so this
// check does not depend on how the client package is named or built.
import type Anthropic from '@anthropic-ai/sdk';
import { expectTypeOf } from 'expect-type';
import type OpenAI from 'openai';
import {
  anthropicCacheWriteSplit,
  fromAnthropicUsage,
  fromGeminiUsage,
  fromOpenAIUsage,
  type TokenFields,
} from '../../client/src/usage-helpers';

export function openAIChat(completion: OpenAI.Chat.ChatCompletion, chunk: OpenAI.Chat.ChatCompletionChunk) {
  // `usage` is optional on a completion and `| null` on a chunk: both compile, both give TokenFields.
  expectTypeOf(completion.usage).toEqualTypeOf<OpenAI.CompletionUsage | undefined>();
  expectTypeOf(fromOpenAIUsage(completion.usage)).toEqualTypeOf<TokenFields>();
  expectTypeOf(chunk.usage).toEqualTypeOf<OpenAI.CompletionUsage | null | undefined>();
  expectTypeOf(fromOpenAIUsage(chunk.usage)).toEqualTypeOf<TokenFields>();
  const usage: OpenAI.CompletionUsage = completion.usage ?? { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };
  return fromOpenAIUsage(usage);
}

export function openAIResponses(
  response: OpenAI.Responses.Response,
  completed: OpenAI.Responses.ResponseCompletedEvent,
  event: OpenAI.Responses.ResponseStreamEvent,
) {
  expectTypeOf(fromOpenAIUsage(response.usage)).toEqualTypeOf<TokenFields>();
  expectTypeOf(fromOpenAIUsage(completed.response.usage)).toEqualTypeOf<TokenFields>();
  const usage: OpenAI.Responses.ResponseUsage | undefined = response.usage;
  if (event.type === 'response.completed') return fromOpenAIUsage(event.response.usage);
  return fromOpenAIUsage(usage);
}

export function anthropic(
  message: Anthropic.Message,
  delta: Anthropic.MessageDeltaUsage,
  event: Anthropic.RawMessageStreamEvent,
  beta: Anthropic.Beta.BetaMessage,
  betaDelta: Anthropic.Beta.BetaMessageDeltaUsage,
) {
  expectTypeOf(fromAnthropicUsage(message.usage)).toEqualTypeOf<TokenFields>();
  // message_delta usage: input_tokens is `number | null`.
  expectTypeOf(delta.input_tokens).toEqualTypeOf<number | null>();
  expectTypeOf(fromAnthropicUsage(delta)).toEqualTypeOf<TokenFields>();
  if (event.type === 'message_start') fromAnthropicUsage(event.message.usage);
  if (event.type === 'message_delta') fromAnthropicUsage(event.usage);
  fromAnthropicUsage(beta.usage);
  fromAnthropicUsage(betaDelta);
  expectTypeOf(anthropicCacheWriteSplit(message.usage)).toEqualTypeOf<{
    cacheWrite5mInputTokens: number;
    cacheWrite1hInputTokens: number;
  }>();
}

export function gemini(response: {
  usageMetadata?: {
    promptTokenCount?: number;
    candidatesTokenCount?: number;
    cachedContentTokenCount?: number;
    thoughtsTokenCount?: number;
    toolUsePromptTokenCount?: number;
    totalTokenCount?: number;
  };
}) {
  expectTypeOf(fromGeminiUsage(response.usageMetadata)).toEqualTypeOf<TokenFields>();
}

export function wrong() {
  // @ts-expect-error a count is a number, not a string
  fromOpenAIUsage({ prompt_tokens: '5' });
  // @ts-expect-error an object with none of the fields is not a usage
  fromAnthropicUsage({ tokens: 5 });
  // @ts-expect-error Gemini's counts are camelCase
  fromGeminiUsage({ prompt_tokens: 5 });
}
