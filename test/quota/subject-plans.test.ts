// Per-subject plans: assignPlan(subject) gives one end user / device a plan of its own. Every
// limit of it counts that subject's usage and replaces, for that subject, the SUBJECT limits of
// the tenant's plan; the tenant plan's TENANT limits still apply to the tenant as a whole; an
// API_KEY limit of it counts the subject's usage through each key. quotaStatus, authorizeUsage
// (with reservations), alerts and Tenant.subjectMemberships follow it.
import { createTallyClient } from 'tally/client';
import { describe, expect, it } from 'vitest';
import { OPERATOR_KEY } from '../support/harness';
import { Feed, until } from '../support/wait';
import { dec, type LimitInput, LONG_AGO, NOON, World } from '../support/world';

const world = await World.forFile('quota-subject-plans');

const DAY_REQUESTS = (amount: string, scope: LimitInput['scope'] = 'TENANT'): LimitInput => ({
  metric: 'REQUESTS',
  period: 'DAY',
  scope,
  amount,
  action: 'BLOCK',
});

describe('a subject on a plan of its own', () => {
  it("replaces the tenant plan's SUBJECT limits for that subject only; TENANT limits still hold the whole tenant", async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('subject-replaces')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '10', action: 'BLOCK' }, DAY_REQUESTS('2', 'SUBJECT')])
      .withKey('INGEST');
    const [tenantCost, freeRequests] = [acme.limit(0), acme.limit(1)];
    const pro = await acme.onSubjectPlan('pro-1', [DAY_REQUESTS('5')]);
    const proRequests = pro.limits[0]!.id;
    for (const subject of ['pro-1', 'pro-1', 'pro-1', 'free-1', 'free-1', 'free-1'])
      await acme.record({ subject, cost: '1' });

    // pro-1: the tenant's COST limit (the whole tenant's 6) and its own REQUESTS (its own 3).
    const proStatus = await acme.quota({ subject: 'pro-1' });
    expect(proStatus.items.map((i) => i.limit.id)).toEqual([tenantCost, proRequests]);
    expect(world.item(proStatus, tenantCost)).toMatchObject({ scopeId: null, used: dec(6), exceeded: false });
    expect(world.item(proStatus, proRequests)).toMatchObject({
      scopeId: 'pro-1',
      used: dec(3),
      remaining: dec(2),
      exceeded: false,
    });
    expect(proStatus.blocked).toBe(false);
    // free-1: no plan of its own, so the tenant plan's SUBJECT limit, which it exceeded.
    const freeStatus = await acme.quota({ subject: 'free-1' });
    expect(freeStatus.items.map((i) => i.limit.id)).toEqual([tenantCost, freeRequests]);
    expect(world.item(freeStatus, freeRequests)).toMatchObject({ scopeId: 'free-1', used: dec(3), exceeded: true });
    expect(freeStatus.blocked).toBe(true);

    expect((await acme.authorize({ subject: 'pro-1' })).allowed).toBe(true);
    const denied = await acme.authorize({ subject: 'free-1' });
    expect(denied).toMatchObject({ allowed: false, deniedBy: { scopeId: 'free-1', limit: { id: freeRequests } } });
    // Two more for pro-1 reach its own 5; the tenant's COST limit still applies to it.
    await acme.record({ subject: 'pro-1', cost: '1' });
    await acme.record({ subject: 'pro-1', cost: '1' });
    expect((await acme.authorize({ subject: 'pro-1' })).deniedBy?.limit.id).toBe(proRequests);
    await acme.onSubjectPlan('pro-2', pro);
    await acme.record({ subject: 'someone', cost: '2' }); // the tenant's COST: 10 of 10
    const byTenant = await acme.authorize({ subject: 'pro-2', estimate: { cost: '0.01' } });
    expect(byTenant).toMatchObject({ allowed: false, deniedBy: { scopeId: null, limit: { id: tenantCost } } });
    // The tenant's own status shows no subject's items.
    expect((await acme.quota()).items.map((i) => i.limit.id)).toEqual([tenantCost]);
  });

  it("an API_KEY limit of a subject's plan counts that subject's usage through each key", async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('subject-keys').onPlan([]).withKey('INGEST');
    const other = await acme.key(['INGEST'], 'second-gateway');
    const plan = await acme.onSubjectPlan('dev-1', [DAY_REQUESTS('2', 'API_KEY')]);
    const perKey = plan.limits[0]!.id;
    await acme.record({ subject: 'dev-1', cost: '0' });
    await acme.record({ subject: 'dev-1', cost: '0' });
    await acme.record({ subject: 'dev-2', cost: '0' }); // another subject through the same key: not counted
    await other.record({ subject: 'dev-1', cost: '0' });

    const viaMain = await acme.quota({ subject: 'dev-1', apiKeyId: acme.main.id });
    expect(world.item(viaMain, perKey)).toMatchObject({ scopeId: acme.main.id, used: dec(2), exceeded: true });
    const viaOther = await acme.quota({ subject: 'dev-1', apiKeyId: other.id });
    expect(world.item(viaOther, perKey)).toMatchObject({ scopeId: other.id, used: dec(1), exceeded: false });
    // Without a key there is no key to count through.
    expect((await acme.quota({ subject: 'dev-1' })).items).toEqual([]);
    expect((await acme.authorize({ subject: 'dev-1' })).deniedBy?.limit.id).toBe(perKey);
    expect((await other.authorize({ subject: 'dev-1' })).allowed).toBe(true);
    expect((await acme.authorize({ subject: 'dev-2' })).allowed).toBe(true);
  });

  it("concurrent authorizations hold each subject's own plan exactly, one subject's reservations never another's", async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('subject-reserve').onPlan([]).withKey('INGEST');
    const plan = await acme.onSubjectPlan('a', [{ metric: 'COST', period: 'DAY', amount: '1.00', action: 'BLOCK' }]);
    await acme.onSubjectPlan('b', plan);
    const limitId = plan.limits[0]!.id;
    const two = await world.secondInstance();
    try {
      const viaTwo = two.as(acme.secret);
      const calls = Array.from({ length: 40 }, (_, i) =>
        (i % 2 === 0 ? acme : viaTwo).authorize({
          subject: i % 4 < 2 ? 'a' : 'b',
          estimate: { cost: '0.10' },
          reserveSeconds: 600,
        }),
      );
      const results = await Promise.all(calls);
      for (const subject of ['a', 'b']) {
        const mine = results.filter((r) => r.quota.subject === subject);
        expect(mine.filter((r) => r.allowed)).toHaveLength(10);
        for (const r of mine.filter((x) => !x.allowed)) expect(r.deniedBy?.limit.id).toBe(limitId);
        const q = await acme.quota({ subject });
        expect(world.item(q, limitId)).toMatchObject({ used: dec(0), reserved: dec('1.0'), remaining: dec(0) });
      }
    } finally {
      await two.close();
    }
  });

  it("quotaUpdated(subject) pushes the subject's own plan at once, then after its usage", async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('subject-live')
      .onPlan([DAY_REQUESTS('9', 'SUBJECT')])
      .withKey('INGEST');
    const plan = await acme.onSubjectPlan('live', [DAY_REQUESTS('4')]);
    // Over SSE, in process (yoga.fetch): no port needed.
    const sse = createTallyClient({
      url: 'http://tally.test/graphql',
      apiKey: acme.adminKey,
      maxAttempts: 1,
      fetch: ((url: string, init: RequestInit) => world.h.app.yoga.fetch(url, init)) as typeof fetch,
      subscriptions: { transport: 'sse', retryAttempts: 0 },
    });
    const feed = new Feed(sse.quotaUpdated({ subject: 'live' }));
    try {
      await until(() => feed.values.length >= 1, 'the first state');
      expect(feed.values[0]?.items.map((i) => [i.limit.id, i.scopeId, i.used])).toEqual([
        [plan.limits[0]!.id, 'live', dec(0)],
      ]);
      await acme.record({ subject: 'other', cost: '0' });
      await acme.record({ subject: 'live', cost: '0' });
      await until(() => feed.values.some((v) => v.items[0]?.used === dec(1)), 'the state after its entry');
      for (const v of feed.values) expect(v.items.map((i) => i.limit.id)).toEqual([plan.limits[0]!.id]);
    } finally {
      await feed.it.return?.();
      await sse.close();
    }
  });

  it('a plan change of the subject takes effect at its start; history is kept per subject, not per tenant', async () => {
    world.clock.set('2026-06-01T00:00:00Z');
    const acme = await world
      .tenant('subject-history')
      .onPlan([DAY_REQUESTS('100')])
      .withKey('INGEST');
    const small = await acme.onSubjectPlan('dev', [DAY_REQUESTS('1')], '2026-05-01T00:00:00Z');
    const big = await acme.onSubjectPlan('dev', [DAY_REQUESTS('50')], '2026-06-10T00:00:00Z');
    await acme.onSubjectPlan('other', small, '2026-06-05T00:00:00Z');
    // Adding one before the subject's latest start (06-10) is refused; another subject's (06-05) does not matter.
    const refusal = await world.refusal(
      world.operator.assignPlan({
        tenantId: acme.id,
        planCode: small.code,
        subject: 'dev',
        startsAt: '2026-06-07T00:00:00Z',
      }),
    );
    expect(refusal).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'startsAt'] });
    const ids = (q: { items: readonly { limit: { id: string } }[] }) => q.items.map((i) => i.limit.id);
    // The tenant plan's limit is TENANT-scope: it stays; the subject's own plan follows the clock.
    expect(ids(await acme.quota({ subject: 'dev' }))).toEqual([acme.limit(0), small.limits[0]!.id]);
    world.clock.set('2026-06-12T00:00:00Z');
    expect(ids(await acme.quota({ subject: 'dev' }))).toEqual([acme.limit(0), big.limits[0]!.id]);
    // The tenant's own membership is untouched by its subjects'.
    expect((await acme.membership())?.plan.code).toBe(acme.plan?.code);
    const rows = await world.h.sql(
      `SELECT subject, starts_at, ends_at FROM memberships WHERE tenant_id = $1 ORDER BY subject NULLS FIRST, starts_at`,
      [acme.id],
    );
    expect(rows.map((r: any) => [r.subject, r.starts_at.toISOString(), r.ends_at?.toISOString() ?? null])).toEqual([
      [null, `${LONG_AGO.slice(0, 19)}.000Z`, null],
      ['dev', '2026-05-01T00:00:00.000Z', '2026-06-10T00:00:00.000Z'],
      ['dev', '2026-06-10T00:00:00.000Z', null],
      ['other', '2026-06-05T00:00:00.000Z', null],
    ]);
  });

  it('assignPlan names a bad subject; the answer says whose plan it is', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('subject-input').onPlan([]);
    const plan = await world.plan([DAY_REQUESTS('1')]);
    const assign = (subject: string) => world.operator.assignPlan({ tenantId: acme.id, planCode: plan.code, subject });
    for (const bad of ['', 'x'.repeat(256), 'nul\u0000byte'])
      expect(await world.refusal(assign(bad))).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'subject'] });
    const m = await world.h.ok(
      OPERATOR_KEY,
      `mutation($input: AssignPlanInput!) { assignPlan(input: $input) { subject tenant { id } plan { code } endsAt } }`,
      { input: { tenantId: acme.id, planCode: plan.code, subject: 'ü-🎧-device' } },
    );
    expect(m.assignPlan).toEqual({
      subject: 'ü-🎧-device',
      tenant: { id: acme.id },
      plan: { code: plan.code },
      endsAt: null,
    });
    // The tenant's own membership and the subject's: the refused ones wrote nothing.
    expect(await world.count('memberships', acme.id)).toBe(2);
  });
});

