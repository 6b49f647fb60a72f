// Everything that moves money at once, on two instances: recordings (subject and tenant
// wallets), reversals, authorizations with holds, grants and voids race; afterwards every
// cache equals its movements, and the debits net of credit-backs equal the ledger's cost.
import { describe, expect, it } from 'vitest';
import { reconcileCredits } from '../../server/src/modules/credits/credits.reconcile';
import { OPERATOR_KEY } from '../support/harness';
import { NOON, World } from '../support/world';
import { credits, VOID } from './kit';

const world = await World.forFile('credits-concurrency');
const c = credits(world);

describe('money under concurrency', () => {
  it('records, reversals, holds, grants and voids racing on two instances leave every wallet exact', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('race-all').withKey('INGEST');
    await c.grant(acme.id, { amount: '50' });
    const voidable = await c.grant(acme.id, { amount: '7', priority: -1 });
    for (const s of ['u0', 'u1', 'u2']) await c.grant(acme.id, { amount: '3', subject: s });
    const two = await world.secondInstance();
    try {
      const viaTwo = two.as(acme.secret);
      const first = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          (i % 2 ? acme : viaTwo).record({ cost: `0.${(i % 9) + 1}`, subject: `u${i % 6}` }),
        ),
      );
      const ops: Promise<unknown>[] = [
        ...first.slice(0, 15).map((r, i) => (i % 2 ? acme : viaTwo).reverse(r.event.id)),
        ...Array.from({ length: 40 }, (_, i) =>
          (i % 2 ? acme : viaTwo).record({ cost: '0.125', subject: `u${i % 4}` }),
        ),
        ...Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? acme : viaTwo).authorize({ estimate: { cost: '0.5' }, reserveSeconds: 600, subject: `u${i % 5}` }),
        ),
        c.grant(acme.id, { amount: '2', subject: 'u3' }),
        c.grant(acme.id, { amount: '1.5' }),
        world.h.ok(OPERATOR_KEY, VOID, { id: voidable.id }),
      ];
      await Promise.all(ops);
    } finally {
      await two.close();
    }
    expect(await reconcileCredits(world.h.db, acme.id)).toEqual([]);
    const [sums] = await world.h.sql(
      `SELECT (SELECT coalesce(sum(amount), 0) FROM wallet_movements
                WHERE tenant_id = $1 AND kind IN ('DEBIT', 'CREDIT_BACK'))::text AS moved,
              (SELECT -sum(cost) FROM usage_events WHERE tenant_id = $1)::text AS used,
              (SELECT count(*) FROM wallet_holds WHERE tenant_id = $1)::int AS holds`,
      [acme.id],
    );
    // What the ledger says was used, reversals included, is exactly what the wallets paid (a
    // credit-back to the grant voided meanwhile leaves again by a VOID, not counted here).
    expect(sums.moved).toBe(sums.used);
    expect(sums.holds).toBeGreaterThan(0);
  });
});
