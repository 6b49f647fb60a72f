// No N+1: the number of SQL statements a request sends does not grow with the number of
// objects it returns. Counted with h.db.queryCount() around one request at a time (requests
// run sequentially; the calling key is warmed first, since its auth lookup is cached).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../server/src/lib/errors';
import { createHarness, type GqlResult, type Harness, RECORD, type SeededTenant } from './support/harness';

const CONTRACT_CODES = new Set<string>(ERROR_CODES);
const MAX_STATEMENTS = 6;
const DAY = 86_400_000;
const HOUR = 3_600_000;

let h: Harness;
beforeAll(async () => {
  h = await createHarness('n-plus-one');
});
afterAll(async () => h?.close());

/** Runs `query` once to warm the key's auth cache, then once more counting statements. */
async function counted(key: string, query: string, variables: Record<string, unknown>) {
  const warm = await h.gql(key, query, variables);
  expect(warm.errors, JSON.stringify(warm.errors)).toBeUndefined();
  const before = h.db.queryCount();
  const r: GqlResult = await h.gql(key, query, variables);
  const statements = h.db.queryCount() - before;
  for (const e of r.errors ?? []) expect(CONTRACT_CODES.has(e.extensions?.code as string)).toBe(true);
  expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return { data: r.data, statements };
}

describe('tenant { apiKeys { usage tenant } }', () => {
  const QUERY = `query($id: ID!, $from: DateTime!, $to: DateTime!) {
    tenant(id: $id) { apiKeys { id usage(from: $from, to: $to) { requests cost } tenant { id } } } }`;

  /** A tenant with `n` keys (the admin key included); keys i % 3 == 0 get (i % 5) + 1 events of cost i. */
  async function tenantWithKeys(n: number) {
    const t: SeededTenant = await h.seed.tenant(`keys-${n}`);
    const keys: string[] = [t.adminKeyId];
    for (let i = 1; i < n; i++) keys.push((await t.key(i % 2 ? ['READ'] : ['INGEST'], `k${i}`)).id);
    const expected = new Map<string, { requests: number; cost: number }>();
    for (const [i, id] of keys.entries()) {
      const events = i % 3 === 0 ? (i % 5) + 1 : 0;
      for (let e = 0; e < events; e++)
        await h.ok(t.adminKey, RECORD, {
          input: { idempotencyKey: `${id}-${e}`, apiKeyId: id, kind: 'CALL', cost: String(i) },
        });
      expected.set(id, { requests: events, cost: events * i });
    }
    return { t, keys, expected };
  }

  async function check(n: number) {
    const { t, keys, expected } = await tenantWithKeys(n);
    const vars = {
      id: t.id,
      from: new Date(Date.now() - DAY).toISOString(),
      to: new Date(Date.now() + DAY).toISOString(),
    };
    const { data, statements } = await counted(t.adminKey, QUERY, vars);
    const got = data.tenant.apiKeys as {
      id: string;
      usage: { requests: number; cost: string };
      tenant: { id: string };
    }[];
    expect(got.map((k) => k.id).sort()).toEqual([...keys].sort());
    for (const k of got) {
      const want = expected.get(k.id)!;
      expect(k.usage.requests, k.id).toBe(want.requests);
      expect(Number(k.usage.cost), k.id).toBe(want.cost);
      expect(k.tenant.id).toBe(t.id);
    }
    // The test data really does hold usage on several keys and none on others.
    expect(got.filter((k) => k.usage.requests > 0).length).toBeGreaterThan(2);
    expect(got.filter((k) => k.usage.requests === 0).length).toBeGreaterThan(2);
    return statements;
  }

  it('runs the same few statements for 100 keys as for 10', async () => {
    const ten = await check(10);
    const hundred = await check(100);
    expect(hundred).toBe(ten);
    expect(hundred).toBeLessThanOrEqual(MAX_STATEMENTS);
    expect(hundred).toBeGreaterThan(0);
  });
});

