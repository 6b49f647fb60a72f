// Quota: authorizations and reservations (the overspend race across two app instances,
// expiry, release, settlement), recording that never refuses, scopes (API key, subject, a
// key's own limits), plan replacement and plan changes over time, threshold alerts (the
// alert-once race across two instances, several thresholds at once, a new window, the
// quotaAlerts list), tenant isolation of every quota query and mutation, and validation.
// Calendar-window edge cases (zones, DST, month ends, TOTAL) live in quota-windows.test.ts.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../server/src/app';
import { loadConfig } from '../server/src/config';
import { openDatabase } from '../server/src/db/database';
import { createLogger } from '../server/src/observability';
import {
  createHarness,
  type GqlResult,
  type Harness,
  OPERATOR_KEY,
  RECORD,
  type SeededTenant,
} from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('quota');
});
afterAll(async () => h?.close());

// ---------------------------------------------------------------------------------------
// operations and helpers

const LIMIT_FIELDS = 'id metric period scope amount action thresholds';
const UPSERT_PLAN = `mutation($input: UpsertPlanInput!) { upsertPlan(input: $input) { id code name limits { ${LIMIT_FIELDS} } } }`;
const ASSIGN_PLAN = `mutation($input: AssignPlanInput!) { assignPlan(input: $input) { startsAt endsAt plan { code } tenant { id } } }`;
const SET_KEY_LIMITS = `mutation($input: SetApiKeyLimitsInput!) { setApiKeyLimits(input: $input) { id limits { ${LIMIT_FIELDS} } } }`;
const ITEM_FIELDS = `limit { ${LIMIT_FIELDS} } scopeId periodStart periodEnd used reserved remaining exceeded`;
const QUOTA = `query($tenantId: ID, $apiKeyId: ID, $subject: String) {
  quotaStatus(tenantId: $tenantId, apiKeyId: $apiKeyId, subject: $subject) { tenantId apiKeyId subject blocked items { ${ITEM_FIELDS} } }
}`;
const AUTHORIZE = `mutation($input: AuthorizeUsageInput!) { authorizeUsage(input: $input) {
  allowed deniedBy { ${ITEM_FIELDS} } reservation { id expiresAt estimate { cost requests totalTokens } }
  quota { blocked items { limit { id } scopeId used reserved remaining exceeded } } } }`;
const RELEASE = 'mutation($id: ID!) { releaseReservation(id: $id) }';
const BATCH = `mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) {
  created duplicates rejected results { index outcome reservation event { id cost } error { code message field } } } }`;
