// Limits as usage meets them: recording never refuses (a BLOCK limit blocks authorization,
// an ALERT limit never does), reversals count in the window of the entry they reverse, and a
// SUBJECT-scope limit counts each end user alone. Calendar edge cases (zones, DST, month
// ends, TOTAL) live in quota-windows.test.ts.
import { describe, expect, it } from 'vitest';
import { dec, NOON, World } from '../support/world';

const world = await World.forFile('quota-limits');

describe('recording never refuses', () => {
  it('usage beyond a BLOCK limit is CREATED; quotaStatus shows exceeded and blocked; authorizeUsage denies', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('never-refuses').onPlan([
      { metric: 'COST', period: 'DAY', amount: '1', action: 'BLOCK' },
      { metric: 'REQUESTS', period: 'DAY', amount: '100', action: 'BLOCK' },
    ]);
    const [cost, requests] = [acme.limit(0), acme.limit(1)];
    // Reaching the amount exactly is already "exceeded".
    expect((await acme.record({ cost: '1' })).outcome).toBe('CREATED');
    let q = await acme.quota();
    expect(world.item(q, cost)).toMatchObject({ used: dec(1), remaining: dec(0), exceeded: true });
    expect(q.blocked).toBe(true);
    const denied = await acme.authorize({ estimate: { cost: '0' }, reserveSeconds: 60 });
    expect(denied.allowed).toBe(false);
    expect(denied.reservation).toBeNull();
    expect(denied.deniedBy?.limit.id).toBe(cost);
    expect(denied.deniedBy?.exceeded).toBe(true);
    expect(await world.count('reservations', acme.id)).toBe(0);

    expect((await acme.record({ cost: '0.4' })).outcome).toBe('CREATED');
    const batch = await acme.recordBatch([{ cost: '2' }, { cost: '3' }]);
    expect(batch.created).toBe(2);
    q = await acme.quota();
    expect(world.item(q, cost)).toMatchObject({ used: dec('6.4'), remaining: dec(0), exceeded: true });
    expect(world.item(q, requests)).toMatchObject({ used: dec(4), exceeded: false });
    expect(q.blocked).toBe(true);
    expect((await acme.authorize({ estimate: { cost: '0.01' } })).allowed).toBe(false);
  });

  it('an exceeded ALERT limit does not block', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('alert-only')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1', action: 'ALERT' }]);
    await acme.record({ cost: '5' });
    const q = await acme.quota();
    expect(world.item(q, acme.limit(0))).toMatchObject({ used: dec(5), exceeded: true });
    expect(q.blocked).toBe(false);
    expect((await acme.authorize({ estimate: { cost: '100' } })).allowed).toBe(true);
  });
});

describe('limits', () => {
  it('reversals reduce used (in the window of the original) and unblock', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('reversals').onPlan([
      { metric: 'COST', period: 'DAY', amount: '1', action: 'BLOCK' },
      { metric: 'REQUESTS', period: 'TOTAL', amount: '10', action: 'BLOCK' },
    ]);
    const [cost, total] = [acme.limit(0), acme.limit(1)];
    const yesterday = await acme.record({ cost: '0.9', occurredAt: '2026-06-14T20:00:00Z' });
    const e1 = await acme.record({ cost: '0.6' });
    await acme.record({ cost: '0.6' });
    let q = await acme.quota();
    expect(world.item(q, cost)).toMatchObject({ used: dec('1.2'), exceeded: true });
    expect(world.item(q, total).used).toBe(dec(3));
    expect(q.blocked).toBe(true);

    await acme.reverse(e1.event.id, 'rev-1');
    q = await acme.quota();
    expect(world.item(q, cost)).toMatchObject({ used: dec('0.6'), remaining: dec('0.4'), exceeded: false });
    expect(world.item(q, total).used).toBe(dec(2));
    expect(q.blocked).toBe(false);
    expect((await acme.authorize({ estimate: { cost: '0.4' } })).allowed).toBe(true);

    // Reversing yesterday's entry today moves yesterday's window, not today's.
    await acme.reverse(yesterday.event.id, 'rev-2');
    q = await acme.quota();
    expect(world.item(q, cost).used).toBe(dec('0.6'));
    expect(world.item(q, total).used).toBe(dec(1));
    world.clock.set('2026-06-14T23:00:00Z');
    expect(world.item(await acme.quota(), cost).used).toBe(dec(0));
  });

  it('SUBJECT scope counts only that subject', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('subject-scope')
      .onPlan([{ metric: 'REQUESTS', period: 'DAY', scope: 'SUBJECT', amount: '2' }]);
    const limitId = acme.limit(0);
    await acme.record({ subject: 'alice', cost: '0' });
    await acme.record({ subject: 'alice', cost: '0' });
    await acme.record({ subject: 'bob', cost: '0' });
    await acme.record({ cost: '0' });

    const alice = await acme.quota({ subject: 'alice' });
    expect(alice.subject).toBe('alice');
    expect(world.item(alice, limitId)).toMatchObject({ scopeId: 'alice', used: dec(2), exceeded: true });
    expect(alice.blocked).toBe(true);
    const bob = await acme.quota({ subject: 'bob' });
    expect(world.item(bob, limitId)).toMatchObject({ scopeId: 'bob', used: dec(1), exceeded: false });
    expect(bob.blocked).toBe(false);
    expect((await acme.quota({ subject: 'carol' })).items[0]).toMatchObject({ used: dec(0) });
    expect((await acme.quota()).items).toEqual([]);

    expect((await acme.authorize({ subject: 'alice', estimate: {} })).allowed).toBe(false);
    expect((await acme.authorize({ subject: 'bob', estimate: {} })).allowed).toBe(true);
    // bob + 1 more request would be 3 > 2 with a held request.
    await acme.authorize({ subject: 'bob', estimate: { requests: 1 }, reserveSeconds: 60 });
    expect((await acme.authorize({ subject: 'bob', estimate: { requests: 1 } })).allowed).toBe(false);
    expect((await acme.authorize({ estimate: {} })).allowed).toBe(true);
  });
});
