// Writing the price book: setPrices is all or nothing with every refused item named by its
// index; setting the price already in force adds no version (a nightly sync adds nothing); a
// version may not start at or before usage the version it takes over from already priced,
// and that holds against recordings running at the same time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY, RECORD, type SeededTenant } from '../support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('pricing-book');
});
afterAll(async () => h?.close());

const SET = 'mutation($input: SetPriceInput!) { setPrice(input: $input) { id effectiveFrom effectiveTo } }';
const SET_MANY = `mutation($input: SetPricesInput!) {
  setPrices(input: $input) { created unchanged rejected results { index outcome price { id } error { code field } } }
}`;
const LONG_AGO = '2020-01-01T00:00:00.000Z';
const minutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();
const versions = async (model: string) =>
  (await h.sql('SELECT count(*)::int AS n FROM prices WHERE model = $1', [model]))[0].n as number;

describe('setting the price already in force', () => {
  it('adds no version and answers the version in force; a change adds exactly one', async () => {
    const input = {
      provider: 'acme',
      model: 'same-m',
      inputPerMillion: '1.5',
      tiers: [{ aboveInputTokens: 10, inputPerMillion: '3' }],
    };
    const first = (await h.ok(OPERATOR_KEY, SET, { input: { ...input, effectiveFrom: LONG_AGO } })).setPrice;
    // Spelled differently, same values: still the same price.
    const again = (await h.ok(OPERATOR_KEY, SET, { input: { ...input, inputPerMillion: '1.500' } })).setPrice;
    expect(again).toEqual(first);
    expect(await versions('same-m')).toBe(1);
    const changed = (
      await h.ok(OPERATOR_KEY, SET, { input: { ...input, tiers: [{ aboveInputTokens: 10, inputPerMillion: '4' }] } })
    ).setPrice;
    expect(changed.id).not.toBe(first.id);
    expect(await versions('same-m')).toBe(2);
    const [old] = await h.sql('SELECT effective_to AS t FROM prices WHERE id = $1', [first.id]);
    expect(old.t.toISOString()).toBe(changed.effectiveFrom);
  });
});

describe('setPrices', () => {
  const item = (model: string, extra: Record<string, unknown> = {}) => ({
    provider: 'batch',
    model,
    inputPerMillion: '1',
    outputPerMillion: '2',
    effectiveFrom: LONG_AGO,
    ...extra,
  });

  it('writes nothing of a batch with a bad item, and names every bad item by its index', async () => {
    const r = await h.ok(OPERATOR_KEY, SET_MANY, {
      input: {
        prices: [
          item('b-0'),
          item('b-1', { inputPerMillion: '-1' }),
          item('b-2'),
          item('b-3', { outputPerMillion: 'twelve' }), // refused by the Decimal scalar, still per item
          item('b-4', { tiers: [{ aboveInputTokens: 0, inputPerMillion: '1' }] }),
          item('b-0', { inputPerMillion: '3' }), // the same price twice in one batch
        ],
      },
    });
    expect(r.setPrices).toMatchObject({ created: 0, unchanged: 0, rejected: 4 });
    expect(r.setPrices.results.map((x: { outcome: string }) => x.outcome)).toEqual([
      'NOT_WRITTEN',
      'INVALID',
      'NOT_WRITTEN',
      'INVALID',
      'INVALID',
      'INVALID',
    ]);
    expect(r.setPrices.results.map((x: { error: { field: string[] } | null }) => x.error?.field ?? null)).toEqual([
      null,
      ['input', 'prices', '1', 'inputPerMillion'],
      null,
      ['input', 'prices', '3', 'outputPerMillion'],
      ['input', 'prices', '4', 'tiers', '0', 'aboveInputTokens'],
      ['input', 'prices', '5', 'model'],
    ]);
    expect(r.setPrices.results.every((x: { price: unknown }) => x.price === null)).toBe(true);
    expect(await h.sql("SELECT model FROM prices WHERE provider = 'batch'")).toEqual([]);
  });

  it('a clean batch is written at once; sent again it adds nothing; one change adds one version', async () => {
    const prices = ['c-0', 'c-1', 'c-2'].map((m) => item(m));
    const first = (await h.ok(OPERATOR_KEY, SET_MANY, { input: { prices } })).setPrices;
    expect(first).toMatchObject({ created: 3, unchanged: 0, rejected: 0 });
    expect(first.results.map((x: { index: number }) => x.index)).toEqual([0, 1, 2]);
    const again = (
      await h.ok(OPERATOR_KEY, SET_MANY, { input: { prices: prices.map((p) => ({ ...p, effectiveFrom: null })) } })
    ).setPrices;
    expect(again).toMatchObject({ created: 0, unchanged: 3, rejected: 0 });
    expect(again.results.map((x: { price: { id: string } }) => x.price.id)).toEqual(
      first.results.map((x: { price: { id: string } }) => x.price.id),
    );
    const changed = (
      await h.ok(OPERATOR_KEY, SET_MANY, {
        input: { prices: [item('c-0'), item('c-1', { outputPerMillion: '2.5', effectiveFrom: null }), item('c-2')] },
      })
    ).setPrices;
    expect(changed).toMatchObject({ created: 1, unchanged: 2 });
    expect(changed.results[1].outcome).toBe('CREATED');
    expect(
      await h.sql("SELECT model, count(*)::int AS n FROM prices WHERE model LIKE 'c-%' GROUP BY 1 ORDER BY 1"),
    ).toEqual([
      { model: 'c-0', n: 1 },
      { model: 'c-1', n: 2 },
      { model: 'c-2', n: 1 },
    ]);
  });

  it('refuses more than 500 prices in one call', async () => {
    const r = await h.gql(OPERATOR_KEY, SET_MANY, {
      input: { prices: Array.from({ length: 501 }, (_, i) => item(`many-${i}`)) },
    });
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'prices'] });
  });

  it("a tenant's admin sets only its own overrides, in its own currency", async () => {
    const a = await h.seed.tenant('batch-a');
    const b = await h.seed.tenant('batch-b');
    const r = await h.ok(a.adminKey, SET_MANY, {
      input: {
        prices: [
          { provider: 'own', model: 'o-1', perRequest: '1' },
          { provider: 'own', model: 'o-2', perRequest: '1', tenantId: b.id },
          { provider: 'own', model: 'o-3', perRequest: '1', currency: 'EUR' },
        ],
      },
    });
    expect(r.setPrices.results.map((x: { error: unknown }) => x.error)).toEqual([
      null,
      { code: 'FORBIDDEN', field: null },
      { code: 'BAD_USER_INPUT', field: ['input', 'prices', '2', 'currency'] },
    ]);
    const ok = await h.ok(a.adminKey, SET_MANY, {
      input: { prices: [{ provider: 'own', model: 'o-1', perRequest: '1' }] },
    });
    expect(ok.setPrices.created).toBe(1);
    expect(await h.sql("SELECT tenant_id AS t FROM prices WHERE model = 'o-1'")).toEqual([{ t: a.id }]);
  });
});

