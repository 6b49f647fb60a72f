// Tiered prices, as the real price maps write them (Gemini 2.5 Pro above 200k input tokens,
// GPT-5.4 above 272k, Qwen in four steps): stored exactly with their version, refused with
// the field that is wrong, applied by recordUsage, recordUsageBatch and quote to the whole
// call, and carried by the entry's price snapshot so that reversals and reconcile stay exact.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dec, MAX_AMOUNT } from '../../server/src/lib/money';
import { costText, type Metered } from '../../server/src/modules/pricing/cost';
import { reconcile } from '../../server/src/modules/usage/usage.reconcile';
import { createHarness, type Harness, OPERATOR_KEY } from '../support/harness';
import { referenceCost } from '../support/reference-cost';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('pricing-tiers');
});
afterAll(async () => h?.close());

const TIERS =
  'tiers { aboveInputTokens inputPerMillion outputPerMillion cachedInputPerMillion cacheWriteInputPerMillion }';
const SET = `mutation($input: SetPriceInput!) { setPrice(input: $input) { id ${TIERS} } }`;
const RECORD = `mutation($input: RecordUsageInput!) {
  recordUsage(input: $input) { event { id cost occurredAt price { id ${TIERS} } } }
}`;
const BATCH = `mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) { results { event { cost } error { field } } } }`;
const QUOTE = 'query($input: QuoteInput!) { quote(input: $input) { cost price { id } } }';
const LONG_AGO = '2020-01-01T00:00:00Z';

/** Gemini 2.5 Pro as LiteLLM lists it: rates double above 200k input tokens. */
const GEMINI = {
  provider: 'gemini',
  model: 'gemini-2.5-pro',
  inputPerMillion: '1.25',
  outputPerMillion: '10',
  cachedInputPerMillion: '0.125',
  effectiveFrom: LONG_AGO,
  tiers: [{ aboveInputTokens: 200_000, inputPerMillion: '2.5', outputPerMillion: '15', cachedInputPerMillion: '0.25' }],
};

describe('setPrice with tiers', () => {
  it('stores each tier exactly (numeric, 12 decimals) and answers them lowest first', async () => {
    const d = await h.ok(OPERATOR_KEY, SET, {
      input: {
        provider: 'openai',
        model: 'gpt-5.4',
        inputPerMillion: '2.5',
        outputPerMillion: '15',
        effectiveFrom: LONG_AGO,
        tiers: [
          { aboveInputTokens: 500_000, inputPerMillion: '7.000000000001' },
          { aboveInputTokens: 272_000, inputPerMillion: '5', outputPerMillion: '22.5', cachedInputPerMillion: '0.5' },
        ],
      },
    });
    expect(d.setPrice.tiers).toEqual([
      {
        aboveInputTokens: 272_000,
        inputPerMillion: '5.000000000000',
        outputPerMillion: '22.500000000000',
        cachedInputPerMillion: '0.500000000000',
        cacheWriteInputPerMillion: null,
      },
      {
        aboveInputTokens: 500_000,
        inputPerMillion: '7.000000000001',
        outputPerMillion: null,
        cachedInputPerMillion: null,
        cacheWriteInputPerMillion: null,
      },
    ]);
    const rows = await h.sql(
      'SELECT above_input_tokens AS a, input_per_million::text AS i FROM price_tiers WHERE price_id = $1 ORDER BY 1',
      [d.setPrice.id],
    );
    expect(rows).toEqual([
      { a: 272_000, i: '5.000000000000' },
      { a: 500_000, i: '7.000000000001' },
    ]);
    const listed = await h.ok(OPERATOR_KEY, `{ prices(model: "gpt-5.4") { id ${TIERS} } }`);
    expect(listed.prices).toEqual([d.setPrice]);
  });

  it('refuses a bad tier with BAD_USER_INPUT naming it, and writes nothing', async () => {
    const tier = (t: Record<string, unknown>) => ({ aboveInputTokens: 200_000, inputPerMillion: '1', ...t });
    const cases: [Record<string, unknown>[], string[]][] = [
      [[tier({ aboveInputTokens: 0 })], ['input', 'tiers', '0', 'aboveInputTokens']],
      [[tier({ aboveInputTokens: -5 })], ['input', 'tiers', '0', 'aboveInputTokens']],
      [
        [tier({}), tier({ inputPerMillion: '2' })],
        ['input', 'tiers', '1', 'aboveInputTokens'],
      ],
      [
        [tier({}), tier({ aboveInputTokens: 300_000, outputPerMillion: '-1' })],
        ['input', 'tiers', '1', 'outputPerMillion'],
      ],
      [[tier({ inputPerMillion: '0.0000000000001' })], ['input', 'tiers', '0', 'inputPerMillion']],
      [[tier({ inputPerMillion: '1'.repeat(40) })], ['input', 'tiers', '0', 'inputPerMillion']],
      [[tier({ cachedInputPerMillion: 'abc' })], ['input', 'tiers', '0', 'cachedInputPerMillion']],
      [[{ aboveInputTokens: 200_000 }], ['input', 'tiers', '0']],
      [Array.from({ length: 17 }, (_, i) => tier({ aboveInputTokens: 1000 * (i + 1) })), ['input', 'tiers']],
    ];
    for (const [tiers, field] of cases) {
      const r = await h.gql(OPERATOR_KEY, SET, {
        input: { provider: 'p', model: 'refused-tiers', inputPerMillion: '1', tiers },
      });
      expect(r.errors?.[0]?.extensions, JSON.stringify(tiers).slice(0, 80)).toMatchObject({
        code: 'BAD_USER_INPUT',
        field,
      });
    }
    expect(await h.sql(`SELECT 1 FROM prices WHERE model = 'refused-tiers'`)).toEqual([]);
  });

  it('keeps tiers with their version: the service may not change or delete one', async () => {
    const d = await h.ok(OPERATOR_KEY, SET, { input: { ...GEMINI, model: 'kept-tiers' } });
    for (const sql of [
      'UPDATE price_tiers SET input_per_million = 0 WHERE price_id = $1',
      'DELETE FROM price_tiers WHERE price_id = $1',
    ]) {
      // As the runtime role: no privilege; as the owner: the trigger.
      await expect(h.db.transaction('t', (tx) => tx.query('t', sql, [d.setPrice.id]))).rejects.toThrow();
      await expect(h.sql(sql, [d.setPrice.id])).rejects.toThrow(/kept with their version/);
    }
  });
});