/** recordUsage with what the entry did to its reservation. */
const RECORD_R = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { outcome reservation event { id cost } } }`;
const REVERSE = `mutation($input: ReverseUsageInput!) { reverseUsage(input: $input) { outcome event { id cost } } }`;
const ALERTS = `query($tenantId: ID, $from: DateTime, $to: DateTime, $first: Int, $after: String) {
  quotaAlerts(tenantId: $tenantId, from: $from, to: $to, first: $first, after: $after) {
    edges { cursor node { id tenantId apiKeyId subject limit { id } threshold used periodStart crossedAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const MEMBERSHIP = `query($id: ID!) { tenant(id: $id) { membership { startsAt endsAt plan { code } } } }`;

/** The fixed decimal spelling the API uses: "1.5" -> "1.500000000000". */
const dec = (v: string | number) => {
  const [i, f = ''] = String(v).split('.');
  return `${i}.${f.padEnd(12, '0')}`;
};

let seq = 0;
const uniq = (p: string) => `${p}-${++seq}-${randomUUID().slice(0, 8)}`;

interface Plan {
  id: string;
  code: string;
  limits: { id: string; metric: string; period: string; scope: string; amount: string; thresholds: number[] }[];
}

async function upsertPlan(limits: Record<string, unknown>[], code = uniq('plan')): Promise<Plan> {
  return (await h.ok(OPERATOR_KEY, UPSERT_PLAN, { input: { code, name: code, limits } })).upsertPlan;
}

/** A tenant on `planCode` since long before any clock these tests set. */
async function tenantOn(planCode: string | null, name: string, timezone = 'UTC'): Promise<SeededTenant> {
  const t = await h.seed.tenant(name, timezone);
  if (planCode)
    await h.ok(OPERATOR_KEY, ASSIGN_PLAN, { input: { tenantId: t.id, planCode, startsAt: '2020-01-01T00:00:00Z' } });
  return t;
}

async function quota(key: string, args: Record<string, unknown> = {}) {
  return (await h.ok(key, QUOTA, args)).quotaStatus;
}

/** The quota item of one limit. */
function item(status: { items: any[] }, limitId: string) {
  const found = status.items.filter((i: any) => i.limit.id === limitId);
  expect(found, `one item for limit ${limitId}`).toHaveLength(1);
  return found[0];
}

function code(r: GqlResult) {
  return r.errors?.[0]?.extensions?.code;
}

async function authorize(key: string, input: Record<string, unknown>) {
  return (await h.ok(key, AUTHORIZE, { input })).authorizeUsage;
}

async function record(key: string, input: Record<string, unknown>) {
  return (await h.ok(key, RECORD, { input: { idempotencyKey: uniq('ev'), kind: 'CALL', ...input } })).recordUsage;
}

async function count(table: string, tenantId: string): Promise<number> {
  const [r] = await h.sql(`SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = $1`, [tenantId]);
  return r.n;
}

/** A second app instance on the same database (its own pool, caches and pub/sub), sharing the test clock. */
async function secondInstance() {
  const db2 = await openDatabase(h.url, { poolSize: 10 });
  const app2 = createApp({
    db: db2,
    config: { ...loadConfig({}), operatorKey: OPERATOR_KEY },
    logger: createLogger('silent'),
    now: h.clock.now,
  });
  const gql = async (key: string, query: string, variables?: Record<string, unknown>): Promise<GqlResult> => {
    const res = await app2.yoga.fetch('http://tally-2.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    return { ...((await res.json()) as object), status: res.status };
  };
  return {
    gql,
    async close() {
      await app2.close();
      await db2.close();
    },
  };
}

const NOON = '2026-06-15T12:00:00.000Z';

// ---------------------------------------------------------------------------------------

describe('authorizeUsage and reservations', () => {
  it('decides concurrent calls in shared transactions, each seeing its predecessors only where its scope holds them', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([
      { metric: 'COST', period: 'DAY', amount: '10.00', action: 'BLOCK' },
      { metric: 'COST', period: 'DAY', amount: '0.30', action: 'BLOCK', scope: 'API_KEY' },
    ]);
    const [tenantLimit, keyLimit] = plan.limits.map((l) => l.id) as [string, string];
    const t = await tenantOn(plan.code, 'grouped');
    const keys = [await t.key(['INGEST']), await t.key(['INGEST'])];
    const input = { estimate: { cost: '0.10' }, reserveSeconds: 600 };
    const stats = h.app.services.quota.authorizer.stats;
    const flushesBefore = stats.flushes;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => h.gql((keys[i % 2] as { secret: string }).secret, AUTHORIZE, { input })),
    );
    for (const r of results) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    const payloads = results.map((r) => r.data.authorizeUsage);
    // 20 calls, far fewer transactions.
    expect(stats.flushes - flushesBefore).toBeLessThan(10);
    // Each key's own limit admits three of its ten calls; the tenant limit binds nobody.
    for (const k of [0, 1]) {
      const mine = payloads.filter((_, i) => i % 2 === k);
      const allowed = mine.filter((p) => p.allowed);
      expect(allowed).toHaveLength(3);
      for (const p of mine.filter((p) => !p.allowed)) expect(p.deniedBy.limit.id).toBe(keyLimit);
      // Within a key, each admitted call saw the ones before it: 0.1, 0.2, 0.3 reserved.
      expect(allowed.map((p) => item(p.quota, keyLimit).reserved).sort()).toEqual([dec('0.1'), dec('0.2'), dec('0.3')]);
    }
    // Across keys, the tenant item counted every admitted call once: six distinct states.
    const tenantReserved = payloads.filter((p) => p.allowed).map((p) => item(p.quota, tenantLimit).reserved);
    expect(new Set(tenantReserved).size).toBe(6);
    expect(tenantReserved.sort()).toEqual(['0.1', '0.2', '0.3', '0.4', '0.5', '0.6'].map(dec));
    const [open] = await h.sql(
      'SELECT count(*)::int AS n, sum(cost)::text AS cost FROM reservations WHERE tenant_id = $1',
      [t.id],
    );
    expect(open).toEqual({ n: 6, cost: '0.600000000000' });
  });

  it('a flush of calls for many end users asks the database once for what their scopes share', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([{ metric: 'COST', period: 'DAY', amount: '10.00', action: 'BLOCK' }]);
    const t = await tenantOn(plan.code, 'many-subjects');
    const k = await t.key(['INGEST']);
    await h.ok(k.secret, AUTHORIZE, { input: { estimate: { cost: '0' } } }); // the key is known and cached
    const stats = h.app.services.quota.authorizer.stats;
    const [flushes0, queries0] = [stats.flushes, h.db.queryCount()];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        h.gql(k.secret, AUTHORIZE, { input: { subject: `user-${i}`, estimate: { cost: '0.10' }, reserveSeconds: 60 } }),
      ),
    );
    for (const r of results) expect(r.data.authorizeUsage.allowed).toBe(true);
    const flushes = stats.flushes - flushes0;
    expect(flushes).toBeLessThan(10);
    // Each call looks its tenant up once (20); a flush costs its transaction, lock, the tenant's
    // limits, windows, used and reserved once, and one INSERT, however many subjects it holds.
    // Computed per subject instead, the 20 calls would need at least 100 statements.
    expect(h.db.queryCount() - queries0 - 20).toBeLessThanOrEqual(flushes * 10 + 2);
  });

  it('200 concurrent authorizations on two instances admit exactly what fits, never more', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([{ metric: 'COST', period: 'DAY', amount: '10.00', action: 'BLOCK' }]);
    const limitId = plan.limits[0]!.id;
    const t = await tenantOn(plan.code, 'overspend');
    const k = await t.key(['INGEST']);
    const two = await secondInstance();
    try {
      const input = { estimate: { cost: '0.10' }, reserveSeconds: 600 };
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          i % 2 === 0 ? h.gql(k.secret, AUTHORIZE, { input }) : two.gql(k.secret, AUTHORIZE, { input }),
        ),
      );
      for (const r of results) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
      const payloads = results.map((r) => r.data.authorizeUsage);
      const allowed = payloads.filter((p) => p.allowed);
      const denied = payloads.filter((p) => !p.allowed);
      expect(allowed).toHaveLength(100);
      expect(denied).toHaveLength(100);
      for (const p of allowed) {
        expect(p.deniedBy).toBeNull();
        expect(p.reservation.estimate.cost).toBe(dec('0.1'));
        expect(p.reservation.expiresAt).toBe('2026-06-15T12:10:00.000Z');
      }
      expect(new Set(allowed.map((p) => p.reservation.id)).size).toBe(100);
      for (const p of denied) {
        expect(p.reservation).toBeNull();
        expect(p.deniedBy.limit).toMatchObject({ id: limitId, metric: 'COST', period: 'DAY', action: 'BLOCK' });
        expect(p.deniedBy.reserved).toBe(dec(10));
      }
      const [open] = await h.sql(
        `SELECT count(*)::int AS n, sum(cost)::text AS cost FROM reservations
          WHERE tenant_id = $1 AND settled_at IS NULL AND released_at IS NULL`,
        [t.id],
      );
      expect(open).toEqual({ n: 100, cost: '10.000000000000' });
      const q = await quota(t.adminKey);
      expect(q.blocked).toBe(false);
      expect(item(q, limitId)).toMatchObject({
        used: dec(0),
        reserved: dec(10),
        remaining: dec(0),
        exceeded: false,
      });
      // Both instances agree, and even a zero-cost check is refused now.
      const viaTwo = await two.gql(k.secret, AUTHORIZE, { input: { estimate: { cost: '0.000000000001' } } });
      expect(viaTwo.data.authorizeUsage.allowed).toBe(false);
      expect(await count('reservations', t.id)).toBe(100);
    } finally {
      await two.close();
    }
  });

  it('an expired reservation stops counting and can no longer be settled or released; usage naming it is recorded', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([{ metric: 'COST', period: 'DAY', amount: '1', action: 'BLOCK' }]);
    const limitId = plan.limits[0]!.id;
    const t = await tenantOn(plan.code, 'expiry');
    const a = await authorize(t.adminKey, { estimate: { cost: '0.6' }, reserveSeconds: 60 });
    expect(a.allowed).toBe(true);
    expect(a.reservation.expiresAt).toBe('2026-06-15T12:01:00.000Z');
    expect(item(a.quota, limitId)).toMatchObject({ used: dec(0), reserved: dec('0.6'), remaining: dec('0.4') });
    // While it holds, a second 0.6 does not fit.
    expect((await authorize(t.adminKey, { estimate: { cost: '0.6' } })).allowed).toBe(false);

    h.clock.set('2026-06-15T12:00:59.999Z');
    expect(item(await quota(t.adminKey), limitId).reserved).toBe(dec('0.6'));

    h.clock.set('2026-06-15T12:01:00.001Z');
    expect(item(await quota(t.adminKey), limitId)).toMatchObject({ reserved: dec(0), remaining: dec(1) });
    expect((await authorize(t.adminKey, { estimate: { cost: '0.6' } })).allowed).toBe(true);

    // Usage that happened is recorded; the expired hold is not settled, and the answer says so.
    const settle = await h.ok(t.adminKey, RECORD_R, {
      input: { idempotencyKey: 'late', kind: 'CALL', cost: '0.5', reservationId: a.reservation.id },
    });
    expect(settle.recordUsage).toMatchObject({ outcome: 'CREATED', reservation: 'EXPIRED' });
    expect(await count('usage_events', t.id)).toBe(1);
    expect(code(await h.gql(t.adminKey, RELEASE, { id: a.reservation.id }))).toBe('RESERVATION_INVALID');
    const [row] = await h.sql('SELECT settled_at, released_at, event_id FROM reservations WHERE id = $1', [
      a.reservation.id,
    ]);
    expect(row).toEqual({ settled_at: null, released_at: null, event_id: null });
  });

  it('release frees the hold once; releasing again is RESERVATION_INVALID; usage naming it settles nothing', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([{ metric: 'TOKENS', period: 'DAY', amount: '1000', action: 'BLOCK' }]);
    const limitId = plan.limits[0]!.id;
    const t = await tenantOn(plan.code, 'release');
    const k = await t.key(['INGEST']);
    const a = await authorize(k.secret, { estimate: { inputTokens: 600, outputTokens: 200 }, reserveSeconds: 300 });
    expect(a.allowed).toBe(true);
    expect(a.reservation.estimate.totalTokens).toBe(800);
    expect(item(await quota(t.adminKey), limitId).reserved).toBe(dec(800));

    expect((await h.ok(k.secret, RELEASE, { id: a.reservation.id })).releaseReservation).toBe(true);
    expect(item(await quota(t.adminKey), limitId)).toMatchObject({ reserved: dec(0), remaining: dec(1000) });

    const again = await h.gql(k.secret, RELEASE, { id: a.reservation.id });
    expect(again.errors?.[0]?.extensions).toMatchObject({ code: 'RESERVATION_INVALID', field: ['id'] });
    const settle = await h.ok(k.secret, RECORD_R, {
      input: { idempotencyKey: 'after-release', kind: 'CALL', cost: '0', reservationId: a.reservation.id },
    });
    expect(settle.recordUsage).toMatchObject({ outcome: 'CREATED', reservation: 'RELEASED' });
    expect(await count('usage_events', t.id)).toBe(1);
    // Unknown and malformed ids are the same answer.
    expect(code(await h.gql(k.secret, RELEASE, { id: randomUUID() }))).toBe('RESERVATION_INVALID');
    expect(code(await h.gql(k.secret, RELEASE, { id: 'not-a-uuid' }))).toBe('RESERVATION_INVALID');
    // A READ key may not release.
    const reader = await t.key(['READ']);
    const b = await authorize(k.secret, { estimate: { tokens: 10 }, reserveSeconds: 300 });
    expect(code(await h.gql(reader.secret, RELEASE, { id: b.reservation.id }))).toBe('FORBIDDEN');
    expect(item(await quota(t.adminKey), limitId).reserved).toBe(dec(10));
  });

  it('recordUsage with reservationId settles it: the real cost counts, the hold is gone; a retry is DUPLICATE', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([{ metric: 'COST', period: 'DAY', amount: '1', action: 'BLOCK' }]);
    const limitId = plan.limits[0]!.id;
    const t = await tenantOn(plan.code, 'settle');
    const k = await t.key(['INGEST']);
    const a = await authorize(k.secret, { estimate: { cost: '0.5' }, reserveSeconds: 600 });
    expect(item(await quota(t.adminKey), limitId)).toMatchObject({ used: dec(0), reserved: dec('0.5') });

    const input = { idempotencyKey: 'settle-1', kind: 'CALL', cost: '0.3', reservationId: a.reservation.id };
    const first = (await h.ok(k.secret, RECORD, { input })).recordUsage;
    expect(first.outcome).toBe('CREATED');
    expect(item(await quota(t.adminKey), limitId)).toMatchObject({
      used: dec('0.3'),
      reserved: dec(0),
      remaining: dec('0.7'),
    });
    const [row] = await h.sql('SELECT settled_at IS NOT NULL AS settled, event_id FROM reservations WHERE id = $1', [
      a.reservation.id,
    ]);
    expect(row).toEqual({ settled: true, event_id: first.event.id });

    const retry = await h.gql(k.secret, RECORD, { input });
    expect(retry.errors).toBeUndefined();
    expect(retry.data.recordUsage).toEqual({ ...first, outcome: 'DUPLICATE' });

    // Another entry naming the settled reservation is recorded and settles nothing.
    const other = await h.ok(k.secret, RECORD_R, { input: { ...input, idempotencyKey: 'settle-2' } });
    expect(other.recordUsage).toMatchObject({ outcome: 'CREATED', reservation: 'ALREADY_SETTLED' });
    expect(await count('usage_events', t.id)).toBe(2);
    expect(item(await quota(t.adminKey), limitId)).toMatchObject({ used: dec('0.6'), reserved: dec(0) });
    // Settled is not releasable either.
    expect(code(await h.gql(k.secret, RELEASE, { id: a.reservation.id }))).toBe('RESERVATION_INVALID');
  });

  it('one reservation named by 20 concurrent events (and a release) on two instances is used exactly once; every event is recorded', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([{ metric: 'COST', period: 'DAY', amount: '100', action: 'BLOCK' }]);
    const limitId = plan.limits[0]!.id;
    const t = await tenantOn(plan.code, 'settle-race');
    const k = await t.key(['INGEST']);
    const a = await authorize(k.secret, { estimate: { cost: '5' }, reserveSeconds: 600 });
    const two = await secondInstance();
    let results: GqlResult[];
    try {
      results = await Promise.all([
        ...Array.from({ length: 20 }, (_, i) =>
          (i % 2 === 0 ? h.gql : two.gql)(k.secret, RECORD_R, {
            input: { idempotencyKey: `claim-${i}`, kind: 'CALL', cost: '1', reservationId: a.reservation.id },
          }),
        ),
        two.gql(k.secret, RELEASE, { id: a.reservation.id }),
      ]);
    } finally {
      await two.close();
    }
    const release = results.pop() as GqlResult;
    expect(results.map((r) => r.data?.recordUsage?.outcome)).toEqual(Array(20).fill('CREATED'));
    const created = results.filter((r) => r.data.recordUsage.reservation === 'SETTLED');
    const released = release.data?.releaseReservation === true ? 1 : 0;
    expect(created.length + released).toBe(1);
    // The others say why they settled nothing: settled by one of them, or released first.
    for (const r of results)
      if (r.data.recordUsage.reservation !== 'SETTLED')
        expect(['ALREADY_SETTLED', 'RELEASED']).toContain(r.data.recordUsage.reservation);
    expect(code(release) === 'RESERVATION_INVALID').toBe(released === 0);
    expect(await count('usage_events', t.id)).toBe(20);
    const [row] = await h.sql(
      'SELECT settled_at IS NOT NULL AS settled, released_at IS NOT NULL AS released, event_id FROM reservations WHERE id = $1',
      [a.reservation.id],
    );
    expect(row).toEqual({
      settled: created.length === 1,
      released: released === 1,
      event_id: created[0]?.data.recordUsage.event.id ?? null,
    });
    expect(item(await quota(t.adminKey), limitId)).toMatchObject({ used: dec(20), reserved: dec(0) });
  });

  it("another tenant's reservation is UNKNOWN to recordUsage (recorded, nothing settled) and RESERVATION_INVALID to releaseReservation", async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([{ metric: 'COST', period: 'DAY', amount: '5', action: 'BLOCK' }]);
    const limitId = plan.limits[0]!.id;
    const a = await tenantOn(plan.code, 'res-owner-a');
    const b = await tenantOn(plan.code, 'res-owner-b');
    const held = await authorize(b.adminKey, { estimate: { cost: '2' }, reserveSeconds: 600 });
    expect(held.allowed).toBe(true);

    const rec = await h.ok(a.adminKey, RECORD_R, {
      input: { idempotencyKey: 'steal', kind: 'CALL', cost: '1', reservationId: held.reservation.id },
    });
    expect(rec.recordUsage).toMatchObject({ outcome: 'CREATED', reservation: 'UNKNOWN' });
    expect(code(await h.gql(a.adminKey, RELEASE, { id: held.reservation.id }))).toBe('RESERVATION_INVALID');
    expect(await count('usage_events', a.id)).toBe(1);
    const [row] = await h.sql('SELECT settled_at, released_at FROM reservations WHERE id = $1', [held.reservation.id]);
    expect(row).toEqual({ settled_at: null, released_at: null });
    expect(item(await quota(b.adminKey), limitId).reserved).toBe(dec(2));
    expect(item(await quota(a.adminKey), limitId)).toMatchObject({ used: dec(1), reserved: dec(0) });
    // The owner can still settle it.
    const own = await record(b.adminKey, { cost: '1.5', reservationId: held.reservation.id });
    expect(own.outcome).toBe('CREATED');
    expect(item(await quota(b.adminKey), limitId)).toMatchObject({ used: dec('1.5'), reserved: dec(0) });
  });

  it('recordUsageBatch: an item whose reservation cannot be settled is still CREATED and says why', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([{ metric: 'COST', period: 'DAY', amount: '10', action: 'BLOCK' }]);
    const limitId = plan.limits[0]!.id;
    const t = await tenantOn(plan.code, 'batch-res');
    const r1 = await authorize(t.adminKey, { estimate: { cost: '1' }, reserveSeconds: 600 });
    const r2 = await authorize(t.adminKey, { estimate: { cost: '1' }, reserveSeconds: 600 });
    expect(item(await quota(t.adminKey), limitId).reserved).toBe(dec(2));
    const d = await h.ok(t.adminKey, BATCH, {
      input: [
        { idempotencyKey: 'b-0', kind: 'CALL', cost: '0.5', reservationId: r1.reservation.id },
        { idempotencyKey: 'b-1', kind: 'CALL', cost: '0.5', reservationId: randomUUID() },
        { idempotencyKey: 'b-2', kind: 'CALL', cost: '0.25' },
        { idempotencyKey: 'b-3', kind: 'CALL', cost: '0.5', reservationId: 'nope' },
        // Two items naming one reservation: only the first settles it.
        { idempotencyKey: 'b-4', kind: 'CALL', cost: '0.75', reservationId: r2.reservation.id },
        { idempotencyKey: 'b-5', kind: 'CALL', cost: '0.75', reservationId: r2.reservation.id },
      ],
    });
    const out = d.recordUsageBatch;
    expect(out.results.map((r: any) => [r.outcome, r.reservation, r.error])).toEqual([
      ['CREATED', 'SETTLED', null],
      ['CREATED', 'UNKNOWN', null],
      ['CREATED', null, null],
      ['CREATED', 'UNKNOWN', null],
      ['CREATED', 'SETTLED', null],
      ['CREATED', 'ALREADY_SETTLED', null],
    ]);
    expect({ created: out.created, duplicates: out.duplicates, rejected: out.rejected }).toEqual({
      created: 6,
      duplicates: 0,
      rejected: 0,
    });
    expect(await count('usage_events', t.id)).toBe(6);
    expect(item(await quota(t.adminKey), limitId)).toMatchObject({ used: dec('3.25'), reserved: dec(0) });
  });
});

