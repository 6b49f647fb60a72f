// `tally prices import` against a real server, as an operator runs it nightly, with
// test/fixtures/litellm-prices.json: a slice of LiteLLM's model_prices_and_context_window.json
// as it is (its sample_spec, tiered, per-image, per-second, per-character, per-query, per-page,
// colliding and non-chat entries, and its non-price fallback_generalizations).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY, RECORD } from '../support/harness';
import { finished, TALLY_BIN, type TallyRun } from '../support/tally-cli';

const FIXTURE = 'test/fixtures/litellm-prices.json';
let h: Harness;
let base: string;
const dir = mkdtempSync(join(tmpdir(), 'tally-import-'));
beforeAll(async () => {
  h = await createHarness('pricing-import');
  base = `http://127.0.0.1:${(await h.listen()).port}`;
});
afterAll(async () => h?.close());

function tally(args: string[], key = OPERATOR_KEY): Promise<TallyRun> {
  return finished(
    spawn(process.execPath, [TALLY_BIN, ...args], {
      env: { ...process.env, TALLY_URL: `${base}/graphql`, TALLY_API_KEY: key },
    }),
  );
}

const versions = async () =>
  (await h.sql('SELECT count(*)::int AS n FROM prices WHERE tenant_id IS NULL'))[0].n as number;
/** setPrices requests the server has answered (its request counter, by root field). */
async function setPricesRequests(): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = /tally_graphql_requests_total\{[^}]*operation="setPrices"[^}]*\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}
/** A copy of the fixture with `edit` applied, as a file. */
function edited(name: string, edit: (map: Record<string, Record<string, unknown>>) => void): string {
  const map = JSON.parse(readFileSync(FIXTURE, 'utf8'));
  edit(map);
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(map, null, 4));
  return file;
}

