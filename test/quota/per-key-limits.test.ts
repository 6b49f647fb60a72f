// Limits per API key: a plan's API_KEY-scope limit counts each key alone, and a key's own
// limits (setApiKeyLimits) count that key's usage, keep identical ids when replaced, and are
// set only by the tenant's admin or the operator.
import { describe, expect, it } from 'vitest';
import { dec, type LimitInput, NOON, World } from '../support/world';

const world = await World.forFile('quota-per-key');

describe('limits', () => {
  it('API_KEY scope counts only that key', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('key-scope').onPlan([
      { metric: 'COST', period: 'DAY', scope: 'API_KEY', amount: '5', action: 'BLOCK' },
      { metric: 'COST', period: 'DAY', scope: 'TENANT', amount: '100', action: 'BLOCK' },
    ]);
    const [perKey, tenantWide] = [acme.limit(0), acme.limit(1)];
    const k1 = await acme.key(['INGEST'], 'k1');
    const k2 = await acme.key(['INGEST'], 'k2');
    await k1.record({ cost: '2' });
    await acme.admin.record({ cost: '1', apiKeyId: k1.id }); // attributed to k1
    await k2.record({ cost: '1' });

    const q1 = await acme.quota({ apiKeyId: k1.id });
    expect(q1.apiKeyId).toBe(k1.id);
    expect(world.item(q1, perKey)).toMatchObject({ scopeId: k1.id, used: dec(3), remaining: dec(2) });
    expect(world.item(q1, tenantWide)).toMatchObject({ scopeId: null, used: dec(4) });
    const q2 = await acme.quota({ apiKeyId: k2.id });
    expect(world.item(q2, perKey)).toMatchObject({ scopeId: k2.id, used: dec(1), remaining: dec(4) });
    // Without a key, only TENANT-scope items.
    const q0 = await acme.quota();
    expect(q0.items.map((i) => i.limit.id)).toEqual([tenantWide]);

    const d1 = await k1.authorize({ estimate: { cost: '2.5' }, reserveSeconds: 60 });
    expect(d1.allowed).toBe(false);
    expect(d1.deniedBy).toMatchObject({ scopeId: k1.id, used: dec(3) });
    expect(d1.deniedBy?.limit.id).toBe(perKey);
    const a2 = await k2.authorize({ estimate: { cost: '2.5' }, reserveSeconds: 60 });
    expect(a2.allowed).toBe(true);
    // k2's hold counts for k2 and the tenant, not for k1.
    expect(world.item(await acme.quota({ apiKeyId: k2.id }), perKey).reserved).toBe(dec('2.5'));
    const again1 = await acme.quota({ apiKeyId: k1.id });
    expect(world.item(again1, perKey).reserved).toBe(dec(0));
    expect(world.item(again1, tenantWide).reserved).toBe(dec('2.5'));
  });

  it("setApiKeyLimits replaces a key's own limits; they count that key's usage and keep identical ids", async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('key-limits');
    const k = await acme.key(['INGEST'], 'limited');
    const other = await acme.key(['INGEST'], 'other');
    const set = (limits: LimitInput[]) => acme.setKeyLimits(k.id, limits);

    const first = await set([
      { metric: 'COST', period: 'DAY', amount: '2' },
      { metric: 'REQUESTS', period: 'MONTH', amount: '10', scope: 'TENANT' },
    ]);
    expect(first.id).toBe(k.id);
    expect(first.limits.map((l) => [l.metric, l.period, l.scope, l.amount, l.action])).toEqual([
      ['COST', 'DAY', 'API_KEY', dec(2), 'BLOCK'],
      ['REQUESTS', 'MONTH', 'API_KEY', dec(10), 'BLOCK'],
    ]);
    const [costId, reqId] = first.limits.map((l) => l.id) as [string, string];
    const shown = await world.h.ok(
      acme.adminKey,
      `query($id: ID!) { tenant(id: $id) { apiKeys { id limits { id } } } }`,
      { id: acme.id },
    );
    const keys = new Map(shown.tenant.apiKeys.map((x: any) => [x.id, x.limits.map((l: any) => l.id)]));
    expect(keys.get(k.id)).toEqual([costId, reqId]);
    expect(keys.get(other.id)).toEqual([]);

    await k.record({ cost: '1.5' });
    await other.record({ cost: '50' });
    const q = await acme.quota({ apiKeyId: k.id });
    expect(world.item(q, costId)).toMatchObject({ scopeId: k.id, used: dec('1.5'), remaining: dec('0.5') });
    expect(world.item(q, reqId)).toMatchObject({ scopeId: k.id, used: dec(1) });
    expect((await acme.quota({ apiKeyId: other.id })).items).toEqual([]);
    const denied = await k.authorize({ estimate: { cost: '1' } });
    expect(denied.allowed).toBe(false);
    expect(denied.deniedBy?.limit.id).toBe(costId);
    expect((await other.authorize({ estimate: { cost: '1000' } })).allowed).toBe(true);

    // Replace: the identical COST limit keeps its id, REQUESTS is retired.
    const second = await set([{ metric: 'COST', period: 'DAY', amount: '2.000', scope: 'API_KEY' }]);
    expect(second.limits.map((l) => l.id)).toEqual([costId]);
    const [retired] = await world.h.sql('SELECT active FROM limits WHERE id = $1', [reqId]);
    expect(retired.active).toBe(false);
    expect((await acme.quota({ apiKeyId: k.id })).items.map((i) => i.limit.id)).toEqual([costId]);

    const none = await set([]);
    expect(none.limits).toEqual([]);
    expect((await k.authorize({ estimate: { cost: '1' } })).allowed).toBe(true);

    // Only ADMIN (or the operator) sets key limits; a key's own limit cannot be per subject.
    expect((await world.refusal(k.client.setApiKeyLimits({ apiKeyId: k.id, limits: [] }))).code).toBe('FORBIDDEN');
    const subj = await world.refusal(set([{ metric: 'COST', period: 'DAY', amount: '1', scope: 'SUBJECT' }]));
    expect(subj).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'limits', '0', 'scope'] });
    const byOperator = await world.operator.setApiKeyLimits({
      apiKeyId: k.id,
      limits: [{ metric: 'REQUESTS', period: 'DAY', amount: '1' }],
    });
    expect(byOperator.limits).toHaveLength(1);
  });
});
