// Prepaid credits: grants (idempotent, validated), the wallet as read, debits in the ledger's
// transaction in burn order, below zero exactly, subject wallets before the tenant's,
// reversals credited back, voids, expiry, the append-only movements and reconcile.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { rebuildCredits, reconcileCredits } from '../../server/src/modules/credits/credits.reconcile';
import { OPERATOR_KEY } from '../support/harness';
import { dec, NOON, World } from '../support/world';
import { credits, GRANT, key, refusal, VOID, WALLET } from './kit';

const world = await World.forFile('credits-wallets');
const run = promisify(execFile);

async function reconcileCli(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run('npx', ['tsx', 'server/src/scripts/reconcile.ts', ...args], {
      env: { ...process.env, DATABASE_URL: world.h.url },
    });
    return { code: 0, out: stdout };
  } catch (e) {
    const err = e as { code: number; stdout: string };
    return { code: err.code, out: err.stdout };
  }
}
const c = credits(world);

describe('grantCredits and the wallet', () => {
  it('a wallet exists once credits were granted; grants are idempotent; bad input is refused by field', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('grants').withKey('INGEST');
    expect(refusal(await world.h.gql(OPERATOR_KEY, WALLET, { tenantId: acme.id }))).toMatchObject({
      code: 'NOT_FOUND',
    });
    const k = key();
    const input = { tenantId: acme.id, amount: '10.5', idempotencyKey: k, reason: 'welcome' };
    const first = (await world.h.ok(OPERATOR_KEY, GRANT, { input })).grantCredits;
    const again = (await world.h.ok(OPERATOR_KEY, GRANT, { input })).grantCredits;
    expect(again.id).toBe(first.id);
    expect(first).toMatchObject({ amount: dec('10.5'), remaining: dec('10.5'), priority: 0, reason: 'welcome' });
    expect(refusal(await world.h.gql(OPERATOR_KEY, GRANT, { input: { ...input, amount: '11' } }))).toEqual({
      code: 'IDEMPOTENCY_CONFLICT',
      field: 'input.idempotencyKey',
    });
    const w = await c.wallet(acme.id);
    expect(w).toMatchObject({
      subject: null,
      currency: 'USD',
      balance: dec('10.5'),
      reserved: dec(0),
      available: dec('10.5'),
    });
    // Twenty racing retries of one key: one grant.
    const k2 = key();
    const racing = await Promise.all(
      Array.from({ length: 20 }, () =>
        world.h.ok(OPERATOR_KEY, GRANT, { input: { tenantId: acme.id, amount: '1', idempotencyKey: k2 } }),
      ),
    );
    expect(new Set(racing.map((r) => r.grantCredits.id)).size).toBe(1);
    expect((await c.wallet(acme.id)).balance).toBe(dec('11.5'));

    const bad = async (g: Record<string, unknown>) => refusal(await c.grantRaw(acme.id, g as never));
    expect(await bad({ amount: '5', currency: 'EUR' })).toEqual({ code: 'BAD_USER_INPUT', field: 'input.currency' });
    expect(await bad({ amount: '0' })).toEqual({ code: 'BAD_USER_INPUT', field: 'input.amount' });
    expect(await bad({ amount: '-1' })).toEqual({ code: 'BAD_USER_INPUT', field: 'input.amount' });
    expect((await bad({ amount: '1'.repeat(40) })).code).toBe('BAD_USER_INPUT');
    expect((await bad({ amount: '1.0000000000001' })).code).toBe('BAD_USER_INPUT');
    expect((await bad({ amount: '1', expiresAt: '0000-01-01T00:00:00Z' })).code).toBe('BAD_USER_INPUT');
    expect(await bad({ amount: '1', effectiveAt: '2026-07-01T00:00:00Z', expiresAt: '2026-06-30T00:00:00Z' })).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.expiresAt',
    });
    expect(await bad({ amount: '1', reason: 'x'.repeat(1_000_000) })).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.reason',
    });
    expect(await bad({ amount: '1', subject: '' })).toEqual({ code: 'BAD_USER_INPUT', field: 'input.subject' });
    expect(await bad({ amount: '1', idempotencyKey: 'k'.repeat(300) })).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.idempotencyKey',
    });
    expect(
      (await c.grantRaw('00000000-0000-4000-8000-000000000000', { amount: '1' })).errors?.[0]?.extensions?.code,
    ).toBe('NOT_FOUND');
    // Only the operator grants; a tenant's own key may not.
    expect((await c.grantRaw(acme.id, { amount: '1' }, acme.admin.secret)).errors?.[0]?.extensions?.code).toBe(
      'FORBIDDEN',
    );
    // Hostile arguments of the wallet query: a 1 MB subject, another tenant's id.
    const huge = await world.h.gql(OPERATOR_KEY, WALLET, { tenantId: acme.id, subject: 'x'.repeat(1_000_000) });
    expect(refusal(huge)).toEqual({ code: 'BAD_USER_INPUT', field: 'subject' });
    const other = await world.tenant('grants-other').withKey('READ');
    expect(refusal(await world.h.gql(other.secret, WALLET, { tenantId: acme.id })).code).toBe('FORBIDDEN');
    expect(refusal(await world.h.gql(OPERATOR_KEY, WALLET, { tenantId: 'nope' })).code).toBe('NOT_FOUND');
    // Nothing half-written: still the two grants.
    expect(await world.count('credit_grants', acme.id)).toBe(2);
    // Racing one key with different subjects: one grant, the others IDEMPOTENCY_CONFLICT, and
    // no wallet left behind for a subject whose grant was refused.
    const k3 = key();
    const subjects = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        world.h.gql(OPERATOR_KEY, GRANT, {
          input: { tenantId: acme.id, amount: '1', subject: `racer-${i}`, idempotencyKey: k3 },
        }),
      ),
    );
    expect(subjects.filter((r) => r.errors).map((r) => refusal(r).code)).toEqual(
      Array(19).fill('IDEMPOTENCY_CONFLICT'),
    );
    expect(
      await world.h.sql("SELECT count(*)::int AS n FROM wallets WHERE tenant_id = $1 AND subject LIKE 'racer-%'", [
        acme.id,
      ]),
    ).toEqual([{ n: 1 }]);
  });

  it('debits each created entry in burn order, then below zero exactly; the wallet row and caches stay exact', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('burn').withKey('INGEST');
    const late = await c.grant(acme.id, { amount: '10', priority: 1 });
    const soon = await c.grant(acme.id, { amount: '5', expiresAt: '2026-06-20T00:00:00Z' });
    const never = await c.grant(acme.id, { amount: '5' });
    const first = await acme.record({ cost: '7' });
    const w1 = await c.wallet(acme.id);
    expect(w1.balance).toBe(dec(13));
    const rem = (w: { grants: { id: string; remaining: string }[] }) =>
      Object.fromEntries(w.grants.map((g) => [g.id, g.remaining]));
    expect(rem(w1)).toEqual({ [late.id]: dec(10), [soon.id]: dec(0), [never.id]: dec(3) });
    await acme.record({ cost: '20.000000000001' });
    const w2 = await c.wallet(acme.id);
    expect(w2.balance).toBe(dec('-7.000000000001'));
    expect(rem(w2)).toEqual({ [late.id]: dec(0), [soon.id]: dec(0), [never.id]: dec(0) });
    const moves = await c.movements(acme.id);
    expect(moves.filter((m) => m.kind === 'DEBIT').map((m) => [m.grantId, m.amount])).toEqual([
      [soon.id, '-5.000000000000'],
      [never.id, '-2.000000000000'],
      [never.id, '-3.000000000000'],
      [late.id, '-10.000000000000'],
      [null, '-7.000000000001'],
    ]);
    expect(moves[3]?.eventId).toBe(first.event.id);
    expect(await reconcileCredits(world.h.db, acme.id)).toEqual([]);
    // A new grant lifts the balance; the debt stays recorded as it was.
    await c.grant(acme.id, { amount: '10' });
    expect((await c.wallet(acme.id)).balance).toBe(dec('2.999999999999'));
  });

  it("a subject's wallet pays for its subject; others are paid by the tenant's; none: no debit", async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('subjects').withKey('INGEST');
    await c.grant(acme.id, { amount: '100' });
    await c.grant(acme.id, { amount: '10', subject: 'alice' });
    await acme.recordBatch([
      { cost: '1', subject: 'alice' },
      { cost: '2', subject: 'bob' },
      { cost: '3' },
      { cost: '4', subject: 'alice' },
    ]);
    expect((await c.wallet(acme.id, 'alice')).balance).toBe(dec(5));
    expect((await c.wallet(acme.id)).balance).toBe(dec(95));
    // A subject token reads its own wallet only; a READ key its tenant's.
    const token = await acme.subjectToken('alice');
    expect((await c.wallet(acme.id, null, token.secret)).subject).toBe('alice');
    const read = await acme.key(['READ']);
    expect((await c.wallet(acme.id, 'alice', read.secret)).balance).toBe(dec(5));
    const other = await world.tenant('stranger').withKey('READ');
    expect(refusal(await world.h.gql(other.secret, WALLET, { tenantId: acme.id }))).toMatchObject({
      code: 'FORBIDDEN',
    });
    // A tenant without wallets is not debited and has none.
    const plain = await world.tenant('plain').withKey('INGEST');
    await plain.record({ cost: '5' });
    expect(await world.count('wallet_movements', plain.id)).toBe(0);
  });

  it('a batch of entries paid by one wallet writes its row once, not once per entry', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('one-write').withKey('INGEST');
    await c.grant(acme.id, { amount: '100' });
    // Every UPDATE of a wallet row, counted by a trigger of this test's own database.
    await world.h.sql('CREATE TABLE test_wallet_writes (wallet_id uuid)');
    await world.h.sql('GRANT SELECT, INSERT ON test_wallet_writes TO PUBLIC');
    await world.h.sql(`CREATE FUNCTION test_count_wallet_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO test_wallet_writes VALUES (NEW.id); RETURN NEW; END $$`);
    await world.h.sql(
      'CREATE TRIGGER test_wallet_writes AFTER UPDATE ON wallets FOR EACH ROW EXECUTE FUNCTION test_count_wallet_write()',
    );
    try {
      await acme.recordBatch(Array.from({ length: 50 }, () => ({ cost: '0.5' })));
    } finally {
      await world.h.sql('DROP TRIGGER test_wallet_writes ON wallets');
    }
    expect((await c.wallet(acme.id)).balance).toBe(dec(75));
    expect(await world.count('wallet_movements', acme.id)).toBe(51);
    expect(await world.h.sql('SELECT count(*)::int AS n FROM test_wallet_writes')).toEqual([{ n: 1 }]);
  });

  it('a first grant made on one instance is paid from by the next write on another that wrote without it', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('late-grant').withKey('INGEST');
    const two = await world.secondInstance();
    try {
      const viaTwo = two.as(acme.secret);
      // Instance two sees this tenant without a wallet first (nothing it may remember).
      await viaTwo.record({ cost: '1' });
      await viaTwo.record({ cost: '1', subject: 'alice' });
      expect(await world.count('wallet_movements', acme.id)).toBe(0);
      await c.grant(acme.id, { amount: '10' });
      await viaTwo.record({ cost: '2', subject: 'alice' });
      expect((await c.wallet(acme.id)).balance).toBe(dec(8));
      // A subject's first grant too: its next entry is paid by it, no longer by the tenant's.
      await c.grant(acme.id, { amount: '5', subject: 'alice' });
      await viaTwo.record({ cost: '3', subject: 'alice' });
      expect((await c.wallet(acme.id, 'alice')).balance).toBe(dec(2));
      expect((await c.wallet(acme.id)).balance).toBe(dec(8));
      expect((await c.movements(acme.id)).map((m) => [m.kind, m.subject, m.amount])).toEqual([
        ['GRANT', null, dec(10)],
        ['DEBIT', null, dec(-2)],
        ['GRANT', 'alice', dec(5)],
        ['DEBIT', 'alice', dec(-3)],
      ]);
    } finally {
      await two.close();
    }
  });

  it('a reversal credits back exactly what its entry debited, to the grants that paid it', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('reversal').withKey('INGEST');
    const a = await c.grant(acme.id, { amount: '3' });
    const b = await c.grant(acme.id, { amount: '2', priority: 5 });
    const e = await acme.record({ cost: '6.5' });
    expect((await c.wallet(acme.id)).balance).toBe(dec('-1.5'));
    await acme.reverse(e.event.id);
    const w = await c.wallet(acme.id);
    expect(w.balance).toBe(dec(5));
    const byId = Object.fromEntries(w.grants.map((g: { id: string; remaining: string }) => [g.id, g.remaining]));
    expect(byId).toEqual({ [a.id]: dec(3), [b.id]: dec(2) });
    const backs = (await c.movements(acme.id)).filter((m) => m.kind === 'CREDIT_BACK');
    expect(backs.map((m) => [m.grantId, m.amount])).toEqual([
      [a.id, '3.000000000000'],
      [b.id, '2.000000000000'],
      [null, '1.500000000000'],
    ]);
    // A grant voided since: its part comes back and leaves again; the balance keeps what it had.
    const e2 = await acme.record({ cost: '1' });
    const voided = (await world.h.ok(OPERATOR_KEY, VOID, { id: a.id })).voidCreditGrant;
    expect(voided).toMatchObject({ remaining: dec(0) });
    expect((await c.wallet(acme.id)).balance).toBe(dec(2));
    await acme.reverse(e2.event.id);
    expect((await c.wallet(acme.id)).balance).toBe(dec(2));
    expect(await reconcileCredits(world.h.db, acme.id)).toEqual([]);
  });

  it('void takes the remainder out once; expired grants never count, and leave by an EXPIRY movement', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('expiry').withKey('INGEST');
    const g = await c.grant(acme.id, { amount: '4', expiresAt: '2026-06-15T13:00:00Z' });
    const keep = await c.grant(acme.id, { amount: '1' });
    await acme.record({ cost: '1' });
    expect((await c.wallet(acme.id)).balance).toBe(dec(4));
    world.clock.set('2026-06-15T13:00:00Z');
    // Read before anything wrote the EXPIRY: not counted.
    expect((await c.wallet(acme.id)).balance).toBe(dec(1));
    expect((await c.movements(acme.id)).some((m) => m.kind === 'EXPIRY')).toBe(false);
    await acme.record({ cost: '0.5' });
    const w = await c.wallet(acme.id);
    expect(w.balance).toBe(dec('0.5'));
    const moves = await c.movements(acme.id);
    expect(moves.filter((m) => m.kind === 'EXPIRY').map((m) => [m.grantId, m.amount])).toEqual([
      [g.id, '-3.000000000000'],
    ]);
    expect(moves.at(-1)).toMatchObject({ kind: 'DEBIT', grantId: keep.id, amount: '-0.500000000000' });
    // A sweep on another wallet finds nothing left to expire here.
    expect(await world.h.app.services.credits.sweepExpired()).toBe(0);
    const v1 = (await world.h.ok(OPERATOR_KEY, VOID, { id: keep.id })).voidCreditGrant;
    const v2 = (await world.h.ok(OPERATOR_KEY, VOID, { id: keep.id })).voidCreditGrant;
    expect(v2.voidedAt).toBe(v1.voidedAt);
    expect((await c.wallet(acme.id)).balance).toBe(dec(0));
    expect((await c.movements(acme.id)).filter((m) => m.kind === 'VOID')).toHaveLength(1);
    expect(refusal(await world.h.gql(OPERATOR_KEY, VOID, { id: 'nope' }))).toMatchObject({ code: 'NOT_FOUND' });
    expect(refusal(await world.h.gql(acme.admin.secret, VOID, { id: keep.id }))).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('the sweep writes the EXPIRY of wallets nobody touched, several in one transaction', async () => {
    world.clock.set(NOON);
    const tenants = [await world.tenant('sweep').withKey('INGEST'), await world.tenant('sweep-2').withKey('INGEST')];
    for (const t of tenants) {
      await c.grant(t.id, { amount: '4', expiresAt: '2026-06-15T12:30:00Z' });
      await c.grant(t.id, { subject: 'ann', amount: '2', expiresAt: '2026-06-15T12:30:00Z' });
    }
    world.clock.set('2026-06-15T12:31:00Z');
    expect(await world.h.app.services.credits.sweepExpired()).toBeGreaterThanOrEqual(4);
    for (const t of tenants) {
      const moves = await c.movements(t.id);
      expect(moves.map((m) => [m.subject, m.kind, m.amount]).sort()).toEqual(
        [
          [null, 'GRANT', '4.000000000000'],
          [null, 'EXPIRY', '-4.000000000000'],
          ['ann', 'GRANT', '2.000000000000'],
          ['ann', 'EXPIRY', '-2.000000000000'],
        ].sort(),
      );
      expect(await reconcileCredits(world.h.db, t.id)).toEqual([]);
    }
    // Swept once: nothing is left to expire.
    const before = (await c.movements(tenants[0]?.id as string)).length;
    await world.h.app.services.credits.sweepExpired();
    expect(await c.movements(tenants[0]?.id as string)).toHaveLength(before);
  });

  it('movements are append-only in the database; reconcile finds a corrupted cache and rebuild restores it', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('reconcile').withKey('INGEST');
    const g = await c.grant(acme.id, { amount: '9' });
    await acme.record({ cost: '2.25' });
    await expect(world.h.sql('UPDATE wallet_movements SET amount = 0 WHERE tenant_id = $1', [acme.id])).rejects.toThrow(
      /append-only/,
    );
    await expect(world.h.sql('DELETE FROM wallet_movements WHERE tenant_id = $1', [acme.id])).rejects.toThrow(
      /append-only/,
    );
    await world.h.sql('UPDATE wallets SET balance = balance + 0.000000000001 WHERE tenant_id = $1', [acme.id]);
    await world.h.sql('UPDATE credit_grants SET remaining = 1 WHERE id = $1', [g.id]);
    const diffs = await reconcileCredits(world.h.db, acme.id);
    expect(diffs.map((d) => [d.table, d.value])).toEqual([
      ['credit_grants', ['6.750000000000', '1.000000000000']],
      ['wallets', ['6.750000000000', '6.750000000001']],
    ]);
    // The operator's command finds them (exit 1) and --rebuild restores them from the movements.
    const found = await reconcileCli(['--tenant', acme.id]);
    expect(found.code).toBe(1);
    expect(found.out).toContain(
      `DIFF credit_grants tenant=${acme.id} id=${g.id}: movements 6.750000000000 cached 1.000000000000`,
    );
    expect(found.out).toContain('reconcile: 2 difference(s)');
    const fixed = await reconcileCli(['--tenant', acme.id, '--rebuild']);
    expect(fixed.out).toContain('reconcile: rebuilt 2 wallet and grant row(s) from their movements');
    expect(fixed.code).toBe(0);
    expect(await reconcileCredits(world.h.db, acme.id)).toEqual([]);
    expect(await rebuildCredits(await world.h.ownerDb(), acme.id)).toBe(0);
    expect((await c.wallet(acme.id)).balance).toBe(dec('6.75'));
  });
});
