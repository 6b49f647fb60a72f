// Every statement of the usage module but the summaries (usage.summary-store.ts), named, and
// nothing else: no rules, no checks, no events. The writer, the queries, the reader, reversals
// and reconcile decide; this file only reads and writes the ledger, its rollups, and the one
// question usage asks of api_keys (does a key belong to a tenant). Each function takes the Sql
// to run on, so a caller inside a transaction passes its `tx`.
//
// The ledger statement (insertEvents) is built once, at load, from the column table
// (usage.columns.ts) and the rollup levels below: per call it costs one JSON parameter.
import type { Sql } from '../../db/database';
import type { Keyset } from '../../lib/keyset';
import { EVENT_COLUMNS, type EventRow, INSERT_COLUMNS, LEDGER_MEASURES_SQL, ROLLUP_MEASURES } from './usage.columns';

/** A statement to run (or stream from a cursor): its name, text and parameters. */
export interface Statement {
  name: string;
  text: string;
  params: unknown[];
}

// ------------------------------------------------------------------ rollup levels

/** The rollup key: one list, used by the writer, summaries and reconcile (the measures: usage.columns.ts). */
export const ROLLUP_KEY_COLUMNS = [
  'tenant_id',
  'hour',
  'kind',
  'currency',
  'api_key_id',
  'model',
  'provider',
  'subject',
  'status',
] as const;
const KEYS_WITHOUT_SUBJECT = ROLLUP_KEY_COLUMNS.filter((c) => c !== 'subject');

/** A rollup level: its table and key; `recent`: a short-lived level (see MINUTE_LEVEL). */
export interface RollupLevel {
  table: string;
  key: readonly string[];
  /**
   * Only entries that occurred within `written` of the writer's clock are written to it; reads
   * and reconcile trust it for whole minutes since now() - `served` (`written` minus a day,
   * so no transaction's timing can fall between them); rows older than `written` are pruned.
   */
  recent?: { written: string; served: string };
}

/**
 * The minute level: minutes without subject, for MINUTE summaries (at most 24 hours), kept
 * for 8 days and trusted for the last 7 (UsageService.pruneMinutes deletes what is older).
 */
export const MINUTE_LEVEL: RollupLevel = {
  table: 'usage_rollups_minute_keys',
  key: KEYS_WITHOUT_SUBJECT.map((c) => (c === 'hour' ? 'minute' : c)),
  recent: { written: '8 days', served: '7 days' },
};

/**
 * Four rollup levels, all written with the ledger rows: hourly by subject (end user),
 * hourly without it (much smaller when a tenant has many end users; summaries that neither
 * filter nor group by subject read it), by the tenant's local day without subject (whole
 * local days of long summaries and quota windows), and by minute without subject, recent only.
 * Every level is keyed by status too (SUCCEEDED / FAILED), so summaries filter and group by it.
 */
export const ROLLUP_LEVELS: readonly RollupLevel[] = [
  { table: 'usage_rollups_hourly', key: ROLLUP_KEY_COLUMNS },
  { table: 'usage_rollups_hourly_keys', key: KEYS_WITHOUT_SUBJECT },
  { table: 'usage_rollups_daily_keys', key: KEYS_WITHOUT_SUBJECT.map((c) => (c === 'hour' ? 'day' : c)) },
  MINUTE_LEVEL,
];

/** A rollup key column computed from ledger rows `e` (as written by rollupSource). */
export const rollupKeySql = (c: string) =>
  c === 'hour' || c === 'minute'
    ? `date_trunc('${c}', e.occurred_at, 'UTC')` // never the session's zone (see BEGIN_TX)
    : c === 'day'
      ? "date_trunc('day', e.occurred_at, z.timezone)"
      : `e.${c}`;
/**
 * FROM clause over ledger rows `source` as `e`, with their tenant as `z` where the key needs
 * its zone, and (a recent level) only the entries it keeps.
 */
