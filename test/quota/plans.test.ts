// Plans and memberships: replacing a plan keeps identical limits' ids, a plan change takes
// effect at its start (Tenant.membership and quota follow the clock), and bad plan, limit and
// authorization input names its field.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OPERATOR_KEY } from '../support/harness';
import { dec, type LimitInput, NOON, uniq, World } from '../support/world';

const world = await World.forFile('quota-plans');

describe('limits', () => {
  it("upsertPlan replacing a plan keeps an identical limit's id, adds new ones and drops the rest", async () => {
    const codeName = uniq('replace');
    const a: LimitInput = { metric: 'COST', period: 'DAY', amount: '5', action: 'BLOCK', thresholds: [80, 100] };
    const b: LimitInput = { metric: 'TOKENS', period: 'MONTH', amount: '1000000', action: 'ALERT', thresholds: [50] };
    const c: LimitInput = { metric: 'REQUESTS', period: 'TOTAL', amount: '10', scope: 'SUBJECT' };
    const v1 = await world.plan([a, b], codeName);
    const [aId, bId] = v1.limits.map((l) => l.id);
    const v2 = await world.plan([{ ...b, amount: '1000000.00' }, c], codeName);
    expect(v2.id).toBe(v1.id);
    expect(v2.limits.map((l) => l.id)[0]).toBe(bId);
    expect(v2.limits[1]).toMatchObject({
      metric: 'REQUESTS',
      period: 'TOTAL',
      scope: 'SUBJECT',
      thresholds: [80, 100],
    });
    expect([aId, bId]).not.toContain(v2.limits[1]!.id);
    const plans = await world.operator.plans();
    expect(plans.find((p) => p.code === codeName)?.limits.map((l) => l.id)).toEqual(v2.limits.map((l) => l.id));
    // Changed thresholds are a different limit.
    const v3 = await world.plan([{ ...b, thresholds: [50, 90] }, c], codeName);
    expect(v3.limits[0]!.id).not.toBe(bId);
    expect(v3.limits[1]!.id).toBe(v2.limits[1]!.id);
    const rows = await world.h.sql('SELECT id, active FROM limits WHERE plan_id = $1 ORDER BY active, created_at', [
      v1.id,
    ]);
    expect(
      rows
        .filter((r: any) => r.active)
        .map((r: any) => r.id)
        .sort(),
    ).toEqual(v3.limits.map((l) => l.id).sort());
    expect(rows).toHaveLength(4); // a, b (old thresholds), c, b (new thresholds)
  });

  it('assignPlan with startsAt ends the previous membership; Tenant.membership follows the clock', async () => {
    world.clock.set('2026-05-01T00:00:00Z');
    const p1 = await world.plan([{ metric: 'COST', period: 'DAY', amount: '1' }]);
    const p2 = await world.plan([{ metric: 'COST', period: 'DAY', amount: '2' }]);
    const created = await world.h.ok(
      OPERATOR_KEY,
      `mutation($input: CreateTenantInput!) { createTenant(input: $input) { secret apiKey { tenant { id membership { startsAt endsAt plan { code } } } } } }`,
      { input: { name: 'plan-change', timezone: 'Europe/Berlin', planCode: p1.code } },
    );
    const tenantId = created.createTenant.apiKey.tenant.id;
    const admin = world.as(created.createTenant.secret);
    expect(created.createTenant.apiKey.tenant.membership).toEqual({
      startsAt: '2026-05-01T00:00:00.000Z',
      endsAt: null,
      plan: { code: p1.code },
    });
    const assigned = await world.operator.assignPlan({ tenantId, planCode: p2.code, startsAt: '2026-05-10T00:00:00Z' });
    expect(assigned).toMatchObject({
      startsAt: '2026-05-10T00:00:00.000Z',
      endsAt: null,
      plan: { code: p2.code },
      tenant: { id: tenantId },
    });
    const membership = async () => {
      const m = (await admin.client.tenant(tenantId))?.membership;
      return m && { startsAt: m.startsAt, endsAt: m.endsAt, plan: { code: m.plan.code } };
    };
    const plansSeen = async () => (await admin.plans()).map((p) => p.code);
    expect(await membership()).toEqual({
      startsAt: '2026-05-01T00:00:00.000Z',
      endsAt: '2026-05-10T00:00:00.000Z',
      plan: { code: p1.code },
    });
    expect(await plansSeen()).toEqual([p1.code]);
    expect(world.item(await admin.quota(), p1.limits[0]!.id).limit.amount).toBe(dec(1));

    world.clock.set('2026-05-09T23:59:59.999Z');
    expect((await membership())?.plan.code).toBe(p1.code);
    world.clock.set('2026-05-10T00:00:00Z');
    expect(await membership()).toEqual({ startsAt: '2026-05-10T00:00:00.000Z', endsAt: null, plan: { code: p2.code } });
    expect(await plansSeen()).toEqual([p2.code]);
    const q = await admin.quota();
    expect(q.items.map((i) => i.limit.id)).toEqual([p2.limits[0]!.id]);

    // A start at or before an existing one is refused; nothing changes.
    const early = await world.refusal(
      world.operator.assignPlan({ tenantId, planCode: p1.code, startsAt: '2026-05-10T00:00:00Z' }),
    );
    expect(early).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'startsAt'] });
    const rows = await world.h.sql(
      'SELECT starts_at, ends_at FROM memberships WHERE tenant_id = $1 ORDER BY starts_at',
      [tenantId],
    );
    expect(rows.map((r: any) => [r.starts_at.toISOString(), r.ends_at?.toISOString() ?? null])).toEqual([
      ['2026-05-01T00:00:00.000Z', '2026-05-10T00:00:00.000Z'],
      ['2026-05-10T00:00:00.000Z', null],
    ]);
  });
});