describe('Tenant.subjectMemberships', () => {
  it('pages the subjects on plans of their own, newest start first, and filters by subject; ended ones are gone', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('subject-list').onPlan([]);
    const plan = await world.plan([DAY_REQUESTS('1')]);
    const later = await world.plan([DAY_REQUESTS('2')]);
    for (let i = 0; i < 5; i++) await acme.onSubjectPlan(`s-${i}`, plan, `2026-01-0${i + 1}T00:00:00Z`);
    // s-0 moves to another plan: its first membership ended, its second is listed.
    await acme.onSubjectPlan('s-0', later, '2026-02-01T00:00:00Z');
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 4; page++) {
      const c = await acme.subjectMemberships({ first: 2, after });
      seen.push(...(c?.edges ?? []).map((e) => `${e.node.subject}:${e.node.plan.code}`));
      if (!c?.pageInfo.hasNextPage) break;
      after = c.pageInfo.endCursor ?? undefined;
    }
    expect(seen).toEqual([
      `s-0:${later.code}`,
      `s-4:${plan.code}`,
      `s-3:${plan.code}`,
      `s-2:${plan.code}`,
      `s-1:${plan.code}`,
    ]);
    const one = await acme.subjectMemberships({ subject: 's-3' });
    expect(one?.edges.map((e) => [e.node.subject, e.node.tenant.id, e.node.endsAt])).toEqual([['s-3', acme.id, null]]);
    expect(await world.refusal(acme.subjectMemberships({ first: 501 }))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: ['first'],
    });
    expect(await world.refusal(acme.subjectMemberships({ after: 'not-a-cursor' }))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: ['after'],
    });
  });
});

