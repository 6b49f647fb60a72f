// Every statement the pricing module runs, named, and nothing else: no rules, no checks (the
// price book's rules, the currency check and the choice of version to ask for stay in
// pricing.service.ts; this file only reads and writes prices, and reads a tenant's currency).
// Each function takes the Sql to run on, so a caller inside a transaction passes its `tx` and
// one outside passes the database. One function is one statement: resolveMany (the group
// committer's price lookup) costs exactly what it did inline.
import type { Sql } from '../../db/database';
import type { PriceRow } from '../../db/entities';

export const PRICE_COLUMNS = `id, tenant_id AS "tenantId", provider, model, currency,
  input_per_million AS "inputPerMillion", output_per_million AS "outputPerMillion",
  cached_input_per_million AS "cachedInputPerMillion", cache_write_input_per_million AS "cacheWriteInputPerMillion",
  per_request AS "perRequest", per_second AS "perSecond", per_unit AS "perUnit",
  effective_from AS "effectiveFrom", effective_to AS "effectiveTo", created_at AS "createdAt"`;

/** Each rate: its field and its column, in the order insertPrice takes its `rates`. */
export const RATE_FIELDS = [
  ['inputPerMillion', 'input_per_million'],
  ['outputPerMillion', 'output_per_million'],
  ['cachedInputPerMillion', 'cached_input_per_million'],
  ['cacheWriteInputPerMillion', 'cache_write_input_per_million'],
  ['perRequest', 'per_request'],
  ['perSecond', 'per_second'],
  ['perUnit', 'per_unit'],
] as const;

/** One price chain: a (tenant or platform, provider, model). */
export interface PriceKey {
  tenantId: string | null;
  provider: string;
  model: string;
}

/** A lookup for prices:resolve, already deduplicated by the caller. */
export interface ResolveLookup {
  tenantId: string;
  provider: string | null;
  model: string | null;
  at: Date;
}

/** A tenant's billing currency, or null when there is no such tenant. `name` is the statement's. */
async function tenantCurrency(
  sql: Sql,
  name: 'setPrice:tenant' | 'quote:tenant',
  tenantId: string,
): Promise<string | null> {
  const [t] = await sql.query<{ currency: string }>(name, 'SELECT currency FROM tenants WHERE id = $1', [tenantId]);
  return t?.currency ?? null;
}

/** The tenant's currency, read inside setPrice's transaction. */
export const currencyForSetPrice = (tx: Sql, tenantId: string) => tenantCurrency(tx, 'setPrice:tenant', tenantId);

/** The tenant's currency, read by quote. */
export const currencyForQuote = (sql: Sql, tenantId: string) => tenantCurrency(sql, 'quote:tenant', tenantId);

/** One writer per price chain at a time keeps the versions a clean chain (until the transaction ends). */
export async function lockChain(tx: Sql, k: PriceKey): Promise<void> {
  await tx.query('setPrice:lock', 'SELECT pg_advisory_xact_lock(hashtextextended($1, 7))', [
    `price:${k.tenantId ?? '-'}:${k.provider}:${k.model}`,
  ]);
}

/** Whether a version of the chain starts exactly at `from`. */
export async function versionStartsAt(tx: Sql, k: PriceKey, from: Date): Promise<boolean> {
  const same = await tx.query(
    'setPrice:same',
    'SELECT 1 FROM prices WHERE tenant_id IS NOT DISTINCT FROM $1 AND provider = $2 AND model = $3 AND effective_from = $4',
    [k.tenantId, k.provider, k.model, from],
  );
  return same.length > 0;
}

/** Where the first version of the chain after `from` begins, or null. */
export async function nextVersionStart(tx: Sql, k: PriceKey, from: Date): Promise<Date | null> {
  const [next] = await tx.query<{ from: Date }>(
    'setPrice:next',
    `SELECT effective_from AS "from" FROM prices
      WHERE tenant_id IS NOT DISTINCT FROM $1 AND provider = $2 AND model = $3 AND effective_from > $4
      ORDER BY effective_from LIMIT 1`,
    [k.tenantId, k.provider, k.model, from],
  );
  return next?.from ?? null;
}

