// Reconcile: recompute the hourly rollups from the ledger and report every difference;
// rebuild replaces the rollups with the recomputation. The rebuild locks the rollup table
// against writers for its duration, so no usage recorded meanwhile is lost or counted twice
// (recording writes ledger and rollups in one transaction, so it simply waits).
import type { Database, Sql } from '../../db/database';
import { LEDGER_MEASURES_SQL, ROLLUP_KEY_COLUMNS, ROLLUP_MEASURES } from './usage.writer';

const KEY = ROLLUP_KEY_COLUMNS;
const MEASURES = ROLLUP_MEASURES;

export interface Difference {
  key: Record<(typeof KEY)[number], string | null>;
  /** measure -> [from the ledger, in the rollups] */
  measures: Record<string, [string | null, string | null]>;
}

const ledgerRollupSql = `
  SELECT e.tenant_id, date_trunc('hour', e.occurred_at) AS hour, e.kind, e.currency, e.api_key_id, e.model, e.provider, e.subject,
         ${LEDGER_MEASURES_SQL}
    FROM usage_events e WHERE ($1::uuid IS NULL OR e.tenant_id = $1)
   GROUP BY 1, 2, 3, 4, 5, 6, 7, 8`;

export async function reconcile(sql: Sql, tenantId: string | null): Promise<Difference[]> {
  const rows = await sql.query<Record<string, string | null>>(
    'reconcile:compare',
    // The join key is the row's text form: hashable, and it keeps NULL and '' apart.
    `WITH l AS (SELECT x.*, ROW(${KEY.map((k) => `x.${k}`).join(', ')})::text AS k FROM (${ledgerRollupSql}) x),
          r AS (SELECT x.*, ROW(${KEY.map((k) => `x.${k}`).join(', ')})::text AS k
                  FROM usage_rollups_hourly x WHERE ($1::uuid IS NULL OR x.tenant_id = $1))
     SELECT ${KEY.map((k) => `coalesce(l.${k}, r.${k})::text AS ${k}`).join(', ')},
            ${MEASURES.map((m) => `l.${m}::text AS "l_${m}", r.${m}::text AS "r_${m}"`).join(', ')}
       FROM l FULL JOIN r ON l.k = r.k
      WHERE l.tenant_id IS NULL OR r.tenant_id IS NULL
         OR (${MEASURES.map((m) => `l.${m}`).join(', ')}) IS DISTINCT FROM (${MEASURES.map((m) => `r.${m}`).join(', ')})
      ORDER BY 1, 2`,
    [tenantId],
  );
  return rows.map((row) => ({
    key: Object.fromEntries(KEY.map((k) => [k, row[k] ?? null])) as Difference['key'],
    measures: Object.fromEntries(
      MEASURES.filter((m) => row[`l_${m}`] !== row[`r_${m}`]).map((m) => [
        m,
        [row[`l_${m}`] ?? null, row[`r_${m}`] ?? null],
      ]),
    ),
  }));
}

export async function rebuild(db: Database, tenantId: string | null): Promise<number> {
  return db.transaction('reconcile:rebuild', async (tx) => {
    await tx.query('reconcile:lock', 'LOCK TABLE usage_rollups_hourly IN SHARE ROW EXCLUSIVE MODE');
    await tx.query('reconcile:delete', 'DELETE FROM usage_rollups_hourly WHERE ($1::uuid IS NULL OR tenant_id = $1)', [
      tenantId,
    ]);
    const rows = await tx.query(
      'reconcile:insert',
      `INSERT INTO usage_rollups_hourly (${KEY.join(', ')}, ${MEASURES.join(', ')}) ${ledgerRollupSql} RETURNING 1`,
      [tenantId],
    );
    return rows.length;
  });
}