describe('recording never refuses', () => {
  it('usage beyond a BLOCK limit is CREATED; quotaStatus shows exceeded and blocked; authorizeUsage denies', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([
      { metric: 'COST', period: 'DAY', amount: '1', action: 'BLOCK' },
      { metric: 'REQUESTS', period: 'DAY', amount: '100', action: 'BLOCK' },
    ]);
    const [cost, requests] = plan.limits.map((l) => l.id) as [string, string];
    const t = await tenantOn(plan.code, 'never-refuses');
    // Reaching the amount exactly is already "exceeded".
    expect((await record(t.adminKey, { cost: '1' })).outcome).toBe('CREATED');
    let q = await quota(t.adminKey);
    expect(item(q, cost)).toMatchObject({ used: dec(1), remaining: dec(0), exceeded: true });
    expect(q.blocked).toBe(true);
    const denied = await authorize(t.adminKey, { estimate: { cost: '0' }, reserveSeconds: 60 });
    expect(denied.allowed).toBe(false);
    expect(denied.reservation).toBeNull();
    expect(denied.deniedBy.limit.id).toBe(cost);
    expect(denied.deniedBy.exceeded).toBe(true);
    expect(await count('reservations', t.id)).toBe(0);

    expect((await record(t.adminKey, { cost: '0.4' })).outcome).toBe('CREATED');
    const batch = await h.ok(t.adminKey, BATCH, {
      input: [
        { idempotencyKey: uniq('nb'), kind: 'CALL', cost: '2' },
        { idempotencyKey: uniq('nb'), kind: 'CALL', cost: '3' },
      ],
    });
    expect(batch.recordUsageBatch.created).toBe(2);
    q = await quota(t.adminKey);
    expect(item(q, cost)).toMatchObject({ used: dec('6.4'), remaining: dec(0), exceeded: true });
    expect(item(q, requests)).toMatchObject({ used: dec(4), exceeded: false });
    expect(q.blocked).toBe(true);
    expect((await authorize(t.adminKey, { estimate: { cost: '0.01' } })).allowed).toBe(false);
  });

  it('an exceeded ALERT limit does not block', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([{ metric: 'COST', period: 'DAY', amount: '1', action: 'ALERT' }]);
    const t = await tenantOn(plan.code, 'alert-only');
    await record(t.adminKey, { cost: '5' });
    const q = await quota(t.adminKey);
    expect(item(q, plan.limits[0]!.id)).toMatchObject({ used: dec(5), exceeded: true });
    expect(q.blocked).toBe(false);
    expect((await authorize(t.adminKey, { estimate: { cost: '100' } })).allowed).toBe(true);
  });
});

