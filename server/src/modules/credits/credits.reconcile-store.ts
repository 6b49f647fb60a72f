// The reconcile statements of the credits module (credits.reconcile.ts holds the rules): cached
// balances and remainders against the sums of their movements, and their rebuild.
import type { Sql } from '../../db/database';

const WALLET_DIFFS = `
  SELECT 'wallets' AS "table", w.id, w.tenant_id AS "tenantId", coalesce(m.s, 0)::text AS movements, w.balance::text AS cached
    FROM wallets w
    LEFT JOIN (SELECT wallet_id, sum(amount) AS s FROM wallet_movements GROUP BY wallet_id) m ON m.wallet_id = w.id
   WHERE ($1::uuid IS NULL OR w.tenant_id = $1) AND w.balance <> coalesce(m.s, 0)`;
const GRANT_DIFFS = `
  SELECT 'credit_grants' AS "table", g.id, g.tenant_id AS "tenantId", coalesce(m.s, 0)::text AS movements, g.remaining::text AS cached
    FROM credit_grants g
    LEFT JOIN (SELECT grant_id, sum(amount) AS s FROM wallet_movements WHERE grant_id IS NOT NULL GROUP BY grant_id) m
      ON m.grant_id = g.id
   WHERE ($1::uuid IS NULL OR g.tenant_id = $1) AND g.remaining <> coalesce(m.s, 0)`;

export async function cacheDifferences(sql: Sql, tenantId: string | null) {
  return sql.query<{
    table: 'wallets' | 'credit_grants';
    id: string;
    tenantId: string;
    movements: string;
    cached: string;
  }>('reconcile:credits', `${WALLET_DIFFS} UNION ALL ${GRANT_DIFFS} ORDER BY 1, 2`, [tenantId]);
}

/** In the caller's transaction: every cached balance and remaining from the movements; answers the rows changed. */
export async function rebuildCaches(tx: Sql, tenantId: string | null): Promise<number> {
  await tx.query(
    'reconcile:lockWallets',
    'SELECT id FROM wallets WHERE ($1::uuid IS NULL OR tenant_id = $1) ORDER BY id FOR UPDATE',
    [tenantId],
  );
  const grants = await tx.query(
    'reconcile:rebuildGrants',
    `UPDATE credit_grants g SET remaining = coalesce(m.s, 0)
         FROM credit_grants g2
         LEFT JOIN (SELECT grant_id, sum(amount) AS s FROM wallet_movements WHERE grant_id IS NOT NULL GROUP BY grant_id) m
           ON m.grant_id = g2.id
        WHERE g.id = g2.id AND ($1::uuid IS NULL OR g.tenant_id = $1) AND g.remaining <> coalesce(m.s, 0)
        RETURNING g.id`,
    [tenantId],
  );
  const wallets = await tx.query(
    'reconcile:rebuildWallets',
    `UPDATE wallets w SET balance = coalesce(m.s, 0)
         FROM wallets w2
         LEFT JOIN (SELECT wallet_id, sum(amount) AS s FROM wallet_movements GROUP BY wallet_id) m ON m.wallet_id = w2.id
        WHERE w.id = w2.id AND ($1::uuid IS NULL OR w.tenant_id = $1) AND w.balance <> coalesce(m.s, 0)
        RETURNING w.id`,
    [tenantId],
  );
  return grants.length + wallets.length;
}