describe('a new version may not start before usage already priced by the version it takes over from', () => {
  let t: SeededTenant;
  let other: SeededTenant;
  beforeAll(async () => {
    t = await h.seed.tenant('backdate');
    other = await h.seed.tenant('backdate-other');
  });
  const record = (key: string, model: string, occurredAt: string, extra: Record<string, unknown> = {}) =>
    h.ok(t.adminKey, RECORD, {
      input: { idempotencyKey: key, kind: 'LLM', provider: 'back', model, inputTokens: 1000, occurredAt, ...extra },
    });

  it('refuses effectiveFrom at or before such an entry, naming effectiveFrom; after it is fine', async () => {
    const v1 = (
      await h.ok(OPERATOR_KEY, SET, {
        input: { provider: 'back', model: 'bm', inputPerMillion: '1', effectiveFrom: LONG_AGO },
      })
    ).setPrice;
    const e = (await record('bd-1', 'bm', minutes(-60))).recordUsage.event;
    expect(e.price.id).toBe(v1.id);
    for (const from of [minutes(-90), e.occurredAt]) {
      const r = await h.gql(OPERATOR_KEY, SET, {
        input: { provider: 'back', model: 'bm', inputPerMillion: '2', effectiveFrom: from },
      });
      expect(r.errors?.[0]?.extensions, from).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: ['input', 'effectiveFrom'],
      });
      expect(r.errors?.[0]?.message).toContain(e.occurredAt);
    }
    expect(await versions('bm')).toBe(1);
    const after = new Date(Date.parse(e.occurredAt) + 1).toISOString();
    const v2 = (
      await h.ok(OPERATOR_KEY, SET, {
        input: { provider: 'back', model: 'bm', inputPerMillion: '2', effectiveFrom: after },
      })
    ).setPrice;
    expect(v2.effectiveFrom).toBe(after);
    // Usage the caller priced itself, and usage before the first version, constrain nothing.
    await record('bd-own-cost', 'bm2', minutes(-30), { cost: '1' });
    await h.ok(OPERATOR_KEY, SET, {
      input: { provider: 'back', model: 'bm2', inputPerMillion: '1', effectiveFrom: minutes(-60) },
    });
    await h.ok(OPERATOR_KEY, SET, {
      input: { provider: 'back', model: 'bm2', inputPerMillion: '3', effectiveFrom: minutes(-120) },
    });
    expect(await versions('bm2')).toBe(2);
  });

  it('counts usage dated ahead of now: a price from now on cannot take over a future-dated entry', async () => {
    await h.ok(OPERATOR_KEY, SET, {
      input: { provider: 'back', model: 'fm', inputPerMillion: '1', effectiveFrom: LONG_AGO },
    });
    await record('bd-future', 'fm', minutes(3));
    const r = await h.gql(OPERATOR_KEY, SET, { input: { provider: 'back', model: 'fm', inputPerMillion: '2' } });
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'effectiveFrom'] });
  });

  it("a tenant override may not take over the tenant's usage the platform price already priced; another tenant's may", async () => {
    await h.ok(OPERATOR_KEY, SET, {
      input: { provider: 'back', model: 'om', inputPerMillion: '1', effectiveFrom: LONG_AGO },
    });
    await record('bd-o', 'om', minutes(-60));
    const own = { provider: 'back', model: 'om', inputPerMillion: '0.5', effectiveFrom: minutes(-120) };
    const r = await h.gql(t.adminKey, SET, { input: own });
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'effectiveFrom'] });
    await h.ok(other.adminKey, SET, { input: own });
    await h.ok(t.adminKey, SET, { input: { ...own, effectiveFrom: minutes(-30) } });
  });

  it('in a batch, the refused backdated item keeps the whole batch out', async () => {
    await h.ok(OPERATOR_KEY, SET, {
      input: { provider: 'back', model: 'xm', inputPerMillion: '1', effectiveFrom: LONG_AGO },
    });
    await record('bd-x', 'xm', minutes(-10));
    const r = await h.ok(OPERATOR_KEY, SET_MANY, {
      input: {
        prices: [
          { provider: 'back', model: 'xm-new', inputPerMillion: '1', effectiveFrom: minutes(-20) },
          { provider: 'back', model: 'xm', inputPerMillion: '2', effectiveFrom: minutes(-20) },
        ],
      },
    });
    expect(r.setPrices.results.map((x: { outcome: string }) => x.outcome)).toEqual(['NOT_WRITTEN', 'INVALID']);
    expect(r.setPrices.results[1].error.field).toEqual(['input', 'prices', '1', 'effectiveFrom']);
    expect(await versions('xm-new')).toBe(0);
  });

  it('holds against recordings running at the same time: every entry was priced by a version in force at its occurredAt', async () => {
    // Entries dated 2 minutes ahead, recorded while price changes from 1 minute ahead race
    // them: each change either sees an entry it would contradict (and is refused) or commits
    // before any such entry is priced (which then pays the new version).
    for (let round = 0; round < 6; round++) {
      const model = `race-${round}`;
      await h.ok(OPERATOR_KEY, SET, {
        input: { provider: 'back', model, inputPerMillion: '1', effectiveFrom: LONG_AGO },
      });
      const at = minutes(2);
      const recordings = Array.from({ length: 30 }, (_, i) =>
        h.gql(t.adminKey, RECORD, {
          input: {
            idempotencyKey: `${model}-${i}`,
            kind: 'LLM',
            provider: 'back',
            model,
            inputTokens: 1_000_000,
            occurredAt: at,
          },
        }),
      );
      const changes = [1, 2, 3].map((k) =>
        h.gql(OPERATOR_KEY, SET, {
          input: { provider: 'back', model, inputPerMillion: String(1 + k), effectiveFrom: minutes(1 - k / 10) },
        }),
      );
      const done = await Promise.all([...recordings, ...changes]);
      for (const r of done.slice(0, 30)) expect(r.errors).toBeUndefined();
      for (const r of done.slice(30))
        if (r.errors) expect(r.errors[0]?.extensions?.field).toEqual(['input', 'effectiveFrom']);
      const contradicted = await h.sql(
        `SELECT e.id FROM usage_events e JOIN prices p ON p.id = e.price_id
          WHERE e.model = $1 AND NOT (p.effective_from <= e.occurred_at AND (p.effective_to IS NULL OR e.occurred_at < p.effective_to))`,
        [model],
      );
      expect(contradicted, model).toEqual([]);
      // and each entry's cost is what its version charges
      const wrong = await h.sql(
        `SELECT e.id FROM usage_events e JOIN prices p ON p.id = e.price_id WHERE e.model = $1 AND e.cost <> p.input_per_million`,
        [model],
      );
      expect(wrong).toEqual([]);
    }
  });
});

describe('the hot path', () => {
  it('pricing a recording costs one statement (the lookup), the model locks none', async () => {
    const t = await h.seed.tenant('hot');
    await h.ok(OPERATOR_KEY, SET, {
      input: { provider: 'hot', model: 'hm', inputPerMillion: '1', effectiveFrom: LONG_AGO },
    });
    // Without `price { id }` in the answer (its loader would add a statement of its own).
    const plain = 'mutation($input: RecordUsageInput!) { recordUsage(input: $input) { outcome event { cost } } }';
    const rec = (key: string, extra: Record<string, unknown>) =>
      h.ok(t.adminKey, plain, {
        input: { idempotencyKey: key, kind: 'LLM', provider: 'hot', model: 'hm', inputTokens: 5, ...extra },
      });
    await rec('warm-1', {});
    await rec('warm-2', { cost: '1' });
    const count = async (key: string, extra: Record<string, unknown>) => {
      const before = h.db.queryCount();
      await rec(key, extra);
      return h.db.queryCount() - before;
    };
    const priced = await count('hot-priced', {});
    const supplied = await count('hot-supplied', { cost: '1' });
    expect(priced).toBe(supplied + 1);
  });
});