describe('a tiered price charges the whole call at the highest tier it exceeds', () => {
  let tenant: Awaited<ReturnType<Harness['seed']['tenant']>>;
  beforeAll(async () => {
    tenant = await h.seed.tenant('tiered');
    await h.ok(OPERATOR_KEY, SET, { input: GEMINI });
  });
  const call = (inputTokens: number, extra: Record<string, unknown> = {}) => ({
    kind: 'LLM',
    provider: 'gemini',
    model: 'gemini-2.5-pro',
    inputTokens,
    outputTokens: 1_000,
    ...extra,
  });
  // 300k input, 50k of it cached, 1k output: (250,000 x 2.5 + 50,000 x 0.25 + 1,000 x 15) / 1e6
  const CASES: [string, number, Record<string, unknown>, string][] = [
    ['at 200k exactly: base rates', 200_000, {}, '0.260000000000'], // 200,000 x 1.25 + 1,000 x 10
    ['one token more: the tier, for every token', 200_001, {}, '0.515002500000'], // 200,001 x 2.5 + 1,000 x 15
    ['a 300k call with cached tokens', 300_000, { cachedInputTokens: 50_000 }, '0.652500000000'],
    // cache writes: neither the tier nor the base sets a rate, so they pay the tier's input rate
    ['cache writes fall back to the tier input', 300_000, { cacheWriteInputTokens: 100_000 }, '0.765000000000'],
  ];

  it.each(CASES)('recordUsage and quote: %s', async (_, inputTokens, extra, cost) => {
    const d = await h.ok(tenant.adminKey, RECORD, {
      input: { idempotencyKey: `t-${inputTokens}-${JSON.stringify(extra)}`, ...call(inputTokens, extra) },
    });
    expect(d.recordUsage.event.cost).toBe(cost);
    const q = await h.ok(tenant.adminKey, QUOTE, { input: call(inputTokens, extra) });
    expect(q.quote.cost).toBe(cost);
    expect(q.quote.price.id).toBe(d.recordUsage.event.price.id);
  });

  it('recordUsageBatch prices each item by its own size', async () => {
    const d = await h.ok(tenant.adminKey, BATCH, {
      input: CASES.map(([, n, extra], i) => ({ idempotencyKey: `tb-${i}`, ...call(n, extra) })),
    });
    expect(d.recordUsageBatch.results.map((r: { event: { cost: string } }) => r.event.cost)).toEqual(
      CASES.map(([, , , cost]) => cost),
    );
  });

  it('a tier that sets only some rates keeps the base rate for the others', async () => {
    await h.ok(OPERATOR_KEY, SET, {
      input: {
        provider: 'acme',
        model: 'partial-tier',
        inputPerMillion: '1',
        outputPerMillion: '4',
        effectiveFrom: LONG_AGO,
        tiers: [{ aboveInputTokens: 1_000, inputPerMillion: '2' }],
      },
    });
    const q = await h.ok(tenant.adminKey, QUOTE, {
      input: { kind: 'LLM', provider: 'acme', model: 'partial-tier', inputTokens: 1_000_000, outputTokens: 1_000_000 },
    });
    expect(q.quote.cost).toBe('6.000000000000'); // 2 (tier input) + 4 (base output)
  });

  it('the entry carries the version it was charged by, tiers included; its reversal and reconcile stay exact', async () => {
    const d = await h.ok(tenant.adminKey, RECORD, {
      input: { idempotencyKey: 'snap', ...call(300_000, { cachedInputTokens: 50_000 }) },
    });
    const e = d.recordUsage.event;
    expect(e.price.tiers).toEqual([
      {
        aboveInputTokens: 200_000,
        inputPerMillion: '2.500000000000',
        outputPerMillion: '15.000000000000',
        cachedInputPerMillion: '0.250000000000',
        cacheWriteInputPerMillion: null,
      },
    ]);
    // A new version later does not change what the entry says it was charged by.
    await h.ok(OPERATOR_KEY, SET, { input: { ...GEMINI, tiers: [], effectiveFrom: new Date(Date.now() + 60_000) } });
    const from = new Date(Date.parse(e.occurredAt) - 1000).toISOString();
    const to = new Date(Date.parse(e.occurredAt) + 1000).toISOString();
    const again = await h.ok(
      tenant.adminKey,
      `query($f: UsageFilter!) { usageEvents(filter: $f) { edges { node { id cost price { id ${TIERS} } } } } }`,
      { f: { from, to } },
    );
    const listed = again.usageEvents.edges.find((x: { node: { id: string } }) => x.node.id === e.id);
    expect(listed.node).toEqual({ id: e.id, cost: e.cost, price: e.price });
    const r = await h.ok(
      tenant.adminKey,
      `mutation($input: ReverseUsageInput!) { reverseUsage(input: $input) { event { cost price { id } } } }`,
      { input: { eventId: e.id, idempotencyKey: 'snap-rev' } },
    );
    expect(r.reverseUsage.event).toEqual({ cost: `-${e.cost}`, price: { id: e.price.id } });
    const [net] = await h.sql(
      `SELECT sum(cost)::text AS c FROM usage_events WHERE tenant_id = $1 AND idempotency_key IN ('snap', 'snap-rev')`,
      [tenant.id],
    );
    expect(net.c).toBe('0.000000000000');
    expect(await reconcile(h.db, tenant.id)).toEqual([]);
  });
});