describe('limits', () => {
  it('reversals reduce used (in the window of the original) and unblock', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([
      { metric: 'COST', period: 'DAY', amount: '1', action: 'BLOCK' },
      { metric: 'REQUESTS', period: 'TOTAL', amount: '10', action: 'BLOCK' },
    ]);
    const [cost, total] = plan.limits.map((l) => l.id) as [string, string];
    const t = await tenantOn(plan.code, 'reversals');
    const yesterday = await record(t.adminKey, { cost: '0.9', occurredAt: '2026-06-14T20:00:00Z' });
    const e1 = await record(t.adminKey, { cost: '0.6' });
    await record(t.adminKey, { cost: '0.6' });
    let q = await quota(t.adminKey);
    expect(item(q, cost)).toMatchObject({ used: dec('1.2'), exceeded: true });
    expect(item(q, total).used).toBe(dec(3));
    expect(q.blocked).toBe(true);

    await h.ok(t.adminKey, REVERSE, { input: { eventId: e1.event.id, idempotencyKey: 'rev-1' } });
    q = await quota(t.adminKey);
    expect(item(q, cost)).toMatchObject({ used: dec('0.6'), remaining: dec('0.4'), exceeded: false });
    expect(item(q, total).used).toBe(dec(2));
    expect(q.blocked).toBe(false);
    expect((await authorize(t.adminKey, { estimate: { cost: '0.4' } })).allowed).toBe(true);

    // Reversing yesterday's entry today moves yesterday's window, not today's.
    await h.ok(t.adminKey, REVERSE, { input: { eventId: yesterday.event.id, idempotencyKey: 'rev-2' } });
    q = await quota(t.adminKey);
    expect(item(q, cost).used).toBe(dec('0.6'));
    expect(item(q, total).used).toBe(dec(1));
    h.clock.set('2026-06-14T23:00:00Z');
    expect(item(await quota(t.adminKey), cost).used).toBe(dec(0));
  });

  it('API_KEY scope counts only that key', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([
      { metric: 'COST', period: 'DAY', scope: 'API_KEY', amount: '5', action: 'BLOCK' },
      { metric: 'COST', period: 'DAY', scope: 'TENANT', amount: '100', action: 'BLOCK' },
    ]);
    const [perKey, tenantWide] = plan.limits.map((l) => l.id) as [string, string];
    const t = await tenantOn(plan.code, 'key-scope');
    const k1 = await t.key(['INGEST'], 'k1');
    const k2 = await t.key(['INGEST'], 'k2');
    await record(k1.secret, { cost: '2' });
    await record(t.adminKey, { cost: '1', apiKeyId: k1.id }); // attributed to k1
    await record(k2.secret, { cost: '1' });

    const q1 = await quota(t.adminKey, { apiKeyId: k1.id });
    expect(q1.apiKeyId).toBe(k1.id);
    expect(item(q1, perKey)).toMatchObject({ scopeId: k1.id, used: dec(3), remaining: dec(2) });
    expect(item(q1, tenantWide)).toMatchObject({ scopeId: null, used: dec(4) });
    const q2 = await quota(t.adminKey, { apiKeyId: k2.id });
    expect(item(q2, perKey)).toMatchObject({ scopeId: k2.id, used: dec(1), remaining: dec(4) });
    // Without a key, only TENANT-scope items.
    const q0 = await quota(t.adminKey);
    expect(q0.items.map((i: any) => i.limit.id)).toEqual([tenantWide]);

    const d1 = await authorize(k1.secret, { estimate: { cost: '2.5' }, reserveSeconds: 60 });
    expect(d1.allowed).toBe(false);
    expect(d1.deniedBy).toMatchObject({ scopeId: k1.id, used: dec(3) });
    expect(d1.deniedBy.limit.id).toBe(perKey);
    const a2 = await authorize(k2.secret, { estimate: { cost: '2.5' }, reserveSeconds: 60 });
    expect(a2.allowed).toBe(true);
    // k2's hold counts for k2 and the tenant, not for k1.
    expect(item(await quota(t.adminKey, { apiKeyId: k2.id }), perKey).reserved).toBe(dec('2.5'));
    const again1 = await quota(t.adminKey, { apiKeyId: k1.id });
    expect(item(again1, perKey).reserved).toBe(dec(0));
    expect(item(again1, tenantWide).reserved).toBe(dec('2.5'));
  });

  it('SUBJECT scope counts only that subject', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([{ metric: 'REQUESTS', period: 'DAY', scope: 'SUBJECT', amount: '2' }]);
    const limitId = plan.limits[0]!.id;
    const t = await tenantOn(plan.code, 'subject-scope');
    await record(t.adminKey, { subject: 'alice', cost: '0' });
    await record(t.adminKey, { subject: 'alice', cost: '0' });
    await record(t.adminKey, { subject: 'bob', cost: '0' });
    await record(t.adminKey, { cost: '0' });

    const alice = await quota(t.adminKey, { subject: 'alice' });
    expect(alice.subject).toBe('alice');
    expect(item(alice, limitId)).toMatchObject({ scopeId: 'alice', used: dec(2), exceeded: true });
    expect(alice.blocked).toBe(true);
    const bob = await quota(t.adminKey, { subject: 'bob' });
    expect(item(bob, limitId)).toMatchObject({ scopeId: 'bob', used: dec(1), exceeded: false });
    expect(bob.blocked).toBe(false);
    expect((await quota(t.adminKey, { subject: 'carol' })).items[0]).toMatchObject({ used: dec(0) });
    expect((await quota(t.adminKey)).items).toEqual([]);

    expect((await authorize(t.adminKey, { subject: 'alice', estimate: {} })).allowed).toBe(false);
    expect((await authorize(t.adminKey, { subject: 'bob', estimate: {} })).allowed).toBe(true);
    // bob + 1 more request would be 3 > 2 with a held request.
    await authorize(t.adminKey, { subject: 'bob', estimate: { requests: 1 }, reserveSeconds: 60 });
    expect((await authorize(t.adminKey, { subject: 'bob', estimate: { requests: 1 } })).allowed).toBe(false);
    expect((await authorize(t.adminKey, { estimate: {} })).allowed).toBe(true);
  });

  it("setApiKeyLimits replaces a key's own limits; they count that key's usage and keep identical ids", async () => {
    h.clock.set(NOON);
    const t = await tenantOn(null, 'key-limits');
    const k = await t.key(['INGEST'], 'limited');
    const other = await t.key(['INGEST'], 'other');
    const set = async (limits: Record<string, unknown>[]) =>
      (await h.ok(t.adminKey, SET_KEY_LIMITS, { input: { apiKeyId: k.id, limits } })).setApiKeyLimits;

    const first = await set([
      { metric: 'COST', period: 'DAY', amount: '2' },
      { metric: 'REQUESTS', period: 'MONTH', amount: '10', scope: 'TENANT' },
    ]);
    expect(first.id).toBe(k.id);
    expect(first.limits.map((l: any) => [l.metric, l.period, l.scope, l.amount, l.action])).toEqual([
      ['COST', 'DAY', 'API_KEY', dec(2), 'BLOCK'],
      ['REQUESTS', 'MONTH', 'API_KEY', dec(10), 'BLOCK'],
    ]);
    const [costId, reqId] = first.limits.map((l: any) => l.id);
    const shown = await h.ok(t.adminKey, `query($id: ID!) { tenant(id: $id) { apiKeys { id limits { id } } } }`, {
      id: t.id,
    });
    const keys = new Map(shown.tenant.apiKeys.map((x: any) => [x.id, x.limits.map((l: any) => l.id)]));
    expect(keys.get(k.id)).toEqual([costId, reqId]);
    expect(keys.get(other.id)).toEqual([]);

    await record(k.secret, { cost: '1.5' });
    await record(other.secret, { cost: '50' });
    const q = await quota(t.adminKey, { apiKeyId: k.id });
    expect(item(q, costId)).toMatchObject({ scopeId: k.id, used: dec('1.5'), remaining: dec('0.5') });
    expect(item(q, reqId)).toMatchObject({ scopeId: k.id, used: dec(1) });
    expect((await quota(t.adminKey, { apiKeyId: other.id })).items).toEqual([]);
    const denied = await authorize(k.secret, { estimate: { cost: '1' } });
    expect(denied.allowed).toBe(false);
    expect(denied.deniedBy.limit.id).toBe(costId);
    expect((await authorize(other.secret, { estimate: { cost: '1000' } })).allowed).toBe(true);

    // Replace: the identical COST limit keeps its id, REQUESTS is retired.
    const second = await set([{ metric: 'COST', period: 'DAY', amount: '2.000', scope: 'API_KEY' }]);
    expect(second.limits.map((l: any) => l.id)).toEqual([costId]);
    const [retired] = await h.sql('SELECT active FROM limits WHERE id = $1', [reqId]);
    expect(retired.active).toBe(false);
    expect((await quota(t.adminKey, { apiKeyId: k.id })).items.map((i: any) => i.limit.id)).toEqual([costId]);

    const none = await set([]);
    expect(none.limits).toEqual([]);
    expect((await authorize(k.secret, { estimate: { cost: '1' } })).allowed).toBe(true);

    // Only ADMIN (or the operator) sets key limits; a key's own limit cannot be per subject.
    expect(code(await h.gql(k.secret, SET_KEY_LIMITS, { input: { apiKeyId: k.id, limits: [] } }))).toBe('FORBIDDEN');
    const subj = await h.gql(t.adminKey, SET_KEY_LIMITS, {
      input: { apiKeyId: k.id, limits: [{ metric: 'COST', period: 'DAY', amount: '1', scope: 'SUBJECT' }] },
    });
    expect(subj.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: ['input', 'limits', '0', 'scope'],
    });
    const byOperator = await h.ok(OPERATOR_KEY, SET_KEY_LIMITS, {
      input: { apiKeyId: k.id, limits: [{ metric: 'REQUESTS', period: 'DAY', amount: '1' }] },
    });
    expect(byOperator.setApiKeyLimits.limits).toHaveLength(1);
  });

  it("upsertPlan replacing a plan keeps an identical limit's id, adds new ones and drops the rest", async () => {
    const codeName = uniq('replace');
    const a = { metric: 'COST', period: 'DAY', amount: '5', action: 'BLOCK', thresholds: [80, 100] };
    const b = { metric: 'TOKENS', period: 'MONTH', amount: '1000000', action: 'ALERT', thresholds: [50] };
    const c = { metric: 'REQUESTS', period: 'TOTAL', amount: '10', scope: 'SUBJECT' };
    const v1 = await upsertPlan([a, b], codeName);
    const [aId, bId] = v1.limits.map((l) => l.id);
    const v2 = await upsertPlan([{ ...b, amount: '1000000.00' }, c], codeName);
    expect(v2.id).toBe(v1.id);
    expect(v2.limits.map((l) => l.id)[0]).toBe(bId);
    expect(v2.limits[1]).toMatchObject({
      metric: 'REQUESTS',
      period: 'TOTAL',
      scope: 'SUBJECT',
      thresholds: [80, 100],
    });
    expect([aId, bId]).not.toContain(v2.limits[1]!.id);
    const plans = (await h.ok(OPERATOR_KEY, `{ plans { code limits { id } } }`)).plans;
    expect(plans.find((p: any) => p.code === codeName).limits.map((l: any) => l.id)).toEqual(
      v2.limits.map((l) => l.id),
    );
    // Changed thresholds are a different limit.
    const v3 = await upsertPlan([{ ...b, thresholds: [50, 90] }, c], codeName);
    expect(v3.limits[0]!.id).not.toBe(bId);
    expect(v3.limits[1]!.id).toBe(v2.limits[1]!.id);
    const rows = await h.sql('SELECT id, active FROM limits WHERE plan_id = $1 ORDER BY active, created_at', [v1.id]);
    expect(
      rows
        .filter((r: any) => r.active)
        .map((r: any) => r.id)
        .sort(),
    ).toEqual(v3.limits.map((l) => l.id).sort());
    expect(rows).toHaveLength(4); // a, b (old thresholds), c, b (new thresholds)
  });

  it('assignPlan with startsAt ends the previous membership; Tenant.membership follows the clock', async () => {
    h.clock.set('2026-05-01T00:00:00Z');
    const p1 = await upsertPlan([{ metric: 'COST', period: 'DAY', amount: '1' }]);
    const p2 = await upsertPlan([{ metric: 'COST', period: 'DAY', amount: '2' }]);
    const created = await h.ok(
      OPERATOR_KEY,
      `mutation($input: CreateTenantInput!) { createTenant(input: $input) { secret apiKey { tenant { id membership { startsAt endsAt plan { code } } } } } }`,
      { input: { name: 'plan-change', timezone: 'Europe/Berlin', planCode: p1.code } },
    );
    const tenantId = created.createTenant.apiKey.tenant.id;
    const admin = created.createTenant.secret;
    expect(created.createTenant.apiKey.tenant.membership).toEqual({
      startsAt: '2026-05-01T00:00:00.000Z',
      endsAt: null,
      plan: { code: p1.code },
    });
    const assigned = await h.ok(OPERATOR_KEY, ASSIGN_PLAN, {
      input: { tenantId, planCode: p2.code, startsAt: '2026-05-10T00:00:00Z' },
    });
    expect(assigned.assignPlan).toEqual({
      startsAt: '2026-05-10T00:00:00.000Z',
      endsAt: null,
      plan: { code: p2.code },
      tenant: { id: tenantId },
    });
    const membership = async () => (await h.ok(admin, MEMBERSHIP, { id: tenantId })).tenant.membership;
    const plansSeen = async () => (await h.ok(admin, '{ plans { code } }')).plans.map((p: any) => p.code);
    expect(await membership()).toEqual({
      startsAt: '2026-05-01T00:00:00.000Z',
      endsAt: '2026-05-10T00:00:00.000Z',
      plan: { code: p1.code },
    });
    expect(await plansSeen()).toEqual([p1.code]);
    expect(item(await quota(admin), p1.limits[0]!.id).limit.amount).toBe(dec(1));

    h.clock.set('2026-05-09T23:59:59.999Z');
    expect((await membership()).plan.code).toBe(p1.code);
    h.clock.set('2026-05-10T00:00:00Z');
    expect(await membership()).toEqual({ startsAt: '2026-05-10T00:00:00.000Z', endsAt: null, plan: { code: p2.code } });
    expect(await plansSeen()).toEqual([p2.code]);
    const q = await quota(admin);
    expect(q.items.map((i: any) => i.limit.id)).toEqual([p2.limits[0]!.id]);

    // A start at or before an existing one is refused; nothing changes.
    const early = await h.gql(OPERATOR_KEY, ASSIGN_PLAN, {
      input: { tenantId, planCode: p1.code, startsAt: '2026-05-10T00:00:00Z' },
    });
    expect(early.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'startsAt'] });
    const rows = await h.sql('SELECT starts_at, ends_at FROM memberships WHERE tenant_id = $1 ORDER BY starts_at', [
      tenantId,
    ]);
    expect(rows.map((r: any) => [r.starts_at.toISOString(), r.ends_at?.toISOString() ?? null])).toEqual([
      ['2026-05-01T00:00:00.000Z', '2026-05-10T00:00:00.000Z'],
      ['2026-05-10T00:00:00.000Z', null],
    ]);
  });
});

