// Amounts and currencies (issue 10, items 6 and 7).
// Every amount and rate is bounded (MAX_AMOUNT, 10^15) so that every sum the service stores
// fits numeric(38,12), and summaries sum without a bound; a computed cost over the bound is
// refused by recordUsage and quote alike. A tenant is billed in one currency: usage whose
// cost, supplied or priced, is in another is refused naming `currency`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../migrations/index';
import { openDatabase } from '../server/src/db/database';
import {
  createHarness,
  freshDatabase,
  type GqlResult,
  type Harness,
  OPERATOR_KEY,
  RECORD,
  SUMMARY,
} from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('amounts');
});
afterAll(async () => h?.close());

const MAX = '1000000000000000'; // 10^15
const OVER = '1000000000000000.000000000001';
const QUOTE = `query Quote($input: QuoteInput!) { quote(input: $input) { cost currency } }`;
const BATCH = `mutation Batch($input: [RecordUsageInput!]!) {
  recordUsageBatch(input: $input) { created rejected results { outcome error { code field } event { cost currency } } }
}`;
const CREATE_TENANT = `mutation($input: CreateTenantInput!) { createTenant(input: $input) { secret apiKey { tenant { id currency } } } }`;
const SET_PRICE = `mutation($input: SetPriceInput!) { setPrice(input: $input) { id currency } }`;
const UPSERT_PLAN = `mutation($input: UpsertPlanInput!) { upsertPlan(input: $input) { id limits { id amount } } }`;
const AUTHORIZE = `mutation($input: AuthorizeUsageInput!) { authorizeUsage(input: $input) { allowed } }`;

const err = (r: GqlResult) => ({ code: r.errors?.[0]?.extensions?.code, field: r.errors?.[0]?.extensions?.field });
const bad = (...field: string[]) => ({ code: 'BAD_USER_INPUT', field });

let seq = 0;
const key = (p: string) => `${p}-${++seq}`;

async function tenant(name: string, currency?: string) {
  const d = await h.ok(OPERATOR_KEY, CREATE_TENANT, { input: { name, ...(currency ? { currency } : {}) } });
  return {
    id: d.createTenant.apiKey.tenant.id as string,
    currency: d.createTenant.apiKey.tenant.currency,
    adminKey: d.createTenant.secret as string,
  };
}

const rangeFilter = (tenantId: string) => ({
  tenantId,
  from: new Date(Date.now() - 40 * 24 * 3600_000).toISOString(),
  to: new Date(Date.now() + 3600_000).toISOString(),
});

