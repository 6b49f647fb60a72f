// The typed client's usage buffer (batches, delays, close, failed flushes) and the provider
// usage helpers (OpenAI, Anthropic) recorded at the right price.
import { fromAnthropicUsage, fromOpenAIUsage, TallyError, type TokenFields } from '@tally/client';
import { describe, expect, it } from 'vitest';
import { serve } from '../../server/src/http';
import { client, FlakyProxy, h, ledgerRows, MAX_BODY, op, rejection, sleep, urlOf, useClientServer } from './kit';

useClientServer('client-buffer');

// ------------------------------------------------------------------ usage buffer

describe('usageBuffer', () => {
  it('sends N concurrent records as ceil(N / maxItems) batches; each caller gets its own result', async () => {
    const created = await op.createTenant({ name: 'buffer-batches' });
    const tenantId = created.apiKey.tenant.id;
    const proxy = await FlakyProxy.start();
    const tally = client(created.secret, { url: proxy.url });
    const buffer = tally.usageBuffer({ maxItems: 10, maxDelayMs: 50 });
    const N = 25;
    const BAD = 7;
    const keys = Array.from({ length: N }, (_, i) => `buf-${i}`);
    const results = await Promise.all(
      keys.map((k, i) =>
        buffer.record(
          i === BAD
            ? { idempotencyKey: k, kind: 'LLM', model: 'gpt-4o-mini', inputTokens: -1 }
            : { idempotencyKey: k, kind: 'CALL', cost: `0.0${i % 10}` },
        ),
      ),
    );
    expect(proxy.requests).toHaveLength(Math.ceil(N / 10));
    expect(proxy.requests.every((r) => r.query.includes('recordUsageBatch'))).toBe(true);
    expect(proxy.requests.map((r) => r.variables.input.length).sort((a, b) => a - b)).toEqual([5, 10, 10]);
    results.forEach((r, i) => {
      if (i === BAD) {
        expect(r).toMatchObject({
          outcome: 'INVALID',
          event: null,
          error: { code: 'BAD_USER_INPUT', field: ['inputTokens'] },
        });
      } else {
        expect(r.outcome, keys[i]).toBe('CREATED');
        expect(r.event?.idempotencyKey).toBe(keys[i]);
        expect(r.event?.cost).toBe(`0.0${i % 10}0000000000`);
      }
    });
    expect(buffer.pending).toBe(0);
    const rows = await ledgerRows(tenantId, keys);
    expect(rows).toHaveLength(N - 1);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    await buffer.close();
  });

  it('flushes a lone item after maxDelayMs', async () => {
    const created = await op.createTenant({ name: 'buffer-delay' });
    const proxy = await FlakyProxy.start();
    const buffer = client(created.secret, { url: proxy.url }).usageBuffer({ maxItems: 100, maxDelayMs: 30 });
    const r = await buffer.record({ idempotencyKey: 'lone', kind: 'CALL', cost: '0.2' });
    expect(r).toMatchObject({
      index: 0,
      outcome: 'CREATED',
      event: { idempotencyKey: 'lone', cost: '0.200000000000' },
    });
    expect(proxy.requests.map((q) => q.variables.input.length)).toEqual([1]);
    await buffer.close();
  });

  it('close() flushes what waits; record() after close rejects', async () => {
    const created = await op.createTenant({ name: 'buffer-close' });
    const proxy = await FlakyProxy.start();
    const buffer = client(created.secret, { url: proxy.url }).usageBuffer({ maxItems: 100, maxDelayMs: 600_000 });
    const waiting = ['c-1', 'c-2', 'c-3'].map((k) => buffer.record({ idempotencyKey: k, kind: 'CALL', cost: '1' }));
    expect(buffer.pending).toBe(3);
    await sleep(100);
    expect(proxy.bodies).toHaveLength(0);
    await buffer.close();
    const results = await Promise.all(waiting);
    expect(results.map((r) => [r.outcome, r.event?.idempotencyKey])).toEqual([
      ['CREATED', 'c-1'],
      ['CREATED', 'c-2'],
      ['CREATED', 'c-3'],
    ]);
    expect(proxy.bodies).toHaveLength(1);
    expect(buffer.pending).toBe(0);
    const late = await rejection(buffer.record({ idempotencyKey: 'c-4', kind: 'CALL', cost: '1' }));
    expect(late.retryable).toBe(false);
    expect(proxy.bodies).toHaveLength(1);
    expect(await ledgerRows(created.apiKey.tenant.id, ['c-1', 'c-2', 'c-3', 'c-4'])).toHaveLength(3);
  });

  it('a failed flush (server down) rejects every caller of that flush', async () => {
    const created = await op.createTenant({ name: 'buffer-down' });
    const s = await serve(h.app, h.db, { port: 0, host: '127.0.0.1', maxBodyBytes: MAX_BODY });
    const tally = client(created.secret, { url: urlOf(s.port), maxAttempts: 2 });
    const buffer = tally.usageBuffer({ maxItems: 100, maxDelayMs: 600_000 });
    const ok = buffer.record({ idempotencyKey: 'd-0', kind: 'CALL', cost: '1' });
    await buffer.flush();
    expect((await ok).outcome).toBe('CREATED');

    await s.stop(1000);
    const doomed = ['d-1', 'd-2', 'd-3'].map((k) => buffer.record({ idempotencyKey: k, kind: 'CALL', cost: '1' }));
    await buffer.close(); // resolves: the failure belongs to the callers
    const settled = await Promise.allSettled(doomed);
    expect(settled.map((x) => x.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const x of settled) {
      const reason = (x as PromiseRejectedResult).reason;
      expect(reason).toBeInstanceOf(TallyError);
      expect(reason).toMatchObject({ code: 'INTERNAL', retryable: true });
    }
    expect(await ledgerRows(created.apiKey.tenant.id, ['d-0', 'd-1', 'd-2', 'd-3'])).toEqual([
      { idempotency_key: 'd-0', n: 1 },
    ]);
  });
});

// ------------------------------------------------------------------ provider usage helpers

describe('provider usage helpers', () => {
  // A chat.completions response's usage, as the OpenAI API returns it.
  const openAIChat = {
    prompt_tokens: 1200,
    completion_tokens: 300,
    total_tokens: 1500,
    prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 128,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
  // A Responses API usage object.
  const openAIResponses = {
    input_tokens: 2000,
    input_tokens_details: { cached_tokens: 1500 },
    output_tokens: 500,
    output_tokens_details: { reasoning_tokens: 200 },
    total_tokens: 2500,
  };
  // An Anthropic Messages response's usage: input_tokens excludes the cache reads and writes.
  const anthropic = {
    input_tokens: 50,
    cache_creation_input_tokens: 1000,
    cache_read_input_tokens: 2000,
    cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 0 },
    output_tokens: 400,
    server_tool_use: null,
    service_tier: 'standard',
  };

  it('fromOpenAIUsage maps chat completions and responses usage', () => {
    expect(fromOpenAIUsage(openAIChat)).toEqual({
      inputTokens: 1200,
      outputTokens: 300,
      cachedInputTokens: 1024,
      cacheWriteInputTokens: 0,
      reasoningTokens: 128,
    });
    expect(fromOpenAIUsage(openAIResponses)).toEqual({
      inputTokens: 2000,
      outputTokens: 500,
      cachedInputTokens: 1500,
      cacheWriteInputTokens: 0,
      reasoningTokens: 200,
    });
    // Older / other OpenAI-compatible servers send no details at all, or nulls.
    expect(
      fromOpenAIUsage({
        prompt_tokens: 10,
        completion_tokens: 5,
        prompt_tokens_details: null,
        completion_tokens_details: null,
      }),
    ).toEqual({ inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, cacheWriteInputTokens: 0, reasoningTokens: 0 });
  });

  it('fromAnthropicUsage adds cache reads and writes into inputTokens', () => {
    expect(fromAnthropicUsage(anthropic)).toEqual({
      inputTokens: 3050,
      outputTokens: 400,
      cachedInputTokens: 2000,
      cacheWriteInputTokens: 1000,
      reasoningTokens: 0,
    });
    expect(
      fromAnthropicUsage({
        input_tokens: 12,
        output_tokens: 3,
        cache_read_input_tokens: null,
        cache_creation_input_tokens: null,
      }),
    ).toEqual({ inputTokens: 12, outputTokens: 3, cachedInputTokens: 0, cacheWriteInputTokens: 0, reasoningTokens: 0 });
  });

  it('records their output with the right price', async () => {
    const created = await op.createTenant({ name: 'helpers' });
    const tally = client(created.secret);
    const llm = (idempotencyKey: string, provider: string, model: string, usage: TokenFields) =>
      tally.recordUsage({ idempotencyKey, kind: 'LLM', provider, model, ...usage });
    const oa = await llm('oa-1', 'openai', 'gpt-4o-mini', fromOpenAIUsage(openAIChat));
    // (1200 - 1024) x 0.15 + 1024 x 0.075 + 300 x 0.6, per million
    expect(oa.event).toMatchObject({
      inputTokens: 1200,
      cachedInputTokens: 1024,
      outputTokens: 300,
      reasoningTokens: 128,
      totalTokens: 1500,
      cost: '0.000283200000',
    });
    const an = await llm('an-1', 'anthropic', 'claude-sonnet-4', fromAnthropicUsage(anthropic));
    // 50 x 3 + 2000 x 0.3 + 1000 x 3.75 + 400 x 15, per million
    expect(an.event).toMatchObject({
      inputTokens: 3050,
      cachedInputTokens: 2000,
      cacheWriteInputTokens: 1000,
      outputTokens: 400,
      cost: '0.010500000000',
    });
    // QuoteInput has the token fields but no reasoningTokens.
    const { inputTokens, outputTokens, cachedInputTokens, cacheWriteInputTokens } = fromAnthropicUsage(anthropic);
    const quote = await tally.quote({
      kind: 'LLM',
      provider: 'anthropic',
      model: 'claude-sonnet-4',
      inputTokens,
      outputTokens,
      cachedInputTokens,
      cacheWriteInputTokens,
    });
    expect(quote.cost).toBe('0.010500000000');
  });
});
