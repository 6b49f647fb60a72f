// What the credits README (server/src/modules/credits/README.md) promises and no other file
// checked: the burn order at an entry's occurredAt (grants not yet effective then are skipped),
// the reversal of a debit whose grant has expired since, a subject token asking for a wallet
// its subject does not have, and movements that refuse TRUNCATE (the owner by a trigger, the
// runtime role by its grants).
import { describe, expect, it } from 'vitest';
import { reconcileCredits } from '../../server/src/modules/credits/credits.reconcile';
import { OPERATOR_KEY } from '../support/harness';
import { asApp, sqlFailure } from '../support/sql-failure';
import { dec, NOON, World } from '../support/world';
import { credits, refusal, WALLET } from './kit';

const world = await World.forFile('credits-readme-promises');
const c = credits(world);

const remaining = (w: { grants: { id: string; remaining: string }[] }) =>
  Object.fromEntries(w.grants.map((g) => [g.id, g.remaining]));

describe('burn order at the entry’s occurredAt', () => {
  it('skips grants not effective (or expired) at occurredAt, then burns by priority, soonest expiry, oldest', async () => {
    world.clock.set('2026-06-14T12:00:00.000Z');
    const acme = await world.tenant('burn-at').withKey('INGEST');
    const since = '2026-06-01T00:00:00.000Z';
    /** A grant effective since June 1st, of `amount` at `priority`, expiring at `expiresAt` (if given). */
    const grant = (amount: string, priority: number, expiresAt?: string) =>
      c.grant(acme.id, { amount, priority, effectiveAt: since, ...(expiresAt ? { expiresAt } : {}) });
    const old = await grant('1', 2);
    // Effective and unexpired at 10:00 today, expired by noon: spent neither at 10:00 nor now.
    const gone = await grant('50', 0, '2026-06-15T11:30:00.000Z');
    world.clock.set(NOON);
    const young = await grant('1', 2);
    // Priority 0 and in force now, but only since 11:00: not money at 10:00.
    const later = await c.grant(acme.id, { amount: '100', priority: 0, effectiveAt: '2026-06-15T11:00:00.000Z' });
    // Made in the reverse of their burn order (none last, then the later expiry, then the sooner).
    const noExpiry = await grant('1', 1);
    const farExpiry = await grant('1', 1, '2026-07-01T00:00:00.000Z');
    const soonExpiry = await grant('1', 1, '2026-06-20T00:00:00.000Z');
    expect(new Date(old.createdAt).getTime()).toBeLessThan(new Date(young.createdAt).getTime());
    // The grants made at noon already wrote gone's EXPIRY (under the wallet lock, as every writer does).
    const before = await c.movements(acme.id);
    expect(before.filter((m) => m.kind === 'EXPIRY').map((m) => [m.grantId, m.amount])).toEqual([[gone.id, dec(-50)]]);

    const atTen = await acme.record({ cost: '4.5', occurredAt: '2026-06-15T10:00:00.000Z' });
    const afterEleven = await acme.record({ cost: '2', occurredAt: '2026-06-15T11:15:00.000Z' });
    // Another entry at 10:00: what the grants in force then cannot pay goes below zero, even
    // though a grant in force now (but not then) still holds 98.
    const atTenAgain = await acme.record({ cost: '1', occurredAt: '2026-06-15T10:00:00.000Z' });

    const moves = (await c.movements(acme.id)).slice(before.length);
    expect(moves.map((m) => [m.kind, m.grantId, m.amount, m.eventId])).toEqual([
      ['DEBIT', soonExpiry.id, dec(-1), atTen.event.id],
      ['DEBIT', farExpiry.id, dec(-1), atTen.event.id],
      ['DEBIT', noExpiry.id, dec(-1), atTen.event.id],
      ['DEBIT', old.id, dec(-1), atTen.event.id],
      ['DEBIT', young.id, dec('-0.5'), atTen.event.id],
      ['DEBIT', later.id, dec(-2), afterEleven.event.id],
      ['DEBIT', young.id, dec('-0.5'), atTenAgain.event.id],
      ['DEBIT', null, dec('-0.5'), atTenAgain.event.id],
    ]);
    const w = await c.wallet(acme.id);
    expect(w.balance).toBe(dec('97.5'));
    expect(remaining(w)).toEqual({
      [old.id]: dec(0),
      [gone.id]: dec(0),
      [young.id]: dec(0),
      [later.id]: dec(98),
      [noExpiry.id]: dec(0),
      [farExpiry.id]: dec(0),
      [soonExpiry.id]: dec(0),
    });
    expect(await reconcileCredits(world.h.db, acme.id)).toEqual([]);
  });
});