export const rollupSource = (source: string, level: RollupLevel) =>
  (level.key.includes('day') ? `${source} e JOIN tenants z ON z.id = e.tenant_id` : `${source} e`) +
  (level.recent ? ` WHERE e.occurred_at >= now() - interval '${level.recent.written}'` : '');

// ------------------------------------------------------------------ the ledger statement

// The entries travel as one JSON array of arrays (one native JSON.stringify, parsed by
// PostgreSQL in C) instead of one array parameter per column, which node-postgres escapes
// element by element. bytea travels as hex; instants as ISO text (see wireRow).
const wireType = (t: string) => (t === 'bytea' ? 'text' : t);
const cast = (col: string, t: string) => (t === 'bytea' ? `decode(u.${col}, 'hex')` : `u.${col}`);

const INSERT_SQL = `
WITH u AS (
  SELECT ${INSERT_COLUMNS.map(([, c, t], i) => `(r->>${i})::${wireType(t)} AS ${c}`).join(', ')}
    FROM jsonb_array_elements($1::jsonb) AS r
), ins AS (
  INSERT INTO usage_events (${INSERT_COLUMNS.map(([, c]) => c).join(', ')})
  SELECT ${INSERT_COLUMNS.map(([, c, t]) => cast(c, t)).join(', ')} FROM u
  ORDER BY u.tenant_id, u.idempotency_key
  ON CONFLICT DO NOTHING
  RETURNING *
), ${ROLLUP_LEVELS.map(
  (level, i) => `roll${i} AS (
  INSERT INTO ${level.table} (${level.key.join(', ')}, ${ROLLUP_MEASURES.join(', ')})
  SELECT ${level.key.map(rollupKeySql).join(', ')}, ${LEDGER_MEASURES_SQL}
    FROM ${rollupSource('ins', level)}
   GROUP BY ${level.key.map((_, j) => j + 1).join(', ')}
   ORDER BY ${level.key.map((_, j) => j + 1).join(', ')}
  ON CONFLICT (${level.key.join(', ')}) DO UPDATE SET
    ${ROLLUP_MEASURES.map((m) => `${m} = ${level.table}.${m} + excluded.${m}`).join(',\n    ')}
  RETURNING 1
)`,
).join(', ')}
-- The ids are ours (uuidV7Ids), so only the exceptions come back, not a row per entry:
-- entries not inserted (their key was taken), and the metadata PostgreSQL normalised; plus
-- one row with recorded_at, which is now(), the same for every entry of the transaction.
SELECT NULL::uuid AS id, false AS skipped, NULL::jsonb AS metadata, now() AS "recordedAt"
UNION ALL
SELECT u.id, true, NULL, NULL FROM u WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.id = u.id)
UNION ALL
SELECT id, false, metadata, NULL FROM ins WHERE metadata IS NOT NULL`;

/** What the ledger statement answers: one recorded_at row (id null), then the exceptions. */
export interface WriteReport {
  id: string | null;
  skipped: boolean;
  metadata: unknown;
  recordedAt: Date | null;
}

/** Entries (one JSON array of wire rows) and every rollup level, in one statement. */
export function insertEvents(tx: Sql, wireRows: string): Promise<WriteReport[]> {
  // Prepared: every write runs it, and parsing and planning its eight CTEs cost PostgreSQL
  // more than inserting a flush's entries.
  return tx.query<WriteReport>('recordUsage:insertEvents', INSERT_SQL, [wireRows], { prepare: true });
}

/** The entries holding these (tenant, idempotency key) pairs. */
export function eventsByKeys(tx: Sql, tenantIds: string[], keys: string[]): Promise<EventRow[]> {
  return tx.query<EventRow>(
    'recordUsage:existing',
    `SELECT ${EVENT_COLUMNS} FROM usage_events
            WHERE (tenant_id, idempotency_key) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))`,
    [tenantIds, keys],
  );
}