describe('alerts', () => {
  it('64 concurrent recordings on two instances store each threshold exactly once', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([
      { metric: 'COST', period: 'DAY', amount: '1', thresholds: [50, 80, 100], action: 'ALERT' },
    ]);
    const limitId = plan.limits[0]!.id;
    const t = await tenantOn(plan.code, 'alert-race');
    const k = await t.key(['INGEST']);
    const two = await secondInstance();
    try {
      const results = await Promise.all(
        Array.from({ length: 64 }, (_, i) => {
          const input = { idempotencyKey: `race-${i}`, kind: 'CALL', cost: '0.05' };
          return i % 2 === 0 ? h.gql(k.secret, RECORD, { input }) : two.gql(k.secret, RECORD, { input });
        }),
      );
      for (const r of results) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
      expect(results.every((r) => r.data.recordUsage.outcome === 'CREATED')).toBe(true);
    } finally {
      await two.close();
    }
    const rows = await h.sql(
      `SELECT threshold, used::text AS used, limit_id, period_start FROM quota_alerts WHERE tenant_id = $1 ORDER BY threshold`,
      [t.id],
    );
    expect(rows.map((r: any) => r.threshold)).toEqual([50, 80, 100]);
    for (const r of rows) {
      expect(r.limit_id).toBe(limitId);
      expect(r.period_start.toISOString()).toBe('2026-06-15T00:00:00.000Z');
      expect(Number(r.used)).toBeGreaterThanOrEqual(r.threshold / 100);
      expect(Number(r.used)).toBeLessThanOrEqual(3.2);
    }
    const q = await quota(t.adminKey);
    expect(item(q, limitId)).toMatchObject({ used: dec('3.2'), exceeded: true });
    expect(q.blocked).toBe(false);
  });

  it('crossing several thresholds at once stores each; a new local day (and a late event) store afresh', async () => {
    // Asia/Tokyo: the local day starts at 15:00 UTC.
    h.clock.set('2026-06-15T01:00:00Z');
    const plan = await upsertPlan([
      { metric: 'COST', period: 'DAY', amount: '1', thresholds: [50, 80, 100], action: 'ALERT' },
    ]);
    const limitId = plan.limits[0]!.id;
    const t = await tenantOn(plan.code, 'alert-windows', 'Asia/Tokyo');
    const stored = async () =>
      (
        await h.sql(
          'SELECT threshold, used::text AS used, period_start FROM quota_alerts WHERE tenant_id = $1 ORDER BY crossed_at, threshold',
          [t.id],
        )
      ).map((r: any) => [r.period_start.toISOString(), r.threshold, r.used]);
    const day1 = '2026-06-14T15:00:00.000Z';
    const day2 = '2026-06-15T15:00:00.000Z';

    await record(t.adminKey, { cost: '0.9' });
    expect(await stored()).toEqual([
      [day1, 50, '0.900000000000'],
      [day1, 80, '0.900000000000'],
    ]);
    await record(t.adminKey, { cost: '0.05' });
    expect(await stored()).toHaveLength(2);
    await record(t.adminKey, { cost: '0.05' });
    expect((await stored())[2]).toEqual([day1, 100, '1.000000000000']);
    await record(t.adminKey, { cost: '5' });
    expect(await stored()).toHaveLength(3);

    // Next local day (same UTC date): a fresh window.
    h.clock.set('2026-06-15T15:00:30Z');
    await record(t.adminKey, { cost: '0.6' });
    expect((await stored()).slice(3)).toEqual([[day2, 50, '0.600000000000']]);
    const q = await quota(t.adminKey);
    expect(item(q, limitId)).toMatchObject({ periodStart: day2, used: dec('0.6') });

    // A late event counts in the window of its occurredAt: day 1 has nothing left to cross.
    await record(t.adminKey, { cost: '1', occurredAt: '2026-06-15T14:59:59Z' });
    expect(await stored()).toHaveLength(4);
    // A late event inside day 2 counts there: 0.6 + 0.25 crosses 80.
    const late = await record(t.adminKey, { cost: '0.25', occurredAt: '2026-06-15T15:00:10Z' });
    expect((await stored()).slice(4)).toEqual([[day2, 80, '0.850000000000']]);
    // Falling back under 80 (a reversal) and crossing it again in the same window stores nothing new.
    await h.ok(t.adminKey, REVERSE, { input: { eventId: late.event.id, idempotencyKey: 'alert-rev' } });
    expect(item(await quota(t.adminKey), limitId).used).toBe(dec('0.6'));
    await record(t.adminKey, { cost: '0.3' });
    expect(item(await quota(t.adminKey), limitId).used).toBe(dec('0.9'));
    expect(await stored()).toHaveLength(5);
  });

  it('quotaAlerts pages newest first and filters by from/to', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([
      { metric: 'COST', period: 'DAY', amount: '1', thresholds: [10, 20, 30, 40, 50], action: 'ALERT' },
      { metric: 'REQUESTS', period: 'DAY', amount: '100', thresholds: [1], action: 'ALERT' },
    ]);
    const t = await tenantOn(plan.code, 'alert-list');
    const other = await tenantOn(plan.code, 'alert-list-other');
    await record(other.adminKey, { cost: '1' });
    // One transaction storing three alerts, then two more transactions.
    // Alerts are stamped with the server's clock, so each transaction gets its own instant.
    await record(t.adminKey, { cost: '0.25' }); // 10, 20 and REQUESTS 1
    h.clock.set(new Date(new Date(NOON).getTime() + 1000));
    await record(t.adminKey, { cost: '0.1' }); // 30
    h.clock.set(new Date(new Date(NOON).getTime() + 2000));
    await record(t.adminKey, { cost: '0.2' }); // 40, 50
    const expected = await h.sql(
      'SELECT id::text, threshold, crossed_at FROM quota_alerts WHERE tenant_id = $1 ORDER BY crossed_at DESC, id DESC',
      [t.id],
    );
    expect(expected).toHaveLength(6);

    // One page with everything.
    const all = (await h.ok(t.adminKey, ALERTS, {})).quotaAlerts;
    expect(all.pageInfo.hasNextPage).toBe(false);
    expect(all.edges.map((e: any) => e.node.id)).toEqual(expected.map((r: any) => r.id));
    for (const e of all.edges) expect(e.node.tenantId).toBe(t.id);
    const newest = all.edges[0].node;
    expect(newest.threshold === 40 || newest.threshold === 50).toBe(true);
    expect(newest.limit.id).toBe(plan.limits[0]!.id);
    expect(newest.periodStart).toBe('2026-06-15T00:00:00.000Z');
    expect(newest.used).toBe(dec('0.55'));

    // Pages of three (each page ends between two transactions): the same list, nothing lost or repeated.
    const p1 = (await h.ok(t.adminKey, ALERTS, { first: 3 })).quotaAlerts;
    expect(p1.pageInfo.hasNextPage).toBe(true);
    expect(p1.pageInfo.endCursor).toBe(p1.edges[2].cursor);
    const p2 = (await h.ok(t.adminKey, ALERTS, { first: 3, after: p1.pageInfo.endCursor })).quotaAlerts;
    expect(p2.pageInfo).toEqual({ hasNextPage: false, endCursor: p2.edges[2].cursor });
    expect([...p1.edges, ...p2.edges].map((e: any) => e.node.id)).toEqual(expected.map((r: any) => r.id));
    expect(p2.edges.map((e: any) => e.node.threshold).sort()).toEqual([1, 10, 20]);

    // from (inclusive) / to (exclusive) on crossedAt: the middle transaction alone.
    const middle = all.edges.find((e: any) => e.node.threshold === 30).node.crossedAt;
    const later = all.edges[0].node.crossedAt;
    const window = (await h.ok(t.adminKey, ALERTS, { from: middle, to: later })).quotaAlerts;
    expect(window.edges.map((e: any) => e.node.threshold)).toEqual([30]);
    const since = (await h.ok(t.adminKey, ALERTS, { from: middle })).quotaAlerts;
    expect(since.edges.map((e: any) => e.node.threshold).sort()).toEqual([30, 40, 50]);
    const before = (await h.ok(t.adminKey, ALERTS, { to: middle })).quotaAlerts;
    expect(before.edges).toHaveLength(3);

    expect(code(await h.gql(t.adminKey, ALERTS, { first: 501 }))).toBe('BAD_USER_INPUT');
    expect(code(await h.gql(t.adminKey, ALERTS, { after: 'garbage' }))).toBe('BAD_USER_INPUT');
    const op = (await h.ok(OPERATOR_KEY, ALERTS, { tenantId: other.id })).quotaAlerts;
    expect(op.edges.every((e: any) => e.node.tenantId === other.id)).toBe(true);
    expect(op.edges.length).toBeGreaterThan(0);
  });

  // Guards a regression: the cursor carries crossedAt in milliseconds; alerts were once stamped
  // with microseconds (DEFAULT now()), so a page boundary inside one transaction's alerts lost the rest.
  it('quotaAlerts pages of one keep alerts stored by one transaction', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([
      { metric: 'COST', period: 'DAY', amount: '1', thresholds: [50, 80], action: 'ALERT' },
    ]);
    const t = await tenantOn(plan.code, 'alert-page-tie');
    await record(t.adminKey, { cost: '0.9' }); // stores 50 and 80 in one transaction
    expect(await count('quota_alerts', t.id)).toBe(2);
    const p1 = (await h.ok(t.adminKey, ALERTS, { first: 1 })).quotaAlerts;
    expect(p1.edges).toHaveLength(1);
    expect(p1.pageInfo.hasNextPage).toBe(true);
    const p2 = (await h.ok(t.adminKey, ALERTS, { first: 1, after: p1.pageInfo.endCursor })).quotaAlerts;
    expect([...p1.edges, ...p2.edges].map((e: any) => e.node.threshold).sort()).toEqual([50, 80]);
  });
});

