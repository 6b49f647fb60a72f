// Usage that happened is always recorded, whatever its reservationId says (issue 10, item 11).
// An open reservation of the tenant is settled by the first entry that names it; an expired,
// released, already settled, unknown or another tenant's reservation settles nothing, and
// the answer's `reservation` says which, for recordUsage and each recordUsageBatch item,
// on the first call and on its retries alike.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness';
import { World } from './support/world';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('reservation-settlement');
});
afterAll(async () => h?.close());

const NOON = '2026-06-15T12:00:00.000Z';
const RECORD = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { outcome reservation event { id cost } } }`;
const BATCH = `mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) {
  created rejected results { outcome reservation event { id } error { code field } } } }`;
const AUTHORIZE = `mutation($input: AuthorizeUsageInput!) { authorizeUsage(input: $input) { allowed reservation { id } } }`;
const RELEASE = 'mutation($id: ID!) { releaseReservation(id: $id) }';
const QUOTA = '{ quotaStatus { items { used reserved } } }';

/** A tenant on a plan with one COST limit per DAY of 100 that blocks. */
const costTenant = (name: string) =>
  World.on(h)
    .tenant(name)
    .onPlan([{ metric: 'COST', period: 'DAY', amount: '100', action: 'BLOCK' }]);

async function hold(key: string, cost = '5', seconds = 60): Promise<string> {
  const a = (await h.ok(key, AUTHORIZE, { input: { estimate: { cost }, reserveSeconds: seconds } })).authorizeUsage;
  expect(a.allowed).toBe(true);
  return a.reservation.id;
}

async function reservationRow(id: string) {
  const [r] = await h.sql(
    'SELECT settled_at IS NOT NULL AS settled, released_at IS NOT NULL AS released, event_id FROM reservations WHERE id = $1',
    [id],
  );
  return r;
}

const events = async (tenantId: string) =>
  (await h.sql('SELECT count(*)::int AS n FROM usage_events WHERE tenant_id = $1', [tenantId]))[0].n;

describe('recordUsage with a reservation that cannot be settled', () => {
  it('expired: the usage is recorded and counts, nothing is settled, the answer says EXPIRED (retries too)', async () => {
    h.clock.set(NOON);
    const t = await costTenant('expired');
    const id = await hold(t.adminKey, '5', 60);
    h.clock.set('2026-06-15T12:01:00.001Z');
    const input = { idempotencyKey: 'late', kind: 'CALL', cost: '3', reservationId: id };
    const first = await h.gql(t.adminKey, RECORD, { input });
    expect(first.errors).toBeUndefined();
    expect(first.data.recordUsage).toMatchObject({ outcome: 'CREATED', reservation: 'EXPIRED' });
    expect(await reservationRow(id)).toEqual({ settled: false, released: false, event_id: null });
    expect((await h.ok(t.adminKey, QUOTA)).quotaStatus.items[0]).toEqual({
      used: '3.000000000000',
      reserved: '0.000000000000',
    });
    const retry = await h.ok(t.adminKey, RECORD, { input });
    expect(retry.recordUsage).toEqual({ ...first.data.recordUsage, outcome: 'DUPLICATE' });
    expect(await events(t.id)).toBe(1);
  });

  it('released, already settled by another entry, unknown, malformed: recorded, nothing settled, the answer says why', async () => {
    h.clock.set(NOON);
    const t = await costTenant('not-open');
    const released = await hold(t.adminKey);
    expect((await h.ok(t.adminKey, RELEASE, { id: released })).releaseReservation).toBe(true);
    const settled = await hold(t.adminKey);
    const rec = (input: Record<string, unknown>) =>
      h.ok(t.adminKey, RECORD, { input: { kind: 'CALL', cost: '1', ...input } }).then((d) => d.recordUsage);

    expect(await rec({ idempotencyKey: 'r', reservationId: released })).toMatchObject({
      outcome: 'CREATED',
      reservation: 'RELEASED',
    });
    const settler = await rec({ idempotencyKey: 's1', reservationId: settled });
    expect(settler).toMatchObject({ outcome: 'CREATED', reservation: 'SETTLED' });
    expect(await rec({ idempotencyKey: 's2', reservationId: settled })).toMatchObject({
      outcome: 'CREATED',
      reservation: 'ALREADY_SETTLED',
    });
    // The settling entry's retry still says SETTLED; the reservation points at it, not at s2.
    expect(await rec({ idempotencyKey: 's1', reservationId: settled })).toEqual({ ...settler, outcome: 'DUPLICATE' });
    expect(await reservationRow(settled)).toEqual({ settled: true, released: false, event_id: settler.event.id });
    expect(await rec({ idempotencyKey: 'u', reservationId: randomUUID() })).toMatchObject({
      outcome: 'CREATED',
      reservation: 'UNKNOWN',
    });
    expect(await rec({ idempotencyKey: 'm', reservationId: 'not-a-uuid' })).toMatchObject({
      outcome: 'CREATED',
      reservation: 'UNKNOWN',
    });
    // Without a reservationId there is nothing to say.
    expect(await rec({ idempotencyKey: 'n' })).toMatchObject({ outcome: 'CREATED', reservation: null });
    expect(await events(t.id)).toBe(6);
  });

  it("another tenant's reservation is UNKNOWN: recorded, and the owner's hold stays for the owner to settle", async () => {
    h.clock.set(NOON);
    const a = await costTenant('thief');
    const b = await costTenant('owner');
    const id = await hold(b.adminKey, '2', 600);
    const stolen = await h.ok(a.adminKey, RECORD, {
      input: { idempotencyKey: 'steal', kind: 'CALL', cost: '1', reservationId: id },
    });
    expect(stolen.recordUsage).toMatchObject({ outcome: 'CREATED', reservation: 'UNKNOWN' });
    expect(await reservationRow(id)).toEqual({ settled: false, released: false, event_id: null });
    expect((await h.ok(b.adminKey, QUOTA)).quotaStatus.items[0].reserved).toBe('2.000000000000');
    const own = await h.ok(b.adminKey, RECORD, {
      input: { idempotencyKey: 'own', kind: 'CALL', cost: '1.5', reservationId: id },
    });
    expect(own.recordUsage).toMatchObject({ outcome: 'CREATED', reservation: 'SETTLED' });
  });

  it('recordUsageBatch: every item is written; each says what happened to its reservation', async () => {
    h.clock.set(NOON);
    const t = await costTenant('batch');
    const open = await hold(t.adminKey, '1', 600);
    const twice = await hold(t.adminKey, '1', 600);
    const soon = await hold(t.adminKey, '1', 1);
    h.clock.set('2026-06-15T12:00:02.000Z');
    const d = await h.ok(t.adminKey, BATCH, {
      input: [
        { idempotencyKey: 'b0', kind: 'CALL', cost: '0.5', reservationId: open },
        { idempotencyKey: 'b1', kind: 'CALL', cost: '0.5', reservationId: randomUUID() },
        { idempotencyKey: 'b2', kind: 'CALL', cost: '0.25' },
        { idempotencyKey: 'b3', kind: 'CALL', cost: '0.5', reservationId: soon },
        { idempotencyKey: 'b4', kind: 'CALL', cost: '0.75', reservationId: twice },
        { idempotencyKey: 'b5', kind: 'CALL', cost: '0.75', reservationId: twice },
      ],
    });
    const out = d.recordUsageBatch;
    expect(out.results.map((r: any) => [r.outcome, r.reservation, r.error])).toEqual([
      ['CREATED', 'SETTLED', null],
      ['CREATED', 'UNKNOWN', null],
      ['CREATED', null, null],
      ['CREATED', 'EXPIRED', null],
      ['CREATED', 'SETTLED', null],
      ['CREATED', 'ALREADY_SETTLED', null],
    ]);
    expect({ created: out.created, rejected: out.rejected }).toEqual({ created: 6, rejected: 0 });
    expect((await h.ok(t.adminKey, QUOTA)).quotaStatus.items[0]).toEqual({
      used: '3.250000000000',
      reserved: '0.000000000000',
    });
  });
});
