// Every statement the tenants module runs, named, and nothing else: no rules, no checks, no
// cache (tenants.service.ts decides; this file only reads and writes tenants, and asks
// PostgreSQL's zone list). Each function takes the Sql to run on, so a caller inside a
// transaction passes its `tx` and one outside passes the database.
import type { Sql } from '../../db/database';
import type { TenantRow } from '../../db/entities';
import type { Keyset } from '../../lib/keyset';

const TENANT_COLUMNS = `id, name, timezone, currency, created_at AS "createdAt"`;

export async function insertTenant(
  tx: Sql,
  tenant: { name: string; timezone: string; currency: string },
): Promise<TenantRow> {
  const [row] = await tx.query<TenantRow>(
    'createTenant:insert',
    `INSERT INTO tenants (name, timezone, currency) VALUES ($1, $2, $3) RETURNING ${TENANT_COLUMNS}`,
    [tenant.name, tenant.timezone, tenant.currency],
  );
  return row as TenantRow;
}

/**
 * Every zone name PostgreSQL's zone database knows (it does the calendar math). It reads its
 * zone files on each call (about 1,200 names, 30 to 60 ms), whatever the WHERE clause.
 */
export async function zoneNames(sql: Sql): Promise<string[]> {
  const rows = await sql.query<{ name: string }>('tenants:zones', 'SELECT name FROM pg_timezone_names');
  return rows.map((r) => r.name);
}

export function tenantsByIds(sql: Sql, ids: readonly string[]): Promise<TenantRow[]> {
  return sql.query<TenantRow>(
    'tenants:byIds',
    `SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = ANY($1::uuid[])`,
    [ids],
    { prepare: true },
  );
}

/**
 * Newest first, continuing strictly after the cursor's pair. The order is by created_at cut to
 * milliseconds (what a cursor carries, and what a JS Date holds), so no row in the same
 * millisecond as a page's last one is skipped.
 */
export function tenantsPage(sql: Sql, k: Keyset): Promise<TenantRow[]> {
  return sql.query<TenantRow>(
    'tenants:page',
    `SELECT ${TENANT_COLUMNS} FROM tenants
      WHERE ($1::timestamptz IS NULL OR (date_trunc('milliseconds', created_at), id) < ($1::timestamptz, $2::uuid))
      ORDER BY date_trunc('milliseconds', created_at) DESC, id DESC LIMIT $3`,
    [k.afterInstant, k.afterId, k.limit],
  );
}
