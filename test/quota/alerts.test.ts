// Threshold alerts: each crossing stored once (even when two instances race for it), several
// thresholds at once, a fresh window each local day, late events counted in their own window,
// and the quotaAlerts list paged newest first with from/to filters.
import { describe, expect, it } from 'vitest';
import { OPERATOR_KEY } from '../support/harness';
import { dec, NOON, World } from '../support/world';

const world = await World.forFile('quota-alerts');

describe('alerts', () => {
  it('64 concurrent recordings on two instances store each threshold exactly once', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('alert-race')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1', thresholds: [50, 80, 100], action: 'ALERT' }])
      .withKey('INGEST');
    const limitId = acme.limit(0);
    const two = await world.secondInstance();
    try {
      const viaTwo = two.as(acme.secret);
      // Any GraphQL error rejects the call, and the test with it.
      const results = await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          (i % 2 === 0 ? acme : viaTwo).record({ idempotencyKey: `race-${i}`, cost: '0.05' }),
        ),
      );
      expect(results.every((r) => r.outcome === 'CREATED')).toBe(true);
    } finally {
      await two.close();
    }
    const rows = await world.h.sql(
      `SELECT threshold, used::text AS used, limit_id, period_start FROM quota_alerts WHERE tenant_id = $1 ORDER BY threshold`,
      [acme.id],
    );
    expect(rows.map((r: any) => r.threshold)).toEqual([50, 80, 100]);
    for (const r of rows) {
      expect(r.limit_id).toBe(limitId);
      expect(r.period_start.toISOString()).toBe('2026-06-15T00:00:00.000Z');
      expect(Number(r.used)).toBeGreaterThanOrEqual(r.threshold / 100);
      expect(Number(r.used)).toBeLessThanOrEqual(3.2);
    }
    const q = await acme.quota();
    expect(world.item(q, limitId)).toMatchObject({ used: dec('3.2'), exceeded: true });
    expect(q.blocked).toBe(false);
  });

  it('crossing several thresholds at once stores each; a new local day (and a late event) store afresh', async () => {
    // Asia/Tokyo: the local day starts at 15:00 UTC.
    world.clock.set('2026-06-15T01:00:00Z');
    const acme = await world
      .tenant('alert-windows', 'Asia/Tokyo')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1', thresholds: [50, 80, 100], action: 'ALERT' }]);
    const limitId = acme.limit(0);
    const stored = async () =>
      (
        await world.h.sql(
          'SELECT threshold, used::text AS used, period_start FROM quota_alerts WHERE tenant_id = $1 ORDER BY crossed_at, threshold',
          [acme.id],
        )
      ).map((r: any) => [r.period_start.toISOString(), r.threshold, r.used]);
    const day1 = '2026-06-14T15:00:00.000Z';
    const day2 = '2026-06-15T15:00:00.000Z';

    await acme.record({ cost: '0.9' });
    expect(await stored()).toEqual([
      [day1, 50, '0.900000000000'],
      [day1, 80, '0.900000000000'],
    ]);
    await acme.record({ cost: '0.05' });
    expect(await stored()).toHaveLength(2);
    await acme.record({ cost: '0.05' });
    expect((await stored())[2]).toEqual([day1, 100, '1.000000000000']);
    await acme.record({ cost: '5' });
    expect(await stored()).toHaveLength(3);

    // Next local day (same UTC date): a fresh window.
    world.clock.set('2026-06-15T15:00:30Z');
    await acme.record({ cost: '0.6' });
    expect((await stored()).slice(3)).toEqual([[day2, 50, '0.600000000000']]);
    const q = await acme.quota();
    expect(world.item(q, limitId)).toMatchObject({ periodStart: day2, used: dec('0.6') });

    // A late event counts in the window of its occurredAt: day 1 has nothing left to cross.
    await acme.record({ cost: '1', occurredAt: '2026-06-15T14:59:59Z' });
    expect(await stored()).toHaveLength(4);
    // A late event inside day 2 counts there: 0.6 + 0.25 crosses 80.
    const late = await acme.record({ cost: '0.25', occurredAt: '2026-06-15T15:00:10Z' });
    expect((await stored()).slice(4)).toEqual([[day2, 80, '0.850000000000']]);
    // Falling back under 80 (a reversal) and crossing it again in the same window stores nothing new.
    await acme.reverse(late.event.id, 'alert-rev');
    expect(world.item(await acme.quota(), limitId).used).toBe(dec('0.6'));
    await acme.record({ cost: '0.3' });
    expect(world.item(await acme.quota(), limitId).used).toBe(dec('0.9'));
    expect(await stored()).toHaveLength(5);
  });

  it('quotaAlerts pages newest first and filters by from/to', async () => {
    world.clock.set(NOON);
    const plan = await world.plan([
      { metric: 'COST', period: 'DAY', amount: '1', thresholds: [10, 20, 30, 40, 50], action: 'ALERT' },
      { metric: 'REQUESTS', period: 'DAY', amount: '100', thresholds: [1], action: 'ALERT' },
    ]);
    const acme = await world.tenant('alert-list').onPlan(plan);
    const other = await world.tenant('alert-list-other').onPlan(plan);
    await other.record({ cost: '1' });
    // One transaction storing three alerts, then two more transactions.
    // Alerts are stamped with the server's clock, so each transaction gets its own instant.
    await acme.record({ cost: '0.25' }); // 10, 20 and REQUESTS 1
    world.clock.set(new Date(new Date(NOON).getTime() + 1000));
    await acme.record({ cost: '0.1' }); // 30
    world.clock.set(new Date(new Date(NOON).getTime() + 2000));
    await acme.record({ cost: '0.2' }); // 40, 50
    const expected = await world.h.sql(
      'SELECT id::text, threshold, crossed_at FROM quota_alerts WHERE tenant_id = $1 ORDER BY crossed_at DESC, id DESC',
      [acme.id],
    );
    expect(expected).toHaveLength(6);

    // One page with everything.
    const all = await acme.alerts();
    expect(all.pageInfo.hasNextPage).toBe(false);
    expect(all.edges.map((e) => e.node.id)).toEqual(expected.map((r: any) => r.id));
    for (const e of all.edges) expect(e.node.tenantId).toBe(acme.id);
    const newest = all.edges[0]!.node;
    expect(newest.threshold === 40 || newest.threshold === 50).toBe(true);
    expect(newest.limit.id).toBe(plan.limits[0]!.id);
    expect(newest.periodStart).toBe('2026-06-15T00:00:00.000Z');
    expect(newest.used).toBe(dec('0.55'));

    // Pages of three (each page ends between two transactions): the same list, nothing lost or repeated.
    const p1 = await acme.alerts({ first: 3 });
    expect(p1.pageInfo.hasNextPage).toBe(true);
    expect(p1.pageInfo.endCursor).toBe(p1.edges[2]!.cursor);
    const p2 = await acme.alerts({ first: 3, after: p1.pageInfo.endCursor });
    expect(p2.pageInfo).toEqual({ hasNextPage: false, endCursor: p2.edges[2]!.cursor });
    expect([...p1.edges, ...p2.edges].map((e) => e.node.id)).toEqual(expected.map((r: any) => r.id));
    expect(p2.edges.map((e) => e.node.threshold).sort()).toEqual([1, 10, 20]);

    // from (inclusive) / to (exclusive) on crossedAt: the middle transaction alone.
    const middle = all.edges.find((e) => e.node.threshold === 30)!.node.crossedAt;
    const later = all.edges[0]!.node.crossedAt;
    const window = await acme.alerts({ from: middle, to: later });
    expect(window.edges.map((e) => e.node.threshold)).toEqual([30]);
    const since = await acme.alerts({ from: middle });
    expect(since.edges.map((e) => e.node.threshold).sort()).toEqual([30, 40, 50]);
    const before = await acme.alerts({ to: middle });
    expect(before.edges).toHaveLength(3);

    expect((await world.refusal(acme.alerts({ first: 501 }))).code).toBe('BAD_USER_INPUT');
    expect((await world.refusal(acme.alerts({ after: 'garbage' }))).code).toBe('BAD_USER_INPUT');
    const op = await world.as(OPERATOR_KEY).alerts({ tenantId: other.id });
    expect(op.edges.every((e) => e.node.tenantId === other.id)).toBe(true);
    expect(op.edges.length).toBeGreaterThan(0);
  });

  // Guards a regression: the cursor carries crossedAt in milliseconds; alerts were once stamped
  // with microseconds (DEFAULT now()), so a page boundary inside one transaction's alerts lost the rest.
  it('quotaAlerts pages of one keep alerts stored by one transaction', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('alert-page-tie')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1', thresholds: [50, 80], action: 'ALERT' }]);
    await acme.record({ cost: '0.9' }); // stores 50 and 80 in one transaction
    expect(await world.count('quota_alerts', acme.id)).toBe(2);
    const p1 = await acme.alerts({ first: 1 });
    expect(p1.edges).toHaveLength(1);
    expect(p1.pageInfo.hasNextPage).toBe(true);
    const p2 = await acme.alerts({ first: 1, after: p1.pageInfo.endCursor });
    expect([...p1.edges, ...p2.edges].map((e) => e.node.threshold).sort()).toEqual([50, 80]);
  });
});
