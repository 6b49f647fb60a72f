// Tenant isolation: a tenant's keys (ADMIN, READ, INGEST) can never see, change or attribute
// to another tenant's objects. Every implemented operation is driven from one table; each
// attempt must fail with FORBIDDEN or NOT_FOUND, leak nothing of the other tenant in the
// response, and leave the database exactly as it was.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../server/src/lib/errors';
import {
  createHarness,
  type GqlResult,
  type Harness,
  OPERATOR_KEY,
  RECORD,
  type SeededTenant,
} from './support/harness';

// The contract's error codes (contract.graphql, end of file).
const CONTRACT_CODES = new Set<string>(ERROR_CODES);
const DENIED = ['FORBIDDEN', 'NOT_FOUND'];

let h: Harness;

/** h.gql that also checks every error carries a contract code and no internals. */
async function gql(key: string | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult> {
  const r = await h.gql(key, query, variables);
  for (const e of r.errors ?? []) {
    expect(CONTRACT_CODES.has(e.extensions?.code as string), `code of ${JSON.stringify(e)}`).toBe(true);
    expect(e.message).not.toMatch(/\b(SELECT|INSERT|UPDATE|DELETE)\b|relation "|violates|QueryFailedError/);
  }
  return r;
}

const DAY = 86_400_000;
const range = () => ({ from: new Date(Date.now() - DAY).toISOString(), to: new Date(Date.now() + DAY).toISOString() });

type Key = { secret: string; id: string };
interface World {
  a: SeededTenant;
  b: SeededTenant;
  aKeys: Record<'ADMIN' | 'READ' | 'INGEST', Key>;
  bRead: Key;
  bIngest: Key;
  /** A subject token of A (for one of A's subjects). */
  aToken: Key;
  aEvents: string[];
  bEvents: string[];
  bPriceIds: string[];
  platformPriceId: string;
}
let w: World;

const B_NAME = 'tenant-b-confidential-name';

beforeAll(async () => {
  h = await createHarness('isolation');
  const a = await h.seed.tenant('tenant-a-visible-name');
  const b = await h.seed.tenant(B_NAME, 'Europe/Paris');
  const aKeys = {
    ADMIN: { secret: a.adminKey, id: a.adminKeyId },
    READ: await a.key(['READ']),
    INGEST: await a.key(['INGEST']),
  };
  const bRead = await b.key(['READ']);
  const bIngest = await b.key(['INGEST']);
  const minted = await h.ok(a.adminKey, 'mutation { createSubjectToken(input: { subject: "a-subject" }) { token } }');
  const aToken = { secret: minted.createSubjectToken.token as string, id: '' };
  const platform = await h.seed.price({ provider: 'iso-ai', model: 'iso-m', inputPerMillion: '1' });
  // B's own overrides: one for the shared model, one for a model only B has a price for.
  const bShared = await h.seed.price({ provider: 'iso-ai', model: 'iso-m', inputPerMillion: '99' }, b.adminKey);
  const bOnly = await h.seed.price({ provider: 'iso-ai', model: 'b-only-model', perRequest: '7' }, b.adminKey);

  const record = async (key: string, input: Record<string, unknown>) =>
    (await h.ok(key, RECORD, { input })).recordUsage.event.id as string;
  const aEvents = [
    await record(a.adminKey, { idempotencyKey: 'a-1', kind: 'CALL', cost: '1' }),
    await record(aKeys.INGEST.secret, { idempotencyKey: 'a-2', kind: 'LLM', model: 'iso-m', inputTokens: 1000 }),
    await record(a.adminKey, { idempotencyKey: 'a-3', kind: 'CALL', cost: '2', apiKeyId: aKeys.READ.id }),
  ];
  const bEvents = [
    await record(b.adminKey, { idempotencyKey: 'b-1', kind: 'CALL', cost: '10', subject: 'b-subject' }),
    await record(bIngest.secret, { idempotencyKey: 'b-2', kind: 'LLM', model: 'iso-m', inputTokens: 1000 }),
    await record(b.adminKey, { idempotencyKey: 'shared-key', kind: 'LLM', model: 'b-only-model', apiKeyId: bRead.id }),
  ];
  w = {
    a,
    b,
    aKeys,
    bRead,
    bIngest,
    aToken,
    aEvents,
    bEvents,
    bPriceIds: [bShared.id, bOnly.id],
    platformPriceId: platform.id,
  };
});
afterAll(async () => h?.close());

/** Everything a denied request could have written, anywhere. */
async function snapshot() {
  return {
    keys: await h.sql('SELECT id, tenant_id, name, scopes, revoked_at FROM api_keys ORDER BY id'),
    tenants: await h.sql('SELECT id, name, timezone FROM tenants ORDER BY id'),
    prices: await h.sql(
      'SELECT id, tenant_id, effective_from, effective_to, input_per_million::text AS r FROM prices ORDER BY id',
    ),
    events: await h.sql('SELECT id, tenant_id, api_key_id FROM usage_events ORDER BY id'),
    tokens: await h.sql('SELECT id, tenant_id, subject FROM subject_tokens ORDER BY id'),
    memberships: await h.sql('SELECT id, tenant_id, subject, ends_at FROM memberships ORDER BY id'),
    rollups: await h.sql(
      `SELECT tenant_id, api_key_id, sum(requests)::text AS r, sum(cost)::text AS c
         FROM usage_rollups_hourly GROUP BY tenant_id, api_key_id ORDER BY tenant_id, api_key_id`,
    ),
  };
}

/** B's identifying values that a response to A must never contain (unless A sent them). */
function leakMarkers(sent: string): string[] {
  return [B_NAME, w.b.id, w.b.adminKeyId, w.bRead.id, w.bIngest.id, ...w.bEvents, ...w.bPriceIds, 'b-subject'].filter(
    (m) => !sent.includes(m),
  );
}

interface Case {
  name: string;
  query: string;
  vars: () => Record<string, unknown>;
  /** Error codes the response carries: top-level errors, or per-item errors for batches. */
  codes?: (r: GqlResult) => string[];
}

const topLevelCodes = (r: GqlResult) => (r.errors ?? []).map((e) => e.extensions?.code as string);

const TENANT_ALL = `query($id: ID!, $from: DateTime!, $to: DateTime!) {
  tenant(id: $id) { id name timezone createdAt usage(from: $from, to: $to) { requests cost }
    apiKeys(includeRevoked: true) { id name prefix scopes createdAt lastUsedAt revokedAt tenant { id }
      usage(from: $from, to: $to) { requests cost } } } }`;
const EVENTS = `query($filter: UsageFilter!) { usageEvents(filter: $filter) {
  edges { node { id tenant { id name } apiKey { id } subject cost } } pageInfo { hasNextPage } } }`;
const SUMMARY = `query($filter: UsageFilter!, $groupBy: [UsageDimension!]) {
  usageSummary(filter: $filter, groupBy: $groupBy) { totals { requests cost } buckets { apiKey { id } subject totals { requests } } } }`;
const BATCH = `mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) {
  created duplicates rejected results { index outcome event { id tenant { id } apiKey { id } } error { code field } } } }`;
const REVERSE = `mutation($input: ReverseUsageInput!) { reverseUsage(input: $input) { outcome event { id tenant { id } reverses { id } } } }`;

const CASES: Case[] = [
  {
    name: 'tenant(id: B)',
    query: 'query($id: ID!) { tenant(id: $id) { id name timezone createdAt } }',
    vars: () => ({ id: w.b.id }),
  },
  {
    name: 'tenant(id: B) with apiKeys, usage and ApiKey.usage',
    query: TENANT_ALL,
    vars: () => ({ id: w.b.id, ...range() }),
  },
  {
    name: 'tenant(id: B) { apiKeys }',
    query: 'query($id: ID!) { tenant(id: $id) { apiKeys { id name } } }',
    vars: () => ({ id: w.b.id }),
  },
  {
    name: 'usageEvents(filter.tenantId: B)',
    query: EVENTS,
    vars: () => ({ filter: { tenantId: w.b.id, ...range() } }),
  },
  {
    name: "usageEvents(filter.apiKeyId: B's key)",
    query: EVENTS,
    vars: () => ({ filter: { apiKeyId: w.b.adminKeyId, ...range() } }),
  },
  {
    name: "usageEvents(filter.tenantId: B, apiKeyId: B's key)",
    query: EVENTS,
    vars: () => ({ filter: { tenantId: w.b.id, apiKeyId: w.bRead.id, ...range() } }),
  },
  {
    name: 'usageSummary(filter.tenantId: B)',
    query: SUMMARY,
    vars: () => ({ filter: { tenantId: w.b.id, ...range() }, groupBy: ['API_KEY', 'SUBJECT'] }),
  },
  {
    name: "usageSummary(filter.apiKeyId: B's key)",
    query: SUMMARY,
    vars: () => ({ filter: { apiKeyId: w.bIngest.id, ...range() }, groupBy: ['API_KEY'] }),
  },
  {
    name: 'prices(tenantId: B)',
    query: 'query($t: ID) { prices(tenantId: $t) { id tenantId inputPerMillion } }',
    vars: () => ({ t: w.b.id }),
  },
  {
    name: 'quote(tenantId: B)',
    query: 'query($input: QuoteInput!) { quote(input: $input) { cost currency price { id tenantId } } }',
    vars: () => ({ input: { tenantId: w.b.id, kind: 'LLM', provider: 'iso-ai', model: 'b-only-model' } }),
  },
  {
    name: 'recordUsage(tenantId: B)',
    query: RECORD,
    vars: () => ({ input: { idempotencyKey: 'x-tenant', tenantId: w.b.id, kind: 'CALL', cost: '5' } }),
  },
  {
    name: "recordUsage(apiKeyId: B's key)",
    query: RECORD,
    vars: () => ({ input: { idempotencyKey: 'x-key', apiKeyId: w.bIngest.id, kind: 'CALL', cost: '5' } }),
  },
  {
    name: "recordUsage(tenantId: B, apiKeyId: B's key)",
    query: RECORD,
    vars: () => ({
      input: { idempotencyKey: 'x-both', tenantId: w.b.id, apiKeyId: w.b.adminKeyId, kind: 'CALL', cost: '5' },
    }),
  },
  {
    name: "recordUsageBatch with tenantId B / B's apiKeyId",
    query: BATCH,
    vars: () => ({
      input: [
        { idempotencyKey: 'xb-1', tenantId: w.b.id, kind: 'CALL', cost: '5' },
        { idempotencyKey: 'xb-2', apiKeyId: w.bRead.id, kind: 'CALL', cost: '5' },
        { idempotencyKey: 'xb-3', tenantId: w.b.id, apiKeyId: w.bRead.id, kind: 'CALL', cost: '5' },
      ],
    }),
    codes: (r) => {
      if (r.errors?.length) return topLevelCodes(r);
      const b = r.data.recordUsageBatch;
      expect(b).toMatchObject({ created: 0, duplicates: 0, rejected: 3 });
      for (const item of b.results) {
        expect(item.outcome).toBe('INVALID');
        expect(item.event).toBeNull();
      }
      return b.results.map((x: { error: { code: string } }) => x.error.code);
    },
  },
  {
    name: "reverseUsage(B's event)",
    query: REVERSE,
    vars: () => ({ input: { eventId: w.bEvents[0], idempotencyKey: 'x-rev', reason: 'steal' } }),
  },
  {
    name: "reverseUsage(B's LLM event)",
    query: REVERSE,
    vars: () => ({ input: { eventId: w.bEvents[1], idempotencyKey: 'x-rev-2' } }),
  },
  {
    name: 'createTenant (operator only)',
    query: 'mutation { createTenant(input: { name: "hijack" }) { secret apiKey { id tenant { id } } } }',
    vars: () => ({}),
  },
  {
    name: 'createApiKey(tenantId: B)',
    query:
      'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id tenant { id } } } }',
    vars: () => ({ input: { tenantId: w.b.id, name: 'backdoor', scopes: ['ADMIN'] } }),
  },
  {
    name: "revokeApiKey(B's admin key)",
    query: 'mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt tenant { id } } }',
    vars: () => ({ id: w.b.adminKeyId }),
  },
  {
    name: "revokeApiKey(B's ingest key)",
    query: 'mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }',
    vars: () => ({ id: w.bIngest.id }),
  },
  {
    name: 'setPrice(tenantId: B)',
    query: 'mutation($input: SetPriceInput!) { setPrice(input: $input) { id tenantId effectiveFrom } }',
    vars: () => ({ input: { tenantId: w.b.id, provider: 'iso-ai', model: 'iso-m', inputPerMillion: '0.001' } }),
  },
  {
    name: 'createSubjectToken(tenantId: B)',
    query: 'mutation($input: CreateSubjectTokenInput!) { createSubjectToken(input: $input) { token subject } }',
    vars: () => ({ input: { tenantId: w.b.id, subject: 'b-subject' } }),
  },
  {
    name: 'tenant(id: B) { subjectMemberships }',
    query: 'query($id: ID!) { tenant(id: $id) { subjectMemberships { edges { node { subject } } } } }',
    vars: () => ({ id: w.b.id }),
  },
  {
    name: "quotaStatus(tenantId: B, subject: B's subject)",
    query: 'query($t: ID) { quotaStatus(tenantId: $t, subject: "b-subject") { tenantId subject items { used } } }',
    vars: () => ({ t: w.b.id }),
  },
  {
    name: 'setPrice(tenantId: B) for a new model',
    query: 'mutation($input: SetPriceInput!) { setPrice(input: $input) { id tenantId } }',
    vars: () => ({ input: { tenantId: w.b.id, provider: 'iso-ai', model: 'planted', perRequest: '1' } }),
  },
];

describe("a tenant's keys never reach another tenant's objects", () => {
  // A's subject token too: it reads one subject of A, and nothing of B.
  const SCOPES = ['ADMIN', 'READ', 'INGEST', 'TOKEN'] as const;
  for (const c of CASES) {
    for (const scope of SCOPES) {
      it(`${c.name} as A's ${scope} key: FORBIDDEN/NOT_FOUND, nothing of B, nothing written`, async () => {
        const key = scope === 'TOKEN' ? w.aToken.secret : w.aKeys[scope].secret;
        const vars = c.vars();
        const before = await snapshot();
        const r = await gql(key, c.query, vars);
        expect(await snapshot()).toEqual(before);
        const body = JSON.stringify(r);
        for (const m of leakMarkers(c.query + JSON.stringify(vars))) expect(body).not.toContain(m);
        const codes = (c.codes ?? topLevelCodes)(r);
        expect(codes.length, body).toBeGreaterThan(0);
        for (const code of codes) expect(DENIED, body).toContain(code);
        // No data at the root field (the whole answer is null or absent), except a batch's per-item verdicts.
        if (!c.codes) {
          const root = r.data == null ? null : Object.values(r.data as Record<string, unknown>)[0];
          expect(root ?? null, body).toBeNull();
        }
      });
    }
  }

  it("B's keys still work and B's objects are intact after every attempt", async () => {
    const v = await h.ok(w.b.adminKey, '{ viewer { apiKey { id revokedAt } tenant { id name } } }');
    expect(v.viewer).toEqual({ apiKey: { id: w.b.adminKeyId, revokedAt: null }, tenant: { id: w.b.id, name: B_NAME } });
    const ingest = await h.ok(w.bIngest.secret, '{ viewer { apiKey { id revokedAt } } }');
    expect(ingest.viewer.apiKey).toEqual({ id: w.bIngest.id, revokedAt: null });
    const [{ n }] = await h.sql(
      'SELECT count(*)::int AS n FROM usage_events WHERE tenant_id = $1 OR reverses_id = ANY($2::uuid[])',
      [w.b.id, w.bEvents],
    );
    expect(n).toBe(3);
    const [{ p }] = await h.sql('SELECT count(*)::int AS p FROM prices WHERE tenant_id = $1', [w.b.id]);
    expect(p).toBe(2);
    const [{ k }] = await h.sql('SELECT count(*)::int AS k FROM api_keys WHERE tenant_id = $1', [w.b.id]);
    expect(k).toBe(3);
  });
});

describe('what a tenant key sees is only its own', () => {
  it('viewer names the calling key and its own tenant, for every scope', async () => {
    for (const scope of ['ADMIN', 'READ', 'INGEST'] as const) {
      const k = w.aKeys[scope];
      const v = await h.ok(k.secret, '{ viewer { isOperator apiKey { id tenant { id } } tenant { id name } } }');
      expect(v.viewer).toEqual({
        isOperator: false,
        apiKey: { id: k.id, tenant: { id: w.a.id } },
        tenant: { id: w.a.id, name: 'tenant-a-visible-name' },
      });
    }
  });

  it('Tenant.apiKeys lists exactly its own keys, revoked ones included on request', async () => {
    const extra = await w.a.key(['READ'], 'to-revoke');
    await h.ok(w.a.adminKey, 'mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: extra.id });
    const own = (await h.sql('SELECT id, revoked_at FROM api_keys WHERE tenant_id = $1', [w.a.id])) as {
      id: string;
      revoked_at: Date | null;
    }[];
    for (const key of [w.a.adminKey, w.aKeys.READ.secret]) {
      for (const includeRevoked of [false, true]) {
        const d = await h.ok(
          key,
          'query($id: ID!, $r: Boolean) { tenant(id: $id) { apiKeys(includeRevoked: $r) { id tenant { id } } } }',
          {
            id: w.a.id,
            r: includeRevoked,
          },
        );
        const ids = d.tenant.apiKeys.map((x: { id: string }) => x.id).sort();
        const expected = own
          .filter((x) => includeRevoked || !x.revoked_at)
          .map((x) => x.id)
          .sort();
        expect(ids).toEqual(expected);
        for (const x of d.tenant.apiKeys) expect(x.tenant.id).toBe(w.a.id);
      }
    }
    // The same query as B shows B's keys, so the check above can tell the two apart.
    const bd = await h.ok(w.b.adminKey, 'query($id: ID!) { tenant(id: $id) { apiKeys { id } } }', { id: w.b.id });
    expect(bd.tenant.apiKeys.map((x: { id: string }) => x.id).sort()).toEqual(
      [w.b.adminKeyId, w.bRead.id, w.bIngest.id].sort(),
    );
  });

  it("usageEvents and usageSummary return only the caller's events after both tenants recorded", async () => {
    for (const key of [w.a.adminKey, w.aKeys.READ.secret]) {
      const d = await h.ok(key, EVENTS, { filter: range() });
      const ids = d.usageEvents.edges.map((e: { node: { id: string } }) => e.node.id).sort();
      expect(ids).toEqual([...w.aEvents].sort());
      for (const e of d.usageEvents.edges) expect(e.node.tenant.id).toBe(w.a.id);
      const s = await h.ok(key, SUMMARY, { filter: range(), groupBy: ['API_KEY'] });
      expect(s.usageSummary.totals.requests).toBe(3);
      for (const b of s.usageSummary.buckets)
        expect([w.a.adminKeyId, w.aKeys.INGEST.id, w.aKeys.READ.id]).toContain(b.apiKey.id);
      // Naming its own tenant explicitly is allowed and gives the same.
      const own = await h.ok(key, EVENTS, { filter: { tenantId: w.a.id, ...range() } });
      expect(own.usageEvents.edges).toHaveLength(3);
    }
    const bd = await h.ok(w.bRead.secret, EVENTS, { filter: range() });
    expect(bd.usageEvents.edges.map((e: { node: { id: string } }) => e.node.id).sort()).toEqual([...w.bEvents].sort());
  });

  it("Tenant.usage and ApiKey.usage count only the caller's usage", async () => {
    const d = await h.ok(w.a.adminKey, TENANT_ALL, { id: w.a.id, ...range() });
    expect(d.tenant.usage.requests).toBe(3);
    const byKey = Object.fromEntries(
      d.tenant.apiKeys.map((k: { id: string; usage: { requests: number } }) => [k.id, k.usage.requests]),
    );
    expect(byKey[w.a.adminKeyId]).toBe(1);
    expect(byKey[w.aKeys.INGEST.id]).toBe(1);
    expect(byKey[w.aKeys.READ.id]).toBe(1);
  });

  it("prices never returns another tenant's overrides", async () => {
    for (const key of [w.a.adminKey, w.aKeys.READ.secret]) {
      const d = await h.ok(key, '{ prices { id tenantId model inputPerMillion } }');
      const ids = d.prices.map((p: { id: string }) => p.id);
      expect(ids).toContain(w.platformPriceId);
      for (const p of d.prices) expect(p.tenantId).toBeNull();
      for (const id of w.bPriceIds) expect(ids).not.toContain(id);
      const at = await h.ok(key, 'query($at: DateTime) { prices(model: "iso-m", at: $at) { id } }', {
        at: new Date().toISOString(),
      });
      expect(at.prices).toEqual([{ id: w.platformPriceId }]);
      const only = await h.ok(key, '{ prices(model: "b-only-model") { id } }');
      expect(only.prices).toEqual([]);
    }
    // B does see its own overrides through the same query.
    const bd = await h.ok(w.bRead.secret, '{ prices(model: "iso-m") { id tenantId } }');
    expect(bd.prices.map((p: { id: string }) => p.id)).toContain(w.bPriceIds[0]);
  });

  it("quote prices with the platform book, never another tenant's override", async () => {
    const Q = 'query($input: QuoteInput!) { quote(input: $input) { cost price { id tenantId } } }';
    for (const scope of ['ADMIN', 'READ', 'INGEST'] as const) {
      const key = w.aKeys[scope].secret;
      const d = await h.ok(key, Q, {
        input: { kind: 'LLM', provider: 'iso-ai', model: 'iso-m', inputTokens: 1_000_000 },
      });
      expect(d.quote).toEqual({ cost: '1.000000000000', price: { id: w.platformPriceId, tenantId: null } });
      const only = await gql(key, Q, { input: { kind: 'LLM', provider: 'iso-ai', model: 'b-only-model' } });
      expect(only.errors?.[0]?.extensions?.code).toBe('PRICE_NOT_FOUND');
    }
    const bd = await h.ok(w.bRead.secret, Q, {
      input: { kind: 'LLM', provider: 'iso-ai', model: 'iso-m', inputTokens: 1_000_000 },
    });
    expect(bd.quote.price.id).toBe(w.bPriceIds[0]);
  });

  it("an idempotency key B already used is a fresh key for A, never B's entry", async () => {
    const d = await h.ok(w.a.adminKey, RECORD, {
      input: { idempotencyKey: 'shared-key', kind: 'LLM', model: 'b-only-model', apiKeyId: w.aKeys.READ.id, cost: '1' },
    });
    expect(d.recordUsage.outcome).toBe('CREATED');
    expect(w.bEvents).not.toContain(d.recordUsage.event.id);
    const [row] = await h.sql('SELECT tenant_id FROM usage_events WHERE id = $1', [d.recordUsage.event.id]);
    expect(row.tenant_id).toBe(w.a.id);
    // and the batch path answers the same
    const b = await h.ok(w.a.adminKey, BATCH, { input: [{ idempotencyKey: 'b-1', kind: 'CALL', cost: '3' }] });
    expect(b.recordUsageBatch.results[0]).toMatchObject({ outcome: 'CREATED', event: { tenant: { id: w.a.id } } });
    expect(w.bEvents).not.toContain(b.recordUsageBatch.results[0].event.id);
    w.aEvents.push(d.recordUsage.event.id, b.recordUsageBatch.results[0].event.id);
  });
});

describe('revokeApiKey', () => {
  // Guards a regression: TypeORM answers UPDATE with [rows, count] unless asked for structured
  // results, which once made revoke read an empty array as a row (INTERNAL instead of NOT_FOUND).
  it("revokes the caller's own key, and answers NOT_FOUND for another tenant's key or an unknown id", async () => {
    const own = await w.a.key(['READ'], 'bug-revoke');
    const REVOKE = 'mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt tenant { id } } }';
    const r = await gql(w.a.adminKey, REVOKE, { id: own.id });
    expect(r.errors).toBeUndefined();
    expect(r.data.revokeApiKey).toMatchObject({ id: own.id, tenant: { id: w.a.id } });
    expect(r.data.revokeApiKey.revokedAt).not.toBeNull();
    const other = await gql(w.a.adminKey, REVOKE, { id: w.bRead.id });
    expect(other.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const unknown = await gql(w.a.adminKey, REVOKE, { id: '00000000-0000-4000-8000-000000000000' });
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const [row] = await h.sql('SELECT revoked_at FROM api_keys WHERE id = $1', [w.bRead.id]);
    expect(row.revoked_at).toBeNull();
  });
});

describe('the operator', () => {
  it('must name tenantId for usage queries', async () => {
    for (const q of [EVENTS, SUMMARY]) {
      const r = await gql(OPERATOR_KEY, q, { filter: range() });
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: ['filter', 'tenantId'] });
      expect(r.data ?? null).toBeNull();
    }
  });

  it('sees B when it names B', async () => {
    const d = await h.ok(OPERATOR_KEY, EVENTS, { filter: { tenantId: w.b.id, ...range() } });
    expect(d.usageEvents.edges.map((e: { node: { id: string } }) => e.node.id).sort()).toEqual([...w.bEvents].sort());
    const s = await h.ok(OPERATOR_KEY, SUMMARY, { filter: { tenantId: w.b.id, ...range() } });
    expect(s.usageSummary.totals.requests).toBe(3);
    const byKey = await h.ok(OPERATOR_KEY, EVENTS, {
      filter: { tenantId: w.b.id, apiKeyId: w.bRead.id, ...range() },
    });
    expect(byKey.usageEvents.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([w.bEvents[2]]);
    const t = await h.ok(OPERATOR_KEY, 'query($id: ID!) { tenant(id: $id) { id name apiKeys { id } } }', {
      id: w.b.id,
    });
    expect(t.tenant.name).toBe(B_NAME);
    expect(t.tenant.apiKeys).toHaveLength(3);
  });

  it("cannot attribute usage in A to B's key, nor filter A's usage by B's key", async () => {
    const before = await snapshot();
    const r = await gql(OPERATOR_KEY, RECORD, {
      input: { idempotencyKey: 'op-x', tenantId: w.a.id, apiKeyId: w.bRead.id, kind: 'CALL', cost: '1' },
    });
    expect(r.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const f = await gql(OPERATOR_KEY, EVENTS, { filter: { tenantId: w.a.id, apiKeyId: w.bRead.id, ...range() } });
    expect(f.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await snapshot()).toEqual(before);
  });
});
