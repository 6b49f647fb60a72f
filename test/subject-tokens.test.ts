// Subject tokens (createSubjectToken): a tenant's backend mints a short-lived bearer token for
// one end user, whose page then reads that user's usage and quota straight from Tally. Through
// the GraphQL surface (HTTP, SSE and graphql-ws, like keys): no path shows another subject,
// every mutation is FORBIDDEN, maxRangeDays caps every range, the token stops at expiresAt,
// and revoking the ADMIN key that minted it ends it, open subscriptions included. The CSV
// exports (GET /export/*.csv, same bearer) keep every one of these rules too.
import { createHash } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type GqlResult, type Harness, OPERATOR_KEY } from './support/harness';
import { closeSubscribers, SseSub, WsSub, wsClient } from './support/subscribers';
import { sleep, until } from './support/wait';
import { CreateSubjectToken, dec, NOON, type SubjectCaller, uniq, World, type WorldTenant } from './support/world';

let h: Harness;
let world: World;
let port: number;

beforeAll(async () => {
  h = await createHarness('subject-tokens', { poolSize: 20 });
  world = World.on(h);
  port = (await h.listen()).port;
});
afterAll(async () => {
  await closeSubscribers();
  await h?.close();
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (ms: number) => new Date(Date.parse(NOON) + ms).toISOString();
/** [NOON - days/2, NOON + days/2): a range of `days` days around the events. */
const span = (days: number) => ({ from: at((-days * DAY) / 2), to: at((days * DAY) / 2) });

const codes = (r: GqlResult) => (r.errors ?? []).map((e) => e.extensions?.code);
const errorOf = (r: GqlResult) => {
  expect(r.errors, JSON.stringify(r)).toHaveLength(1);
  const e = r.errors?.[0];
  return { code: e?.extensions?.code, field: e?.extensions?.field, message: e?.message };
};

/**
 * A tenant on a plan whose SUBJECT limit alerts at 50%, with usage of alice (0.3 + 0.4 through
 * two keys), bob (0.6 + 0.5) and nobody (1.0), all at NOON; and a token for alice.
 */
async function seeded(name: string, tokenOpts: { maxRangeDays?: number } = {}) {
  world.clock.set(NOON);
  const t = await world
    .tenant(name)
    .onPlan([{ metric: 'COST', period: 'DAY', scope: 'SUBJECT', amount: '1', thresholds: [50], action: 'ALERT' }])
    .withKey('INGEST');
  const k2 = await t.key(['INGEST'], 'second');
  const events = {
    alice: [
      (await t.record({ subject: 'alice', model: 'm-a', cost: '0.3' })).event.id,
      (await k2.record({ subject: 'alice', model: 'm-b', cost: '0.4' })).event.id,
    ],
    bob: [
      (await t.record({ subject: 'bob', model: 'm-b', cost: '0.6' })).event.id,
      (await k2.record({ subject: 'bob', model: 'm-c', cost: '0.5' })).event.id,
    ],
    nobody: [(await t.record({ model: 'm-d', cost: '1' })).event.id],
  };
  await t.onSubjectPlan('bob', [{ metric: 'REQUESTS', period: 'DAY', amount: '100' }]);
  const alice = await t.subjectToken('alice', tokenOpts);
  return { t, k2, events, alice };
}

describe('minting', () => {
  it('an ADMIN key (or the operator naming the tenant) mints a tsk_ token, stored only as a digest', async () => {
    world.clock.set(NOON);
    const t = await world.tenant('mint').onPlan([]);
    const token = await t.subjectToken('user-42');
    expect(token.secret).toMatch(/^tsk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    expect(token).toMatchObject({ subject: 'user-42', expiresAt: at(HOUR) });
    const [row] = await h.sql('SELECT * FROM subject_tokens WHERE tenant_id = $1', [t.id]);
    expect(row).toMatchObject({
      subject: 'user-42',
      prefix: token.secret.slice(0, 12),
      api_key_id: t.adminKeyId,
      max_range_days: null,
    });
    expect(row.secret_hash).toEqual(createHash('sha256').update(token.secret).digest());
    expect(JSON.stringify(row)).not.toContain(token.secret.slice(13));
    // The operator names the tenant; a day is the longest a token lives.
    const byOperator = await world.operator.request(CreateSubjectToken, {
      input: { tenantId: t.id, subject: 'user-7', expiresInSeconds: 86_400, maxRangeDays: 31 },
    });
    expect(byOperator.createSubjectToken).toMatchObject({ subject: 'user-7', expiresAt: at(DAY) });
    const viewer = await h.ok(
      byOperator.createSubjectToken.token,
      '{ viewer { isOperator subject apiKey { id } tenant { id } } }',
    );
    expect(viewer.viewer).toEqual({ isOperator: false, subject: 'user-7', apiKey: null, tenant: { id: t.id } });
  });

  it('refuses other keys, other tenants and bad input, each naming its field; nothing is stored', async () => {
    world.clock.set(NOON);
    const t = await world.tenant('mint-refusals').onPlan([]);
    const other = await world.tenant('mint-other').onPlan([]);
    const mint = (key: string, input: Record<string, unknown>) =>
      h.gql(key, 'mutation($input: CreateSubjectTokenInput!) { createSubjectToken(input: $input) { token } }', {
        input,
      });
    const read = await t.key(['READ']);
    const ingest = await t.key(['INGEST']);
    const token = await t.subjectToken('someone');
    const cases: [string, Record<string, unknown>, string, string[] | undefined][] = [
      [read.secret, { subject: 'x' }, 'FORBIDDEN', undefined],
      [ingest.secret, { subject: 'x' }, 'FORBIDDEN', undefined],
      [token.secret, { subject: 'someone' }, 'FORBIDDEN', undefined],
      [t.adminKey, { subject: 'x', tenantId: other.id }, 'FORBIDDEN', undefined],
      [OPERATOR_KEY, { subject: 'x' }, 'BAD_USER_INPUT', ['input', 'tenantId']],
      [
        OPERATOR_KEY,
        { subject: 'x', tenantId: '00000000-0000-4000-8000-000000000000' },
        'NOT_FOUND',
        ['input', 'tenantId'],
      ],
      [t.adminKey, { subject: '' }, 'BAD_USER_INPUT', ['input', 'subject']],
      [t.adminKey, { subject: 'x'.repeat(256) }, 'BAD_USER_INPUT', ['input', 'subject']],
      [t.adminKey, { subject: 'cut \ud83d' }, 'BAD_USER_INPUT', ['input', 'subject']],
      [t.adminKey, { subject: 'x', expiresInSeconds: 0 }, 'BAD_USER_INPUT', ['input', 'expiresInSeconds']],
      [t.adminKey, { subject: 'x', expiresInSeconds: 86_401 }, 'BAD_USER_INPUT', ['input', 'expiresInSeconds']],
      [t.adminKey, { subject: 'x', maxRangeDays: 0 }, 'BAD_USER_INPUT', ['input', 'maxRangeDays']],
      [t.adminKey, { subject: 'x', maxRangeDays: 401 }, 'BAD_USER_INPUT', ['input', 'maxRangeDays']],
    ];
    for (const [key, input, code, field] of cases) {
      const e = errorOf(await mint(key, input));
      expect([e.code, e.field], JSON.stringify(input)).toEqual([code, field]);
    }
    const [{ n }] = await h.sql('SELECT count(*)::int AS n FROM subject_tokens WHERE tenant_id = ANY($1)', [
      [t.id, other.id],
    ]);
    expect(n).toBe(1); // the one token minted above
  });
});

describe('a subject token sees only its subject', () => {
  let s: Awaited<ReturnType<typeof seeded>>;
  beforeAll(async () => {
    s = await seeded('sees-one');
  });

  it('usageSummary: totals, every grouping and filter are its subject; naming another is FORBIDDEN', async () => {
    world.clock.set(NOON);
    const summary = (filter: Record<string, unknown>, groupBy: string[] = []) =>
      h.gql(
        s.alice.secret,
        `query($f: UsageFilter!, $g: [UsageDimension!]) {
          usageSummary(filter: $f, groupBy: $g) { totals { requests cost } buckets { subject model apiKey { id } totals { cost } } } }`,
        { f: { ...span(2), ...filter }, g: groupBy },
      );
    const all = await summary({});
    expect(all.data.usageSummary.totals).toEqual({ requests: 2, cost: dec('0.7') });
    const bySubject = await summary({}, ['SUBJECT']);
    expect(bySubject.data.usageSummary.buckets.map((b: any) => [b.subject, b.totals.cost])).toEqual([
      ['alice', dec('0.7')],
    ]);
    const byModel = await summary({}, ['MODEL', 'API_KEY']);
    expect(byModel.data.usageSummary.buckets.map((b: any) => b.model).sort()).toEqual(['m-a', 'm-b']);
    expect((await summary({ subject: 'alice' })).data.usageSummary.totals.cost).toBe(dec('0.7'));
    expect((await summary({ model: 'm-c' })).data.usageSummary.totals.requests).toBe(0); // bob's model
    for (const subject of ['bob', 'ALICE', ''])
      expect(errorOf(await summary({ subject }, ['SUBJECT']))).toMatchObject({
        code: 'FORBIDDEN',
        field: ['filter', 'subject'],
      });
  });

  it('usageEvents: only its entries; another subject is FORBIDDEN; their keys show no usage', async () => {
    const events = (filter: Record<string, unknown>) =>
      h.gql(
        s.alice.secret,
        'query($f: UsageFilter!) { usageEvents(filter: $f) { edges { node { id subject cost reverses { id } } } } }',
        { f: { ...span(2), ...filter } },
      );
    const mine = await events({});
    expect(mine.data.usageEvents.edges.map((e: any) => e.node.id).sort()).toEqual([...s.events.alice].sort());
    expect(errorOf(await events({ subject: 'bob' }))).toMatchObject({
      code: 'FORBIDDEN',
      field: ['filter', 'subject'],
    });
    // An entry's key is shown, but a key's usage spans every subject.
    const keyUsage = await h.gql(
      s.alice.secret,
      `query($f: UsageFilter!, $from: DateTime!, $to: DateTime!) {
        usageEvents(filter: $f) { edges { node { apiKey { id usage(from: $from, to: $to) { cost } } } } } }`,
      { f: span(2), ...span(2) },
    );
    expect(codes(keyUsage)).toEqual(['FORBIDDEN', 'FORBIDDEN']);
    expect(JSON.stringify(keyUsage.data)).not.toContain('cost');
  });

  it("tenant { … }: usage and quota are its subject's, subjectMemberships its own, apiKeys FORBIDDEN", async () => {
    const r = await h.gql(
      s.alice.secret,
      `query($id: ID!, $from: DateTime!, $to: DateTime!) { tenant(id: $id) {
        id usage(from: $from, to: $to) { requests cost }
        quota { subject blocked items { scopeId used } }
        membership { plan { code } }
        subjectMemberships { edges { node { subject } } } } }`,
      { id: s.t.id, ...span(2) },
    );
    expect(r.errors).toBeUndefined();
    expect(r.data.tenant).toEqual({
      id: s.t.id,
      usage: { requests: 2, cost: dec('0.7') },
      quota: { subject: 'alice', blocked: false, items: [{ scopeId: 'alice', used: dec('0.7') }] },
      membership: { plan: { code: s.t.plan?.code } },
      subjectMemberships: { edges: [] }, // bob has a plan of his own; alice has none
    });
    const keys = await h.gql(s.alice.secret, 'query($id: ID!) { tenant(id: $id) { apiKeys { id } } }', { id: s.t.id });
    expect(errorOf(keys)).toMatchObject({ code: 'FORBIDDEN' });
    const other = await world.tenant('sees-one-other').onPlan([]);
    expect(
      errorOf(await h.gql(s.alice.secret, 'query($id: ID!) { tenant(id: $id) { id } }', { id: other.id })).code,
    ).toBe('FORBIDDEN');
    // bob's token sees bob's membership only.
    const bob = await s.t.subjectToken('bob');
    const bobs = await h.ok(
      bob.secret,
      'query($id: ID!) { tenant(id: $id) { subjectMemberships { edges { node { subject } } } } }',
      {
        id: s.t.id,
      },
    );
    expect(bobs.tenant.subjectMemberships.edges).toEqual([{ node: { subject: 'bob' } }]);
    const forced = await h.gql(
      bob.secret,
      'query($id: ID!) { tenant(id: $id) { subjectMemberships(subject: "alice") { edges { cursor } } } }',
      { id: s.t.id },
    );
    expect(errorOf(forced)).toMatchObject({ code: 'FORBIDDEN', field: ['subject'] });
  });

  it('quotaStatus, quotaAlerts, plans and viewer: its subject only', async () => {
    world.clock.set(NOON);
    const q = await s.alice.quota();
    expect(q).toMatchObject({ tenantId: s.t.id, subject: 'alice', blocked: false });
    expect(q.items.map((i) => [i.scopeId, i.used])).toEqual([['alice', dec('0.7')]]);
    for (const args of [{ subject: 'bob' }, { tenantId: (await world.tenant('q-other').onPlan([])).id }])
      expect((await world.refusal(s.alice.quota(args))).code).toBe('FORBIDDEN');
    // Both crossed 50% of their limit; alice sees hers.
    const alerts = await s.alice.alerts({ first: 50 });
    expect(alerts.edges.map((e) => e.node.subject)).toEqual(['alice']);
    expect((await s.t.alerts({ first: 50 })).edges.map((e) => e.node.subject).sort()).toEqual(['alice', 'bob']);
    const plans = await s.alice.plans();
    expect(plans.map((p) => p.code)).toEqual([s.t.plan?.code]);
    const bob = await s.t.subjectToken('bob');
    expect((await bob.plans()).length).toBe(2); // the tenant's and his own
    const viewer = await h.ok(s.alice.secret, '{ viewer { isOperator subject apiKey { id } tenant { id } } }');
    expect(viewer.viewer).toEqual({ isOperator: false, subject: 'alice', apiKey: null, tenant: { id: s.t.id } });
  });

  it('every mutation is FORBIDDEN and writes nothing', async () => {
    world.clock.set(NOON);
    const ID = '00000000-0000-4000-8000-000000000000';
    const before = await snapshot(s.t.id);
    const mutations = [
      'mutation { recordUsage(input: { idempotencyKey: "t-1", kind: CALL, cost: "1", subject: "alice" }) { outcome } }',
      'mutation { recordUsageBatch(input: [{ idempotencyKey: "t-2", kind: CALL, cost: "1" }]) { created } }',
      `mutation { reverseUsage(input: { eventId: "${s.events.alice[0]}", idempotencyKey: "t-3" }) { outcome } }`,
      'mutation { authorizeUsage(input: { subject: "alice", estimate: { cost: "1" }, reserveSeconds: 60 }) { allowed } }',
      `mutation { releaseReservation(id: "${ID}") }`,
      'mutation { createApiKey(input: { name: "k", scopes: [ADMIN] }) { secret } }',
      `mutation { revokeApiKey(id: "${s.t.adminKeyId}") { id } }`,
      'mutation { createSubjectToken(input: { subject: "alice" }) { token } }',
      `mutation { setApiKeyLimits(input: { apiKeyId: "${s.t.adminKeyId}", limits: [] }) { id } }`,
      'mutation { setPrice(input: { provider: "p", model: "m", perRequest: "1" }) { id } }',
      'mutation { upsertPlan(input: { code: "c", name: "n", limits: [] }) { id } }',
      `mutation { assignPlan(input: { tenantId: "${s.t.id}", planCode: "c", subject: "alice" }) { startsAt } }`,
      'mutation { createTenant(input: { name: "x" }) { secret } }',
    ];
    for (const m of mutations) {
      const r = await h.gql(s.alice.secret, m);
      expect(codes(r), m).toEqual(['FORBIDDEN']);
      expect(Object.values(r.data ?? {}).every((v) => v === null)).toBe(true);
    }
    expect(await snapshot(s.t.id)).toEqual(before);
  });
});

describe('CSV exports', () => {
  const EVENTS = 'usage-events.csv';
  const SUMMARY = 'usage-summary.csv';
  /** GET /export/<file> with a key or token: its CSV rows, or its JSON error's code, field and message. */
  async function exportAs(key: string, file: string, query: Record<string, string>): Promise<any> {
    const res = await fetch(`http://127.0.0.1:${port}/export/${file}?${new URLSearchParams(query)}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const text = await res.text();
    if ((res.headers.get('content-type') ?? '').startsWith('text/csv'))
      return { status: res.status, rows: parse(text, { columns: true }) };
    const e = JSON.parse(text).errors[0];
    return { status: res.status, code: e.extensions.code, field: e.extensions.field, message: e.message };
  }

  it("both exports, unfiltered or by any other filter, hold only the token's subject", async () => {
    const s = await seeded('export-sees-one');
    world.clock.set(NOON);
    const events = await exportAs(s.alice.secret, EVENTS, span(2));
    expect(events.status).toBe(200);
    expect(events.rows.map((r: any) => r.id).sort()).toEqual([...s.events.alice].sort());
    expect(new Set(events.rows.map((r: any) => r.subject))).toEqual(new Set(['alice']));
    // The same by model and by key: bob's model and the second key's other usage stay out.
    expect((await exportAs(s.alice.secret, EVENTS, { ...span(2), model: 'm-c' })).rows).toEqual([]);
    expect(
      (await exportAs(s.alice.secret, EVENTS, { ...span(2), apiKeyId: s.k2.id })).rows.map((r: any) => r.id),
    ).toEqual([s.events.alice[1]]);
    expect((await exportAs(s.alice.secret, EVENTS, { ...span(2), subject: 'alice' })).rows).toHaveLength(2);

    const bySubject = await exportAs(s.alice.secret, SUMMARY, { ...span(2), groupBy: 'SUBJECT' });
    expect(bySubject.rows.map((r: any) => [r.subject, r.requests, r.cost])).toEqual([['alice', '2', dec('0.7')]]);
    const byModel = await exportAs(s.alice.secret, SUMMARY, { ...span(2), groupBy: 'MODEL,API_KEY' });
    expect(byModel.rows.map((r: any) => r.model).sort()).toEqual(['m-a', 'm-b']);
    const total = await exportAs(s.alice.secret, SUMMARY, { ...span(2), granularity: 'DAY' });
    expect(total.rows.map((r: any) => r.cost)).toEqual([dec('0.7')]);
    // The tenant's own key sees everyone: the token's view is narrower, not the data thinner.
    const all = await exportAs(s.t.adminKey, SUMMARY, { ...span(2), groupBy: 'SUBJECT' });
    expect(all.rows.map((r: any) => r.subject).sort()).toEqual(['', 'alice', 'bob']);
  });

  it('naming another subject or tenant is FORBIDDEN JSON, for both exports, and sends no row', async () => {
    const s = await seeded('export-refusals');
    const other = await world.tenant('export-refusals-other').onPlan([]);
    world.clock.set(NOON);
    for (const file of [EVENTS, SUMMARY]) {
      for (const subject of ['bob', 'ALICE', 'alice ']) {
        const r = await exportAs(s.alice.secret, file, { ...span(2), subject });
        expect([r.status, r.code, r.field], `${file} ${subject}`).toEqual([403, 'FORBIDDEN', ['subject']]);
        expect(r.message).toBe('this subject token reads only its own subject');
      }
      const t = await exportAs(s.alice.secret, file, { ...span(2), tenantId: other.id });
      expect([t.status, t.code], file).toEqual([403, 'FORBIDDEN']);
    }
  });

  it("maxRangeDays caps an export's from/to, naming `to`; an expired token is UNAUTHENTICATED JSON", async () => {
    const s = await seeded('export-range', { maxRangeDays: 7 });
    world.clock.set(NOON);
    for (const file of [EVENTS, SUMMARY]) {
      expect((await exportAs(s.alice.secret, file, span(7))).status, file).toBe(200);
      const r = await exportAs(s.alice.secret, file, span(7.5));
      expect([r.status, r.code, r.field], file).toEqual([400, 'BAD_USER_INPUT', ['to']]);
      expect(r.message).toMatch(/at most 7 days/);
    }
    // The key that minted it is not capped.
    expect((await exportAs(s.t.adminKey, SUMMARY, span(300))).rows[0].requests).toBe('5');

    const token = await s.t.subjectToken('alice', { expiresInSeconds: 60 });
    world.clock.set(at(59_999));
    expect((await exportAs(token.secret, EVENTS, span(2))).rows).toHaveLength(2);
    world.clock.set(at(60_000));
    for (const file of [EVENTS, SUMMARY]) {
      const r = await exportAs(token.secret, file, span(2));
      expect([r.status, r.code], file).toEqual([401, 'UNAUTHENTICATED']);
      expect(r.message).toBe(`this subject token expired at ${at(60_000)}; mint a new one (createSubjectToken)`);
    }
  });
});

/** What a refused mutation could have written. */
async function snapshot(tenantId: string) {
  const q = (sql: string) => h.sql(sql, [tenantId]);
  return {
    events: await q('SELECT id FROM usage_events WHERE tenant_id = $1 ORDER BY id'),
    keys: await q('SELECT id, revoked_at FROM api_keys WHERE tenant_id = $1 ORDER BY id'),
    tokens: await q('SELECT id FROM subject_tokens WHERE tenant_id = $1 ORDER BY id'),
    reservations: await q('SELECT id FROM reservations WHERE tenant_id = $1'),
    memberships: await q('SELECT id, ends_at FROM memberships WHERE tenant_id = $1 ORDER BY id'),
    prices: await h.sql('SELECT count(*)::int AS n FROM prices'),
    plans: await h.sql('SELECT count(*)::int AS n FROM plans'),
  };
}

describe('maxRangeDays', () => {
  it('caps the range of every query, naming `to`; within it the answer is whole', async () => {
    const s = await seeded('range', { maxRangeDays: 7 });
    world.clock.set(NOON);
    const summary = (r: { from: string; to: string }) =>
      h.gql(s.alice.secret, 'query($f: UsageFilter!) { usageSummary(filter: $f) { totals { cost } } }', { f: r });
    expect((await summary(span(7))).data.usageSummary.totals.cost).toBe(dec('0.7'));
    const refused = errorOf(await summary(span(7.5)));
    expect(refused).toMatchObject({ code: 'BAD_USER_INPUT', field: ['filter', 'to'] });
    expect(refused.message).toMatch(/at most 7 days/);
    const events = await h.gql(
      s.alice.secret,
      'query($f: UsageFilter!) { usageEvents(filter: $f) { edges { cursor } } }',
      {
        f: span(8),
      },
    );
    expect(errorOf(events)).toMatchObject({ code: 'BAD_USER_INPUT', field: ['filter', 'to'] });
    const usage = (r: { from: string; to: string }) =>
      h.gql(
        s.alice.secret,
        'query($id: ID!, $from: DateTime!, $to: DateTime!) { tenant(id: $id) { usage(from: $from, to: $to) { cost } } }',
        {
          id: s.t.id,
          ...r,
        },
      );
    expect((await usage(span(6))).data.tenant.usage.cost).toBe(dec('0.7'));
    expect(errorOf(await usage(span(30)))).toMatchObject({ code: 'BAD_USER_INPUT', field: ['to'] });
    // quotaAlerts has an optional range: a capped token must give one.
    expect((await world.refusal(s.alice.alerts())).field).toEqual(['from']);
    expect((await world.refusal(s.alice.alerts(span(8)))).field).toEqual(['to']);
    expect((await s.alice.alerts(span(7))).edges).toHaveLength(1);
    // The same key's own reads are not capped.
    expect(
      (
        await h.gql(s.t.adminKey, 'query($f: UsageFilter!) { usageSummary(filter: $f) { totals { requests } } }', {
          f: span(300),
        })
      ).data.usageSummary.totals.requests,
    ).toBe(5);
  });
});

describe('expiry', () => {
  it('works until expiresAt and is UNAUTHENTICATED from then on, saying it expired', async () => {
    world.clock.set(NOON);
    const t = await world.tenant('expiry').onPlan([]);
    const token = await t.subjectToken('u', { expiresInSeconds: 60 });
    expect(token.expiresAt).toBe(at(60_000));
    const viewer = () => h.gql(token.secret, '{ viewer { subject } }');
    expect((await viewer()).data.viewer.subject).toBe('u');
    world.clock.set(at(59_999));
    expect((await viewer()).data.viewer.subject).toBe('u'); // cached now, still judged by the clock
    world.clock.set(at(60_000));
    const r = await viewer();
    expect(r.status).toBe(401);
    expect(errorOf(r)).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(errorOf(r).message).toBe(`this subject token expired at ${at(60_000)}; mint a new one (createSubjectToken)`);
    // Unknown and malformed tokens are refused without a hint of which.
    for (const bad of [`${token.secret.slice(0, -1)}A`, 'tsk_nonsense'])
      expect(errorOf(await h.gql(bad, '{ viewer { subject } }'))).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('is deleted a day after it expired, and then refused like an unknown token', async () => {
    world.clock.set(NOON);
    const t = await world.tenant('pruned').onPlan([]);
    const old = await t.subjectToken('u', { expiresInSeconds: 60 });
    const fresh = await t.subjectToken('u', { expiresInSeconds: 86_400 });
    const viewer = (secret: string) => h.gql(secret, '{ viewer { subject } }');
    world.clock.set(at(60_000 + DAY - 1));
    expect(await h.app.services.apiKeys.pruneTokens()).toBe(0);
    expect(errorOf(await viewer(old.secret)).message).toContain('expired');
    world.clock.set(at(60_000 + DAY + 1));
    // Other tests' tokens may go too; this one does, the unexpired one stays.
    expect(await h.app.services.apiKeys.pruneTokens(1)).toBeGreaterThanOrEqual(1);
    h.app.services.apiKeys.forget(t.adminKeyId);
    const r = await viewer(old.secret);
    expect(errorOf(r)).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(errorOf(r).message).not.toContain('expired');
    world.clock.set(at(DAY - 1000));
    expect((await viewer(fresh.secret)).data.viewer.subject).toBe('u');
  });

  it('ends open subscriptions when it expires, over SSE and WebSocket', async () => {
    world.clock.real();
    const t = await world.tenant('expiry-live').onPlan([]);
    const token = await t.subjectToken('u', { expiresInSeconds: 2 });
    const ws = new WsSub(wsClient(port, token.secret), 'subscription { quotaUpdated { subject } }');
    const sse = new SseSub(port, token.secret, 'subscription { quotaUpdated { subject } }');
    await until(() => ws.data.length === 1 && sse.data.length === 1, 'the first states');
    expect(ws.data[0].quotaUpdated.subject).toBe('u');
    await until(() => ws.ended && sse.ended, 'both streams to end at expiry', 6_000);
    expect(ws.error).toMatchObject({ code: 4403 });
    // A new connection with it is refused at connect.
    const late = new WsSub(wsClient(port, token.secret), 'subscription { quotaUpdated { subject } }');
    await until(() => late.ended, 'the refusal');
    expect(late.error).toMatchObject({ code: 4403 });
  });
});

describe('over WebSocket and SSE', () => {
  const USAGE = 'subscription($apiKeyId: ID) { usageRecorded(apiKeyId: $apiKeyId) { id subject cost } }';

  it('every subscription hears only its subject; naming another is FORBIDDEN', async () => {
    const s = await seeded(uniq('live'));
    world.clock.set(NOON);
    const client = wsClient(port, s.alice.secret);
    const usage = new WsSub(client, USAGE);
    const alerts = new WsSub(client, 'subscription { quotaAlerts { subject threshold } }');
    const quota = new WsSub(client, 'subscription { quotaUpdated { subject items { scopeId used } } }');
    const sse = new SseSub(port, s.alice.secret, USAGE);
    // Live once an event of alice's has reached both.
    const deadline = Date.now() + 5_000;
    while (usage.data.length === 0 || sse.data.length === 0) {
      if (Date.now() > deadline) throw new Error('subscriptions never became live');
      await s.t.record({ subject: 'alice', cost: '0' });
      await sleep(50);
    }
    await until(() => quota.data.length >= 1, 'the first quota state');
    expect(quota.data[0].quotaUpdated.subject).toBe('alice');
    // The next day: carol, then alice, cross 50% of the tenant plan's SUBJECT limit (bob's own
    // plan replaces it for him: no alert); only alice's reaches her.
    world.clock.set(at(DAY));
    await s.t.record({ subject: 'carol', cost: '0.6' });
    await s.t.record({ subject: 'bob', cost: '0.6' });
    await s.t.record({ subject: 'alice', cost: '0.6' });
    await until(() => alerts.data.length >= 1 && usage.data.some((d) => d.usageRecorded.cost === dec('0.6')), 'alice');
    await sleep(300);
    const heard = [...usage.data, ...sse.data].map((d) => d.usageRecorded.subject);
    expect(new Set(heard)).toEqual(new Set(['alice']));
    expect(alerts.data.map((d) => d.quotaAlerts)).toEqual([{ subject: 'alice', threshold: 50 }]);
    for (const d of quota.data) expect(d.quotaUpdated.subject).toBe('alice');
    for (const sub of [usage, alerts, quota]) sub.dispose();
    sse.close();

    world.clock.set(NOON); // the token lives an hour from NOON
    for (const query of ['subscription { quotaUpdated(subject: "bob") { subject } }']) {
      const ws = new WsSub(wsClient(port, s.alice.secret), query);
      const viaSse = new SseSub(port, s.alice.secret, query);
      await until(() => ws.ended && viaSse.ended, 'the refusals');
      expect(ws.errorCodes).toEqual(['FORBIDDEN']);
      expect(viaSse.errorCodes).toEqual(['FORBIDDEN']);
    }
  });

  it("revoking the ADMIN key that minted it ends it, its sockets and streams; another admin's tokens live on", async () => {
    world.clock.set(NOON);
    const t: WorldTenant = await world.tenant('revoke-minter').onPlan([]);
    const admin2 = await t.key(['ADMIN'], 'backend');
    const mint = async (key: string, subject: string): Promise<SubjectCaller> => {
      const r = await world.as(key).client.request(CreateSubjectToken, { input: { subject } });
      return Object.assign(world.as(r.createSubjectToken.token), r.createSubjectToken);
    };
    const doomed = await mint(admin2.secret, 'alice');
    const kept = await mint(t.adminKey, 'alice');
    const ws = new WsSub(wsClient(port, doomed.secret), USAGE);
    const sse = new SseSub(port, doomed.secret, USAGE);
    const bystander = new WsSub(wsClient(port, kept.secret), USAGE);
    const deadline = Date.now() + 5_000;
    while (ws.data.length === 0 || sse.data.length === 0 || bystander.data.length === 0) {
      if (Date.now() > deadline) throw new Error('subscriptions never became live');
      await t.record({ subject: 'alice', cost: '0' });
      await sleep(50);
    }
    await h.ok(t.adminKey, 'mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { id: admin2.id });
    await until(() => ws.endedByRevocation && sse.ended, 'the revoked minter’s token streams to end');
    const r = await h.gql(doomed.secret, '{ viewer { subject } }');
    expect(errorOf(r)).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await kept.quota()).subject).toBe('alice');
    const before = bystander.data.length;
    await t.record({ subject: 'alice', cost: '0' });
    await until(() => bystander.data.length > before, 'the other token still hears');
    expect(bystander.ended).toBe(false);
    bystander.dispose();
  });
});
