// Exact money: a table of known costs (12 decimals, half-even, rounded once) checked
// through both `quote` and `recordUsage`; exact totals of many events; and the Decimal
// scalar's wire rules (always a JSON string; no floats, no exponents, at most 12 decimals).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY, RECORD, type SeededTenant, SUMMARY } from './support/harness';

// ---------------------------------------------------------------------------------------
// helpers

const QUOTE = `query Quote($input: QuoteInput!) { quote(input: $input) { cost currency price { id } } }`;
const BATCH = `mutation Batch($input: [RecordUsageInput!]!) {
  recordUsageBatch(input: $input) { created duplicates rejected results { outcome error { code field } event { cost } } }
}`;
const DECIMAL_WIRE = /^-?\d+\.\d{12}$/;

type Rates = Partial<
  Record<
    | 'inputPerMillion'
    | 'outputPerMillion'
    | 'cachedInputPerMillion'
    | 'cacheWriteInputPerMillion'
    | 'perRequest'
    | 'perSecond'
    | 'perUnit',
    string
  >
>;

interface Case {
  name: string;
  rates: Rates;
  kind: 'LLM' | 'ASR' | 'CALL';
  /** Fields both QuoteInput and RecordUsageInput accept. */
  usage: Record<string, unknown>;
  /** Extra fields only recordUsage takes (reasoningTokens). */
  recordOnly?: Record<string, unknown>;
  cost: string;
}

const M = 1_000_000;
const B = 1_000_000_000;