describe('amount bounds (item 6)', () => {
  it('a supplied cost or quantity is accepted at 10^15 and refused just over, naming the field; the summary still answers', async () => {
    const t = await tenant('bounds');
    for (const field of ['cost', 'quantity']) {
      const base = { kind: 'CALL', cost: '0' };
      const at = await h.gql(t.adminKey, RECORD, { input: { ...base, idempotencyKey: key('at'), [field]: MAX } });
      expect(at.errors).toBeUndefined();
      expect(at.data.recordUsage.outcome).toBe('CREATED');
      const over = await h.gql(t.adminKey, RECORD, { input: { ...base, idempotencyKey: key('over'), [field]: OVER } });
      expect(err(over)).toEqual(bad('input', field));
    }
    // Near numeric(38,12)'s limit: accepted before, and two of them broke every summary.
    const huge = await h.gql(t.adminKey, RECORD, {
      input: { idempotencyKey: key('huge'), kind: 'CALL', cost: '99999999999999999999999999' },
    });
    expect(err(huge)).toEqual(bad('input', 'cost'));
    const s = await h.ok(t.adminKey, SUMMARY, { filter: rangeFilter(t.id) });
    // (the entry at the cost bound counts the default quantity 1)
    expect(s.usageSummary.totals).toMatchObject({
      cost: `${MAX}.000000000000`,
      quantity: '1000000000000001.000000000000',
    });
  });

  it('in a batch, an item over the bound is INVALID naming its field, the others are written', async () => {
    const t = await tenant('bounds-batch');
    const d = await h.ok(t.adminKey, BATCH, {
      input: [
        { idempotencyKey: 'b0', kind: 'CALL', cost: MAX },
        { idempotencyKey: 'b1', kind: 'CALL', cost: OVER },
        { idempotencyKey: 'b2', kind: 'CALL', cost: '1', quantity: OVER },
        { idempotencyKey: 'b3', kind: 'CALL', cost: '1' },
      ],
    });
    const r = d.recordUsageBatch;
    expect(r.results.map((x: any) => x.outcome)).toEqual(['CREATED', 'INVALID', 'INVALID', 'CREATED']);
    expect(r.results[1].error).toEqual(bad('cost'));
    expect(r.results[2].error).toEqual(bad('quantity'));
  });

  it('every price rate is accepted at 10^15 and refused just over, naming the rate', async () => {
    for (const rate of [
      'inputPerMillion',
      'outputPerMillion',
      'cachedInputPerMillion',
      'cacheWriteInputPerMillion',
      'perRequest',
      'perSecond',
      'perUnit',
    ]) {
      const input = { provider: 'bound', model: `rate-${rate}`, effectiveFrom: '2020-01-01T00:00:00Z' };
      const at = await h.gql(OPERATOR_KEY, SET_PRICE, { input: { ...input, [rate]: MAX } });
      expect(at.errors, rate).toBeUndefined();
      const over = await h.gql(OPERATOR_KEY, SET_PRICE, {
        input: { ...input, effectiveFrom: '2021-01-01T00:00:00Z', [rate]: OVER },
      });
      expect(err(over), rate).toEqual(bad('input', rate));
    }
  });

  it('limit amounts and estimates are accepted at 10^15 and refused just over', async () => {
    const limit = (amount: string) => ({ metric: 'COST', period: 'DAY', amount });
    const at = await h.gql(OPERATOR_KEY, UPSERT_PLAN, { input: { code: 'max', name: 'max', limits: [limit(MAX)] } });
    expect(at.errors).toBeUndefined();
    const over = await h.gql(OPERATOR_KEY, UPSERT_PLAN, {
      input: { code: 'max', name: 'max', limits: [limit('1'), limit(OVER)] },
    });
    expect(err(over)).toEqual(bad('input', 'limits', '1', 'amount'));

    const t = await tenant('estimates');
    for (const f of ['cost', 'asrSeconds']) {
      const ok = await h.gql(t.adminKey, AUTHORIZE, { input: { estimate: { [f]: MAX } } });
      expect(ok.errors, f).toBeUndefined();
      const no = await h.gql(t.adminKey, AUTHORIZE, { input: { estimate: { [f]: OVER } } });
      expect(err(no), f).toEqual(bad('input', 'estimate', f));
    }
  });

  it('a priced cost over the bound is refused by recordUsage and by quote alike, naming the field that drives it', async () => {
    const t = await tenant('priced');
    // 10^9 per unit: 10^6 units cost exactly 10^15.
    await h.seed.price({ provider: 'bound', model: 'unit', perUnit: '1000000000' });
    // 10^12 per million tokens: 10^9 tokens cost 10^15.
    await h.seed.price({ provider: 'bound', model: 'tok', inputPerMillion: '1000000000000', outputPerMillion: '1' });
    const cases: [Record<string, unknown>, string | null][] = [
      [{ kind: 'CALL', model: 'unit', quantity: '1000000' }, null],
      [{ kind: 'CALL', model: 'unit', quantity: '1000000.000000000001' }, 'quantity'],
      [{ kind: 'LLM', model: 'tok', inputTokens: 1_000_000_000 }, null],
      [{ kind: 'LLM', model: 'tok', inputTokens: 1_000_000_001, outputTokens: 5 }, 'inputTokens'],
    ];
    for (const [usage, field] of cases) {
      const q = await h.gql(t.adminKey, QUOTE, { input: { provider: 'bound', ...usage } });
      const r = await h.gql(t.adminKey, RECORD, {
        input: { idempotencyKey: key('priced'), provider: 'bound', ...usage },
      });
      if (field == null) {
        expect(q.data.quote.cost).toBe(`${MAX}.000000000000`);
        expect(r.data.recordUsage.event.cost).toBe(`${MAX}.000000000000`);
      } else {
        expect(err(q)).toEqual(bad('input', field));
        expect(err(r)).toEqual(bad('input', field));
      }
    }
  });

  it('a summary over many max-size entries answers exactly, across hours and days', async () => {
    const t = await tenant('many-max');
    const now = Date.now();
    const n = 600;
    for (let b = 0; b < n; b += 200) {
      const d = await h.ok(t.adminKey, BATCH, {
        input: Array.from({ length: 200 }, (_, i) => ({
          idempotencyKey: `max-${b + i}`,
          kind: 'CALL',
          cost: MAX,
          quantity: MAX,
          occurredAt: new Date(now - ((b + i) % 60) * 11 * 3600_000).toISOString(),
        })),
      });
      expect(d.recordUsageBatch.created).toBe(200);
    }
    const s = await h.ok(t.adminKey, SUMMARY, { filter: rangeFilter(t.id), granularity: 'DAY' });
    const total = `${BigInt(MAX) * BigInt(n)}.000000000000`; // 6 x 10^17, exactly
    expect(s.usageSummary.totals).toMatchObject({ cost: total, quantity: total });
    expect(String(s.usageSummary.totals.requests)).toBe('600');
    const byDay = s.usageSummary.buckets.reduce((a: bigint, x: any) => a + BigInt(x.totals.cost.split('.')[0]), 0n);
    expect(byDay).toBe(BigInt(MAX) * BigInt(n));
  });
});