// ------------------------------------------------------------------ references and reversals

/** The tenant of each of these API keys (those that exist). */
export function keyTenants(sql: Sql, keyIds: string[]): Promise<{ id: string; tenantId: string }[]> {
  return sql.query<{ id: string; tenantId: string }>(
    'recordUsage:keys',
    'SELECT id, tenant_id AS "tenantId" FROM api_keys WHERE id = ANY($1::uuid[])',
    [keyIds],
  );
}

/** Whether API key `keyId` belongs to tenant `tenantId`. */
export async function keyInTenant(sql: Sql, keyId: string, tenantId: string): Promise<boolean> {
  const [k] = await sql.query('usage:filterKey', 'SELECT 1 FROM api_keys WHERE id = $1 AND tenant_id = $2', [
    keyId,
    tenantId,
  ]);
  return k != null;
}

/** The entry a reversal names, of `tenantId` (null: any tenant, for the operator). */
export async function eventToReverse(sql: Sql, id: string, tenantId: string | null): Promise<EventRow | null> {
  const [row] = await sql.query<EventRow>(
    'reverseUsage:original',
    `SELECT ${EVENT_COLUMNS} FROM usage_events WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)`,
    [id, tenantId],
  );
  return row ?? null;
}

/** The entry holding a reversal's idempotency key, if any. */
export async function eventByKey(sql: Sql, tenantId: string, key: string): Promise<EventRow | null> {
  const [row] = await sql.query<EventRow>(
    'reverseUsage:prior',
    `SELECT ${EVENT_COLUMNS} FROM usage_events WHERE tenant_id = $1 AND idempotency_key = $2`,
    [tenantId, key],
  );
  return row ?? null;
}

// ------------------------------------------------------------------ reads

/** A filter as the event list applies it: one tenant, [from, to), and optional equalities. */
export interface EventFilter {
  tenantId: string;
  from: Date;
  to: Date;
  apiKeyId?: string | null;
  subject?: string | null;
  model?: string | null;
  provider?: string | null;
  kind?: string | null;
  currency?: string | null;
  status?: string | null;
}

/** An EventFilter as SQL over usage_events: its WHERE clause ($1..$10) and those parameters. */
const EVENT_FILTER_SQL = `tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3
          AND ($4::uuid IS NULL OR api_key_id = $4) AND ($5::text IS NULL OR subject = $5)
          AND ($6::text IS NULL OR model = $6) AND ($7::text IS NULL OR provider = $7) AND ($8::text IS NULL OR kind = $8)
          AND ($9::text IS NULL OR currency = $9) AND ($10::text IS NULL OR status = $10)`;
const eventFilterParams = (f: EventFilter): unknown[] => [
  f.tenantId,
  f.from,
  f.to,
  f.apiKeyId ?? null,
  f.subject ?? null,
  f.model ?? null,
  f.provider ?? null,
  f.kind ?? null,
  f.currency ?? null,
  f.status ?? null,
];

/** A page of the event list, newest first, after (occurredAt, id) when given. */
export function eventsPage(sql: Sql, f: EventFilter, page: Keyset): Promise<EventRow[]> {
  return sql.query<EventRow>(
    'usageEvents:page',
    `SELECT ${EVENT_COLUMNS} FROM usage_events
        WHERE ${EVENT_FILTER_SQL}
          AND ($11::timestamptz IS NULL OR (occurred_at, id) < ($11::timestamptz, $12::uuid))
        ORDER BY occurred_at DESC, id DESC
        LIMIT $13`,
    [...eventFilterParams(f), page.afterInstant, page.afterId, page.limit],
  );
}