const CASES: Case[] = [
  // 0.15 / 1M tokens
  {
    name: '1 input token at 0.15/M',
    rates: { inputPerMillion: '0.15' },
    kind: 'LLM',
    usage: { inputTokens: 1 },
    cost: '0.000000150000',
  },
  {
    name: '7 input tokens at 0.15/M',
    rates: { inputPerMillion: '0.15' },
    kind: 'LLM',
    usage: { inputTokens: 7 },
    cost: '0.000001050000',
  },
  {
    name: '10^9 input tokens at 0.15/M',
    rates: { inputPerMillion: '0.15' },
    kind: 'LLM',
    usage: { inputTokens: B },
    cost: '150.000000000000',
  },
  {
    name: '1 output token at 0.6/M',
    rates: { inputPerMillion: '0.15', outputPerMillion: '0.6' },
    kind: 'LLM',
    usage: { outputTokens: 1 },
    cost: '0.000000600000',
  },
  {
    name: '1M in + 1M out at 0.15/0.6',
    rates: { inputPerMillion: '0.15', outputPerMillion: '0.6' },
    kind: 'LLM',
    usage: { inputTokens: M, outputTokens: M },
    cost: '0.750000000000',
  },
  // cached input: 600 x 0.15 + 400 x 0.075 = 120 -> / 1e6
  {
    name: 'cached tokens with their own rate',
    rates: { inputPerMillion: '0.15', cachedInputPerMillion: '0.075' },
    kind: 'LLM',
    usage: { inputTokens: 1000, cachedInputTokens: 400 },
    cost: '0.000120000000',
  },
  // no cached rate: all 1000 at 0.15
  {
    name: 'cached tokens without their own rate fall back to input',
    rates: { inputPerMillion: '0.15' },
    kind: 'LLM',
    usage: { inputTokens: 1000, cachedInputTokens: 400 },
    cost: '0.000150000000',
  },
  // 700 x 3 + 300 x 3.75 = 3225 -> / 1e6
  {
    name: 'cache-write tokens with their own rate',
    rates: { inputPerMillion: '3', cacheWriteInputPerMillion: '3.75' },
    kind: 'LLM',
    usage: { inputTokens: 1000, cacheWriteInputTokens: 300 },
    cost: '0.003225000000',
  },
  {
    name: 'cache-write tokens without their own rate fall back to input',
    rates: { inputPerMillion: '3', cachedInputPerMillion: '0.3' },
    kind: 'LLM',
    usage: { inputTokens: 1000, cacheWriteInputTokens: 300 },
    cost: '0.003000000000',
  },
  // 3000 x 3 + 5000 x 0.3 + 2000 x 3.75 + 500 x 15 = 9000 + 1500 + 7500 + 7500 = 25500 -> / 1e6
  {
    name: 'uncached, cached, cache-write and output together',
    rates: {
      inputPerMillion: '3',
      outputPerMillion: '15',
      cachedInputPerMillion: '0.3',
      cacheWriteInputPerMillion: '3.75',
    },
    kind: 'LLM',
    usage: { inputTokens: 10_000, cachedInputTokens: 5000, cacheWriteInputTokens: 2000, outputTokens: 500 },
    cost: '0.025500000000',
  },
  // reasoning tokens are part of outputTokens: 1000 x 0.6 / 1e6, nothing extra for the 400
  {
    name: 'reasoning tokens are priced as the output they are part of',
    rates: { inputPerMillion: '0.15', outputPerMillion: '0.6' },
    kind: 'LLM',
    usage: { outputTokens: 1000 },
    recordOnly: { reasoningTokens: 400 },
    cost: '0.000600000000',
  },
  { name: 'perRequest alone', rates: { perRequest: '0.002' }, kind: 'LLM', usage: {}, cost: '0.002000000000' },
  // 0.002 + 1000 x 0.15 / 1e6 = 0.002 + 0.00015
  {
    name: 'perRequest plus tokens',
    rates: { inputPerMillion: '0.15', perRequest: '0.002' },
    kind: 'LLM',
    usage: { inputTokens: 1000 },
    cost: '0.002150000000',
  },
  // 1 ms = 0.001 s x 0.0001 = 0.0000001
  {
    name: 'ASR 1 ms at 0.0001/s',
    rates: { perSecond: '0.0001' },
    kind: 'ASR',
    usage: { durationMs: 1 },
    cost: '0.000000100000',
  },
  // 61.234 s x 0.006 = 0.367404
  {
    name: 'ASR 61,234 ms at 0.006/s',
    rates: { perSecond: '0.006' },
    kind: 'ASR',
    usage: { durationMs: 61_234 },
    cost: '0.367404000000',
  },
  {
    name: 'CALL quantity 2.5 x 0.04',
    rates: { perUnit: '0.04' },
    kind: 'CALL',
    usage: { quantity: '2.5' },
    cost: '0.100000000000',
  },
  {
    name: 'CALL default quantity 1 x 0.04',
    rates: { perUnit: '0.04' },
    kind: 'CALL',
    usage: {},
    cost: '0.040000000000',
  },
  // --- rounding, half-even at the 12th decimal, once on the exact total
  // 1 x 0.0000005 / 1e6 = 0.000000000000|5: an exact tie between ...000 and ...001; even is 0.
  // (half-up would give 0.000000000001)
  {
    name: 'tie 5e-13 rounds down to even 0',
    rates: { inputPerMillion: '0.0000005' },
    kind: 'LLM',
    usage: { inputTokens: 1 },
    cost: '0.000000000000',
  },
  // 3 x 0.0000005 / 1e6 = 0.000000000001|5: tie between ...001 and ...002; even is ...002 (rounds up).
  {
    name: 'tie 1.5e-12 rounds up to even 2e-12',
    rates: { inputPerMillion: '0.0000005' },
    kind: 'LLM',
    usage: { inputTokens: 3 },
    cost: '0.000000000002',
  },
  // 5 x 0.0000005 / 1e6 = 0.000000000002|5: tie between ...002 and ...003; even is ...002 (half-up: 003).
  {
    name: 'tie 2.5e-12 rounds down to even 2e-12',
    rates: { inputPerMillion: '0.0000005' },
    kind: 'LLM',
    usage: { inputTokens: 5 },
    cost: '0.000000000002',
  },
  // 7 x 0.0000001 / 1e6 = 0.000000000000|7: above the half, rounds up (truncation would give 0).
  {
    name: '7e-13 rounds up to 1e-12',
    rates: { inputPerMillion: '0.0000001' },
    kind: 'LLM',
    usage: { inputTokens: 7 },
    cost: '0.000000000001',
  },
  // 1 input + 1 output token at 0.0000005/M each = 5e-13 + 5e-13 = exactly 1e-12. Rounding
  // each part first (half-even) would give 0 + 0; the contract rounds the exact total once.
  {
    name: 'rounded once on the total, not per component',
    rates: { inputPerMillion: '0.0000005', outputPerMillion: '0.0000005' },
    kind: 'LLM',
    usage: { inputTokens: 1, outputTokens: 1 },
    cost: '0.000000000001',
  },
  // 1 ms x 0.000000000001/s = 1e-15: far below half a unit of the 12th decimal.
  {
    name: '1e-15 rounds to 0',
    rates: { perSecond: '0.000000000001' },
    kind: 'ASR',
    usage: { durationMs: 1 },
    cost: '0.000000000000',
  },
  // 0.333333333333 x 3 = 0.999999999999 exactly (no rounding is needed and none happens)
  {
    name: 'no spurious rounding',
    rates: { perUnit: '0.333333333333' },
    kind: 'CALL',
    usage: { quantity: '3' },
    cost: '0.999999999999',
  },
  // 1.5 units x 0.000000000001 = 1.5e-12 -> tie -> even 2e-12
  {
    name: 'CALL tie rounds to even',
    rates: { perUnit: '0.000000000001' },
    kind: 'CALL',
    usage: { quantity: '1.5' },
    cost: '0.000000000002',
  },
  // --- large: 10^9 x 60/1e6 + 10^9 x 120/1e6 = 60,000 + 120,000
  {
    name: 'large total',
    rates: { inputPerMillion: '60', outputPerMillion: '120' },
    kind: 'LLM',
    usage: { inputTokens: B, outputTokens: B },
    cost: '180000.000000000000',
  },
];