describe('alerts of a subject plan', () => {
  it('fire exactly once per subject, window and threshold across two instances; the replaced tenant limit stays silent', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('subject-alerts')
      .onPlan([{ metric: 'COST', period: 'DAY', scope: 'SUBJECT', amount: '0.5', thresholds: [100], action: 'ALERT' }])
      .withKey('INGEST');
    const tenantSubjectLimit = acme.limit(0);
    const plan = await acme.onSubjectPlan('vip', [
      { metric: 'COST', period: 'DAY', amount: '1', thresholds: [50, 80, 100], action: 'ALERT' },
    ]);
    await acme.onSubjectPlan('vip-2', plan);
    const own = plan.limits[0]!.id;
    const two = await world.secondInstance();
    try {
      const viaTwo = two.as(acme.secret);
      const results = await Promise.all(
        Array.from({ length: 48 }, (_, i) =>
          (i % 2 === 0 ? acme : viaTwo).record({
            idempotencyKey: `vip-race-${i}`,
            subject: ['vip', 'vip-2', 'plain'][i % 3],
            cost: '0.1',
          }),
        ),
      );
      expect(results.every((r) => r.outcome === 'CREATED')).toBe(true);
    } finally {
      await two.close();
    }
    const rows = await world.h.sql(
      `SELECT subject, limit_id, threshold, used::numeric AS used, scope_key FROM quota_alerts WHERE tenant_id = $1
        ORDER BY subject, threshold`,
      [acme.id],
    );
    expect(rows.map((r: any) => [r.subject, r.limit_id, r.threshold, r.scope_key])).toEqual([
      ['plain', tenantSubjectLimit, 100, 'plain'],
      ['vip', own, 50, 'vip'],
      ['vip', own, 80, 'vip'],
      ['vip', own, 100, 'vip'],
      ['vip-2', own, 50, 'vip-2'],
      ['vip-2', own, 80, 'vip-2'],
      ['vip-2', own, 100, 'vip-2'],
    ]);
    for (const r of rows) expect(Number(r.used)).toBeLessThanOrEqual(1.6);
    // The tenant's alert list shows them, each with its subject.
    const listed = await acme.alerts({ first: 50 });
    expect(listed.edges.map((e) => e.node.subject).sort()).toEqual([
      'plain',
      'vip',
      'vip',
      'vip',
      'vip-2',
      'vip-2',
      'vip-2',
    ]);
    const q = await acme.quota({ subject: 'vip' });
    expect(world.item(q, own)).toMatchObject({ used: dec('1.6'), exceeded: true, scopeId: 'vip' });
  });
});