describe('validation', () => {
  it('names the field of a bad reserveSeconds, estimate, limit amount or thresholds; unknown planCode is NOT_FOUND', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('validation').onPlan([{ metric: 'COST', period: 'DAY', amount: '10' }]);
    const cases: [Parameters<typeof acme.authorize>[0], string[]][] = [
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
      const r = await world.refusal(acme.authorize(input));
      expect(r, JSON.stringify(input)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    expect(await world.count('reservations', acme.id)).toBe(0);
    const max = await acme.authorize({ estimate: { cost: '1' }, reserveSeconds: 3600 });
    expect(max.reservation?.expiresAt).toBe('2026-06-15T13:00:00.000Z');

    const limitCases: [LimitInput, string[]][] = [
      [{ metric: 'COST', period: 'DAY', amount: '0' }, ['input', 'limits', '0', 'amount']],
      [{ metric: 'COST', period: 'DAY', amount: '-5' }, ['input', 'limits', '0', 'amount']],
      [{ metric: 'COST', period: 'DAY', amount: '1', thresholds: [0] }, ['input', 'limits', '0', 'thresholds']],
    ];
    const badCode = uniq('bad-plan');
    for (const [limit, field] of limitCases) {
      const r = await world.refusal(world.operator.upsertPlan({ code: badCode, name: 'x', limits: [limit] }));
      expect(r, JSON.stringify(limit)).toMatchObject({ code: 'BAD_USER_INPUT', field });
      const k = await world.refusal(acme.setKeyLimits(acme.adminKeyId, [limit]));
      expect(k, JSON.stringify(limit)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    expect(await world.h.sql('SELECT 1 FROM plans WHERE code = $1', [badCode])).toEqual([]);
    expect(await world.h.sql('SELECT 1 FROM limits WHERE api_key_id = $1', [acme.adminKeyId])).toEqual([]);

    const assign = await world.refusal(world.operator.assignPlan({ tenantId: acme.id, planCode: 'no-such-plan' }));
    expect(assign).toMatchObject({ code: 'NOT_FOUND', field: ['input', 'planCode'] });
    const mk = await world.refusal(world.operator.createTenant({ name: 'never-created', planCode: 'no-such-plan' }));
    expect(mk.code).toBe('NOT_FOUND');
    expect(await world.h.sql(`SELECT 1 FROM tenants WHERE name = 'never-created'`)).toEqual([]);
    const unknownTenant = await world.refusal(
      world.operator.assignPlan({ tenantId: randomUUID(), planCode: acme.plan!.code }),
    );
    expect(unknownTenant.code).toBe('NOT_FOUND');
    expect((await acme.membership())?.plan.code).toBe(acme.plan!.code);
  });
});