const providerOf = (i: number) => `money-${i}`;
const modelOf = (i: number) => `money-model-${i}`;

// ---------------------------------------------------------------------------------------

let h: Harness;
let t: SeededTenant;
const priceIds: string[] = [];
beforeAll(async () => {
  h = await createHarness('money');
  t = await h.seed.tenant('money');
  for (const [i, c] of CASES.entries()) {
    const p = await h.seed.price({ provider: providerOf(i), model: modelOf(i), ...c.rates });
    priceIds.push(p.id);
  }
});
afterAll(async () => h?.close());

describe('cost table', () => {
  it('quote gives the exact known cost for every case', async () => {
    const wrong: string[] = [];
    for (const [i, c] of CASES.entries()) {
      const d = await h.ok(t.adminKey, QUOTE, {
        input: { kind: c.kind, provider: providerOf(i), model: modelOf(i), ...c.usage },
      });
      expect(typeof d.quote.cost).toBe('string');
      if (d.quote.cost !== c.cost) wrong.push(`${c.name}: ${d.quote.cost} != ${c.cost}`);
      expect(d.quote.price, c.name).toEqual({ id: priceIds[i] });
      expect(d.quote.currency).toBe('USD');
    }
    expect(wrong).toEqual([]);
  });

  it('recordUsage stores and returns the same exact cost for every case', async () => {
    const wrong: string[] = [];
    for (const [i, c] of CASES.entries()) {
      const d = await h.ok(t.adminKey, RECORD, {
        input: {
          idempotencyKey: `case-${i}`,
          kind: c.kind,
          provider: providerOf(i),
          model: modelOf(i),
          ...c.usage,
          ...c.recordOnly,
        },
      });
      const e = d.recordUsage.event;
      expect(d.recordUsage.outcome).toBe('CREATED');
      expect(e.price, c.name).toEqual({ id: priceIds[i] });
      if (e.cost !== c.cost) wrong.push(`${c.name}: ${e.cost} != ${c.cost}`);
      const [row] = await h.sql('SELECT cost::text AS cost FROM usage_events WHERE id = $1', [e.id]);
      if (row.cost !== c.cost) wrong.push(`${c.name} (stored): ${row.cost} != ${c.cost}`);
    }
    expect(wrong).toEqual([]);
  });

  it('a caller-supplied cost is kept exactly, to the 12th decimal', async () => {
    for (const [i, cost, want] of [
      [0, '0.000000000001', '0.000000000001'],
      [1, '12345678901234.123456789012', '12345678901234.123456789012'],
      [2, '0.1', '0.100000000000'],
      [3, '7', '7.000000000000'],
    ] as const) {
      const d = await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: `own-${i}`, kind: 'CALL', cost } });
      expect(d.recordUsage.event.cost).toBe(want);
    }
  });
});