describe('tenant isolation', () => {
  it("every quota query and mutation refuses another tenant's objects and writes nothing", async () => {
    h.clock.set(NOON);
    const planA = await upsertPlan([{ metric: 'COST', period: 'DAY', amount: '10' }]);
    const planB = await upsertPlan([{ metric: 'COST', period: 'DAY', amount: '1', thresholds: [1] }]);
    const a = await tenantOn(planA.code, 'iso-a');
    const b = await tenantOn(planB.code, 'iso-b');
    const bKey = await b.key(['INGEST'], 'b-ingest');
    await record(bKey.secret, { cost: '0.5', subject: 'secret-subject' });
    const held = await authorize(bKey.secret, { estimate: { cost: '0.25' }, reserveSeconds: 600 });
    const bAlerts = await count('quota_alerts', b.id);
    expect(bAlerts).toBe(1);
    const before = {
      aRes: await count('reservations', a.id),
      bRes: await count('reservations', b.id),
      aEvents: await count('usage_events', a.id),
    };

    const refusals: [string, GqlResult, string[]][] = [
      ['quotaStatus(tenantId: B)', await h.gql(a.adminKey, QUOTA, { tenantId: b.id }), ['FORBIDDEN']],
      [
        'quotaStatus(apiKeyId: B key)',
        await h.gql(a.adminKey, QUOTA, { apiKeyId: bKey.id }),
        ['FORBIDDEN', 'NOT_FOUND'],
      ],
      [
        'quotaStatus(tenantId: B, apiKeyId: B key)',
        await h.gql(a.adminKey, QUOTA, { tenantId: b.id, apiKeyId: bKey.id }),
        ['FORBIDDEN'],
      ],
      ['quotaAlerts(tenantId: B)', await h.gql(a.adminKey, ALERTS, { tenantId: b.id }), ['FORBIDDEN']],
      [
        'tenant(B).quota',
        await h.gql(a.adminKey, 'query($id: ID!) { tenant(id: $id) { quota { blocked } } }', { id: b.id }),
        ['FORBIDDEN'],
      ],
      [
        'setApiKeyLimits(B key)',
        await h.gql(a.adminKey, SET_KEY_LIMITS, {
          input: { apiKeyId: bKey.id, limits: [{ metric: 'COST', period: 'DAY', amount: '1000' }] },
        }),
        ['FORBIDDEN', 'NOT_FOUND'],
      ],
      [
        'releaseReservation(B)',
        await h.gql(a.adminKey, RELEASE, { id: held.reservation.id }),
        ['FORBIDDEN', 'NOT_FOUND', 'RESERVATION_INVALID'],
      ],
      [
        'authorizeUsage(tenantId: B)',
        await h.gql(a.adminKey, AUTHORIZE, { input: { tenantId: b.id, estimate: {}, reserveSeconds: 60 } }),
        ['FORBIDDEN'],
      ],
      [
        'authorizeUsage(apiKeyId: B key)',
        await h.gql(a.adminKey, AUTHORIZE, { input: { apiKeyId: bKey.id, estimate: {}, reserveSeconds: 60 } }),
        ['FORBIDDEN', 'NOT_FOUND'],
      ],
      [
        'upsertPlan',
        await h.gql(a.adminKey, UPSERT_PLAN, { input: { code: planA.code, name: 'mine', limits: [] } }),
        ['FORBIDDEN'],
      ],
      [
        'assignPlan(B)',
        await h.gql(a.adminKey, ASSIGN_PLAN, { input: { tenantId: b.id, planCode: planA.code } }),
        ['FORBIDDEN'],
      ],
      [
        'assignPlan(own)',
        await h.gql(a.adminKey, ASSIGN_PLAN, { input: { tenantId: a.id, planCode: planB.code } }),
        ['FORBIDDEN'],
      ],
    ];
    for (const [what, r, codes] of refusals) {
      expect(codes, `${what}: ${JSON.stringify(r.errors)}`).toContain(code(r));
      expect(
        Object.values(r.data ?? {}).every((v) => v === null),
        what,
      ).toBe(true);
      const body = JSON.stringify(r);
      expect(body, what).not.toContain('secret-subject');
      expect(body, what).not.toContain(planB.limits[0]!.id);
    }

    expect(await count('reservations', a.id)).toBe(before.aRes);
    expect(await count('reservations', b.id)).toBe(before.bRes);
    expect(await count('usage_events', a.id)).toBe(before.aEvents);
    expect(await count('quota_alerts', b.id)).toBe(bAlerts);
    expect(await h.sql('SELECT 1 FROM limits WHERE api_key_id = $1', [bKey.id])).toEqual([]);
    const [res] = await h.sql('SELECT released_at FROM reservations WHERE id = $1', [held.reservation.id]);
    expect(res.released_at).toBeNull();
    const [plan] = await h.sql('SELECT name FROM plans WHERE code = $1', [planA.code]);
    expect(plan.name).toBe(planA.code);
    const mem = await h.sql('SELECT plan_id FROM memberships WHERE tenant_id = ANY($1::uuid[])', [[a.id, b.id]]);
    expect(mem.map((m: any) => m.plan_id).sort()).toEqual([planA.id, planB.id].sort());

    // A's own view holds none of B's data.
    const own = await quota(a.adminKey);
    expect(own.tenantId).toBe(a.id);
    expect(item(own, planA.limits[0]!.id)).toMatchObject({ used: dec(0), reserved: dec(0) });
    expect((await h.ok(a.adminKey, ALERTS, {})).quotaAlerts.edges).toEqual([]);
    expect((await h.ok(a.adminKey, '{ plans { id code limits { id } } }')).plans).toEqual([
      { id: planA.id, code: planA.code, limits: [{ id: planA.limits[0]!.id }] },
    ]);
    const loner = await tenantOn(null, 'iso-no-plan');
    expect((await h.ok(loner.adminKey, '{ plans { code } }')).plans).toEqual([]);
    const opPlans = (await h.ok(OPERATOR_KEY, '{ plans { code } }')).plans.map((p: any) => p.code);
    expect(opPlans).toEqual(expect.arrayContaining([planA.code, planB.code]));
  });

  it('scopes: INGEST cannot read quota or alerts, READ cannot authorize', async () => {
    h.clock.set(NOON);
    const t = await tenantOn(null, 'iso-scopes');
    const ingest = await t.key(['INGEST']);
    const read = await t.key(['READ']);
    expect(code(await h.gql(ingest.secret, QUOTA, {}))).toBe('FORBIDDEN');
    expect(code(await h.gql(ingest.secret, ALERTS, {}))).toBe('FORBIDDEN');
    expect(code(await h.gql(read.secret, AUTHORIZE, { input: { estimate: {}, reserveSeconds: 60 } }))).toBe(
      'FORBIDDEN',
    );
    expect(await count('reservations', t.id)).toBe(0);
    expect((await quota(read.secret)).items).toEqual([]);
  });
});

