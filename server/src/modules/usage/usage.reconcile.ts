// Reconcile: recompute each rollup level from the ledger and report every difference;
// rebuild replaces the rollups with the recomputation. The rebuild locks the rollup tables
// against writers for its duration, so no usage recorded meanwhile is lost or counted twice
// (recording writes ledger and rollups in one transaction, so it simply waits).
// The statements are in usage.store.ts (levelDifferences, rebuildLevel).
import type { Database, Sql } from '../../db/database';
import { ROLLUP_MEASURES } from './usage.columns';
import { levelDifferences, ROLLUP_LEVELS, rebuildLevel } from './usage.store';

const MEASURES = ROLLUP_MEASURES;

export interface Difference {
  /** The rollup table that differs. */
  table: string;
  key: Record<string, string | null>;
  /** measure -> [from the ledger, in the rollups] */
  measures: Record<string, [string | null, string | null]>;
}

export async function reconcile(sql: Sql, tenantId: string | null): Promise<Difference[]> {
  const out: Difference[] = [];
  for (const level of ROLLUP_LEVELS) {
    const { table, key } = level;
    const rows = await levelDifferences(sql, level, tenantId);
    for (const row of rows)
      out.push({
        table,
        key: Object.fromEntries(key.map((k) => [k, row[k] ?? null])),
        measures: Object.fromEntries(
          MEASURES.filter((m) => row[`l_${m}`] !== row[`r_${m}`]).map((m) => [
            m,
            [row[`l_${m}`] ?? null, row[`r_${m}`] ?? null],
          ]),
        ),
      });
  }
  return out;
}

export async function rebuild(db: Database, tenantId: string | null): Promise<number> {
  return db.transaction('reconcile:rebuild', async (tx) => {
    let n = 0;
    for (const level of ROLLUP_LEVELS) n += await rebuildLevel(tx, level, tenantId);
    return n;
  });
}