describe('totals', () => {
  it('1,000 events of 0.1 sum to exactly 100 (a float sum would not)', async () => {
    let float = 0;
    for (let i = 0; i < 1000; i++) float += 0.1;
    expect(float).not.toBe(100); // the trap exact decimals avoid

    const tenant = await h.seed.tenant('totals');
    const now = Date.now();
    const items = Array.from({ length: 1000 }, (_, i) => ({
      idempotencyKey: `tenth-${i}`,
      kind: 'CALL',
      cost: '0.1',
      // spread over the last 30 hours, so many rollup rows are summed
      occurredAt: new Date(now - (i % 30) * 3_600_000 - 1000).toISOString(),
    }));
    const d = await h.ok(tenant.adminKey, BATCH, { input: items });
    expect(d.recordUsageBatch).toMatchObject({ created: 1000, duplicates: 0, rejected: 0 });
    const filter = { from: new Date(now - 2 * 86_400_000).toISOString(), to: new Date(now + 60_000).toISOString() };
    const s = await h.ok(tenant.adminKey, SUMMARY, { filter });
    expect(s.usageSummary.totals).toMatchObject({
      requests: 1000,
      cost: '100.000000000000',
      quantity: '1000.000000000000',
    });
    const hourly = await h.ok(tenant.adminKey, SUMMARY, { filter, granularity: 'HOUR' });
    expect(hourly.usageSummary.totals.cost).toBe('100.000000000000');
    expect(hourly.usageSummary.buckets.length).toBeGreaterThanOrEqual(30);
  });

  it('1,000 priced events of 1e-12 each (tiny, just above rounding) sum exactly', async () => {
    const tenant = await h.seed.tenant('tiny');
    // 1 token at 0.000001/M = 1e-12 exactly; 1000 of them = 1e-9
    await h.seed.price({ provider: 'tiny-ai', model: 'tiny', inputPerMillion: '0.000001', outputPerMillion: '0.15' });
    const items = Array.from({ length: 1000 }, (_, i) => ({
      idempotencyKey: `tiny-${i}`,
      kind: 'LLM',
      provider: 'tiny-ai',
      model: 'tiny',
      inputTokens: 1,
      // every 10th also has 7 output tokens at 0.15/M = 0.00000105
      outputTokens: i % 10 === 0 ? 7 : 0,
    }));
    const d = await h.ok(tenant.adminKey, BATCH, { input: items });
    expect(d.recordUsageBatch.created).toBe(1000);
    const now = Date.now();
    const filter = { from: new Date(now - 86_400_000).toISOString(), to: new Date(now + 60_000).toISOString() };
    const s = await h.ok(tenant.adminKey, SUMMARY, { filter });
    // 1000 x 0.000000000001 + 100 x 0.00000105 = 0.000000001 + 0.000105
    expect(s.usageSummary.totals).toMatchObject({
      inputTokens: 1000,
      outputTokens: 700,
      cost: '0.000105001000',
    });
  });
});

