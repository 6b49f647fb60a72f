// Authorizing before a call and holding the estimate: group-committed decisions, the
// overspend race across two app instances, expiry, release, settlement by the recorded
// usage (once, whoever races for it), and reservations that cannot be settled.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { dec, NOON, World } from '../support/world';

const world = await World.forFile('quota-authorize');

describe('authorizeUsage and reservations', () => {
  it('decides concurrent calls in shared transactions, each seeing its predecessors only where its scope holds them', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('grouped').onPlan([
      { metric: 'COST', period: 'DAY', amount: '10.00', action: 'BLOCK' },
      { metric: 'COST', period: 'DAY', amount: '0.30', action: 'BLOCK', scope: 'API_KEY' },
    ]);
    const [tenantLimit, keyLimit] = [acme.limit(0), acme.limit(1)];
    const keys = [await acme.key(['INGEST']), await acme.key(['INGEST'])];
    const input = { estimate: { cost: '0.10' }, reserveSeconds: 600 };
    const stats = world.h.app.services.quota.authorizer.stats;
    const flushesBefore = stats.flushes;
    // Any GraphQL error rejects the call, and the test with it.
    const payloads = await Promise.all(Array.from({ length: 20 }, (_, i) => keys[i % 2]!.authorize(input)));
    // 20 calls, far fewer transactions.
    expect(stats.flushes - flushesBefore).toBeLessThan(10);
    // Each key's own limit admits three of its ten calls; the tenant limit binds nobody.
    for (const k of [0, 1]) {
      const mine = payloads.filter((_, i) => i % 2 === k);
      const allowed = mine.filter((p) => p.allowed);
      expect(allowed).toHaveLength(3);
      for (const p of mine.filter((p) => !p.allowed)) expect(p.deniedBy?.limit.id).toBe(keyLimit);
      // Within a key, each admitted call saw the ones before it: 0.1, 0.2, 0.3 reserved.
      expect(allowed.map((p) => world.item(p.quota, keyLimit).reserved).sort()).toEqual([
        dec('0.1'),
        dec('0.2'),
        dec('0.3'),
      ]);
    }
    // Across keys, the tenant item counted every admitted call once: six distinct states.
    const tenantReserved = payloads.filter((p) => p.allowed).map((p) => world.item(p.quota, tenantLimit).reserved);
    expect(new Set(tenantReserved).size).toBe(6);
    expect(tenantReserved.sort()).toEqual(['0.1', '0.2', '0.3', '0.4', '0.5', '0.6'].map(dec));
    const [open] = await world.h.sql(
      'SELECT count(*)::int AS n, sum(cost)::text AS cost FROM reservations WHERE tenant_id = $1',
      [acme.id],
    );
    expect(open).toEqual({ n: 6, cost: '0.600000000000' });
  });

  it('a flush of calls for many end users asks the database once for what their scopes share', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('many-subjects')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '10.00', action: 'BLOCK' }])
      .withKey('INGEST');
    await acme.authorize({ estimate: { cost: '0' } }); // the key is known and cached
    const stats = world.h.app.services.quota.authorizer.stats;
    const fast = world.h.app.services.quota.leases.fast.stats;
    const [flushes0, fast0, queries0] = [stats.flushes, fast.flushes, world.h.db.queryCount()];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        acme.authorize({ subject: `user-${i}`, estimate: { cost: '0.10' }, reserveSeconds: 60 }),
      ),
    );
    for (const r of results) expect(r.allowed).toBe(true);
    const flushes = stats.flushes - flushes0;
    expect(flushes).toBeLessThan(10);
    // Each call looks its tenant up once (20); a flush costs its transaction, lock, the tenant's
    // leases, limits, windows, used and reserved once, one INSERT and one write of this
    // instance's leases, however many subjects it holds; a flush on leases is one statement.
    // Computed per subject instead, the 20 calls would need at least 100 statements.
    expect(world.h.db.queryCount() - queries0 - 20).toBeLessThanOrEqual(flushes * 11 + (fast.flushes - fast0) + 2);
  });

  it('200 concurrent authorizations on two instances admit exactly what fits, never more', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('overspend')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '10.00', action: 'BLOCK' }])
      .withKey('INGEST');
    const limitId = acme.limit(0);
    const two = await world.secondInstance();
    try {
      const viaTwo = two.as(acme.secret);
      const input = { estimate: { cost: '0.10' }, reserveSeconds: 600 };
      const payloads = await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? acme : viaTwo).authorize(input)),
      );
      const allowed = payloads.filter((p) => p.allowed);
      const denied = payloads.filter((p) => !p.allowed);
      expect(allowed).toHaveLength(100);
      expect(denied).toHaveLength(100);
      for (const p of allowed) {
        expect(p.deniedBy).toBeNull();
        expect(p.reservation?.estimate.cost).toBe(dec('0.1'));
        expect(p.reservation?.expiresAt).toBe('2026-06-15T12:10:00.000Z');
      }
      expect(new Set(allowed.map((p) => p.reservation?.id)).size).toBe(100);
      for (const p of denied) {
        expect(p.reservation).toBeNull();
        expect(p.deniedBy?.limit).toMatchObject({ id: limitId, metric: 'COST', period: 'DAY', action: 'BLOCK' });
        expect(p.deniedBy?.reserved).toBe(dec(10));
      }
      const [open] = await world.h.sql(
        `SELECT count(*)::int AS n, sum(cost)::text AS cost FROM reservations
          WHERE tenant_id = $1 AND settled_at IS NULL AND released_at IS NULL`,
        [acme.id],
      );
      expect(open).toEqual({ n: 100, cost: '10.000000000000' });
      const q = await acme.quota();
      expect(q.blocked).toBe(false);
      expect(world.item(q, limitId)).toMatchObject({
        used: dec(0),
        reserved: dec(10),
        remaining: dec(0),
        exceeded: false,
      });
      // Both instances agree, and even a zero-cost check is refused now.
      expect((await viaTwo.authorize({ estimate: { cost: '0.000000000001' } })).allowed).toBe(false);
      expect(await world.count('reservations', acme.id)).toBe(100);
    } finally {
      await two.close();
    }
  });

  it('an expired reservation stops counting and can no longer be settled or released; usage naming it is recorded', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('expiry').onPlan([{ metric: 'COST', period: 'DAY', amount: '1', action: 'BLOCK' }]);
    const limitId = acme.limit(0);
    const a = await acme.authorize({ estimate: { cost: '0.6' }, reserveSeconds: 60 });
    expect(a.allowed).toBe(true);
    const held = a.reservation!;
    expect(held.expiresAt).toBe('2026-06-15T12:01:00.000Z');
    expect(world.item(a.quota, limitId)).toMatchObject({ used: dec(0), reserved: dec('0.6'), remaining: dec('0.4') });
    // While it holds, a second 0.6 does not fit.
    expect((await acme.authorize({ estimate: { cost: '0.6' } })).allowed).toBe(false);

    world.clock.set('2026-06-15T12:00:59.999Z');
    expect(world.item(await acme.quota(), limitId).reserved).toBe(dec('0.6'));

    world.clock.set('2026-06-15T12:01:00.001Z');
    expect(world.item(await acme.quota(), limitId)).toMatchObject({ reserved: dec(0), remaining: dec(1) });
    expect((await acme.authorize({ estimate: { cost: '0.6' } })).allowed).toBe(true);

    // Usage that happened is recorded; the expired hold is not settled, and the answer says so.
    const settle = await acme.record({ idempotencyKey: 'late', cost: '0.5', reservationId: held.id });
    expect(settle).toMatchObject({ outcome: 'CREATED', reservation: 'EXPIRED' });
    expect(await world.count('usage_events', acme.id)).toBe(1);
    expect((await world.refusal(acme.release(held.id))).code).toBe('RESERVATION_INVALID');
    const [row] = await world.h.sql('SELECT settled_at, released_at, event_id FROM reservations WHERE id = $1', [
      held.id,
    ]);
    expect(row).toEqual({ settled_at: null, released_at: null, event_id: null });
  });

  it('release frees the hold once; releasing again is RESERVATION_INVALID; usage naming it settles nothing', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('release')
      .onPlan([{ metric: 'TOKENS', period: 'DAY', amount: '1000', action: 'BLOCK' }])
      .withKey('INGEST');
    const limitId = acme.limit(0);
    const a = await acme.authorize({ estimate: { inputTokens: 600, outputTokens: 200 }, reserveSeconds: 300 });
    expect(a.allowed).toBe(true);
    const held = a.reservation!;
    expect(held.estimate.totalTokens).toBe(800);
    expect(world.item(await acme.quota(), limitId).reserved).toBe(dec(800));

    expect(await acme.release(held.id)).toBe(true);
    expect(world.item(await acme.quota(), limitId)).toMatchObject({ reserved: dec(0), remaining: dec(1000) });

    expect(await world.refusal(acme.release(held.id))).toMatchObject({ code: 'RESERVATION_INVALID', field: ['id'] });
    const settle = await acme.record({ idempotencyKey: 'after-release', cost: '0', reservationId: held.id });
    expect(settle).toMatchObject({ outcome: 'CREATED', reservation: 'RELEASED' });
    expect(await world.count('usage_events', acme.id)).toBe(1);
    // Unknown and malformed ids are the same answer.
    expect((await world.refusal(acme.release(randomUUID()))).code).toBe('RESERVATION_INVALID');
    expect((await world.refusal(acme.release('not-a-uuid'))).code).toBe('RESERVATION_INVALID');
    // A READ key may not release.
    const reader = await acme.key(['READ']);
    const b = await acme.authorize({ estimate: { tokens: 10 }, reserveSeconds: 300 });
    expect((await world.refusal(reader.release(b.reservation!.id))).code).toBe('FORBIDDEN');
    expect(world.item(await acme.quota(), limitId).reserved).toBe(dec(10));
  });

  it('recordUsage with reservationId settles it: the real cost counts, the hold is gone; a retry is DUPLICATE', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('settle')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1', action: 'BLOCK' }])
      .withKey('INGEST');
    const limitId = acme.limit(0);
    const held = (await acme.authorize({ estimate: { cost: '0.5' }, reserveSeconds: 600 })).reservation!;
    expect(world.item(await acme.quota(), limitId)).toMatchObject({ used: dec(0), reserved: dec('0.5') });

    const input = { idempotencyKey: 'settle-1', cost: '0.3', reservationId: held.id };
    const first = await acme.record(input);
    expect(first.outcome).toBe('CREATED');
    expect(world.item(await acme.quota(), limitId)).toMatchObject({
      used: dec('0.3'),
      reserved: dec(0),
      remaining: dec('0.7'),
    });
    const [row] = await world.h.sql(
      'SELECT settled_at IS NOT NULL AS settled, event_id FROM reservations WHERE id = $1',
      [held.id],
    );
    expect(row).toEqual({ settled: true, event_id: first.event.id });

    // A retry (no error) answers the same entry, as a DUPLICATE.
    const retry = await acme.record(input);
    expect(retry).toEqual({ ...first, outcome: 'DUPLICATE' });

    // Another entry naming the settled reservation is recorded and settles nothing.
    const other = await acme.record({ ...input, idempotencyKey: 'settle-2' });
    expect(other).toMatchObject({ outcome: 'CREATED', reservation: 'ALREADY_SETTLED' });
    expect(await world.count('usage_events', acme.id)).toBe(2);
    expect(world.item(await acme.quota(), limitId)).toMatchObject({ used: dec('0.6'), reserved: dec(0) });
    // Settled is not releasable either.
    expect((await world.refusal(acme.release(held.id))).code).toBe('RESERVATION_INVALID');
  });

  it('one reservation named by 20 concurrent events (and a release) on two instances is used exactly once; every event is recorded', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('settle-race')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '100', action: 'BLOCK' }])
      .withKey('INGEST');
    const limitId = acme.limit(0);
    const held = (await acme.authorize({ estimate: { cost: '5' }, reserveSeconds: 600 })).reservation!;
    const two = await world.secondInstance();
    const viaTwo = two.as(acme.secret);
    let records: Awaited<ReturnType<typeof acme.record>>[];
    let release: { released: boolean } | { refused: string };
    try {
      [records, release] = await Promise.all([
        Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? acme : viaTwo).record({ idempotencyKey: `claim-${i}`, cost: '1', reservationId: held.id }),
          ),
        ),
        viaTwo.release(held.id).then(
          (released) => ({ released }),
          (e) => ({ refused: (e as { code: string }).code }),
        ),
      ]);
    } finally {
      await two.close();
    }
    expect(records.map((r) => r.outcome)).toEqual(Array(20).fill('CREATED'));
    const created = records.filter((r) => r.reservation === 'SETTLED');
    const released = 'released' in release && release.released === true ? 1 : 0;
    expect(created.length + released).toBe(1);
    // The others say why they settled nothing: settled by one of them, or released first.
    for (const r of records)
      if (r.reservation !== 'SETTLED') expect(['ALREADY_SETTLED', 'RELEASED']).toContain(r.reservation);
    expect('refused' in release && release.refused === 'RESERVATION_INVALID').toBe(released === 0);
    expect(await world.count('usage_events', acme.id)).toBe(20);
    const [row] = await world.h.sql(
      'SELECT settled_at IS NOT NULL AS settled, released_at IS NOT NULL AS released, event_id FROM reservations WHERE id = $1',
      [held.id],
    );
    expect(row).toEqual({
      settled: created.length === 1,
      released: released === 1,
      event_id: created[0]?.event.id ?? null,
    });
    expect(world.item(await acme.quota(), limitId)).toMatchObject({ used: dec(20), reserved: dec(0) });
  });

  it("another tenant's reservation is UNKNOWN to recordUsage (recorded, nothing settled) and RESERVATION_INVALID to releaseReservation", async () => {
    world.clock.set(NOON);
    const plan = await world.plan([{ metric: 'COST', period: 'DAY', amount: '5', action: 'BLOCK' }]);
    const limitId = plan.limits[0]!.id;
    const a = await world.tenant('res-owner-a').onPlan(plan);
    const b = await world.tenant('res-owner-b').onPlan(plan);
    const held = await b.authorize({ estimate: { cost: '2' }, reserveSeconds: 600 });
    expect(held.allowed).toBe(true);
    const id = held.reservation!.id;

    const rec = await a.record({ idempotencyKey: 'steal', cost: '1', reservationId: id });
    expect(rec).toMatchObject({ outcome: 'CREATED', reservation: 'UNKNOWN' });
    expect((await world.refusal(a.release(id))).code).toBe('RESERVATION_INVALID');
    expect(await world.count('usage_events', a.id)).toBe(1);
    const [row] = await world.h.sql('SELECT settled_at, released_at FROM reservations WHERE id = $1', [id]);
    expect(row).toEqual({ settled_at: null, released_at: null });
    expect(world.item(await b.quota(), limitId).reserved).toBe(dec(2));
    expect(world.item(await a.quota(), limitId)).toMatchObject({ used: dec(1), reserved: dec(0) });
    // The owner can still settle it.
    const own = await b.record({ cost: '1.5', reservationId: id });
    expect(own.outcome).toBe('CREATED');
    expect(world.item(await b.quota(), limitId)).toMatchObject({ used: dec('1.5'), reserved: dec(0) });
  });

  it('recordUsageBatch: an item whose reservation cannot be settled is still CREATED and says why', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('batch-res')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '10', action: 'BLOCK' }]);
    const limitId = acme.limit(0);
    const r1 = (await acme.authorize({ estimate: { cost: '1' }, reserveSeconds: 600 })).reservation!;
    const r2 = (await acme.authorize({ estimate: { cost: '1' }, reserveSeconds: 600 })).reservation!;
    expect(world.item(await acme.quota(), limitId).reserved).toBe(dec(2));
    const out = await acme.recordBatch([
      { idempotencyKey: 'b-0', cost: '0.5', reservationId: r1.id },
      { idempotencyKey: 'b-1', cost: '0.5', reservationId: randomUUID() },
      { idempotencyKey: 'b-2', cost: '0.25' },
      { idempotencyKey: 'b-3', cost: '0.5', reservationId: 'nope' },
      // Two items naming one reservation: only the first settles it.
      { idempotencyKey: 'b-4', cost: '0.75', reservationId: r2.id },
      { idempotencyKey: 'b-5', cost: '0.75', reservationId: r2.id },
    ]);
    expect(out.results.map((r) => [r.outcome, r.reservation, r.error])).toEqual([
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
    expect(await world.count('usage_events', acme.id)).toBe(6);
    expect(world.item(await acme.quota(), limitId)).toMatchObject({ used: dec('3.25'), reserved: dec(0) });
  });
});
