// authorizeUsage gated by money: a cost estimate above the paying wallet's available denies
// with deniedBy null; with reserveSeconds the estimate is held, exactly, across instances;
// holds end when an entry settles the reservation, when it is released, or when it expires;
// quota and the wallet never leave a reservation or a hold for a call the other denied.
import { describe, expect, it } from 'vitest';
import { NO_WALLET_MS } from '../../server/src/modules/credits/credits.service';
import { OPERATOR_KEY } from '../support/harness';
import { nextTurn, sleep } from '../support/wait';
import { dec, NOON, World } from '../support/world';
import { credits } from './kit';

const world = await World.forFile('credits-authorize');
const c = credits(world);

const AUTHORIZE = `mutation($input: AuthorizeUsageInput!) { authorizeUsage(input: $input) {
  allowed deniedBy { limit { id } } reservation { id expiresAt } wallet { subject balance reserved available } } }`;
const RELEASE = 'mutation($id: ID!) { releaseReservation(id: $id) }';

const holds = async (tenantId: string) =>
  (
    await world.h.sql(
      'SELECT count(*)::int AS n, coalesce(sum(amount), 0)::text AS s FROM wallet_holds WHERE tenant_id = $1',
      [tenantId],
    )
  )[0];
const openReservations = async (tenantId: string) =>
  (
    await world.h.sql(
      `SELECT count(*)::int AS n FROM reservations
        WHERE tenant_id = $1 AND settled_at IS NULL AND released_at IS NULL AND expires_at > $2`,
      [tenantId, world.clock.now()],
    )
  )[0].n;