describe('a reversal whose debit came from a grant expired since', () => {
  for (const swept of [false, true]) {
    it(`credits it back to that grant and expires it again at once: the balance keeps what it had${
      swept ? ' (EXPIRY already swept)' : ''
    }`, async () => {
      world.clock.set(NOON);
      const acme = await world.tenant(`reverse-expired-${swept}`).withKey('INGEST');
      const expiring = await c.grant(acme.id, { amount: '3', expiresAt: '2026-06-15T13:00:00.000Z' });
      const lasting = await c.grant(acme.id, { amount: '2', priority: 1 });
      const e = await acme.record({ cost: '6' }); // 3 from expiring, 2 from lasting, 1 uncovered
      world.clock.set('2026-06-15T12:10:00.000Z');
      // Another expiring grant, untouched by the entry: its whole amount leaves at 13:00.
      const unused = await c.grant(acme.id, { amount: '4', expiresAt: '2026-06-15T13:00:00.000Z' });
      expect((await c.wallet(acme.id)).balance).toBe(dec(3));
      world.clock.set('2026-06-15T13:30:00.000Z');
      expect((await c.wallet(acme.id)).balance).toBe(dec(-1));
      if (swept) expect(await world.h.app.services.credits.sweepExpired()).toBeGreaterThanOrEqual(1);
      const before = (await c.movements(acme.id)).length;

      const r = await acme.reverse(e.event.id);
      const rid = r.event.id;

      const moves = (await c.movements(acme.id)).slice(before);
      expect(moves.map((m) => [m.kind, m.grantId, m.amount, m.eventId])).toEqual([
        ...(swept ? [] : [['EXPIRY', unused.id, dec(-4), null]]),
        ['CREDIT_BACK', expiring.id, dec(3), rid],
        ['EXPIRY', expiring.id, dec(-3), rid],
        ['CREDIT_BACK', lasting.id, dec(2), rid],
        ['CREDIT_BACK', null, dec(1), rid],
      ]);
      const w = await c.wallet(acme.id);
      // What the live grant paid and the uncovered part come back; the expired grant's 3 does not.
      expect(w.balance).toBe(dec(2));
      expect(remaining(w)).toEqual({ [expiring.id]: dec(0), [lasting.id]: dec(2), [unused.id]: dec(0) });
      const [cached] = await world.h.sql('SELECT balance::text AS b FROM wallets WHERE tenant_id = $1', [acme.id]);
      expect(cached.b).toBe(dec(2));
      expect(await reconcileCredits(world.h.db, acme.id)).toEqual([]);
    });
  }
});

describe('a subject token and a wallet its subject does not have', () => {
  it("is NOT_FOUND, though the tenant's wallet pays for that subject; another subject's is FORBIDDEN", async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('token-wallets').withKey('INGEST');
    await c.grant(acme.id, { amount: '100' });
    await c.grant(acme.id, { amount: '10', subject: 'alice' });
    // bob has no wallet: the tenant's pays for him.
    await acme.record({ cost: '2', subject: 'bob' });
    expect((await c.wallet(acme.id)).balance).toBe(dec(98));
    const bob = await acme.subjectToken('bob');

    for (const vars of [{}, { tenantId: acme.id }, { tenantId: acme.id, subject: 'bob' }]) {
      const r = await world.h.gql(bob.secret, WALLET, vars);
      expect(refusal(r)).toEqual({ code: 'NOT_FOUND', field: 'subject' });
      expect(r.data?.wallet ?? null).toBeNull();
      expect(JSON.stringify(r)).not.toContain('98.');
    }
    // Naming another subject's wallet (alice has one) is FORBIDDEN, and never answers it.
    const alice = await world.h.gql(bob.secret, WALLET, { tenantId: acme.id, subject: 'alice' });
    expect(refusal(alice)).toEqual({ code: 'FORBIDDEN', field: 'subject' });
    expect(alice.data?.wallet ?? null).toBeNull();
    // The same query as alice's token answers her wallet: the NOT_FOUND is bob's.
    const own = await acme.subjectToken('alice');
    expect((await c.wallet(acme.id, null, own.secret)).balance).toBe(dec(10));
    // And once bob has a wallet of his own, his token sees it.
    await c.grant(acme.id, { amount: '5', subject: 'bob' });
    expect(await c.wallet(acme.id, null, bob.secret)).toMatchObject({ subject: 'bob', balance: dec(5) });
  });
});

describe('wallet_movements refuse TRUNCATE', () => {
  it('to the owner (a trigger, even by cascade) and to the runtime role (no privilege); the movements stay', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('no-truncate').withKey('INGEST');
    await c.grant(acme.id, { amount: '9' });
    await acme.record({ cost: '2.25' });
    const count = () => world.count('wallet_movements', acme.id);
    expect(await count()).toBe(2);

    // The owner: the append-only trigger (restrict_violation), directly or through a cascade.
    for (const text of ['TRUNCATE wallet_movements', 'TRUNCATE wallets CASCADE', 'TRUNCATE credit_grants CASCADE']) {
      const f = await sqlFailure(() => world.h.sql(text));
      expect(f, text).toMatchObject({ code: '23001' });
      expect(f?.message, text).toMatch(/wallet_movements is append-only: TRUNCATE is not allowed/);
    }

    // The runtime role the app runs as (not the owner): no privilege to truncate, update or delete.
    const [me] = await world.h.db.query<{ u: string }>('test:who', 'SELECT current_user AS u');
    const [owner] = await world.h.sql("SELECT tableowner AS o FROM pg_tables WHERE tablename = 'wallet_movements'");
    expect(me?.u).not.toBe(owner.o);
    for (const text of [
      'TRUNCATE wallet_movements',
      'UPDATE wallet_movements SET amount = 0',
      'DELETE FROM wallet_movements',
      'ALTER TABLE wallet_movements DISABLE TRIGGER wallet_movements_no_truncate',
    ]) {
      expect(await sqlFailure(asApp(world.h.db, text)), text).toMatchObject({ code: '42501' });
    }

    expect(await count()).toBe(2);
    expect((await c.wallet(acme.id)).balance).toBe(dec('6.75'));
    expect(await reconcileCredits(world.h.db, acme.id)).toEqual([]);
    // The operator's reads still work as before.
    expect((await world.h.ok(OPERATOR_KEY, WALLET, { tenantId: acme.id })).wallet.balance).toBe(dec('6.75'));
  });
});
