// authorizeUsage on leases of headroom (docs/authorize-leases.md): a busy scope is decided
// against this instance's slice without the tenant's lock, exactly; two instances with leases
// active admit exactly what fits and deny only what does not; a plan or limit change reaches
// the fast path at once; the bound that remains (usage recorded beyond what was held) is
// measured. The kill -9 of a real server process mid-race is in leases-kill.test.ts.
import { describe, expect, it } from 'vitest';
import { sleep, until } from '../support/wait';
import type { Instance, WorldTenant } from '../support/world';
import { dec, NOON, World } from '../support/world';

const LEASES = { enabled: true, lifetimeMs: 10_000, horizonMs: 1000, share: 0.25, minRate: 5 };
const world = await World.forFile('quota-leases', { config: { leases: LEASES } });

const fastCalls = (app: { services: { quota: { leases: { fast: { stats: { calls: number } } } } } }) =>
  app.services.quota.leases.fast.stats.calls;

/** used + reserved + what live leases hold, per limit item of a tenant's TENANT-scope limit. */
async function ledger(tenantId: string, limitId: string) {
  const [r] = await world.h.sql(
    `SELECT (SELECT coalesce(sum(cost), 0) FROM reservations WHERE tenant_id = $1 AND settled_at IS NULL AND released_at IS NULL)::numeric(38,12)::text AS reserved,
            (SELECT coalesce(sum(amount), 0) FROM quota_leases WHERE tenant_id = $1 AND limit_id = $2)::numeric(38,12)::text AS leased,
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
    // Time-ordered (UUIDv7 of the instant made), as on the locked path: reservation-retention.test.ts.
    const stamp = Date.parse(NOON).toString(16).padStart(12, '0');
    for (const id of ids) expect(`${id?.slice(0, 8)}${id?.slice(9, 13)}-${id?.[14]}`).toBe(`${stamp}-7`);
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

  it('two instances with leases active admit exactly what fits; every denial comes when the limit is full', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('race')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '30', action: 'BLOCK' }])
      .withKey('INGEST');
    const limitId = acme.limit(0);
    const two: Instance = await world.secondInstance();
    try {
      const viaTwo = two.as(acme.secret);
      const [fastOne, fastTwo] = [fastCalls(world.h.app), fastCalls(two.app)];
      const input = { estimate: { cost: '0.1' }, reserveSeconds: 600 };
      // 2 x 8 waves of 40: 640 calls for 300 that fit.
      const [one, other] = await Promise.all([waves(acme, 40, 8, input), waves(viaTwo, 40, 8, input)]);
      const payloads = [...one, ...other];
      // Leases were active on both instances.
      expect(fastCalls(world.h.app) - fastOne).toBeGreaterThan(0);
      expect(fastCalls(two.app) - fastTwo).toBeGreaterThan(0);
      const allowed = payloads.filter((p) => p.allowed);
      expect(allowed).toHaveLength(300);
      expect(new Set(allowed.map((p) => p.reservation?.id)).size).toBe(300);
      // No false denial: each was refused with the limit full of reservations (bound: 0).
      for (const p of payloads.filter((p) => !p.allowed)) {
        expect(p.reservation).toBeNull();
        expect(p.deniedBy).toMatchObject({ limit: { id: limitId }, used: dec(0), reserved: dec(30) });
      }
      const l = await ledger(acme.id, limitId);
      expect(l.reserved).toBe(dec(30));
      expect(Number(l.leased)).toBe(0);
      expect(world.item(await acme.quota(), limitId)).toMatchObject({ reserved: dec(30), remaining: dec(0) });
      // Both instances say no now, check-only included.
      expect((await acme.authorize({ estimate: { cost: '0.000000000001' } })).allowed).toBe(false);
      expect((await viaTwo.authorize({ estimate: { cost: '0.000000000001' } })).allowed).toBe(false);
    } finally {
      await two.close();
    }
  });

  it("room this instance's own busy slice holds (and its row still counts of what was written out of it) is taken back when a call needs it", async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('reclaim-own')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '100', action: 'BLOCK' }])
      .withKey('INGEST');
    const limitId = acme.limit(0);
    const leases = world.h.app.services.quota.leases;
    await waves(acme, 20, 3, { estimate: { cost: '1' }, reserveSeconds: 600 });
    await sleep(100); // the renewal the last wave asked for
    await waves(acme, 5, 1, { estimate: { cost: '1' }, reserveSeconds: 600 });
    await leases.fast.drain();
    // The slice's row counts reservations written out of it since its last write, twice.
    const own = [...leases.leases.values()].find((l) => l.limitId === limitId);
    expect(Number(own?.spent)).toBeGreaterThan(0);
    const before = await ledger(acme.id, limitId);
    // (The only lease of the item: what may still be admitted, plus what was written out of it.)
    expect(before.leased).toBe(dec(own ? own.available.plus(own.unsynced).plus(own.spent).toFixed() : '-1'));
    // One call wants everything not reserved: the double count must not refuse it.
    const free = 100 - Number(before.reserved);
    const all = await acme.authorize({ estimate: { cost: String(free) }, reserveSeconds: 600 });
    expect(all).toMatchObject({ allowed: true, deniedBy: null });
    const after = await ledger(acme.id, limitId);
    expect(after.reserved).toBe(dec(100));
    expect(Number(after.leased)).toBe(0);
    const late = await acme.authorize({ estimate: { cost: '0.000000000001' }, reserveSeconds: 600 });
    expect(late).toMatchObject({ allowed: false, reservation: null });
    expect(late.deniedBy).toMatchObject({ reserved: dec(100) });
  });

  it('room another instance holds is taken back when a call needs it: no denial while the scope has room', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('reclaim')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '100', action: 'BLOCK' }])
      .withKey('INGEST');
    const limitId = acme.limit(0);
    const two = await world.secondInstance();
    try {
      const viaTwo = two.as(acme.secret);
      // Instance two gets busy and holds a slice.
      await waves(viaTwo, 20, 3, { estimate: { cost: '1' }, reserveSeconds: 600 });
      const before = await ledger(acme.id, limitId);
      expect(Number(before.leased)).toBeGreaterThan(0);
      const free = 100 - Number(before.reserved);
      // One call on instance one wants everything that is not reserved, slices included.
      const all = await acme.authorize({ estimate: { cost: String(free) }, reserveSeconds: 600 });
      expect(all).toMatchObject({ allowed: true, deniedBy: null });
      const after = await ledger(acme.id, limitId);
      expect(after).toMatchObject({ reserved: dec(100), leased: '0.000000000000' });
      // Instance two learns at its next call: its slice is gone, the locked path says no.
      const late = await viaTwo.authorize({ estimate: { cost: '1' }, reserveSeconds: 600 });
      expect(late).toMatchObject({ allowed: false, reservation: null });
      expect(late.deniedBy).toMatchObject({ reserved: dec(100) });
    } finally {
      await two.close();
    }
  });

  it('a plan or limit change reaches a scope decided on leases at once (check-only and reservations)', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('plan-change')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1000', action: 'BLOCK' }])
      .withKey('INGEST');
    const check = { estimate: { cost: '1' } };
    const app = world.h.app;
    await waves(acme, 20, 3, check);
    await sleep(100); // the renewal the last wave asked for
    const fast0 = fastCalls(app);
    expect((await waves(acme, 10, 1, check)).every((p) => p.allowed)).toBe(true);
    expect(fastCalls(app) - fast0).toBeGreaterThan(0);
    const leases = () => world.count('quota_leases', acme.id);
    expect(await leases()).toBeGreaterThan(0);

    // The plan's own limit shrinks (upsertPlan on the same code): the next call sees it.
    const plan = acme.plan as NonNullable<typeof acme.plan>;
    const tight = await world.plan([{ metric: 'COST', period: 'DAY', amount: '0.5', action: 'BLOCK' }], plan.code);
    expect(await leases()).toBe(0);
    const denied = await acme.authorize(check);
    expect(denied).toMatchObject({ allowed: false, deniedBy: { limit: { id: tight.limits[0]?.id } } });

    // Back to a roomy plan, busy again; then a key limit appears (setApiKeyLimits).
    await world.plan([{ metric: 'COST', period: 'DAY', amount: '1000', action: 'BLOCK' }], plan.code);
    await waves(acme, 20, 3, check);
    expect(await leases()).toBeGreaterThan(0);
    const keyed = await acme.setKeyLimits(acme.main.id, [{ metric: 'COST', period: 'DAY', amount: '0.5' }]);
    const byKey = await acme.authorize({ ...check, reserveSeconds: 60 });
    expect(byKey).toMatchObject({ allowed: false, deniedBy: { limit: { id: keyed.limits[0]?.id } } });
    await acme.setKeyLimits(acme.main.id, []);

    // Busy again; then another plan is assigned (assignPlan).
    await waves(acme, 20, 3, check);
    expect(await leases()).toBeGreaterThan(0);
    const other = await world.plan([{ metric: 'COST', period: 'DAY', amount: '0.5', action: 'BLOCK' }]);
    await world.operator.assignPlan({ tenantId: acme.id, planCode: other.code, startsAt: NOON });
    const moved = await acme.authorize(check);
    expect(moved).toMatchObject({ allowed: false, deniedBy: { limit: { id: other.limits[0]?.id } } });
  });

  it("a reservation on leases share-locks the item leases it takes from without writing them; the tenant's sentinel only when it takes from none", async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('witness')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1000', action: 'BLOCK' }])
      .withKey('INGEST');
    const reserve = { estimate: { cost: '0.01' }, reserveSeconds: 60 };
    await waves(acme, 20, 3, reserve);
    await sleep(100); // the renewal the last wave asked for
    // Each row's version (xmin: the transaction that wrote it) and its last locker (xmax: a
    // row lock is written there, the row itself is not).
    const versions = async () =>
      Object.fromEntries(
        (
          await world.h.sql(
            `SELECT CASE WHEN limit_id IS NULL THEN 'sentinel' ELSE 'item' END AS kind, xmin::text || '/' || xmax::text AS v
               FROM quota_leases WHERE tenant_id = $1`,
            [acme.id],
          )
        ).map((r) => [r.kind, r.v]),
      ) as { sentinel?: string; item?: string };
    const written = (v?: string) => v?.split('/')[0];
    const before = await versions();
    expect(before.sentinel && before.item).toBeTruthy();
    const fast0 = fastCalls(world.h.app);
    for (let i = 0; i < 3; i++) expect((await acme.authorize(reserve)).allowed).toBe(true);
    expect(fastCalls(world.h.app) - fast0).toBe(3);
    const after = await versions();
    expect(after.item).not.toBe(before.item);
    expect(written(after.item)).toBe(written(before.item));
    expect(after.sentinel).toBe(before.sentinel);
    // An estimate of zero takes from no slice: the sentinel says the view still holds.
    expect((await acme.authorize({ estimate: { cost: '0' }, reserveSeconds: 60 })).allowed).toBe(true);
    expect(fastCalls(world.h.app) - fast0).toBe(4);
    const last = await versions();
    expect(last.sentinel).not.toBe(before.sentinel);
    expect(written(last.sentinel)).toBe(written(before.sentinel));
  });

  it('the bound that remains: usage recorded without a reservation is seen at the next renewal; until then at most the slice is admitted on top', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('recorded-beyond')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '100', action: 'BLOCK' }])
      .withKey('INGEST');
    const limitId = acme.limit(0);
    const check = { estimate: { cost: '1' } };
    await waves(acme, 20, 3, check);
    const [{ slice }] = await world.h.sql(
      'SELECT coalesce(sum(amount), 0)::text AS slice FROM quota_leases WHERE tenant_id = $1 AND limit_id = $2',
      [acme.id, limitId],
    );
    expect(Number(slice)).toBeGreaterThan(1);
    // The gateway records 99.5 without asking first: recording never refuses.
    await acme.record({ cost: '99.5' });
    // Check-only calls go on until the slice is renewed against the new used.
    let admitted = 0;
    for (let i = 0; i < 200; i++) {
      const r = await acme.authorize(check);
      if (!r.allowed) {
        expect(r.deniedBy).toMatchObject({ limit: { id: limitId }, used: dec('99.5') });
        break;
      }
      admitted++;
    }
    expect(admitted).toBeLessThan(200);
    // What was admitted on top of the recorded usage is bounded by the slice held when it was recorded.
    expect(admitted).toBeLessThanOrEqual(Number(slice));
    expect((await acme.authorize(check)).allowed).toBe(false);
  });

  it("a busy tenant's end users share its view when no SUBJECT limit applies: a new subject is decided on the slice, answered with its own subject", async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('many-users')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1000', action: 'BLOCK' }])
      .withKey('INGEST');
    let n = 0;
    const user = () => ({ subject: `user-${n++}`, estimate: { cost: '0.1' }, reserveSeconds: 60 });
    for (let w = 0; w < 3; w++) await Promise.all(Array.from({ length: 20 }, () => acme.authorize(user())));
    await sleep(100); // the renewal the last wave asked for
    const fast0 = fastCalls(world.h.app);
    const fresh = await Promise.all(Array.from({ length: 40 }, () => acme.authorize(user())));
    expect(fastCalls(world.h.app) - fast0).toBeGreaterThanOrEqual(20);
    fresh.forEach((p, i) => {
      expect(p.allowed).toBe(true);
      expect(p.quota.subject).toBe(`user-${60 + i}`);
    });
  });

  it("a SUBJECT-scope limit keeps each end user's view: one user's limit binds that user exactly, not the others", async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('per-user')
      .onPlan([
        { metric: 'COST', period: 'DAY', amount: '1000', action: 'BLOCK' },
        { metric: 'COST', period: 'DAY', amount: '3', action: 'BLOCK', scope: 'SUBJECT' },
      ])
      .withKey('INGEST');
    const userLimit = acme.limit(1);
    const input = (subject: string) => ({ subject, estimate: { cost: '0.1' }, reserveSeconds: 60 });
    const a = await waves({ authorize: () => acme.authorize(input('alice')) }, 20, 3, {});
    expect(a.filter((p) => p.allowed)).toHaveLength(30);
    for (const p of a.filter((p) => !p.allowed))
      expect(p.deniedBy).toMatchObject({ limit: { id: userLimit }, scopeId: 'alice', reserved: dec(3) });
    expect((await acme.authorize(input('bob'))).allowed).toBe(true);
  });

  it('an end user named "*" keeps a view of its own: another user is never decided on it', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('star-user')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1000', action: 'BLOCK', scope: 'SUBJECT' }])
      .withKey('INGEST');
    // bob has used all of his own limit; "*" is busy and far from its own.
    await acme.record({ subject: 'bob', cost: '1000' });
    const star = { subject: '*', estimate: { cost: '0.1' }, reserveSeconds: 60 };
    await waves(acme, 20, 3, star);
    await sleep(100); // the renewal the last wave asked for
    const fast0 = fastCalls(world.h.app);
    expect((await acme.authorize(star)).allowed).toBe(true);
    expect(fastCalls(world.h.app) - fast0).toBe(1);
    // bob has no view: his call is decided on his own status, not on "*"'s slice.
    const bob = await acme.authorize({ ...star, subject: 'bob' });
    expect(bob).toMatchObject({ allowed: false, deniedBy: { limit: { id: acme.limit(0) }, scopeId: 'bob' } });
  });

  it('a subject plan given to one end user of a busy tenant binds that user at once, exactly; the others go on on the shared view', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('subject-plan-on-leases')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1000', action: 'BLOCK' }])
      .withKey('INGEST');
    let n = 0;
    const user = () => ({ subject: `user-${n++}`, estimate: { cost: '0.1' }, reserveSeconds: 60 });
    for (let w = 0; w < 3; w++) await Promise.all(Array.from({ length: 20 }, () => acme.authorize(user())));
    expect(await world.count('quota_leases', acme.id)).toBeGreaterThan(0);
    // user-vip gets a plan of its own: 1 of cost a day.
    const own = await acme.onSubjectPlan('user-vip', [{ metric: 'COST', period: 'DAY', amount: '1', action: 'BLOCK' }]);
    const vip = { subject: 'user-vip', estimate: { cost: '0.1' }, reserveSeconds: 60 };
    const asked = await waves({ authorize: () => acme.authorize(vip) }, 15, 2, {});
    expect(asked.filter((p) => p.allowed)).toHaveLength(10);
    for (const p of asked.filter((p) => !p.allowed))
      expect(p.deniedBy).toMatchObject({ limit: { id: own.limits[0]?.id }, reserved: dec(1) });
    // Everyone else still fits.
    for (const p of await Promise.all(Array.from({ length: 20 }, () => acme.authorize(user()))))
      expect(p.allowed).toBe(true);
  });

  it('an admission that leaves its slice under half asks for a renewal at once (long before half life), which refills it; one that leaves half does not', async () => {
    world.clock.set(NOON); // frozen: no view comes due by its age in this test
    const acme = await world
      .tenant('under-half')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1000', action: 'BLOCK' }])
      .withKey('INGEST');
    await waves(acme, 20, 5, { estimate: { cost: '0.1' }, reserveSeconds: 600 });
    const leases = world.h.app.services.quota.leases;
    const lease = () => [...leases.leases.values()].find((l) => l.limitId === acme.limit(0));
    const view = () => [...leases.views.values()].find((v) => v.tenant.id === acme.id);
    // Whatever the last wave asked for has come back: a slice at least half full, nothing out.
    await until(() => view()?.refreshing === false && !!lease()?.available.gte(lease()?.half ?? 0), 'a settled view');
    const at = (l: NonNullable<ReturnType<typeof lease>>) => ({ l, half: l.half, available: l.available });
    const before = at(lease() as NonNullable<ReturnType<typeof lease>>);
    // Half of what lies above half: the slice keeps more than half.
    const keep = before.available.minus(before.half).div(2).toFixed(12, 1);
    expect(Number(keep)).toBeGreaterThan(0);
    let fast0 = fastCalls(world.h.app);
    expect((await acme.authorize({ estimate: { cost: keep }, reserveSeconds: 600 })).allowed).toBe(true);
    expect(fastCalls(world.h.app) - fast0).toBe(1);
    expect(view()?.refreshing).toBe(false);
    await sleep(200);
    expect(lease()).toBe(before.l);
    expect(lease()?.half).toBe(before.half); // not written again: no renewal
    // Now past half: the same kind of call leaves a quarter of the slice.
    const l1 = lease() as NonNullable<ReturnType<typeof lease>>;
    const past = l1.available.minus(l1.half.div(2)).toFixed(12, 1);
    fast0 = fastCalls(world.h.app);
    expect((await acme.authorize({ estimate: { cost: past }, reserveSeconds: 600 })).allowed).toBe(true);
    expect(fastCalls(world.h.app) - fast0).toBe(1);
    // The renewal it asked for is decided under the lock and gives the slice its new size.
    await until(() => {
      const l = lease();
      return !!l && l.half !== before.half;
    }, 'the renewal the admission asked for');
    const after = lease() as NonNullable<ReturnType<typeof lease>>;
    expect(after.available.gte(after.half)).toBe(true);
    const l = await ledger(acme.id, acme.limit(0));
    expect(Number(l.reserved) + Number(l.leased)).toBeLessThanOrEqual(1000);
  });

  it('a busy view due at half life is extended without the lock once (its slices still half full), then renewed under the lock; each write of a row subtracts what was written out of it', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('extended')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1000', action: 'BLOCK' }])
      .withKey('INGEST');
    const input = { estimate: { cost: '0.1' }, reserveSeconds: 600 };
    await waves(acme, 20, 5, input);
    const services = world.h.app.services.quota;
    const expiries = async () =>
      (
        await world.h.sql('SELECT DISTINCT expires_at FROM quota_leases WHERE tenant_id = $1 AND instance_id = $2', [
          acme.id,
          services.leases.instanceId,
        ])
      ).map((r) => new Date(r.expires_at as string).getTime());
    expect(await expiries()).toEqual([Date.parse(NOON) + LEASES.lifetimeMs]);
    // The fast path does not write the lease row: its reservations are counted twice (in
    // reserved and in the row, `spent`) until the owner's next write of the row.
    const lease = () => [...services.leases.leases.values()].find((l) => l.limitId === acme.limit(0));
    const row = async () => {
      const l = lease();
      const [r] = await world.h.sql('SELECT amount::numeric(38,12)::text AS amount FROM quota_leases WHERE id = $1', [
        l?.id,
      ]);
      return { row: r?.amount as string, mine: dec(l ? l.available.plus(l.unsynced).plus(l.spent).toFixed() : '-1') };
    };
    await services.leases.fast.drain();
    expect(Number(lease()?.spent)).toBeGreaterThan(0);
    const beforeExtension = await row();
    expect(beforeExtension.row).toBe(beforeExtension.mine);
    // When the tenant's view was last decided under the lock (a renewal makes it anew).
    const viewAt = () => [...services.leases.views.values()].find((v) => v.tenant.id === acme.id)?.at.getTime();
    expect(viewAt()).toBe(Date.parse(NOON));
    // 5.5 s on, 4.5 s left: due (renewed with at most 0.5-0.7 of a lifetime left); the view is
    // 5.5 s old (< 0.6 of a lifetime) and its slices are nearly full: extended, no lock.
    const t1 = Date.parse(NOON) + 5500;
    world.clock.set(new Date(t1));
    await services.leases.housekeep();
    expect(await expiries()).toEqual([t1 + LEASES.lifetimeMs]);
    expect(viewAt()).toBe(Date.parse(NOON));
    // The extension subtracted what was written: the row holds what may still be admitted.
    expect(lease()?.spent.isZero()).toBe(true);
    const afterExtension = await row();
    expect(afterExtension.row).toBe(afterExtension.mine);
    expect(Number(afterExtension.row)).toBeLessThan(Number(beforeExtension.row));
    // Still decided on the slice after the old expiry would have passed.
    const t2 = Date.parse(NOON) + 11_000;
    world.clock.set(new Date(t2));
    const fast0 = fastCalls(world.h.app);
    const fastAnswer = await acme.authorize(input);
    expect(fastAnswer.allowed).toBe(true);
    expect(fastCalls(world.h.app) - fast0).toBe(1);
    // Answered from the view: its quota is the view's, with the view's asOf (older than a read's now).
    const view = [...services.leases.views.values()].find((v) => v.tenant.id === acme.id);
    expect(Date.parse(fastAnswer.quota.asOf as string)).toBe(view?.status.asOf.getTime());
    expect(Date.parse(fastAnswer.quota.asOf as string)).toBeLessThan(Date.parse((await acme.quota()).asOf as string));
    // Due again, the view 11 s old: renewed under the lock (used and reserved read again).
    await services.leases.housekeep();
    // The renewal commits, then this instance takes its new view: wait for both.
    await until(
      async () => (await expiries()).includes(t2 + LEASES.lifetimeMs) && viewAt() === t2,
      'the renewal and its view',
    );
    expect(viewAt()).toBe(t2);
    const afterRenewal = await row();
    expect(afterRenewal.row).toBe(afterRenewal.mine);
    const l = await ledger(acme.id, acme.limit(0));
    expect(Number(l.reserved) + Number(l.leased)).toBeLessThanOrEqual(1000);
  });
});