/** An instant as GraphQL's DateTime prints it (UTC, milliseconds), in SQL. */
const isoSql = (c: string) => `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * The CSV export of the event list: every entry of the filter, oldest first (the tenant-time
 * index read backwards), one row each, named after UsageEvent's fields (ids flattened);
 * numbers as PostgreSQL prints them, so money stays exact text.
 */
export const EVENT_EXPORT_COLUMNS = [
  ['id', 'id'],
  ['idempotencyKey', 'idempotency_key'],
  ['tenantId', 'tenant_id'],
  ['apiKeyId', 'api_key_id'],
  ['subject', 'subject'],
  ['kind', 'kind'],
  ['provider', 'provider'],
  ['model', 'model'],
  ['modelSource', 'model_source'],
  ['status', 'status'],
  ['inputTokens', 'input_tokens'],
  ['outputTokens', 'output_tokens'],
  ['cachedInputTokens', 'cached_input_tokens'],
  ['cacheWriteInputTokens', 'cache_write_input_tokens'],
  ['reasoningTokens', 'reasoning_tokens'],
  ['totalTokens', 'input_tokens::bigint + output_tokens'],
  ['durationMs', 'duration_ms'],
  ['quantity', 'quantity::text'],
  ['cost', 'cost::text'],
  ['currency', 'currency'],
  ['priceId', 'price_id'],
  ['latencyMs', 'latency_ms'],
  ['sessionId', 'session_id'],
  ['metadata', 'metadata::text'],
  ['occurredAt', isoSql('occurred_at')],
  ['recordedAt', isoSql('recorded_at')],
  ['reversesId', 'reverses_id'],
  ['reason', 'reason'],
] as const;

export function eventsExportStatement(f: EventFilter): Statement {
  return {
    name: 'usageExport:events',
    text: `SELECT ${EVENT_EXPORT_COLUMNS.map(([name, sql]) => `${sql} AS "${name}"`).join(', ')}
             FROM usage_events
            WHERE ${EVENT_FILTER_SQL}
            ORDER BY occurred_at, id`,
    params: eventFilterParams(f),
  };
}

export function eventsByIds(sql: Sql, ids: string[]): Promise<EventRow[]> {
  return sql.query<EventRow>(
    'usageEvents:byIds',
    `SELECT ${EVENT_COLUMNS} FROM usage_events WHERE id = ANY($1::uuid[])`,
    [ids],
  );
}

/**
 * Sums of every rollup row of each scope (TOTAL windows), in one statement: every measure as
 * text named like its rollup column (as a summary answers them), each row tagged with its
 * scope's position (`ord`, from 1). Scopes with a subject read the hourly level (the daily one
 * has no subject); `bySubject` says which kind the list holds.
 */
export function usedTotals(
  sql: Sql,
  bySubject: boolean,
  scopes: readonly { tenantId: string; apiKeyId?: string | null; subject?: string | null }[],
): Promise<Record<string, string | number | null>[]> {
  return sql.query<Record<string, string | number | null>>(
    bySubject ? 'usage:usedTotals:bySubject' : 'usage:usedTotals',
    `SELECT q.u_ord::int AS ord, x.* FROM unnest($1::uuid[], $2::uuid[], $3::text[]) WITH ORDINALITY AS q(u_tenant, u_key, u_subject, u_ord)
      CROSS JOIN LATERAL (
        SELECT ${ROLLUP_MEASURES.map((m) => `coalesce(sum(${m}), 0)::text AS ${m}`).join(', ')}
          FROM ${bySubject ? 'usage_rollups_hourly' : '(SELECT k.*, NULL::text AS subject FROM usage_rollups_daily_keys k) r'}
         WHERE tenant_id = q.u_tenant AND (q.u_key IS NULL OR api_key_id = q.u_key) AND (q.u_subject IS NULL OR subject = q.u_subject)) x`,
    [scopes.map((s) => s.tenantId), scopes.map((s) => s.apiKeyId ?? null), scopes.map((s) => s.subject ?? null)],
    { prepare: true },
  );
}

/**
 * Deletes up to `limit` rows of the minute level older than it keeps (MINUTE_LEVEL.recent);
 * answers how many. Small batches: each holds its row locks briefly.
 */
export async function pruneMinutes(sql: Sql, limit: number): Promise<number> {
  const rows = await sql.query(
    'usage:pruneMinutes',
    `DELETE FROM ${MINUTE_LEVEL.table}
      WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${MINUTE_LEVEL.table}
                              WHERE minute < now() - interval '${MINUTE_LEVEL.recent?.written}' LIMIT $1))
      RETURNING 1`,
    [limit],
  );
  return rows.length;
}

// ------------------------------------------------------------------ reconcile

const MEASURES = ROLLUP_MEASURES;

/** A recent level's rows that reads trust (whole minutes since now() - served), as a condition on `alias`. */
const trusted = (level: RollupLevel, alias: string) =>
  level.recent
    ? ` AND ${alias}.minute >= date_trunc('minute', now() - interval '${level.recent.served}', 'UTC') + interval '1 minute'`
    : '';

const ledgerRollupSql = (level: RollupLevel) => `
  SELECT ${level.key.map((c) => `${rollupKeySql(c)} AS ${c}`).join(', ')}, ${LEDGER_MEASURES_SQL}
    FROM ${rollupSource('usage_events', level)} ${level.recent ? 'AND' : 'WHERE'} ($1::uuid IS NULL OR e.tenant_id = $1)
   GROUP BY ${level.key.map((_, i) => i + 1).join(', ')}`;

/**
 * Rows of one level that differ from the ledger's recomputation: per key column its text,
 * per measure `l_<m>` (the ledger's) and `r_<m>` (the rollup's).
 */
export function levelDifferences(sql: Sql, level: RollupLevel, tenantId: string | null) {
  const { table, key } = level;
  return sql.query<Record<string, string | null>>(
    'reconcile:compare',
    // The join key is the row's text form: hashable, and it keeps NULL and '' apart. A recent
    // level is compared where reads trust it (older rows are being pruned).
    `WITH l AS (SELECT x.*, ROW(${key.map((k) => `x.${k}`).join(', ')})::text AS k FROM (${ledgerRollupSql(level)}) x WHERE true${trusted(level, 'x')}),
            r AS (SELECT x.*, ROW(${key.map((k) => `x.${k}`).join(', ')})::text AS k FROM ${table} x WHERE ($1::uuid IS NULL OR x.tenant_id = $1)${trusted(level, 'x')})
       SELECT ${key.map((k) => `coalesce(l.${k}, r.${k})::text AS ${k}`).join(', ')},
              ${MEASURES.map((m) => `l.${m}::text AS "l_${m}", r.${m}::text AS "r_${m}"`).join(', ')}
         FROM l FULL JOIN r ON l.k = r.k
        WHERE l.tenant_id IS NULL OR r.tenant_id IS NULL
           OR (${MEASURES.map((m) => `l.${m}`).join(', ')}) IS DISTINCT FROM (${MEASURES.map((m) => `r.${m}`).join(', ')})
        ORDER BY 1, 2`,
    [tenantId],
  );
}

/**
 * Replaces one level's rows (of a tenant, or all) by the ledger's recomputation (a recent
 * level: of the entries it keeps); answers the rows written.
 */
export async function rebuildLevel(tx: Sql, level: RollupLevel, tenantId: string | null): Promise<number> {
  const { table, key } = level;
  await tx.query('reconcile:lock', `LOCK TABLE ${table} IN SHARE ROW EXCLUSIVE MODE`);
  await tx.query('reconcile:delete', `DELETE FROM ${table} WHERE ($1::uuid IS NULL OR tenant_id = $1)`, [tenantId]);
  const rows = await tx.query(
    'reconcile:insert',
    `INSERT INTO ${table} (${key.join(', ')}, ${MEASURES.join(', ')}) ${ledgerRollupSql(level)} RETURNING 1`,
    [tenantId],
  );
  return rows.length;
}
