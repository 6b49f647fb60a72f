// The locked path reads the statuses of a whole flush at once (QuotaStatuses.computeStatuses):
// one statement per kind of read (limits, windows, reserved, used) for every scope of every
// tenant, each status exactly what that scope's quotaStatus answers alone.
import { describe, expect, it } from 'vitest';
import type { QuotaStatus } from '../../server/src/modules/quota/quota.types';
import { NOON, World, type WorldTenant } from '../support/world';

const world = await World.forFile('quota-status-batch');

/** A tenant with every kind of item: DAY and MONTH ranges, TOTAL, per key, per subject, an own plan. */
async function busyTenant(name: string, timezone: string, n: number) {
  const t: WorldTenant = await world
    .tenant(name, timezone)
    .onPlan([
      { metric: 'COST', period: 'DAY', amount: '100', action: 'BLOCK' },
      { metric: 'TOKENS', period: 'MONTH', amount: '100000', action: 'BLOCK', scope: 'API_KEY' },
      { metric: 'REQUESTS', period: 'TOTAL', amount: '50', action: 'BLOCK', scope: 'SUBJECT' },
      { metric: 'REQUESTS', period: 'DAY', amount: '40', action: 'ALERT' },
    ])
    .withKey('INGEST');
  await t.onSubjectPlan('vip', [{ metric: 'COST', period: 'TOTAL', amount: '7', action: 'BLOCK' }]);
  // Usage that differs per tenant (n), yesterday and today, through the key and for subjects.
  await t.record({ subject: 'u1', cost: String(n), inputTokens: 10 * n, occurredAt: '2026-06-14T23:50:00Z' });
  await t.record({ subject: 'vip', cost: '1.5', outputTokens: n, occurredAt: '2026-06-15T11:30:00Z' });
  for (let i = 0; i < n; i++) await t.record({ subject: 'u1', cost: '0.25', occurredAt: '2026-06-15T11:59:00Z' });
  await t.authorize({ subject: 'u1', estimate: { cost: '0.5', inputTokens: 7 }, reserveSeconds: 600 });
  return t;
}

/** What a status says, item by item (asOf differs between reads). */
const said = (s: QuotaStatus) => ({
  blocked: s.blocked,
  items: s.items.map((i) => ({
    limit: i.limit.id,
    scopeId: i.scopeId,
    periodStart: i.periodStart?.toISOString() ?? null,
    used: i.used,
    reserved: i.reserved,
    remaining: i.remaining,
    exceeded: i.exceeded,
  })),
});

describe('the statuses of a flush', () => {
  it('cost the same statements for one tenant as for six, and each is what the scope reads alone', async () => {
    world.clock.set(NOON);
    const quota = world.h.app.services.quota;
    const tenants = world.h.app.services.tenants;
    const made: WorldTenant[] = [];
    for (let n = 1; n <= 6; n++) made.push(await busyTenant(`batch-${n}`, n % 2 ? 'UTC' : 'Asia/Kolkata', n));
    const scopesOf = async (t: WorldTenant) => {
      const row = await tenants.get(t.id);
      return [
        { tenant: row, apiKeyId: null, subject: null },
        { tenant: row, apiKeyId: t.main.id, subject: null },
        { tenant: row, apiKeyId: t.main.id, subject: 'u1' },
        { tenant: row, apiKeyId: null, subject: 'vip' },
        { tenant: row, apiKeyId: null, subject: 'nobody' },
        { tenant: row, apiKeyId: null, subject: null }, // asked twice: read once
      ];
    };
    const one = await scopesOf(made[0] as WorldTenant);
    const all = (await Promise.all(made.map(scopesOf))).flat();
    const now = new Date(NOON);

    const counted = async (scopes: typeof all) => {
      const before = world.h.db.queryCount();
      const out = await quota.statuses.computeStatuses(world.h.db, scopes, now);
      return { out, statements: world.h.db.queryCount() - before };
    };
    const small = await counted(one);
    const large = await counted(all);
    expect(large.out).toHaveLength(36);
    // asOf, limits, windows, reserved, and one used statement per kind of window (range or
    // TOTAL) and scope (by subject or not) present.
    expect(small.statements).toBeLessThanOrEqual(8);
    expect(large.statements).toBe(small.statements);

    for (const [i, s] of all.entries()) {
      const alone = await quota.status({ ...s, subjectOnly: false });
      expect(said(large.out[i] as QuotaStatus), `scope ${i}`).toEqual(said(alone));
    }
    // The answers differ per tenant and scope: nothing was shared that should not be.
    const spent = large.out.map((s) => s.items.map((i) => `${i.used}/${i.reserved}`).join(' '));
    expect(new Set(spent).size).toBeGreaterThan(20);
    // The vip's own plan replaces the SUBJECT limit for it; the others keep it.
    const vip = large.out[3] as QuotaStatus;
    expect(vip.items.map((i) => [i.limit.metric, i.limit.period, i.scopeId])).toEqual([
      ['COST', 'DAY', null],
      ['REQUESTS', 'DAY', null],
      ['COST', 'TOTAL', 'vip'],
    ]);
    expect((large.out[2] as QuotaStatus).items.map((i) => i.scopeId)).toEqual([null, made[0]?.main.id, 'u1', null]);
  });
});