describe('validation', () => {
  it('names the field of a bad reserveSeconds, estimate, limit amount or thresholds; unknown planCode is NOT_FOUND', async () => {
    h.clock.set(NOON);
    const plan = await upsertPlan([{ metric: 'COST', period: 'DAY', amount: '10' }]);
    const t = await tenantOn(plan.code, 'validation');
    const cases: [Record<string, unknown>, string[]][] = [
      [{ estimate: {}, reserveSeconds: 3601 }, ['input', 'reserveSeconds']],
      [{ estimate: {}, reserveSeconds: -1 }, ['input', 'reserveSeconds']],
      [{ estimate: { cost: '-0.01' } }, ['input', 'estimate', 'cost']],
      [{ estimate: { cost: '-1' }, reserveSeconds: 60 }, ['input', 'estimate', 'cost']],
      [{ estimate: { tokens: -1 } }, ['input', 'estimate', 'tokens']],
      [{ estimate: { inputTokens: -5 } }, ['input', 'estimate', 'inputTokens']],
      [{ estimate: { requests: -1 } }, ['input', 'estimate', 'requests']],
      [{ estimate: { asrSeconds: '-2' } }, ['input', 'estimate', 'asrSeconds']],
    ];
    for (const [input, field] of cases) {
      const r = await h.gql(t.adminKey, AUTHORIZE, { input });
      expect(r.errors?.[0]?.extensions, JSON.stringify(input)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    expect(await count('reservations', t.id)).toBe(0);
    const max = await authorize(t.adminKey, { estimate: { cost: '1' }, reserveSeconds: 3600 });
    expect(max.reservation.expiresAt).toBe('2026-06-15T13:00:00.000Z');

    const limitCases: [Record<string, unknown>, string[]][] = [
      [{ metric: 'COST', period: 'DAY', amount: '0' }, ['input', 'limits', '0', 'amount']],
      [{ metric: 'COST', period: 'DAY', amount: '-5' }, ['input', 'limits', '0', 'amount']],
      [{ metric: 'COST', period: 'DAY', amount: '1', thresholds: [0] }, ['input', 'limits', '0', 'thresholds']],
    ];
    const badCode = uniq('bad-plan');
    for (const [limit, field] of limitCases) {
      const r = await h.gql(OPERATOR_KEY, UPSERT_PLAN, { input: { code: badCode, name: 'x', limits: [limit] } });
      expect(r.errors?.[0]?.extensions, JSON.stringify(limit)).toMatchObject({ code: 'BAD_USER_INPUT', field });
      const k = await h.gql(t.adminKey, SET_KEY_LIMITS, { input: { apiKeyId: t.adminKeyId, limits: [limit] } });
      expect(k.errors?.[0]?.extensions, JSON.stringify(limit)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    expect(await h.sql('SELECT 1 FROM plans WHERE code = $1', [badCode])).toEqual([]);
    expect(await h.sql('SELECT 1 FROM limits WHERE api_key_id = $1', [t.adminKeyId])).toEqual([]);

    const assign = await h.gql(OPERATOR_KEY, ASSIGN_PLAN, { input: { tenantId: t.id, planCode: 'no-such-plan' } });
    expect(assign.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: ['input', 'planCode'] });
    const mk = await h.gql(
      OPERATOR_KEY,
      'mutation($input: CreateTenantInput!) { createTenant(input: $input) { secret } }',
      {
        input: { name: 'never-created', planCode: 'no-such-plan' },
      },
    );
    expect(code(mk)).toBe('NOT_FOUND');
    expect(await h.sql(`SELECT 1 FROM tenants WHERE name = 'never-created'`)).toEqual([]);
    const unknownTenant = await h.gql(OPERATOR_KEY, ASSIGN_PLAN, {
      input: { tenantId: randomUUID(), planCode: plan.code },
    });
    expect(code(unknownTenant)).toBe('NOT_FOUND');
    expect((await h.ok(t.adminKey, MEMBERSHIP, { id: t.id })).tenant.membership.plan.code).toBe(plan.code);
  });
});
