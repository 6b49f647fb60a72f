// Every statement the pricing module runs, named, and nothing else: no rules, no checks (the
// price book's rules, the currency check and the choice of version to ask for stay in
// pricing.service.ts and pricing.book.ts; this file only reads and writes prices and their
// tiers). Each function takes the Sql to run on, so a caller inside a transaction passes its
// `tx` and one outside passes the database. One function is one statement: resolveMany (the
// group committer's price lookup) costs one statement per flush, and setPrices a fixed few
// per batch whatever its size.
import type { Sql } from '../../db/database';
import type { PriceRow, PriceTierRow } from '../../db/entities';

/** A version's tiers as one JSON array, rates as text (exact), by aboveInputTokens. */
const TIERS_OF_P = `(SELECT coalesce(json_agg(json_build_object(
    'aboveInputTokens', t.above_input_tokens, 'inputPerMillion', t.input_per_million::text,
    'outputPerMillion', t.output_per_million::text, 'cachedInputPerMillion', t.cached_input_per_million::text,
    'cacheWriteInputPerMillion', t.cache_write_input_per_million::text) ORDER BY t.above_input_tokens), '[]'::json)
   FROM price_tiers t WHERE t.price_id = p.id)`;

const BASE_COLUMNS = `p.id, p.tenant_id AS "tenantId", p.provider, p.model, p.currency,
  p.input_per_million AS "inputPerMillion", p.output_per_million AS "outputPerMillion",
  p.cached_input_per_million AS "cachedInputPerMillion", p.cache_write_input_per_million AS "cacheWriteInputPerMillion",
  p.per_request AS "perRequest", p.per_second AS "perSecond", p.per_unit AS "perUnit",
  p.effective_from AS "effectiveFrom", p.effective_to AS "effectiveTo", p.created_at AS "createdAt"`;

/** Every column of a price version (from `prices p`), its tiers included. */
export const PRICE_COLUMNS = `${BASE_COLUMNS}, ${TIERS_OF_P} AS tiers`;

/** Each rate: its field and its column, in the order insertPrices takes its `rates`. */
export const RATE_FIELDS = [
  ['inputPerMillion', 'input_per_million'],
  ['outputPerMillion', 'output_per_million'],
  ['cachedInputPerMillion', 'cached_input_per_million'],
  ['cacheWriteInputPerMillion', 'cache_write_input_per_million'],
  ['perRequest', 'per_request'],
  ['perSecond', 'per_second'],
  ['perUnit', 'per_unit'],
] as const;

/** Each tier rate: its field and its column. */
export const TIER_FIELDS = RATE_FIELDS.slice(0, 4) as readonly (typeof RATE_FIELDS)[number][];

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

/**
 * One writer of a model's prices at a time, and none while a ledger transaction that priced
 * the model is open (those hold the same keys shared, see resolveMany); `keys` sorted, so
 * two writers always queue in one order.
 */
export async function lockModels(tx: Sql, keys: readonly bigint[]): Promise<void> {
  await tx.query(
    'setPrices:lock',
    'SELECT pg_advisory_xact_lock(k) FROM (SELECT k FROM unnest($1::bigint[]) AS k ORDER BY k) s',
    [keys.map(String)],
  );
}

/** What setPrices needs to know of each item's chain at its effectiveFrom. */
export interface ChainState {
  /** 1-based position of the item. */
  ord: string;
  /** The version in force at effectiveFrom (its columns are null when none is). */
  current: PriceRow | null;
  /** Where the chain's first version after effectiveFrom begins. */
  nextFrom: Date | null;
  /**
   * For a tenant override: the platform versions of its (provider, model) in force somewhere
   * in the span the new version would take (they priced the tenant's usage there until now).
   */
  platformIds: string[];
}

/** For each item (chain and instant), the version in force, the next start and the platform versions under it. */
export async function chainStates(tx: Sql, items: readonly (PriceKey & { from: Date })[]): Promise<ChainState[]> {
  const rows = await tx.query<
    Record<string, unknown> & { ord: string; nextFrom: Date | null; platformIds: string[] | null }
  >(
    'setPrices:chains',
    `SELECT l.ord, cur.*, nxt."nextFrom", plat.ids AS "platformIds"
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS l(tenant_id, provider, model, at, ord)
       LEFT JOIN LATERAL (
         SELECT ${PRICE_COLUMNS} FROM prices p
          WHERE p.tenant_id IS NOT DISTINCT FROM l.tenant_id AND p.provider = l.provider AND p.model = l.model
            AND p.effective_from <= l.at AND (p.effective_to IS NULL OR p.effective_to > l.at)
          LIMIT 1) cur ON true
       LEFT JOIN LATERAL (
         SELECT min(p.effective_from) AS "nextFrom" FROM prices p
          WHERE p.tenant_id IS NOT DISTINCT FROM l.tenant_id AND p.provider = l.provider AND p.model = l.model
            AND p.effective_from > l.at) nxt ON true
       LEFT JOIN LATERAL (
         SELECT array_agg(p.id::text ORDER BY p.effective_from) AS ids FROM prices p
          WHERE l.tenant_id IS NOT NULL AND p.tenant_id IS NULL AND p.provider = l.provider AND p.model = l.model
            AND (p.effective_to IS NULL OR p.effective_to > l.at)
            AND (coalesce(cur."effectiveTo", nxt."nextFrom") IS NULL OR p.effective_from < coalesce(cur."effectiveTo", nxt."nextFrom"))
       ) plat ON true
      ORDER BY l.ord`,
    [
      items.map((i) => i.tenantId),
      items.map((i) => i.provider),
      items.map((i) => i.model),
      items.map((i) => i.from.toISOString()),
    ],
  );
  return rows.map(({ ord, nextFrom, platformIds, ...cur }) => ({
    ord,
    current: cur.id == null ? null : (cur as unknown as PriceRow),
    nextFrom,
    platformIds: platformIds ?? [],
  }));
}

