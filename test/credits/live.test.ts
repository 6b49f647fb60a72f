// Live wallets and their once-only crossings: walletUpdated over a real WebSocket (the state
// at once, then after every change, scoped like quotaUpdated); wallet.low_balance and
// wallet.depleted emitted exactly once across two instances, in the transaction that crossed,
// re-armed by a grant. The outbox here is a real table written in the caller's transaction
// (the webhooks module's own outbox is wired by the composition root).
import Decimal from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../server/src/db/database';
import type { WebhookEvent, WebhookOutbox } from '../../server/src/modules/webhooks/ports';
import { createHarness, type Harness, OPERATOR_KEY } from '../support/harness';
import { closeSubscribers, WsSub, wsClient } from '../support/subscribers';
import { until } from '../support/wait';
import { dec, NOON, World } from '../support/world';
import { credits, THRESHOLD } from './kit';

let h: Harness;
let world: World;
let port: number;
let c: ReturnType<typeof credits>;

/** Each emitted event as a row, in the emitting transaction (rolled back with it). */
const tableOutbox: WebhookOutbox = {
  async emit(tx: Sql, events: WebhookEvent[]) {
    for (const e of events)
      await tx.query('test:emit', 'INSERT INTO test_outbox (tenant_id, type, key, data) VALUES ($1, $2, $3, $4)', [
        e.tenantId,
        e.type,
        e.key,
        JSON.stringify(e.data),
      ]);
  },
};

beforeAll(async () => {
  h = await createHarness('credits-live', { poolSize: 20 });
  world = World.on(h);
  c = credits(world);
  port = (await h.listen()).port;
  await h.sql('CREATE TABLE test_outbox (tenant_id uuid, type text, key text UNIQUE, data jsonb)');
  await h.sql('GRANT SELECT, INSERT ON test_outbox TO PUBLIC');
  h.app.services.credits.outbox = tableOutbox;
});
afterAll(async () => {
  await closeSubscribers();
  await world.close();
  await h?.close();
});

const WALLET_UPDATED = `subscription($tenantId: ID, $subject: String) {
  walletUpdated(tenantId: $tenantId, subject: $subject) { tenantId subject balance reserved available lowBalanceSince depletedSince }
}`;

const emitted = async (tenantId: string) =>
  h.sql<{ type: string; data: Record<string, string> }>(
    'SELECT type, data FROM test_outbox WHERE tenant_id = $1 ORDER BY type',
    [tenantId],
  );

describe('walletUpdated', () => {
  it('sends the wallet at once, then after each change; a subject token sees only its own', async () => {
    world.clock.real();
    const acme = await world.tenant('live').withKey('INGEST');
    await c.grant(acme.id, { amount: '10' });
    const reader = await acme.key(['READ']);
    const sub = new WsSub(wsClient(port, reader.secret), WALLET_UPDATED);
    await until(() => sub.data.length >= 1, 'the initial wallet');
    expect(sub.data[0].walletUpdated).toMatchObject({ tenantId: acme.id, subject: null, balance: dec(10) });
    await acme.record({ cost: '2.5' });
    await until(() => sub.data.some((d) => d.walletUpdated.balance === dec('7.5')), 'the wallet after a debit');
    await c.grant(acme.id, { amount: '1' });
    await until(() => sub.data.some((d) => d.walletUpdated.balance === dec('8.5')), 'the wallet after a grant');
    await acme.authorize({ estimate: { cost: '3' }, reserveSeconds: 600 });
    await until(() => sub.data.some((d) => d.walletUpdated.reserved === dec(3)), 'the wallet after a hold');
    sub.dispose();

    await c.grant(acme.id, { amount: '2', subject: 'alice' });
    const token = await acme.subjectToken('alice');
    const own = new WsSub(wsClient(port, token.secret), WALLET_UPDATED);
    await until(() => own.data.length >= 1, "the subject's wallet");
    expect(own.data[0].walletUpdated).toMatchObject({ subject: 'alice', balance: dec(2) });
    own.dispose();
    const other = new WsSub(wsClient(port, token.secret), WALLET_UPDATED, { subject: 'bob' });
    await until(() => other.ended || other.errorCodes.length > 0, 'the refusal');
    expect(other.errorCodes).toContain('FORBIDDEN');
    const none = new WsSub(wsClient(port, OPERATOR_KEY), WALLET_UPDATED, { tenantId: acme.id, subject: 'nobody' });
    await until(() => none.ended || none.errorCodes.length > 0, 'the refusal');
    expect(none.errorCodes).toContain('NOT_FOUND');
  });
});

describe('walletUpdated after an authorization', () => {
  it('pushes the crossing an authorization decided (a grant found expired under its lock), without a hold', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('live-expiry').withKey('INGEST');
    await c.grant(acme.id, { amount: '10', expiresAt: '2026-06-15T12:05:00.000Z' });
    await c.grant(acme.id, { amount: '1' });
    await h.ok(acme.admin.secret, THRESHOLD, { input: { lowBalanceThreshold: '4' } });
    const reader = await acme.key(['READ']);
    const sub = new WsSub(wsClient(port, reader.secret), WALLET_UPDATED);
    await until(() => sub.data.length >= 1, 'the initial wallet');
    expect(sub.data[0].walletUpdated).toMatchObject({ balance: dec(11), lowBalanceSince: null });
    world.clock.set('2026-06-15T12:06:00.000Z');
    expect(await acme.authorize({ estimate: { cost: '0.5' } })).toMatchObject({ allowed: true, reservation: null });
    await until(
      () => sub.data.some((d) => d.walletUpdated.lowBalanceSince === '2026-06-15T12:06:00.000Z'),
      'the wallet after the crossing',
    );
    expect(sub.data.at(-1).walletUpdated).toMatchObject({ balance: dec(1), available: dec(1) });
    expect((await emitted(acme.id)).map((e) => e.type)).toEqual(['wallet.low_balance']);
    sub.dispose();
  });
});