/** Ends at `from` the version of the chain in force at `from`, if any. */
export async function endVersionAt(tx: Sql, k: PriceKey, from: Date): Promise<void> {
  await tx.query(
    'setPrice:endPrevious',
    `UPDATE prices SET effective_to = $4
      WHERE tenant_id IS NOT DISTINCT FROM $1 AND provider = $2 AND model = $3
        AND effective_from < $4 AND (effective_to IS NULL OR effective_to > $4)`,
    [k.tenantId, k.provider, k.model, from],
  );
}

/** A new version; `rates` are in RATE_FIELDS order. */
export async function insertPrice(
  tx: Sql,
  k: PriceKey & { currency: string; rates: (string | null)[]; from: Date; to: Date | null },
): Promise<PriceRow> {
  const [row] = await tx.query<PriceRow>(
    'setPrice:insert',
    `INSERT INTO prices (tenant_id, provider, model, currency, ${RATE_FIELDS.map(([, c]) => c).join(', ')}, effective_from, effective_to)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING ${PRICE_COLUMNS}`,
    [k.tenantId, k.provider, k.model, k.currency, ...k.rates, k.from, k.to],
  );
  return row as PriceRow;
}

/** Platform versions and (when `tenantId` is given) the tenant's overrides, filtered. */
export function listPrices(
  sql: Sql,
  f: { tenantId: string | null; provider: string | null; model: string | null; at: Date | null },
): Promise<PriceRow[]> {
  return sql.query<PriceRow>(
    'prices:list',
    `SELECT ${PRICE_COLUMNS} FROM prices
      WHERE (tenant_id IS NULL OR tenant_id = $1)
        AND ($2::text IS NULL OR provider = $2) AND ($3::text IS NULL OR model = $3)
        AND ($4::timestamptz IS NULL OR (effective_from <= $4 AND (effective_to IS NULL OR effective_to > $4)))
      ORDER BY provider, model, tenant_id NULLS FIRST, effective_from DESC`,
    [f.tenantId, f.provider, f.model, f.at],
  );
}

export function pricesByIds(sql: Sql, ids: readonly string[]): Promise<PriceRow[]> {
  return sql.query<PriceRow>('prices:byIds', `SELECT ${PRICE_COLUMNS} FROM prices WHERE id = ANY($1::uuid[])`, [ids]);
}

/**
 * The version in force for each lookup, in one statement: the tenant's override first, else
 * the platform's; without a provider, the first by provider name. Rows carry `ord`, the
 * 1-based position of the lookup they answer (lookups with no price have no row).
 */
export function resolvePrices(sql: Sql, wanted: readonly ResolveLookup[]): Promise<(PriceRow & { ord: string })[]> {
  return sql.query<PriceRow & { ord: string }>(
    'prices:resolve',
    `SELECT l.ord, p.* FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS l(tenant_id, provider, model, at, ord)
     JOIN LATERAL (
       SELECT ${PRICE_COLUMNS} FROM prices p
        WHERE (p.tenant_id = l.tenant_id OR p.tenant_id IS NULL) AND p.model = l.model
          AND (l.provider IS NULL OR p.provider = l.provider)
          AND p.effective_from <= l.at AND (p.effective_to IS NULL OR p.effective_to > l.at)
        ORDER BY p.tenant_id NULLS LAST, p.provider LIMIT 1
     ) p ON true`,
    [
      wanted.map((w) => w.tenantId),
      wanted.map((w) => w.provider),
      wanted.map((w) => w.model),
      wanted.map((w) => w.at.toISOString()),
    ],
  );
}

/** The platform version in force for (provider, model) at `at`, or null. */
export async function resolvePlatformPrice(
  sql: Sql,
  l: { provider: string | null; model: string; at: Date },
): Promise<PriceRow | null> {
  const rows = await sql.query<PriceRow>(
    'prices:resolvePlatform',
    `SELECT ${PRICE_COLUMNS} FROM prices WHERE tenant_id IS NULL AND model = $1 AND ($2::text IS NULL OR provider = $2)
       AND effective_from <= $3 AND (effective_to IS NULL OR effective_to > $3) ORDER BY provider LIMIT 1`,
    [l.model, l.provider, l.at],
  );
  return rows[0] ?? null;
}