describe('cost with tiers', () => {
  const dec12 = fc
    .tuple(fc.bigInt({ min: 0n, max: 1000n }), fc.bigInt({ min: 0n, max: 10n ** 12n - 1n }))
    .map(([i, f]) => `${i}.${f.toString().padStart(12, '0')}`);
  const rate = fc.option(dec12, { nil: null });
  const tier = fc.record({
    aboveInputTokens: fc.integer({ min: 1, max: 2_000_000 }),
    inputPerMillion: rate,
    outputPerMillion: rate,
    cachedInputPerMillion: rate,
    cacheWriteInputPerMillion: rate,
  });
  const price = fc.record({
    inputPerMillion: rate,
    outputPerMillion: rate,
    cachedInputPerMillion: rate,
    cacheWriteInputPerMillion: rate,
    perRequest: rate,
    perSecond: rate,
    perUnit: rate,
    tiers: fc.uniqueArray(tier, { maxLength: 4, selector: (t) => t.aboveInputTokens }),
  });
  const metered = fc
    .record({
      input: fc.integer({ min: 0, max: 3_000_000 }),
      cachedShare: fc.double({ min: 0, max: 1, noNaN: true }),
      writeShare: fc.double({ min: 0, max: 1, noNaN: true }),
      outputTokens: fc.integer({ min: 0, max: 3_000_000 }),
    })
    .map((m): Metered => {
      const cached = Math.floor(m.input * m.cachedShare);
      return {
        inputTokens: m.input,
        cachedInputTokens: cached,
        cacheWriteInputTokens: Math.floor((m.input - cached) * m.writeShare),
        outputTokens: m.outputTokens,
        durationMs: null,
        quantity: null,
      };
    });

  it('is exactly the decimal definition with the highest tier the call exceeds', () => {
    fc.assert(
      fc.property(metered, price, (u, p) => {
        const want = referenceCost(u, p);
        if (new Dec(want).gt(MAX_AMOUNT)) return;
        expect(costText(u, p)).toBe(want);
      }),
      { numRuns: 2000 },
    );
  });
});
