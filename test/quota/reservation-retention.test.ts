// Reservations are kept RESERVATION_RETENTION_DAYS after they expire, then deleted (one row
// per authorization with a reservation would otherwise grow the table forever). Their ids are
// UUIDv7, so the prune finds the old ones by a primary-key range.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/src/config';
import { uuidV7 } from '../../server/src/lib/ids';
import { NOON, World } from '../support/world';

const world = await World.forFile('quota-retention');
const DAY = 86_400_000;
const HOUR = 3_600_000;
const at = (ms: number) => new Date(Date.parse(NOON) + ms).toISOString();

describe('reservation retention', () => {
  it('gives reservations time-ordered ids (UUIDv7 of the instant they were made); leases.test.ts checks the fast path', async () => {
    world.clock.set(NOON);
    const t = await world.tenant('v7').onPlan([{ metric: 'COST', period: 'DAY', amount: '100', action: 'BLOCK' }]);
    const stamp = Date.parse(NOON).toString(16).padStart(12, '0');
    // A scope's first calls are decided on the locked path (no lease yet): these 40 are.
    const many = await Promise.all(
      Array.from({ length: 40 }, () => t.authorize({ estimate: { cost: '0.01' }, reserveSeconds: 60 })),
    );
    for (const a of many) {
      expect(a.allowed).toBe(true);
      const id = a.reservation!.id;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(id.replace(/-/g, '').slice(0, 12)).toBe(stamp);
    }
    expect(new Set(many.map((a) => a.reservation!.id)).size).toBe(40);
  });

  it('deletes a reservation only once it expired more than the retention ago; recordUsage then calls it UNKNOWN', async () => {
    world.clock.set(NOON);
    const t = await world.tenant('pruned').onPlan([{ metric: 'COST', period: 'DAY', amount: '100', action: 'BLOCK' }]);
    const hold = (seconds: number) =>
      t.authorize({ estimate: { cost: '1' }, reserveSeconds: seconds }).then((a) => a.reservation!.id);
    const settled = await hold(60);
    expect(await t.record({ cost: '0.5', reservationId: settled })).toMatchObject({ reservation: 'SETTLED' });
    const expired = await hold(60);
    world.clock.set(at(4 * DAY));
    const recent = await hold(60);
    const insert = (id: string, expiresAt: string) =>
      world.h.sql(`INSERT INTO reservations (id, tenant_id, cost, expires_at) VALUES ($1, $2, 1, $3)`, [
        id,
        t.id,
        expiresAt,
      ]);
    // Rows whose ids do not date them (random: made before reservation ids were UUIDv7) are
    // deleted by their expiry alone, wherever their ids sort: high (nearly all of them), low.
    const legacy = 'c1a0a1b2-3c4d-4e5f-8a6b-7c8d9e0f1a2b';
    const legacyLow = '00a0a1b2-3c4d-4e5f-8a6b-7c8d9e0f1a2b';
    const legacyLater = randomUUID().replace(/^./, 'f');
    await insert(legacy, at(60_000));
    await insert(legacyLow, at(60_000));
    await insert(legacyLater, at(3 * DAY + 12 * HOUR));
    // A row whose id dates it earlier than it expires (made on a clock running behind) is kept
    // until it expired more than the retention ago.
    const skewed = uuidV7(Date.parse(NOON));
    await insert(skewed, at(3 * DAY));
    const left = async () =>
      (await world.h.sql<{ id: string }>('SELECT id FROM reservations WHERE tenant_id = $1 ORDER BY id', [t.id])).map(
        (r) => r.id,
      );
    const prune = (batch?: number) => world.h.app.services.quota.pruneReservations(7, batch);

    // Seven days after they expired, plus the longest a reservation may hold (an hour), their
    // ids alone say they expired: not a millisecond before.
    world.clock.set(at(7 * DAY + HOUR));
    await prune();
    expect(await left()).toEqual([settled, expired, recent, legacyLater, skewed].sort());
    expect(await t.record({ cost: '0.5', reservationId: expired })).toMatchObject({ reservation: 'EXPIRED' });

    world.clock.set(at(7 * DAY + HOUR + 1));
    // In batches of one: every batch full, then one short.
    expect(await prune(1)).toBeGreaterThanOrEqual(2);
    expect(await left()).toEqual([recent, legacyLater, skewed].sort());
    world.clock.set(at(10 * DAY));
    await prune();
    expect(await left()).toEqual([recent, legacyLater, skewed].sort());
    world.clock.set(at(10 * DAY + 1));
    expect(await prune()).toBeGreaterThanOrEqual(1);
    expect(await left()).toEqual([recent, legacyLater].sort());
    world.clock.set(at(10 * DAY + 12 * HOUR + 1));
    await prune();
    expect(await left()).toEqual([recent]);

    // Usage naming a deleted reservation is recorded all the same; the reservation is unknown.
    const late = await t.record({ cost: '0.5', reservationId: expired });
    expect(late).toMatchObject({ outcome: 'CREATED', reservation: 'UNKNOWN' });
    expect((await world.refusal(t.release(settled))).code).toBe('RESERVATION_INVALID');
    expect(await world.count('usage_events', t.id)).toBe(3);
  });

  it("runs with the service's hourly prunes, after RESERVATION_RETENTION_DAYS, and never with 0", async () => {
    world.clock.set(NOON);
    const t = await world.tenant('hourly').onPlan([{ metric: 'COST', period: 'DAY', amount: '100', action: 'BLOCK' }]);
    const id = (await t.authorize({ estimate: { cost: '1' }, reserveSeconds: 60 })).reservation!.id;
    const kept = async () => (await world.h.sql('SELECT 1 FROM reservations WHERE id = $1', [id])).length === 1;
    // 30 days later: past the default 7, within 40.
    world.clock.set(at(30 * DAY));
    const never = await World.on(world.h, { reservationRetentionDays: 0 }).secondInstance();
    const forty = await World.on(world.h, { reservationRetentionDays: 40 }).secondInstance();
    try {
      await never.app.prune();
      await forty.app.prune();
      expect(await kept()).toBe(true);
    } finally {
      await never.close();
      await forty.close();
    }
    await world.h.app.prune();
    expect(await kept()).toBe(false);
  });

  it('is set by RESERVATION_RETENTION_DAYS: 7 days unless told, 0 keeps every reservation', () => {
    expect(loadConfig({}).reservationRetentionDays).toBe(7);
    expect(loadConfig({ RESERVATION_RETENTION_DAYS: '0' }).reservationRetentionDays).toBe(0);
    expect(loadConfig({ RESERVATION_RETENTION_DAYS: '30' }).reservationRetentionDays).toBe(30);
    for (const bad of ['-1', '1.5', 'week'])
      expect(() => loadConfig({ RESERVATION_RETENTION_DAYS: bad })).toThrow(
        /^invalid settings: RESERVATION_RETENTION_DAYS: /,
      );
  });
});
