// Quota between tenants and scopes: every quota query and mutation refuses another tenant's
// objects, leaks nothing and writes nothing; INGEST keys cannot read quota, READ keys cannot
// authorize. The answers are read whole (world.raw) because what a refusal leaves in `data`
// is part of the contract.
import { documents as D } from '@tally/client';
import { describe, expect, it } from 'vitest';
import type { GqlResult } from '../support/harness';
import { dec, NOON, World } from '../support/world';

const world = await World.forFile('quota-isolation');
const code = (r: GqlResult) => r.errors?.[0]?.extensions?.code;

describe('tenant isolation', () => {
  it("every quota query and mutation refuses another tenant's objects and writes nothing", async () => {
    world.clock.set(NOON);
    const planA = await world.plan([{ metric: 'COST', period: 'DAY', amount: '10' }]);
    const planB = await world.plan([{ metric: 'COST', period: 'DAY', amount: '1', thresholds: [1] }]);
    const a = await world.tenant('iso-a').onPlan(planA);
    const b = await world.tenant('iso-b').onPlan(planB);
    const bKey = await b.key(['INGEST'], 'b-ingest');
    await bKey.record({ cost: '0.5', subject: 'secret-subject' });
    const held = (await bKey.authorize({ estimate: { cost: '0.25' }, reserveSeconds: 600 })).reservation!;
    const bAlerts = await world.count('quota_alerts', b.id);
    expect(bAlerts).toBe(1);
    const before = {
      aRes: await world.count('reservations', a.id),
      bRes: await world.count('reservations', b.id),
      aEvents: await world.count('usage_events', a.id),
    };

    const as = a.adminKey;
    const refusals: [string, GqlResult, string[]][] = [
      ['quotaStatus(tenantId: B)', await world.raw(as, D.QuotaStatusQuery, { tenantId: b.id }), ['FORBIDDEN']],
      [
        'quotaStatus(apiKeyId: B key)',
        await world.raw(as, D.QuotaStatusQuery, { apiKeyId: bKey.id }),
        ['FORBIDDEN', 'NOT_FOUND'],
      ],
      [
        'quotaStatus(tenantId: B, apiKeyId: B key)',
        await world.raw(as, D.QuotaStatusQuery, { tenantId: b.id, apiKeyId: bKey.id }),
        ['FORBIDDEN'],
      ],
      ['quotaAlerts(tenantId: B)', await world.raw(as, D.QuotaAlertHistoryQuery, { tenantId: b.id }), ['FORBIDDEN']],
      [
        'tenant(B).quota',
        await world.h.gql(as, 'query($id: ID!) { tenant(id: $id) { quota { blocked } } }', { id: b.id }),
        ['FORBIDDEN'],
      ],
      [
        'setApiKeyLimits(B key)',
        await world.raw(as, D.SetApiKeyLimitsMutation, {
          input: { apiKeyId: bKey.id, limits: [{ metric: 'COST', period: 'DAY', amount: '1000' }] },
        }),
        ['FORBIDDEN', 'NOT_FOUND'],
      ],
      [
        'releaseReservation(B)',
        await world.raw(as, D.ReleaseReservationMutation, { id: held.id }),
        ['FORBIDDEN', 'NOT_FOUND', 'RESERVATION_INVALID'],
      ],
      [
        'authorizeUsage(tenantId: B)',
        await world.raw(as, D.AuthorizeUsageMutation, { input: { tenantId: b.id, estimate: {}, reserveSeconds: 60 } }),
        ['FORBIDDEN'],
      ],
      [
        'authorizeUsage(apiKeyId: B key)',
        await world.raw(as, D.AuthorizeUsageMutation, {
          input: { apiKeyId: bKey.id, estimate: {}, reserveSeconds: 60 },
        }),
        ['FORBIDDEN', 'NOT_FOUND'],
      ],
      [
        'upsertPlan',
        await world.raw(as, D.UpsertPlanMutation, { input: { code: planA.code, name: 'mine', limits: [] } }),
        ['FORBIDDEN'],
      ],
      [
        'assignPlan(B)',
        await world.raw(as, D.AssignPlanMutation, { input: { tenantId: b.id, planCode: planA.code } }),
        ['FORBIDDEN'],
      ],
      [
        'assignPlan(own)',
        await world.raw(as, D.AssignPlanMutation, { input: { tenantId: a.id, planCode: planB.code } }),
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

    expect(await world.count('reservations', a.id)).toBe(before.aRes);
    expect(await world.count('reservations', b.id)).toBe(before.bRes);
    expect(await world.count('usage_events', a.id)).toBe(before.aEvents);
    expect(await world.count('quota_alerts', b.id)).toBe(bAlerts);
    expect(await world.h.sql('SELECT 1 FROM limits WHERE api_key_id = $1', [bKey.id])).toEqual([]);
    const [res] = await world.h.sql('SELECT released_at FROM reservations WHERE id = $1', [held.id]);
    expect(res.released_at).toBeNull();
    const [plan] = await world.h.sql('SELECT name FROM plans WHERE code = $1', [planA.code]);
    expect(plan.name).toBe(planA.code);
    const mem = await world.h.sql('SELECT plan_id FROM memberships WHERE tenant_id = ANY($1::uuid[])', [[a.id, b.id]]);
    expect(mem.map((m: any) => m.plan_id).sort()).toEqual([planA.id, planB.id].sort());

    // A's own view holds none of B's data.
    const own = await a.quota();
    expect(own.tenantId).toBe(a.id);
    expect(world.item(own, planA.limits[0]!.id)).toMatchObject({ used: dec(0), reserved: dec(0) });
    expect((await a.alerts()).edges).toEqual([]);
    expect(
      (await a.plans()).map((p) => ({ id: p.id, code: p.code, limits: p.limits.map((l) => ({ id: l.id })) })),
    ).toEqual([{ id: planA.id, code: planA.code, limits: [{ id: planA.limits[0]!.id }] }]);
    const loner = await world.tenant('iso-no-plan');
    expect(await loner.plans()).toEqual([]);
    const opPlans = (await world.operator.plans()).map((p) => p.code);
    expect(opPlans).toEqual(expect.arrayContaining([planA.code, planB.code]));
  });

  it('scopes: INGEST cannot read quota or alerts, READ cannot authorize', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('iso-scopes');
    const ingest = await acme.key(['INGEST']);
    const read = await acme.key(['READ']);
    expect((await world.refusal(ingest.quota())).code).toBe('FORBIDDEN');
    expect((await world.refusal(ingest.alerts())).code).toBe('FORBIDDEN');
    expect((await world.refusal(read.authorize({ estimate: {}, reserveSeconds: 60 }))).code).toBe('FORBIDDEN');
    expect(await world.count('reservations', acme.id)).toBe(0);
    expect((await read.quota()).items).toEqual([]);
  });
});
