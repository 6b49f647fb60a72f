// authorizeUsage on leases of headroom (docs/authorize-leases.md): a busy scope is decided
// against this instance's slice without the tenant's lock, exactly; two instances with leases
// active admit exactly what fits and deny only what does not; a plan or limit change reaches
// the fast path at once; the bound that remains (usage recorded beyond what was held) is
// measured. The kill -9 of a real server process mid-race is in leases-kill.test.ts.
import { describe, expect, it } from 'vitest';
import type { Instance, WorldTenant } from '../support/world';
import { dec, NOON, World } from '../support/world';

const LEASES = { enabled: true, lifetimeMs: 10_000, horizonMs: 1000, share: 0.25, minRate: 5 };
const world = await World.forFile('quota-leases', { config: { leases: LEASES } });

const fastCalls = (app: { services: { quota: { leases: { fast: { stats: { calls: number } } } } } }) =>
  app.services.quota.leases.fast.stats.calls;

/** used + reserved + what live leases hold, per limit item of a tenant's TENANT-scope limit. */
async function ledger(tenantId: string, limitId: string) {
  const [r] = await world.h.sql(
    `SELECT (SELECT coalesce(sum(cost), 0) FROM reservations WHERE tenant_id = $1 AND settled_at IS NULL AND released_at IS NULL)::text AS reserved,
            (SELECT coalesce(sum(amount), 0) FROM quota_leases WHERE tenant_id = $1 AND limit_id = $2)::text AS leased,
            (SELECT count(*) FROM quota_leases WHERE tenant_id = $1 AND limit_id = $2)::int AS leases`,
    [tenantId, limitId],
  );
  return r as { reserved: string; leased: string; leases: number };
}

/** `waves` rounds of `n` concurrent authorizations through `caller`, one round after another. */
async function waves(caller: Pick<WorldTenant, 'authorize'>, n: number, count: number, input: object) {
  const out: Awaited<ReturnType<WorldTenant['authorize']>>[] = [];
  for (let w = 0; w < count; w++)
    out.push(...(await Promise.all(Array.from({ length: n }, () => caller.authorize(input)))));
  return out;
}

describe('authorizeUsage on leases', () => {
  it('a busy scope is decided on its slice: most calls take no lock, every answered reservation is committed, the invariant holds', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('busy')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1000', action: 'BLOCK' }])
      .withKey('INGEST');
    const limitId = acme.limit(0);
    const app = world.h.app;
    const [fast0, flushes0] = [fastCalls(app), app.services.quota.authorizer.stats.flushes];
    const payloads = await waves(acme, 50, 10, { estimate: { cost: '0.1' }, reserveSeconds: 600 });
    expect(payloads.every((p) => p.allowed)).toBe(true);
    const fast = fastCalls(app) - fast0;
    // The first wave is decided under the lock and makes the scope busy; the rest mostly is not.
    expect(fast).toBeGreaterThanOrEqual(300);
    expect(app.services.quota.authorizer.stats.flushes - flushes0).toBeLessThan(60);
    // Every answer names a committed reservation of its own.
    const ids = payloads.map((p) => p.reservation?.id);
    expect(new Set(ids).size).toBe(500);
    const [found] = await world.h.sql('SELECT count(*)::int AS n FROM reservations WHERE id = ANY($1::uuid[])', [ids]);
    expect(found.n).toBe(500);
    for (const p of payloads) expect(p.reservation?.estimate.cost).toBe(dec('0.1'));
    // used (0) + reserved + leased <= amount, and something is leased.
    const l = await ledger(acme.id, limitId);
    expect(l.reserved).toBe(dec(50));
    expect(l.leases).toBeGreaterThan(0);
    expect(Number(l.reserved) + Number(l.leased)).toBeLessThanOrEqual(1000);
    // quotaStatus is unchanged by leases: reserved is what reservations hold.
    expect(world.item(await acme.quota(), limitId)).toMatchObject({ used: dec(0), reserved: dec(50) });
  });
});