/** Ends each version `id` at `to` (the start of the version that follows it now). */
export async function endVersions(tx: Sql, ends: readonly { id: string; to: Date }[]): Promise<void> {
  if (!ends.length) return;
  await tx.query(
    'setPrices:endPrevious',
    `UPDATE prices p SET effective_to = v.ends_at FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, ends_at)
      WHERE p.id = v.id`,
    [ends.map((e) => e.id), ends.map((e) => e.to.toISOString())],
  );
}

/** A version to add; `rates` in RATE_FIELDS order. */
export interface NewVersion extends PriceKey {
  currency: string;
  rates: (string | null)[];
  from: Date;
  to: Date | null;
}

/** New versions, in one statement; the rows come back in no particular order and without tiers. */
export function insertPrices(tx: Sql, versions: readonly NewVersion[]): Promise<Omit<PriceRow, 'tiers'>[]> {
  return tx.query<Omit<PriceRow, 'tiers'>>(
    'setPrices:insert',
    `INSERT INTO prices AS p (tenant_id, provider, model, currency, ${RATE_FIELDS.map(([, c]) => c).join(', ')}, effective_from, effective_to)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],
       ${RATE_FIELDS.map((_, i) => `$${i + 5}::numeric[]`).join(', ')}, $12::timestamptz[], $13::timestamptz[])
     RETURNING ${BASE_COLUMNS}`,
    [
      versions.map((v) => v.tenantId),
      versions.map((v) => v.provider),
      versions.map((v) => v.model),
      versions.map((v) => v.currency),
      ...RATE_FIELDS.map((_, i) => versions.map((v) => v.rates[i] ?? null)),
      versions.map((v) => v.from.toISOString()),
      versions.map((v) => v.to?.toISOString() ?? null),
    ],
  );
}

/** The tiers of new versions, in one statement; returned as stored (rates as numeric text). */
export function insertTiers(
  tx: Sql,
  tiers: readonly (PriceTierRow & { priceId: string })[],
): Promise<(PriceTierRow & { priceId: string })[]> {
  return tx.query<PriceTierRow & { priceId: string }>(
    'setPrices:insertTiers',
    `INSERT INTO price_tiers (price_id, above_input_tokens, ${TIER_FIELDS.map(([, c]) => c).join(', ')})
     SELECT * FROM unnest($1::uuid[], $2::int[], $3::numeric[], $4::numeric[], $5::numeric[], $6::numeric[])
     RETURNING price_id AS "priceId", above_input_tokens AS "aboveInputTokens",
       ${TIER_FIELDS.map(([f, c]) => `${c}::text AS "${f}"`).join(', ')}`,
    [
      tiers.map((t) => t.priceId),
      tiers.map((t) => t.aboveInputTokens),
      ...TIER_FIELDS.map(([f]) => tiers.map((t) => t[f as keyof PriceTierRow] ?? null)),
    ],
  );
}

/** Platform versions and (when `tenantId` is given) the tenant's overrides, filtered. */
export function listPrices(
  sql: Sql,
  f: { tenantId: string | null; provider: string | null; model: string | null; at: Date | null },
): Promise<PriceRow[]> {
  return sql.query<PriceRow>(
    'prices:list',
    `SELECT ${PRICE_COLUMNS} FROM prices p
      WHERE (p.tenant_id IS NULL OR p.tenant_id = $1)
        AND ($2::text IS NULL OR p.provider = $2) AND ($3::text IS NULL OR p.model = $3)
        AND ($4::timestamptz IS NULL OR (p.effective_from <= $4 AND (p.effective_to IS NULL OR p.effective_to > $4)))
      ORDER BY p.provider, p.model, p.tenant_id NULLS FIRST, p.effective_from DESC`,
    [f.tenantId, f.provider, f.model, f.at],
  );
}

export function pricesByIds(sql: Sql, ids: readonly string[]): Promise<PriceRow[]> {
  return sql.query<PriceRow>('prices:byIds', `SELECT ${PRICE_COLUMNS} FROM prices p WHERE p.id = ANY($1::uuid[])`, [
    ids,
  ]);
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
    `SELECT ${PRICE_COLUMNS} FROM prices p WHERE p.tenant_id IS NULL AND p.model = $1 AND ($2::text IS NULL OR p.provider = $2)
       AND p.effective_from <= $3 AND (p.effective_to IS NULL OR p.effective_to > $3) ORDER BY p.provider LIMIT 1`,
    [l.model, l.provider, l.at],
  );
  return rows[0] ?? null;
}
