// The provider usage helpers (client/src/usage-helpers.ts): every field of each provider's usage
// lands in the RecordUsageInput field that prices it, with exact numbers; and the helpers compile
// against the official SDKs' types under the strictest consumer settings.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  anthropicCacheWriteSplit,
  fromAnthropicUsage,
  fromGeminiUsage,
  fromOpenAIUsage,
} from '../client/src/usage-helpers';

const zero = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteInputTokens: 0, reasoningTokens: 0 };

describe('fromOpenAIUsage', () => {
  it('Chat Completions: prompt_tokens already holds cached and cache-written tokens', () => {
    const usage = {
      prompt_tokens: 5000,
      completion_tokens: 700,
      total_tokens: 5700,
      prompt_tokens_details: { cached_tokens: 3072, cache_write_tokens: 1024, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 256, audio_tokens: 0 },
    };
    expect(fromOpenAIUsage(usage)).toEqual({
      inputTokens: 5000,
      outputTokens: 700,
      cachedInputTokens: 3072,
      cacheWriteInputTokens: 1024,
      reasoningTokens: 256,
    });
  });

  it('the Responses API: input_tokens_details and output_tokens_details', () => {
    expect(
      fromOpenAIUsage({
        input_tokens: 2000,
        input_tokens_details: { cached_tokens: 1500, cache_write_tokens: 300 },
        output_tokens: 500,
        output_tokens_details: { reasoning_tokens: 200 },
      }),
    ).toEqual({
      inputTokens: 2000,
      outputTokens: 500,
      cachedInputTokens: 1500,
      cacheWriteInputTokens: 300,
      reasoningTokens: 200,
    });
  });

  it('absent usage (optional in the SDK types), null usage and null details give zeros', () => {
    expect(fromOpenAIUsage(undefined)).toEqual(zero);
    expect(fromOpenAIUsage(null)).toEqual(zero);
    expect(
      fromOpenAIUsage({
        prompt_tokens: 10,
        completion_tokens: 5,
        prompt_tokens_details: null,
        completion_tokens_details: null,
      }),
    ).toEqual({ ...zero, inputTokens: 10, outputTokens: 5 });
    expect(fromOpenAIUsage({ prompt_tokens: null, completion_tokens: Number.NaN })).toEqual(zero);
  });
});

describe('fromAnthropicUsage', () => {
  it('adds cache reads and writes to input_tokens; thinking_tokens become reasoningTokens', () => {
    const usage = {
      input_tokens: 50,
      cache_creation_input_tokens: 1800,
      cache_read_input_tokens: 2000,
      cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 800 },
      output_tokens: 400,
      output_tokens_details: { thinking_tokens: 150 },
      server_tool_use: null,
      service_tier: 'standard' as const,
    };
    expect(fromAnthropicUsage(usage)).toEqual({
      inputTokens: 3850,
      outputTokens: 400,
      cachedInputTokens: 2000,
      cacheWriteInputTokens: 1800,
      reasoningTokens: 150,
    });
    expect(anthropicCacheWriteSplit(usage)).toEqual({ cacheWrite5mInputTokens: 1000, cacheWrite1hInputTokens: 800 });
  });

  it('a message_delta usage (input_tokens null, cumulative output) and a split without the total', () => {
    expect(
      fromAnthropicUsage({
        input_tokens: null,
        output_tokens: 321,
        cache_creation_input_tokens: null,
        cache_read_input_tokens: null,
        output_tokens_details: null,
      }),
    ).toEqual({ ...zero, outputTokens: 321 });
    // Only the split given: the cache writes are its sum.
    expect(
      fromAnthropicUsage({
        input_tokens: 7,
        output_tokens: 1,
        cache_creation: { ephemeral_5m_input_tokens: 30, ephemeral_1h_input_tokens: 12 },
      }),
    ).toEqual({
      inputTokens: 49,
      outputTokens: 1,
      cachedInputTokens: 0,
      cacheWriteInputTokens: 42,
      reasoningTokens: 0,
    });
    expect(fromAnthropicUsage(undefined)).toEqual(zero);
    expect(anthropicCacheWriteSplit({ input_tokens: 1, cache_creation: null })).toEqual({
      cacheWrite5mInputTokens: 0,
      cacheWrite1hInputTokens: 0,
    });
  });
});

describe('fromGeminiUsage', () => {
  it('tool-use prompt tokens are input, thoughts are output and reasoning; input + output = total', () => {
    const usageMetadata = {
      promptTokenCount: 12000,
      candidatesTokenCount: 800,
      cachedContentTokenCount: 9000,
      thoughtsTokenCount: 1200,
      toolUsePromptTokenCount: 340,
      totalTokenCount: 14340,
    };
    const mapped = fromGeminiUsage(usageMetadata);
    expect(mapped).toEqual({
      inputTokens: 12340,
      outputTokens: 2000,
      cachedInputTokens: 9000,
      cacheWriteInputTokens: 0,
      reasoningTokens: 1200,
    });
    expect(mapped.inputTokens + mapped.outputTokens).toBe(usageMetadata.totalTokenCount);
  });

  it('a response without thinking, tools or cache; and no usageMetadata at all', () => {
    expect(fromGeminiUsage({ promptTokenCount: 9, candidatesTokenCount: 4, totalTokenCount: 13 })).toEqual({
      ...zero,
      inputTokens: 9,
      outputTokens: 4,
    });
    expect(fromGeminiUsage(undefined)).toEqual(zero);
  });
});

describe('the helpers against the SDKs types', () => {
  const root = path.resolve(import.meta.dirname, '..');
  const typeTest = path.join(root, 'test/types/sdk-usage.test-d.ts');

  async function tsc(compilerOptions: Record<string, unknown>) {
    const dir = await mkdtemp(path.join(tmpdir(), 'tally-sdk-types-'));
    try {
      const tsconfig = path.join(dir, 'tsconfig.json');
      await writeFile(tsconfig, JSON.stringify({ compilerOptions, files: [typeTest] }));
      const bin = createRequire(import.meta.url).resolve('typescript/bin/tsc');
      return await promisify(execFile)(process.execPath, [bin, '--noEmit', '-p', tsconfig], { cwd: root }).then(
        () => '',
        (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}` || 'tsc failed',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  const strictest = {
    target: 'ES2022',
    module: 'ESNext',
    moduleResolution: 'Bundler',
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    types: [],
  };

  it('compile under strict + exactOptionalPropertyTypes (openai, @anthropic-ai/sdk)', async () => {
    expect(await tsc(strictest)).toBe('');
  });

  it('the check can fail: a helper typed as before (required usage) does not compile', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tally-sdk-types-neg-'));
    try {
      const file = path.join(dir, 'neg.ts');
      await writeFile(
        file,
        `import type OpenAI from ${JSON.stringify(path.join(root, 'node_modules/openai/index.js'))};
         declare function fromOpenAIUsage(u: { prompt_tokens?: number }): number;
         export const f = (c: OpenAI.Chat.ChatCompletion) => fromOpenAIUsage(c.usage);`,
      );
      const tsconfig = path.join(dir, 'tsconfig.json');
      await writeFile(tsconfig, JSON.stringify({ compilerOptions: strictest, files: [file] }));
      const bin = createRequire(import.meta.url).resolve('typescript/bin/tsc');
      const out = await promisify(execFile)(process.execPath, [bin, '--noEmit', '-p', tsconfig]).then(
        () => '',
        (e: { stdout?: string }) => e.stdout ?? '',
      );
      expect(out).toContain("Argument of type 'CompletionUsage | undefined' is not assignable");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
