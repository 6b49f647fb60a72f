// Reconcile: recompute each rollup level from the ledger and report every difference;
// rebuild replaces the rollups with the recomputation. The rebuild locks the rollup tables
// against writers for its duration, so no usage recorded meanwhile is lost or counted twice
// (recording writes ledger and rollups in one transaction, so it simply waits).
import type { Database, Sql } from '../../db/database';
import { LEDGER_MEASURES_SQL, ROLLUP_MEASURES } from './usage.columns';
import { ROLLUP_LEVELS, rollupKeySql, rollupSource } from './usage.writer';

const MEASURES = ROLLUP_MEASURES;

export interface Difference {
  /** The rollup table that differs. */
  table: string;
  key: Record<string, string | null>;
  /** measure -> [from the ledger, in the rollups] */
  measures: Record<string, [string | null, string | null]>;
}

const ledgerRollupSql = (key: readonly string[]) => `
  SELECT ${key.map((c) => `${rollupKeySql(c)} AS ${c}`).join(', ')}, ${LEDGER_MEASURES_SQL}
    FROM ${rollupSource('usage_events', key)} WHERE ($1::uuid IS NULL OR e.tenant_id = $1)
   GROUP BY ${key.map((_, i) => i + 1).join(', ')}`;

export async function reconcile(sql: Sql, tenantId: string | null): Promise<Difference[]> {
  const out: Difference[] = [];
  for (const { table, key } of ROLLUP_LEVELS) {
    const rows = await sql.query<Record<string, string | null>>(
      'reconcile:compare',
      // The join key is the row's text form: hashable, and it keeps NULL and '' apart.
      `WITH l AS (SELECT x.*, ROW(${key.map((k) => `x.${k}`).join(', ')})::text AS k FROM (${ledgerRollupSql(key)}) x),
            r AS (SELECT x.*, ROW(${key.map((k) => `x.${k}`).join(', ')})::text AS k FROM ${table} x WHERE ($1::uuid IS NULL OR x.tenant_id = $1))
       SELECT ${key.map((k) => `coalesce(l.${k}, r.${k})::text AS ${k}`).join(', ')},
              ${MEASURES.map((m) => `l.${m}::text AS "l_${m}", r.${m}::text AS "r_${m}"`).join(', ')}
         FROM l FULL JOIN r ON l.k = r.k
        WHERE l.tenant_id IS NULL OR r.tenant_id IS NULL
           OR (${MEASURES.map((m) => `l.${m}`).join(', ')}) IS DISTINCT FROM (${MEASURES.map((m) => `r.${m}`).join(', ')})
        ORDER BY 1, 2`,
      [tenantId],
    );
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
    for (const { table, key } of ROLLUP_LEVELS) {
      await tx.query('reconcile:lock', `LOCK TABLE ${table} IN SHARE ROW EXCLUSIVE MODE`);
      await tx.query('reconcile:delete', `DELETE FROM ${table} WHERE ($1::uuid IS NULL OR tenant_id = $1)`, [tenantId]);
      const rows = await tx.query(
        'reconcile:insert',
        `INSERT INTO ${table} (${key.join(', ')}, ${MEASURES.join(', ')}) ${ledgerRollupSql(key)} RETURNING 1`,
        [tenantId],
      );
      n += rows.length;
    }
    return n;
  });
}
