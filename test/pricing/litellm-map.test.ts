// The LiteLLM price map -> Tally prices mapping, for shapes the file has used besides those in
// the fixture slice (test/pricing/import.test.ts runs the slice end to end): each field lands
// in its Tally field, a cost no Tally rate holds is named, and collisions resolve the same
// whatever the order of the file.
import { describe, expect, it } from 'vitest';
import { planImport, priceOf } from '../../client/cli/litellm';

describe('LiteLLM entries as Tally prices', () => {
  it('per-token costs become exact per-million rates, rounded half-even to 12 decimals', () => {
    const r = priceOf('m', {
      litellm_provider: 'p',
      input_cost_per_token: 3.3e-7,
      output_cost_per_token: 0.000033333333333333335,
    });
    expect(r).toMatchObject({ price: { inputPerMillion: '0.33', outputPerMillion: '33.333333333333' } });
  });

  it('"_above_<N>k_tokens" fields and tiered_pricing ranges become tiers', () => {
    const above = priceOf('g', {
      litellm_provider: 'p',
      input_cost_per_token: 1e-6,
      input_cost_per_token_above_128k_tokens: 2e-6,
      output_cost_per_token_above_128k_tokens: 4e-6,
      cache_creation_input_token_cost_above_1hr_above_200k_tokens: 9e-6,
    });
    expect(above).toMatchObject({
      price: {
        inputPerMillion: '1',
        tiers: [{ aboveInputTokens: 128_000, inputPerMillion: '2', outputPerMillion: '4' }],
      },
      notImported: ['cache_creation_input_token_cost_above_1hr_above_200k_tokens'],
    });
    const ranges = priceOf('q', {
      litellm_provider: 'p',
      tiered_pricing: [
        { range: [32_000, 128_000], input_cost_per_token: 2e-6, output_cost_per_reasoning_token: 9e-6 },
        { range: [0, 32_000], input_cost_per_token: 1e-6, cache_read_input_token_cost: 1e-7 },
      ],
    });
    expect(ranges).toMatchObject({
      price: {
        inputPerMillion: '1',
        cachedInputPerMillion: '0.1',
        tiers: [{ aboveInputTokens: 32_000, inputPerMillion: '2' }],
      },
      notImported: ['tiered_pricing[].output_cost_per_reasoning_token'],
    });
  });

  it('per-call work becomes a CALL price: one unit per model (perUnit) or one query per call (perRequest)', () => {
    const cases: [Record<string, unknown>, Record<string, string>, string | undefined][] = [
      [{ mode: 'ocr', input_cost_per_page: 0.001 }, { perUnit: '0.001' }, 'page'],
      [
        { mode: 'image_generation', input_cost_per_image: 0, output_cost_per_image: 0.008 },
        { perUnit: '0.008' },
        'image generated',
      ],
      [
        { mode: 'embedding', input_cost_per_token: 8e-7, input_cost_per_image: 6e-5 },
        { perUnit: '0.00006' },
        'input image',
      ],
      [{ mode: 'video_generation', output_cost_per_second: 0.35 }, { perUnit: '0.35' }, 'second of video generated'],
      [{ mode: 'audio_transcription', output_cost_per_second: 0.0001 }, { perSecond: '0.0001' }, undefined],
      [{ mode: 'rerank', input_cost_per_query: 0.002 }, { perRequest: '0.002' }, undefined],
      [
        { mode: 'chat', input_cost_per_request: 0.005, output_cost_per_token: 1e-6 },
        { perRequest: '0.005' },
        undefined,
      ],
      [
        {
          mode: 'search',
          search_context_cost_per_query: { search_context_size_low: 0.004, search_context_size_medium: 0.008 },
        },
        { perRequest: '0.008' },
        undefined,
      ],
    ];
    for (const [entry, fields, unit] of cases) {
      const r = priceOf('x', { litellm_provider: 'p', ...entry });
      expect(r, JSON.stringify(entry)).toMatchObject({ price: fields, notImported: [] });
      expect((r as { unit?: string }).unit, JSON.stringify(entry)).toBe(unit);
    }
  });

  it('a second unit, or a surcharge on a token price, is named as not imported', () => {
    expect(
      priceOf('emb', {
        litellm_provider: 'bedrock',
        mode: 'embedding',
        input_cost_per_token: 7e-5,
        input_cost_per_video_per_second: 7e-4,
        input_cost_per_audio_per_second: 1.4e-4,
        input_cost_per_image: 1e-4,
      }),
    ).toMatchObject({
      price: { perUnit: '0.0001' },
      unit: 'input image',
      notImported: ['input_cost_per_video_per_second', 'input_cost_per_audio_per_second'],
    });
    expect(
      priceOf('chat', {
        litellm_provider: 'p',
        input_cost_per_token: 1e-6,
        search_context_cost_per_query: { search_context_size_low: 0.01, search_context_size_medium: 0.01 },
      }),
    ).toMatchObject({ notImported: ['search_context_cost_per_query'] });
  });

  it('skips what is not a price, and says why', () => {
    expect(priceOf('sample_spec', { litellm_provider: 'x', input_cost_per_token: 0 })).toEqual({
      skip: 'the sample entry (sample_spec)',
    });
    expect(priceOf('updated', '2026-01-01')).toEqual({ skip: 'not a price entry' });
    expect(priceOf('rules', { rules: [] })).toEqual({ skip: 'no litellm_provider' });
    expect(priceOf('free', { litellm_provider: 'p', mode: 'chat' })).toEqual({ skip: 'no price in the file' });
    expect(priceOf('box', { litellm_provider: 'p', code_interpreter_cost_per_session: 0.03 })).toEqual({
      skip: 'only costs Tally has no rate for: code_interpreter_cost_per_session',
    });
    expect(priceOf('x'.repeat(201), { litellm_provider: 'p', input_cost_per_token: 1e-6 })).toEqual({
      skip: 'name longer than 200 characters',
    });
  });

  it('colliding names resolve the same whatever the order: the provider-qualified key wins', () => {
    const bare = { litellm_provider: 'deepseek', input_cost_per_token: 2.8e-7 };
    const qualified = {
      litellm_provider: 'deepseek',
      input_cost_per_token: 2.8e-7,
      cache_creation_input_token_cost: 0,
    };
    const one = planImport({ 'deepseek-chat': bare, 'deepseek/deepseek-chat': qualified });
    const two = planImport({ 'deepseek/deepseek-chat': qualified, 'deepseek-chat': bare });
    for (const plan of [one, two]) {
      expect(plan.prices.map((p) => p.key)).toEqual(['deepseek/deepseek-chat']);
      expect(plan.collisions).toEqual([
        {
          provider: 'deepseek',
          model: 'deepseek-chat',
          winner: 'deepseek/deepseek-chat',
          losers: ['deepseek-chat'],
          differ: true,
        },
      ]);
      expect(plan.skipped.map((s) => s.key)).toEqual(['deepseek-chat']);
    }
  });
});