describe('authorizeUsage with a wallet', () => {
  it('200 concurrent authorizations on two instances against a balance that fits exactly 100 admit exactly 100', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('race').withKey('INGEST');
    await c.grant(acme.id, { amount: '10.00' });
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
      for (const p of denied) {
        expect(p.deniedBy).toBeNull();
        expect(p.reservation).toBeNull();
      }
      expect(new Set(allowed.map((p) => p.reservation?.id)).size).toBe(100);
      expect(await holds(acme.id)).toEqual({ n: 100, s: '10.000000000000' });
      // The wallet denied 100: none of their quota reservations remains.
      expect(await openReservations(acme.id)).toBe(100);
      const w = await c.wallet(acme.id);
      expect(w).toMatchObject({ balance: dec(10), reserved: dec(10), available: dec(0) });
      expect((await viaTwo.authorize({ estimate: { cost: '0.000000000001' } })).allowed).toBe(false);
    } finally {
      await two.close();
    }
  });

  it('a check above available denies with deniedBy null and shows the wallet; the subject pays before the tenant', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('check').withKey('INGEST');
    await c.grant(acme.id, { amount: '5' });
    await c.grant(acme.id, { amount: '1', subject: 'alice' });
    const ask = async (input: Record<string, unknown>) =>
      (await world.h.ok(acme.secret, AUTHORIZE, { input })).authorizeUsage;
    expect(await ask({ estimate: { cost: '5' } })).toMatchObject({
      allowed: true,
      wallet: { subject: null, available: dec(5) },
    });
    expect(await ask({ estimate: { cost: '5.000000000001' } })).toMatchObject({
      allowed: false,
      deniedBy: null,
      reservation: null,
      wallet: { subject: null, available: dec(5) },
    });
    expect(await ask({ subject: 'alice', estimate: { cost: '2' } })).toMatchObject({
      allowed: false,
      deniedBy: null,
      wallet: { subject: 'alice', available: dec(1) },
    });
    // bob has no wallet of his own: the tenant's pays.
    expect(await ask({ subject: 'bob', estimate: { cost: '2' } })).toMatchObject({
      allowed: true,
      wallet: { subject: null },
    });
    // A tenant without wallets: no wallet, quota alone decides.
    const plain = await world.tenant('plain').withKey('INGEST');
    expect(
      (await world.h.ok(plain.secret, AUTHORIZE, { input: { estimate: { cost: '99' } } })).authorizeUsage,
    ).toMatchObject({ allowed: true, wallet: null });
  });

  it('a hold ends when an entry settles its reservation, when it is released, or when it expires', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('holds').withKey('INGEST');
    await c.grant(acme.id, { amount: '3' });
    const a = await acme.authorize({ estimate: { cost: '1' }, reserveSeconds: 60 });
    const b = await acme.authorize({ estimate: { cost: '1' }, reserveSeconds: 60 });
    const d = await acme.authorize({ estimate: { cost: '1' }, reserveSeconds: 600 });
    expect((await c.wallet(acme.id)).available).toBe(dec(0));
    await acme.record({ cost: '0.4', reservationId: a.reservation?.id });
    expect(await c.wallet(acme.id)).toMatchObject({ balance: dec('2.6'), reserved: dec(2), available: dec('0.6') });
    await world.h.ok(acme.secret, RELEASE, { id: b.reservation?.id });
    expect(await c.wallet(acme.id)).toMatchObject({ reserved: dec(1), available: dec('1.6') });
    world.clock.set('2026-06-15T12:10:00.001Z');
    expect(await c.wallet(acme.id)).toMatchObject({ reserved: dec(0), available: dec('2.6') });
    expect(d.reservation).not.toBeNull();
    expect((await holds(acme.id)).n).toBe(1); // expired: not counted, deleted by the sweep
    await world.h.app.services.credits.sweepExpired();
    expect((await holds(acme.id)).n).toBe(0);
  });

  it('a release on an instance that just saw the tenant without a wallet still ends the hold', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('release-elsewhere').withKey('INGEST');
    const two = await world.secondInstance();
    try {
      const viaTwo = two.as(acme.secret);
      expect(await viaTwo.authorize({ estimate: { cost: '1' } })).toMatchObject({ allowed: true });
      await c.grant(acme.id, { amount: '3' });
      const held = await acme.authorize({ estimate: { cost: '2' }, reserveSeconds: 600 });
      expect((await holds(acme.id)).n).toBe(1);
      await viaTwo.release(held.reservation?.id as string);
      expect(await holds(acme.id)).toEqual({ n: 0, s: '0' });
      expect(await c.wallet(acme.id)).toMatchObject({ reserved: dec(0), available: dec(3) });
    } finally {
      await two.close();
    }
  });

  it('quota denies: no hold; the wallet denies: no reservation', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('both')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1', action: 'BLOCK' }])
      .withKey('INGEST');
    await c.grant(acme.id, { amount: '100' });
    const byQuota = await acme.authorize({ estimate: { cost: '2' }, reserveSeconds: 600 });
    expect(byQuota.allowed).toBe(false);
    expect(byQuota.deniedBy).not.toBeNull();
    expect((await holds(acme.id)).n).toBe(0);
    // Denied by quota, the payload still shows the wallet that would pay: the subject's, else the tenant's.
    await c.grant(acme.id, { amount: '3', subject: 'alice' });
    const denied = async (input: Record<string, unknown>) =>
      (await world.h.ok(acme.secret, AUTHORIZE, { input: { estimate: { cost: '2' }, ...input } })).authorizeUsage;
    expect(await denied({})).toMatchObject({ allowed: false, wallet: { subject: null, available: dec(100) } });
    expect(await denied({ subject: 'alice' })).toMatchObject({
      allowed: false,
      wallet: { subject: 'alice', available: dec(3) },
    });
    expect(await denied({ subject: 'bob' })).toMatchObject({ allowed: false, wallet: { subject: null } });
    const poor = await world.tenant('poor').withKey('INGEST');
    await c.grant(poor.id, { amount: '1' });
    const byWallet = await poor.authorize({ estimate: { cost: '2' }, reserveSeconds: 600 });
    expect(byWallet).toMatchObject({ allowed: false, deniedBy: null, reservation: null });
    expect(await openReservations(poor.id)).toBe(0);
    expect(await world.count('reservations', poor.id)).toBe(1); // made by quota, released at once
  });

  it('without a cost, the token estimate is priced at the named model, like quote', async () => {
    world.clock.set(NOON);
    await world.h.seed.price({ provider: 'wp', model: 'wallet-model', inputPerMillion: '2', outputPerMillion: '4' });
    const acme = await world.tenant('priced').withKey('INGEST');
    await c.grant(acme.id, { amount: '0.006' });
    const ok = await acme.authorize({
      estimate: { provider: 'wp', model: 'wallet-model', inputTokens: 1000, outputTokens: 1000 },
      reserveSeconds: 60,
    });
    expect(ok.allowed).toBe(true);
    expect((await holds(acme.id)).s).toBe('0.006000000000');
    const no = await acme.authorize({ estimate: { model: 'wallet-model', inputTokens: 1 } });
    expect(no).toMatchObject({ allowed: false, deniedBy: null });
    expect(
      (await world.h.gql(OPERATOR_KEY, AUTHORIZE, { input: { tenantId: acme.id, estimate: { model: 'nope' } } }))
        .errors?.[0]?.extensions,
    ).toMatchObject({ code: 'PRICE_NOT_FOUND', field: ['input', 'estimate', 'model'] });
  });

  it("tenants without credits: concurrent authorizations ask whether a wallet exists once, then trust the 'no' for a second", async () => {
    world.clock.set(NOON);
    const plain = [
      await world.tenant('no-wallet-1').withKey('INGEST'),
      await world.tenant('no-wallet-2').withKey('INGEST'),
    ];
    const funded = await world.tenant('funded').withKey('INGEST');
    await c.grant(funded.id, { amount: '5' });
    const count = () => world.h.db.queryCount();
    const gate = world.h.app.services.credits;
    const ids = [...plain, funded].map((t) => t.id);
    const before = count();
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => gate.hasWallet(ids[i % 3] as string)));
    expect(answers).toEqual(Array.from({ length: 30 }, (_, i) => i % 3 === 2));
    // One statement for both unknown tenants and all their callers (the funded one is known
    // from its grant on this instance).
    expect(count() - before).toBe(1);
    expect(await Promise.all(plain.map((t) => gate.hasWallet(t.id)))).toEqual([false, false]);
    expect(count() - before).toBe(1);
  });

  it("busy tenants without credits fall due together (one statement a second for all), and a 'no' asked early sees a wallet made elsewhere", async () => {
    world.clock.set(NOON);
    const a = await world.tenant('due-a').withKey('INGEST');
    const b = await world.tenant('due-b').withKey('INGEST');
    const gate = world.h.app.services.credits;
    // Only the wallet question: other tests' leases are given back by a timer meanwhile.
    const count = () => world.h.db.queryCount('credits:tenantsWithWallets');
    const before = count();
    expect(await gate.hasWallet(a.id)).toBe(false);
    await sleep(NO_WALLET_MS * 0.6);
    expect(await gate.hasWallet(a.id)).toBe(false); // remembered: no statement
    expect(count() - before).toBe(1);
    // b's first question takes a along: a is busy and its "no" runs out within half a second.
    expect(await gate.hasWallet(b.id)).toBe(false);
    expect(count() - before).toBe(2);
    expect(await gate.hasWallet(a.id)).toBe(false);
    expect(await gate.hasWallet(b.id)).toBe(false);
    expect(count() - before).toBe(2);
    // Another instance gives b a wallet; this one learns it when the "no"s (read together) run out.
    const two = await world.secondInstance();
    try {
      await two.as(OPERATOR_KEY).client.grantCredits({ tenantId: b.id, idempotencyKey: 'due-b-1', amount: '1' });
    } finally {
      await two.close();
    }
    expect(await gate.hasWallet(b.id)).toBe(false);
    await sleep(NO_WALLET_MS * 1.05);
    const due = count();
    // a's question carries b's: one statement for both, shared by b's caller while it is out,
    // and b's answer is the new wallet.
    const forA = gate.hasWallet(a.id);
    await nextTurn();
    const forB = gate.hasWallet(b.id);
    expect([await forA, await forB]).toEqual([false, true]);
    expect(count() - due).toBe(1);
  });
});