describe('one currency per tenant (item 7)', () => {
  it('a tenant is billed in USD unless created with another currency; a malformed one is refused', async () => {
    expect((await tenant('usd')).currency).toBe('USD');
    expect((await tenant('eur', 'EUR')).currency).toBe('EUR');
    const no = await h.gql(OPERATOR_KEY, CREATE_TENANT, { input: { name: 'x', currency: 'euro' } });
    expect(err(no)).toEqual(bad('input', 'currency'));
    const read = await h.ok(OPERATOR_KEY, 'query($id: ID!) { tenant(id: $id) { currency } }', {
      id: (await tenant('read', 'JPY')).id,
    });
    expect(read.tenant.currency).toBe('JPY');
  });

  it('a supplied cost in another currency is refused naming currency (single and batch); the summary still answers', async () => {
    const t = await tenant('mixed');
    const one = await h.gql(t.adminKey, RECORD, {
      input: { idempotencyKey: 'eur-1', kind: 'CALL', cost: '1', currency: 'EUR' },
    });
    expect(err(one)).toEqual(bad('input', 'currency'));
    const d = await h.ok(t.adminKey, BATCH, {
      input: [
        { idempotencyKey: 'm0', kind: 'CALL', cost: '1' },
        { idempotencyKey: 'm1', kind: 'CALL', cost: '2', currency: 'EUR' },
        { idempotencyKey: 'm2', kind: 'CALL', cost: '3', currency: 'USD' },
      ],
    });
    expect(d.recordUsageBatch.results.map((r: any) => r.outcome)).toEqual(['CREATED', 'INVALID', 'CREATED']);
    expect(d.recordUsageBatch.results[1].error).toEqual(bad('currency'));
    expect(d.recordUsageBatch.results[0].event.currency).toBe('USD');
    const s = await h.ok(t.adminKey, SUMMARY, { filter: rangeFilter(t.id) });
    expect(s.usageSummary.totals).toMatchObject({ cost: '4.000000000000', currency: 'USD' });
  });

  it("a EUR tenant's usage defaults to EUR; an empty summary answers in EUR", async () => {
    const t = await tenant('euro-tenant', 'EUR');
    const empty = await h.ok(t.adminKey, SUMMARY, { filter: rangeFilter(t.id) });
    expect(empty.usageSummary.totals).toMatchObject({ cost: '0.000000000000', currency: 'EUR' });
    const r = await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'e1', kind: 'CALL', cost: '2.5' } });
    expect(r.recordUsage.event.currency).toBe('EUR');
    const usd = await h.gql(t.adminKey, RECORD, {
      input: { idempotencyKey: 'e2', kind: 'CALL', cost: '1', currency: 'USD' },
    });
    expect(err(usd)).toEqual(bad('input', 'currency'));
  });

  it('a platform price in EUR prices EUR tenants only: for a USD tenant recordUsage and quote refuse it naming currency', async () => {
    await h.seed.price({ provider: 'eu', model: 'eur-model', currency: 'EUR', perRequest: '0.5' });
    const usd = await tenant('usd-priced');
    const eur = await tenant('eur-priced', 'EUR');
    const usage = { kind: 'CALL', provider: 'eu', model: 'eur-model' };

    expect(err(await h.gql(usd.adminKey, QUOTE, { input: usage }))).toEqual(bad('input', 'currency'));
    const r = await h.gql(usd.adminKey, RECORD, { input: { idempotencyKey: 'p1', ...usage } });
    expect(err(r)).toEqual(bad('input', 'currency'));
    const b = await h.ok(usd.adminKey, BATCH, { input: [{ idempotencyKey: 'p2', ...usage }] });
    expect(b.recordUsageBatch.results[0]).toMatchObject({ outcome: 'INVALID', error: bad('currency') });
    const [{ n }] = await h.sql('SELECT count(*)::int AS n FROM usage_events WHERE tenant_id = $1', [usd.id]);
    expect(n).toBe(0);

    expect((await h.ok(eur.adminKey, QUOTE, { input: usage })).quote).toEqual({
      cost: '0.500000000000',
      currency: 'EUR',
    });
    const ok = await h.ok(eur.adminKey, RECORD, { input: { idempotencyKey: 'p3', ...usage } });
    expect(ok.recordUsage.event).toMatchObject({ cost: '0.500000000000', currency: 'EUR' });
  });

  it("a tenant override must be in the tenant's currency", async () => {
    const usd = await tenant('override-usd');
    const eur = await tenant('override-eur', 'EUR');
    const price = { provider: 'ov', model: 'm', perRequest: '1' };
    const wrong = await h.gql(usd.adminKey, SET_PRICE, { input: { ...price, currency: 'EUR' } });
    expect(err(wrong)).toEqual(bad('input', 'currency'));
    const byOperator = await h.gql(OPERATOR_KEY, SET_PRICE, { input: { ...price, tenantId: usd.id, currency: 'GBP' } });
    expect(err(byOperator)).toEqual(bad('input', 'currency'));
    // SetPriceInput.currency defaults to USD, so a EUR tenant names its currency.
    expect(err(await h.gql(eur.adminKey, SET_PRICE, { input: price }))).toEqual(bad('input', 'currency'));
    const ok = await h.ok(eur.adminKey, SET_PRICE, { input: { ...price, currency: 'EUR' } });
    expect(ok.setPrice.currency).toBe('EUR');
    const rec = await h.ok(eur.adminKey, RECORD, {
      input: { idempotencyKey: 'o1', kind: 'CALL', provider: 'ov', model: 'm' },
    });
    expect(rec.recordUsage.event).toMatchObject({ cost: '1.000000000000', currency: 'EUR' });
  });

  it('a COST quota counts only money of the tenant currency: a cost in another currency never reaches it', async () => {
    const plan = await h.ok(OPERATOR_KEY, UPSERT_PLAN, {
      input: { code: 'cost-cur', name: 'c', limits: [{ metric: 'COST', period: 'DAY', amount: '10' }] },
    });
    const t = await tenant('quota-cur');
    await h.ok(OPERATOR_KEY, 'mutation($input: AssignPlanInput!) { assignPlan(input: $input) { startsAt } }', {
      input: { tenantId: t.id, planCode: 'cost-cur', startsAt: '2020-01-01T00:00:00Z' },
    });
    await h.gql(t.adminKey, RECORD, { input: { idempotencyKey: 'q1', kind: 'CALL', cost: '9', currency: 'JPY' } });
    await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'q2', kind: 'CALL', cost: '3' } });
    const q = await h.ok(t.adminKey, '{ quotaStatus { items { limit { id } used } } }');
    expect(q.quotaStatus.items).toEqual([{ limit: { id: plan.upsertPlan.limits[0].id }, used: '3.000000000000' }]);
  });
});