describe('tally prices import', () => {
  it('--dry-run prints what it would add and skip, and sets nothing', async () => {
    const r = await tally(['prices', 'import', FIXTURE, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^dry run at \S+: would add 22, change 0, leave 0 unchanged; skipped 7$/m);
    expect(r.out).toContain('skipped (7):');
    for (const [n, reason] of [
      [2, 'its provider and model are also named by another key, which wins (see collisions)'],
      [1, 'no price in the file'],
      [1, 'the sample entry (sample_spec)'],
      [1, 'no litellm_provider'],
      [1, 'only costs Tally has no rate for'],
      [1, 'priced by the number of results (tiered_pricing by max_results_range)'],
    ] as const)
      expect(r.out).toMatch(new RegExp(`^ +${n}  ${reason.replace(/[()]/g, '\\$&')}$`, 'm'));
    expect(r.out).toContain('collisions (2; the provider-qualified key wins):');
    expect(r.out).toContain('deepseek/deepseek-chat: deepseek/deepseek-chat over deepseek-chat (their prices differ)');
    expect(r.out).toContain('openai/sora-2: openai/sora-2 over sora-2\n');
    expect(r.out).toMatch(/^cost fields not imported \(no Tally rate holds them\): 17 field\(s\) in 10 price\(s\)$/m);
    expect(r.out).toMatch(/^ +5 {2}input_cost_per_token_batches$/m);
    expect(await versions()).toBe(0);
  });

  it('imports every price in one request, tiers and per-call prices included', async () => {
    const before = await setPricesRequests();
    const r = await tally(['prices', 'import', FIXTURE]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^set 22 price\(s\) \(22 added, 0 changed\), 0 unchanged, skipped 7$/m);
    expect(r.err).toContain('importing');
    expect((await setPricesRequests()) - before).toBe(1);
    expect(await versions()).toBe(22);
    const tiers = await h.sql(
      `SELECT p.provider || '/' || p.model AS price, t.above_input_tokens AS above, t.input_per_million::text AS input,
              t.output_per_million::text AS output, t.cached_input_per_million::text AS cached
         FROM price_tiers t JOIN prices p ON p.id = t.price_id ORDER BY 1, 2`,
    );
    expect(tiers).toEqual([
      {
        price: 'anthropic/claude-sonnet-4-5',
        above: 200_000,
        input: '6.000000000000',
        output: '22.500000000000',
        cached: '0.600000000000',
      },
      {
        price: 'dashscope/qwen3-coder-plus',
        above: 32_000,
        input: '1.800000000000',
        output: '9.000000000000',
        cached: '0.180000000000',
      },
      {
        price: 'dashscope/qwen3-coder-plus',
        above: 128_000,
        input: '3.000000000000',
        output: '15.000000000000',
        cached: '0.300000000000',
      },
      {
        price: 'dashscope/qwen3-coder-plus',
        above: 256_000,
        input: '6.000000000000',
        output: '60.000000000000',
        cached: '0.600000000000',
      },
      {
        price: 'gemini/gemini-2.5-pro',
        above: 200_000,
        input: '2.500000000000',
        output: '15.000000000000',
        cached: '0.250000000000',
      },
      {
        price: 'openai/gpt-5.4',
        above: 272_000,
        input: '5.000000000000',
        output: '22.500000000000',
        cached: '0.500000000000',
      },
      {
        price: 'vertex_ai-language-models/gemini-2.5-pro',
        above: 200_000,
        input: '2.500000000000',
        output: '15.000000000000',
        cached: '0.250000000000',
      },
    ]);
    const calls = await h.sql(
      `SELECT provider || '/' || model AS price, per_request::text AS request, per_second::text AS second, per_unit::text AS unit
         FROM prices WHERE input_per_million IS NULL AND output_per_million IS NULL ORDER BY 1`,
    );
    expect(calls).toEqual([
      { price: 'mistral/mistral-ocr-latest', request: null, second: null, unit: '0.004000000000' }, // a page
      { price: 'openai/1024-x-1024/dall-e-2', request: null, second: null, unit: '0.000000019000' }, // a pixel
      { price: 'openai/dall-e-3', request: null, second: null, unit: '0.040000000000' }, // an image
      { price: 'openai/sora-2', request: null, second: null, unit: '0.100000000000' }, // a second of video
      { price: 'openai/tts-1', request: null, second: null, unit: '0.000015000000' }, // a character
      { price: 'openai/whisper-1', request: null, second: '0.000100000000', unit: null }, // a second of audio
      { price: 'perplexity/search', request: '0.005000000000', second: null, unit: null }, // a query
      {
        price: 'vertex_ai-image-models/vertex_ai/imagen-4.0-generate-001',
        request: null,
        second: null,
        unit: '0.040000000000',
      },
      {
        price: 'vertex_ai-video-models/vertex_ai/veo-3.0-generate-001',
        request: null,
        second: null,
        unit: '0.400000000000',
      },
    ]);
    // The provider-qualified deepseek entry won: it is the one with a cache-write rate.
    expect(
      await h.sql(`SELECT cache_write_input_per_million::text AS w FROM prices WHERE model = 'deepseek-chat'`),
    ).toEqual([{ w: '0.000000000000' }]);
  });

  it('a recorded 300k-token call pays the tier, for the whole call; a CALL pays per unit', async () => {
    const t = await h.seed.tenant('importer-user');
    const rec = async (key: string, input: Record<string, unknown>) =>
      (await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: key, ...input } })).recordUsage.event.cost;
    const llm = { kind: 'LLM', outputTokens: 1_000 };
    // (300,000 x 2.5 + 1,000 x 15) / 1e6, where the base rates would give 0.385
    expect(await rec('g-300k', { ...llm, provider: 'gemini', model: 'gemini-2.5-pro', inputTokens: 300_000 })).toBe(
      '0.765000000000',
    );
    expect(await rec('g-100k', { ...llm, provider: 'gemini', model: 'gemini-2.5-pro', inputTokens: 100_000 })).toBe(
      '0.135000000000',
    );
    // (300,000 x 5 + 1,000 x 22.5) / 1e6 above 272k
    expect(await rec('o-300k', { ...llm, provider: 'openai', model: 'gpt-5.4', inputTokens: 300_000 })).toBe(
      '1.522500000000',
    );
    // qwen3-coder-plus: 300k is above its highest step (256k): 6 in, 60 out
    expect(
      await rec('q-300k', { ...llm, provider: 'dashscope', model: 'qwen3-coder-plus', inputTokens: 300_000 }),
    ).toBe('1.860000000000');
    expect(await rec('img', { kind: 'CALL', provider: 'openai', model: 'dall-e-3', quantity: '3' })).toBe(
      '0.120000000000',
    );
    expect(await rec('ocr', { kind: 'CALL', provider: 'mistral', model: 'mistral-ocr-latest', quantity: '250' })).toBe(
      '1.000000000000',
    );
    expect(await rec('search', { kind: 'CALL', provider: 'perplexity', model: 'search' })).toBe('0.005000000000');
  });

  it('importing the same file again adds no version', async () => {
    const before = await versions();
    const r = await tally(['prices', 'import', FIXTURE]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^set 0 price\(s\) \(0 added, 0 changed\), 22 unchanged, skipped 7$/m);
    expect(await versions()).toBe(before);
  });

  it('a changed price: the dry run shows old → new, the import adds exactly one version', async () => {
    const file = edited('changed.json', (m) => {
      (m['gpt-4o'] as Record<string, unknown>).input_cost_per_token = 2.75e-6;
      (m['gpt-5.4'] as Record<string, unknown>).output_cost_per_token_above_272k_tokens = 2.5e-5;
    });
    const dry = await tally(['prices', 'import', file, '--dry-run']);
    expect(dry.out).toMatch(/would add 0, change 2, leave 20 unchanged; skipped 7$/m);
    expect(dry.out).toContain('changed (2, old → new):');
    expect(dry.out).toContain('  openai/gpt-4o  input/M 2.5 → 2.75\n');
    expect(dry.out).toContain(
      '  openai/gpt-5.4  tiers >272000: input/M 5 cached/M 0.5 output/M 22.5 → >272000: input/M 5 cached/M 0.5 output/M 25\n',
    );
    const before = await versions();
    const r = await tally(['prices', 'import', file]);
    expect(r.out).toMatch(/^set 2 price\(s\) \(0 added, 2 changed\), 20 unchanged, skipped 7$/m);
    expect(await versions()).toBe(before + 2);
    const [gpt] = await h.sql(
      `SELECT input_per_million::text AS i FROM prices WHERE model = 'gpt-4o' AND effective_to IS NULL`,
    );
    expect(gpt.i).toBe('2.750000000000');
  });

  it('--verbose lists prices by name; --json says the same as data', async () => {
    const v = await tally(['prices', 'import', FIXTURE, '--dry-run', '--verbose']);
    expect(v.out).toContain('changed (2, old → new):'); // back to the fixture's own prices
    expect(v.out).toMatch(/^unchanged \(20\):$/m);
    expect(v.out).toContain('\n  anthropic/claude-sonnet-4-5\n');
    expect(v.out).toContain('  sample_spec: the sample entry (sample_spec)\n');
    expect(v.out).toContain('  sora-2: its provider and model are also named by another key');
    expect(v.out).toMatch(/^ +1 {2}annotation_cost_per_page: mistral\/mistral-ocr-latest$/m);
    const j = JSON.parse((await tally(['--json', 'prices', 'import', FIXTURE, '--dry-run'])).out);
    expect(j).toMatchObject({ dryRun: true, added: [], unchanged: 20 });
    expect(j.changed.map((c: { price: string }) => c.price)).toEqual(['openai/gpt-4o', 'openai/gpt-5.4']);
    expect(j.skipped).toHaveLength(7);
    expect(j.collisions).toHaveLength(2);
  });

  it('sends one request per hundred prices', async () => {
    const gpt = JSON.parse(readFileSync(FIXTURE, 'utf8'))['gpt-4o'];
    const map = Object.fromEntries(
      Array.from({ length: 250 }, (_, i) => [`bulk/m-${i}`, { ...gpt, litellm_provider: 'bulk' }]),
    );
    const file = join(dir, 'bulk.json');
    writeFileSync(file, JSON.stringify(map));
    const before = await setPricesRequests();
    const r = await tally(['prices', 'import', file]);
    expect(r.out).toMatch(/^set 250 price\(s\) \(250 added, 0 changed\), 0 unchanged, skipped 0$/m);
    expect((await setPricesRequests()) - before).toBe(3);
  });

  it('a price the server refuses is reported and the rest of its batch is still set', async () => {
    const t = await h.seed.tenant('importer-ahead');
    // A usage entry dated ahead of now makes a new version of this price from now refused.
    await h.ok(t.adminKey, RECORD, {
      input: {
        idempotencyKey: 'ahead',
        kind: 'LLM',
        provider: 'openai',
        model: 'gpt-4o-mini',
        inputTokens: 10,
        occurredAt: new Date(Date.now() + 120_000).toISOString(),
      },
    });
    const file = edited('refused.json', (m) => {
      (m['gpt-4o-mini'] as Record<string, unknown>).input_cost_per_token = 2e-7;
      (m['gpt-4o'] as Record<string, unknown>).input_cost_per_token = 3e-6;
    });
    const r = await tally(['prices', 'import', file]);
    expect(r.code).toBe(1);
    // gpt-4o and gpt-5.4 (back to the file's own tier) change; gpt-4o-mini is refused.
    expect(r.out).toMatch(/^set 2 price\(s\) \(0 added, 2 changed\), 19 unchanged, skipped 7, refused 1$/m);
    expect(r.out).toContain('refused by the server (1):\n  gpt-4o-mini: BAD_USER_INPUT: usage at');
    const [gpt] = await h.sql(
      `SELECT input_per_million::text AS i FROM prices WHERE model = 'gpt-4o' AND effective_to IS NULL`,
    );
    expect(gpt.i).toBe('3.000000000000');
  });
});