describe('the Decimal scalar', () => {
  const bad: [string, unknown][] = [
    ['13 decimals', '0.0000000000001'],
    ['exponent form', '1e-7'],
    ['upper-case exponent', '1E3'],
    ['JSON float', 0.1],
    ['JSON float that looks whole', 1.5],
    ['two dots', '1.2.3'],
    ['empty string', ''],
    ['words', 'ten'],
    ['thousands separator', '1,000'],
  ];

  it('rejects malformed decimals in recordUsage.cost with BAD_USER_INPUT', async () => {
    for (const [what, cost] of bad) {
      const r = await h.gql(t.adminKey, RECORD, { input: { idempotencyKey: `bad-cost-${what}`, kind: 'CALL', cost } });
      expect(r.errors?.[0]?.extensions, what).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'cost'] });
      expect(r.data?.recordUsage ?? null, what).toBeNull();
    }
    const [{ n }] = await h.sql("SELECT count(*)::int AS n FROM usage_events WHERE idempotency_key LIKE 'bad-cost-%'");
    expect(n).toBe(0);
  });

  it('a malformed decimal in one recordUsageBatch item makes only that item INVALID', async () => {
    const items = bad.map(([what, cost]) => ({ idempotencyKey: `bad-batch-${what}`, kind: 'CALL', cost }));
    items.push({ idempotencyKey: 'bad-batch-good', kind: 'CALL', cost: '0.1' });
    const r = await h.ok(
      t.adminKey,
      'mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) { created rejected results { outcome error { code field } } } }',
      { input: items },
    );
    expect(r.recordUsageBatch).toMatchObject({ created: 1, rejected: bad.length });
    for (const [i, [what]] of bad.entries())
      expect(r.recordUsageBatch.results[i], what).toEqual({
        outcome: 'INVALID',
        error: { code: 'BAD_USER_INPUT', field: ['cost'] },
      });
    const [{ n }] = await h.sql("SELECT count(*)::int AS n FROM usage_events WHERE idempotency_key LIKE 'bad-batch-%'");
    expect(n).toBe(1);
  });

  it('rejects malformed decimals in recordUsage.quantity, quote.quantity and setPrice rates', async () => {
    for (const [what, v] of bad) {
      const rec = await h.gql(t.adminKey, RECORD, {
        input: { idempotencyKey: `bad-q-${what}`, kind: 'CALL', cost: '1', quantity: v },
      });
      expect(rec.errors?.[0]?.extensions, `record quantity ${what}`).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: ['input', 'quantity'],
      });
      const q = await h.gql(t.adminKey, QUOTE, {
        input: { kind: 'CALL', provider: providerOf(15), model: modelOf(15), quantity: v },
      });
      expect(q.errors?.[0]?.extensions, `quote quantity ${what}`).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: ['input', 'quantity'],
      });
      const p = await h.gql(OPERATOR_KEY, 'mutation($input: SetPriceInput!) { setPrice(input: $input) { id } }', {
        input: { provider: 'bad-price', model: 'bad', inputPerMillion: v },
      });
      expect(p.errors?.[0]?.extensions, `setPrice ${what}`).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: ['input', 'inputPerMillion'],
      });
    }
    const prices = await h.sql("SELECT count(*)::int AS n FROM prices WHERE provider = 'bad-price'");
    expect(prices[0].n).toBe(0);
  });

  it('rejects float and exponent literals written inline in the document', async () => {
    for (const literal of ['0.1', '1e-7', '"1e-7"', '"0.0000000000001"']) {
      const r = await h.gql(
        t.adminKey,
        `mutation { recordUsage(input: { idempotencyKey: "lit", kind: CALL, cost: ${literal} }) { outcome } }`,
      );
      expect(r.errors?.[0]?.extensions?.code, literal).toBe('BAD_USER_INPUT');
    }
    // a string literal with 12 decimals is fine
    const ok = await h.ok(
      t.adminKey,
      'mutation { recordUsage(input: { idempotencyKey: "lit-ok", kind: CALL, cost: "0.000000000001" }) { event { cost } } }',
    );
    expect(ok.recordUsage.event.cost).toBe('0.000000000001');
  });

  it('accepts 12 decimals and whole numbers; answers always a 12-decimal string', async () => {
    for (const [i, v, want] of [
      [0, '0.123456789012', '0.123456789012'],
      [1, '5', '5.000000000000'],
      [2, '0.5000', '0.500000000000'],
    ] as const) {
      const d = await h.ok(t.adminKey, RECORD, {
        input: { idempotencyKey: `good-${i}`, kind: 'CALL', cost: v, quantity: v },
      });
      expect(d.recordUsage.event.cost).toBe(want);
    }
    // Every Decimal field on the wire is a JSON string with exactly 12 decimals.
    const raw = await h.app.yoga.fetch('http://tally.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminKey}` },
      body: JSON.stringify({
        query: `{ prices(model: "${modelOf(12)}") { inputPerMillion perRequest outputPerMillion }
                  quote(input: { kind: LLM, provider: "${providerOf(12)}", model: "${modelOf(12)}", inputTokens: 1000 }) { cost } }`,
      }),
    });
    const text = await raw.text();
    // textual check: no bare number after a decimal-valued key
    expect(text).toMatch(/"cost":"0\.002150000000"/);
    expect(text).toMatch(/"inputPerMillion":"0\.150000000000"/);
    expect(text).toMatch(/"perRequest":"0\.002000000000"/);
    expect(text).toMatch(/"outputPerMillion":null/);
    const now = Date.now();
    const s = await h.ok(t.adminKey, SUMMARY, {
      filter: { from: new Date(now - 86_400_000).toISOString(), to: new Date(now + 60_000).toISOString() },
      groupBy: ['MODEL'],
    });
    const decimals = [
      s.usageSummary.totals,
      ...s.usageSummary.buckets.map((b: { totals: unknown }) => b.totals),
    ].flatMap((x: { cost: unknown; quantity: unknown }) => [x.cost, x.quantity]);
    expect(decimals.length).toBeGreaterThan(2);
    for (const d of decimals) {
      expect(typeof d).toBe('string');
      expect(d).toMatch(DECIMAL_WIRE);
    }
    // BigInt counters are JSON numbers
    expect(typeof s.usageSummary.totals.inputTokens).toBe('number');
  });
});