describe('the TenantCurrency migration', () => {
  it('makes existing tenants USD, except one whose usage is all in one other currency', async () => {
    const db = await openDatabase(await freshDatabase('currency-migration'), { poolSize: 2, migrate: false });
    const qr = db.dataSource.createQueryRunner();
    try {
      const last = migrations.findIndex((m) => m.name === 'TenantCurrency1764374400000');
      for (const M of migrations.slice(0, last)) await new M().up(qr);
      const [none, eur, mixed] = (await qr.query(
        "INSERT INTO tenants (name) VALUES ('none'), ('eur'), ('mixed') RETURNING id",
      )) as { id: string }[];
      await qr.query(
        `INSERT INTO usage_rollups_daily_keys (tenant_id, day, kind, currency, cost)
         VALUES ($1, '2026-01-01', 'CALL', 'EUR', 1), ($1, '2026-01-02', 'CALL', 'EUR', 2),
                ($2, '2026-01-01', 'CALL', 'EUR', 1), ($2, '2026-01-01', 'CALL', 'USD', 1)`,
        [eur?.id, mixed?.id],
      );
      const M = migrations[last] as (typeof migrations)[number];
      await new M().up(qr);
      const rows = (await qr.query('SELECT id, currency FROM tenants')) as { id: string; currency: string }[];
      const currency = new Map(rows.map((r) => [r.id, r.currency]));
      expect([none, eur, mixed].map((t) => currency.get(t?.id as string))).toEqual(['USD', 'EUR', 'USD']);
      // A tenant with ledger entries keeps its currency.
      await qr.query(
        `INSERT INTO usage_events (id, tenant_id, idempotency_key, fingerprint, kind, model_source, status, requests,
           input_tokens, output_tokens, cached_input_tokens, cache_write_input_tokens, reasoning_tokens, cost, currency, occurred_at)
         VALUES (gen_random_uuid(), $1, 'k', '\\x00', 'CALL', 'VENDOR', 'SUCCEEDED', 1, 0, 0, 0, 0, 0, 1, 'USD', now())`,
        [mixed?.id],
      );
      await expect(qr.query("UPDATE tenants SET currency = 'EUR' WHERE id = $1", [mixed?.id])).rejects.toThrow(
        /ledger entries: UPDATE of its currency/,
      );
      await qr.query("UPDATE tenants SET currency = 'GBP' WHERE id = $1", [none?.id]);
    } finally {
      await qr.release();
      await db.close();
    }
  });
});