describe('wallet.low_balance and wallet.depleted', () => {
  it('fire exactly once across two instances under concurrent debits, and re-arm after a grant', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('crossings').withKey('INGEST');
    await c.grant(acme.id, { amount: '10' });
    const set = await h.ok(acme.admin.secret, THRESHOLD, { input: { lowBalanceThreshold: '4' } });
    expect(set.setWalletThreshold).toMatchObject({ lowBalanceThreshold: dec(4), lowBalanceSince: null });
    const two = await world.secondInstance();
    two.app.services.credits.outbox = tableOutbox;
    try {
      const viaTwo = two.as(acme.secret);
      await Promise.all(Array.from({ length: 48 }, (_, i) => (i % 2 ? acme : viaTwo).record({ cost: '0.25' })));
      const w = await c.wallet(acme.id);
      expect(w.balance).toBe(dec(-2));
      expect(w.lowBalanceSince).toBe(NOON);
      expect(w.depletedSince).toBe(NOON);
      const events = await emitted(acme.id);
      expect(events.map((e) => e.type)).toEqual(['wallet.depleted', 'wallet.low_balance']);
      const low = events.find((e) => e.type === 'wallet.low_balance');
      expect(low?.data).toMatchObject({
        tenantId: acme.id,
        subject: null,
        currency: 'USD',
        lowBalanceThreshold: dec(4),
      });
      expect(new Decimal(low?.data.available as string).lt(4)).toBe(true);
      // More debits: nothing fires again.
      await acme.record({ cost: '1' });
      expect(await emitted(acme.id)).toHaveLength(2);

      // A grant that lifts available above zero but not to the threshold re-arms only depleted.
      world.clock.set('2026-06-15T12:05:00.000Z');
      await c.grant(acme.id, { amount: '5' });
      expect(await c.wallet(acme.id)).toMatchObject({ available: dec(2), depletedSince: null, lowBalanceSince: NOON });
      await c.grant(acme.id, { amount: '10' });
      expect(await c.wallet(acme.id)).toMatchObject({ available: dec(12), depletedSince: null, lowBalanceSince: null });
      world.clock.set('2026-06-15T12:10:00.000Z');
      await viaTwo.record({ cost: '9' });
      expect((await c.wallet(acme.id)).lowBalanceSince).toBe('2026-06-15T12:10:00.000Z');
      expect((await emitted(acme.id)).map((e) => e.type)).toEqual([
        'wallet.depleted',
        'wallet.low_balance',
        'wallet.low_balance',
      ]);
      // A hold that takes available to zero fires depleted (available counts holds).
      await acme.authorize({ estimate: { cost: '3' }, reserveSeconds: 60 });
      expect((await emitted(acme.id)).filter((e) => e.type === 'wallet.depleted')).toHaveLength(2);
    } finally {
      await two.close();
    }
  });

  it('setWalletThreshold: tenant ADMIN or operator; a READ key may not; no wallet is NOT_FOUND', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('threshold').withKey('INGEST');
    const none = await h.gql(acme.admin.secret, THRESHOLD, { input: { lowBalanceThreshold: '1' } });
    expect(none.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    await c.grant(acme.id, { amount: '3' });
    const read = await acme.key(['READ']);
    expect(
      (await h.gql(read.secret, THRESHOLD, { input: { lowBalanceThreshold: '1' } })).errors?.[0]?.extensions?.code,
    ).toBe('FORBIDDEN');
    expect(
      (await h.gql(acme.admin.secret, THRESHOLD, { input: { lowBalanceThreshold: '-1' } })).errors?.[0]?.extensions,
    ).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'lowBalanceThreshold'] });
    const op = await h.ok(OPERATOR_KEY, THRESHOLD, { input: { tenantId: acme.id, lowBalanceThreshold: '5' } });
    // Set above what is available: it fires at once.
    expect(op.setWalletThreshold.lowBalanceSince).toBe(NOON);
    expect((await emitted(acme.id)).map((e) => e.type)).toEqual(['wallet.low_balance']);
    const cleared = await h.ok(OPERATOR_KEY, THRESHOLD, { input: { tenantId: acme.id, lowBalanceThreshold: null } });
    expect(cleared.setWalletThreshold).toMatchObject({ lowBalanceThreshold: null, lowBalanceSince: null });
  });
});

describe('a grant effective later', () => {
  it('is not money yet: no crossing fires when it is granted, it pays nothing, and it counts once it starts', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('future-grant').withKey('INGEST');
    await c.grant(acme.id, { amount: '50' });
    await h.ok(acme.admin.secret, THRESHOLD, { input: { lowBalanceThreshold: '10' } });
    await c.grant(acme.id, { amount: '100', effectiveAt: '2026-06-16T00:00:00.000Z' });
    expect(await c.wallet(acme.id)).toMatchObject({
      balance: dec(50),
      available: dec(50),
      lowBalanceSince: null,
      depletedSince: null,
    });
    expect(await emitted(acme.id)).toEqual([]);
    // Spending 45 crosses the threshold once, paid from the grant in force only.
    await acme.record({ cost: '45' });
    expect(await c.wallet(acme.id)).toMatchObject({ balance: dec(5), lowBalanceSince: NOON, depletedSince: null });
    expect((await emitted(acme.id)).map((e) => e.type)).toEqual(['wallet.low_balance']);
    world.clock.set('2026-06-16T00:00:00.000Z');
    expect((await c.wallet(acme.id)).balance).toBe(dec(105));
  });
});