describe('usageEvents { edges { node { apiKey tenant price reverses } } }', () => {
  const QUERY = `query($filter: UsageFilter!, $first: Int) {
    usageEvents(filter: $filter, first: $first) {
      edges { node { id apiKey { id } tenant { id } price { id } reverses { id } } } pageInfo { hasNextPage } } }`;
  const BATCH = `mutation($input: [RecordUsageInput!]!) {
    recordUsageBatch(input: $input) { created rejected results { outcome error { code field } event { id } } } }`;
  const REVERSE = `mutation($input: ReverseUsageInput!) { reverseUsage(input: $input) { outcome event { id } } }`;

  const now = Date.now();
  // Four platform price versions of one model; events fall in all of them.
  const versionStarts = [10 * DAY, 6 * DAY, 3 * DAY, 1 * DAY].map((ago) => now - ago);
  let versionIds: string[] = [];
  const versionAt = (t: number) => {
    let v = -1;
    for (const [i, s] of versionStarts.entries()) if (s <= t) v = i;
    return versionIds[v] as string;
  };

  beforeAll(async () => {
    versionIds = [];
    for (const [i, from] of versionStarts.entries())
      versionIds.push(
        (
          await h.seed.price({
            provider: 'np-ai',
            model: 'np-m',
            inputPerMillion: String(i + 1),
            outputPerMillion: '1',
            effectiveFrom: new Date(from).toISOString(),
          })
        ).id,
      );
  });

  interface Expected {
    apiKeyId: string;
    priceId: string;
    reversesId: string | null;
  }

  /** A tenant with `total` ledger entries: total - 5 recorded in one batch over 20 keys, plus 5 reversals. */
  async function tenantWithEvents(total: number) {
    const t = await h.seed.tenant(`events-${total}`);
    const keys: string[] = [t.adminKeyId];
    for (let i = 1; i < 20; i++) keys.push((await t.key(['INGEST'], `e${i}`)).id);
    const originals = total - 5;
    const span = 9 * DAY - HOUR;
    const items = Array.from({ length: originals }, (_, i) => {
      const at = now - HOUR - Math.floor((span * i) / originals) - 1000;
      return {
        idempotencyKey: `ev-${i}`,
        apiKeyId: keys[i % keys.length],
        kind: 'LLM',
        provider: 'np-ai',
        model: 'np-m',
        inputTokens: 1000 + i,
        outputTokens: 10,
        occurredAt: new Date(at).toISOString(),
      };
    });
    const b = await h.ok(t.adminKey, BATCH, { input: items });
    expect(b.recordUsageBatch).toMatchObject({ created: originals, rejected: 0 });
    const expected = new Map<string, Expected>();
    b.recordUsageBatch.results.forEach((r: { event: { id: string } }, i: number) => {
      const item = items[i]!;
      expected.set(r.event.id, {
        apiKeyId: item.apiKeyId as string,
        priceId: versionAt(Date.parse(item.occurredAt)),
        reversesId: null,
      });
    });
    // Reverse five originals, spread over the range (so over several versions and keys).
    const ids = b.recordUsageBatch.results.map((r: { event: { id: string } }) => r.event.id) as string[];
    for (let j = 0; j < 5; j++) {
      const orig = ids[Math.floor((j * originals) / 5) + j] as string;
      const rv = await h.ok(t.adminKey, REVERSE, { input: { eventId: orig, idempotencyKey: `rev-${j}` } });
      expect(rv.reverseUsage.outcome).toBe('CREATED');
      const o = expected.get(orig)!;
      expected.set(rv.reverseUsage.event.id, { ...o, reversesId: orig });
    }
    return { t, keys, expected };
  }

  async function check(total: number) {
    const { t, expected } = await tenantWithEvents(total);
    const vars = {
      filter: { from: new Date(now - 11 * DAY).toISOString(), to: new Date(now + DAY).toISOString() },
      first: 500,
    };
    const { data, statements } = await counted(t.adminKey, QUERY, vars);
    const edges = data.usageEvents.edges as {
      node: {
        id: string;
        apiKey: { id: string };
        tenant: { id: string };
        price: { id: string };
        reverses: { id: string } | null;
      };
    }[];
    expect(edges).toHaveLength(total);
    expect(data.usageEvents.pageInfo.hasNextPage).toBe(false);
    for (const { node } of edges) {
      const want = expected.get(node.id);
      expect(want, node.id).toBeDefined();
      expect(node.apiKey.id).toBe(want!.apiKeyId);
      expect(node.tenant.id).toBe(t.id);
      expect(node.price?.id).toBe(want!.priceId);
      expect(node.reverses?.id ?? null).toBe(want!.reversesId);
    }
    // The page really spans many keys, every price version, and some reversals.
    expect(new Set(edges.map((e) => e.node.apiKey.id)).size).toBe(20);
    expect(new Set(edges.map((e) => e.node.price.id))).toEqual(new Set(versionIds));
    expect(edges.filter((e) => e.node.reverses).length).toBe(5);
    return statements;
  }

  it('runs the same few statements over 500 events as over 50', async () => {
    const fifty = await check(50);
    const fiveHundred = await check(500);
    expect(fiveHundred).toBe(fifty);
    expect(fiveHundred).toBeLessThanOrEqual(MAX_STATEMENTS);
    expect(fiveHundred).toBeGreaterThan(0);
  });
});
