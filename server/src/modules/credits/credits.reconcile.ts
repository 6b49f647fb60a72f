// Reconcile for credits: each wallet's cached balance and each grant's cached remaining must
// equal the sum of their movements, to the last decimal. rebuild() rewrites the caches from
// the movements, under the wallets' row locks (taken in id order, as every writer takes them),
// so a debit committed meanwhile is neither lost nor counted twice. The statements are in
// credits.reconcile-store.ts.
import type { Database, Sql } from '../../db/database';
import { cacheDifferences, rebuildCaches } from './credits.reconcile-store';

export interface CreditDifference {
  table: 'wallets' | 'credit_grants';
  id: string;
  tenantId: string;
  /** [sum of movements, cached] */
  value: [string, string];
}

export async function reconcileCredits(sql: Sql, tenantId: string | null): Promise<CreditDifference[]> {
  const rows = await cacheDifferences(sql, tenantId);
  return rows.map((r) => ({ table: r.table, id: r.id, tenantId: r.tenantId, value: [r.movements, r.cached] }));
}

/** Rewrites every cached balance and remaining from the movements; answers how many rows changed. */
export function rebuildCredits(db: Database, tenantId: string | null): Promise<number> {
  return db.transaction('reconcile:rebuildCredits', (tx) => rebuildCaches(tx, tenantId));
}
