// Usage aggregates for any [from, to) and any tenant time zone, exact.
//
// Rollups are hourly in UTC, and daily in the tenant's zone. [from, to) is cut at the
// bucket boundaries of the tenant's zone into spans; the whole local days inside a span are
// served from the daily level, the remaining whole UTC hours from an hourly level, and only
// the partial hours at each end (the range's edges, and local boundaries off the UTC hour,
// as in zones with half-hour offsets) are summed from the ledger, each by one index range.
// So the answer always equals a GROUP BY over the ledger, while the bulk of a long range
// costs one rollup row per (day, group).
//
// Bucket starts are computed by PostgreSQL in the tenant's zone: DAY/WEEK (ISO, Monday)/
// MONTH with date_trunc(unit, t, zone), which follows DST; HOUR (and MINUTE) as t minus its
// local minutes and seconds (seconds), which keeps the two 01:00 hours of a DST fall-back apart.
//
// MINUTE (ranges of at most 24 hours, checked by the caller) has a statement of its own
// (minuteSql): the whole UTC minutes of the range that lie in the minute level's trusted past
// (its last 7 days) come from that level, one index range, each row its own bucket; the rest
// (partial minutes at the edges, anything older, and everything when the summary filters or
// groups by subject, which the minute level does not keep) from the ledger by index range.
// A UTC minute is a local minute in every zone whose offset is whole minutes, which is every
// zone since the 1970s; the statement checks it for each minute it serves from the level and
// reads the ledger instead when it does not hold (historic LMT offsets had seconds).
import type { Sql } from '../../db/database';
import { LEDGER_MEASURES_SQL, MEASURES } from './usage.columns';
import { MINUTE_LEVEL, type Statement } from './usage.store';
import type { Granularity, UsageDimension } from './usage.types';

/** What a summary reads: one tenant (and its zone), [from, to), and optional equalities. */
export interface SummaryFilter {
  tenantId: string;
  timezone: string;
  from: Date;
  to: Date;
  apiKeyIds?: string[] | null;
  subject?: string | null;
  model?: string | null;
  provider?: string | null;
  kind?: string | null;
  currency?: string | null;
  status?: string | null;
}

const DIM_COLUMN: Record<UsageDimension, string> = {
  API_KEY: 'api_key_id',
  SUBJECT: 'subject',
  MODEL: 'model',
  PROVIDER: 'provider',
  KIND: 'kind',
  STATUS: 'status',
};

/** SQL for the start of the bucket holding instant `t` ($2 is the tenant's zone). */
export function bucketSql(t: string, g: Granularity | null | undefined): string {
  switch (g) {
    case 'MINUTE':
    case 'HOUR': {
      const unit = g.toLowerCase();
      return `(${t} - ((${t} AT TIME ZONE $2) - date_trunc('${unit}', ${t} AT TIME ZONE $2)))`;
    }
    case 'DAY':
      return `date_trunc('day', ${t}, $2)`;
    case 'WEEK':
      return `date_trunc('week', ${t}, $2)`;
    case 'MONTH':
      return `date_trunc('month', ${t}, $2)`;
    default:
      return 'NULL::timestamptz';
  }
}

const LOCAL_STEP: Partial<Record<Granularity, string>> = { DAY: '1 day', WEEK: '1 week', MONTH: '1 month' };

/**
 * SQL for (bucket, exact, lo, hi): [$3, $4) cut at the bucket boundaries of the tenant's
 * zone ($2). DAY/WEEK/MONTH starts are the local calendar starts (date_trunc in local time,
 * stepped, converted back), which are exactly date_trunc(unit, t, zone)'s values, each the
 * first instant of its bucket; HOUR goes UTC hour by UTC hour (see bucketSql for why).
 */
function spansSql(g: Granularity | null | undefined): string {
  const step = g ? LOCAL_STEP[g] : undefined;
  if (step)
    return `
       SELECT s AS bucket, true AS exact, greatest(s, $3::timestamptz) AS lo, least(lead(s) OVER (ORDER BY l), $4::timestamptz) AS hi
         FROM generate_series(date_trunc('${g?.toLowerCase()}', $3::timestamptz AT TIME ZONE $2),
                              ($4::timestamptz AT TIME ZONE $2) + interval '${step}', interval '${step}') AS l,
              LATERAL (SELECT l AT TIME ZONE $2 AS s) x`;
  if (g === 'HOUR')
    return `
       SELECT ${bucketSql('h', g)} AS bucket,
              ${bucketSql('h', g)} = ${bucketSql("(h + interval '1 hour' - interval '1 microsecond')", g)} AS exact,
              greatest(h, $3::timestamptz) AS lo, least(h + interval '1 hour', $4::timestamptz) AS hi
         FROM generate_series(date_trunc('hour', $3::timestamptz, 'UTC'), $4::timestamptz - interval '1 microsecond', interval '1 hour') AS h`;
  // no buckets: one span; the condition only gives the zone parameter its type
  return `SELECT NULL::timestamptz AS bucket, true AS exact, $3::timestamptz AS lo, $4::timestamptz AS hi WHERE $2::text IS NOT NULL`;
}

type Sqlf = (alias: string) => string;

/**
 * The MINUTE statement's CTEs, ending in `parts`. [a, z) are the whole UTC minutes of
 * [$3, $4) inside the minute level's trusted past; they are served from the level when the
 * summary needs no subject and each of them is one local minute of the tenant's zone (else
 * a = z = $4). The ledger serves the rest, [$3, a) and [z, $4), by index range, each entry
 * labelled with its local minute.
 */
function minuteParts(bySubject: boolean, dims: Sqlf, filters: Sqlf, partKeys: string): string {
  const level = `(SELECT k.*, NULL::text AS subject FROM ${MINUTE_LEVEL.table} k)`;
  const served = MINUTE_LEVEL.recent?.served as string;
  const whole = bySubject
    ? 'false'
    : `a < z AND NOT EXISTS (
                 SELECT 1 FROM generate_series(a, z - interval '1 minute', interval '1 minute') AS m
                  WHERE ${bucketSql('m', 'MINUTE')} <> m
                     OR ${bucketSql("(m + interval '1 minute' - interval '1 microsecond')", 'MINUTE')} <> m)`;
  return `bounds AS (
       SELECT greatest(CASE WHEN date_trunc('minute', $3::timestamptz, 'UTC') = $3::timestamptz THEN $3::timestamptz
                            ELSE date_trunc('minute', $3::timestamptz, 'UTC') + interval '1 minute' END,
                       date_trunc('minute', now() - interval '${served}', 'UTC') + interval '1 minute') AS a,
              date_trunc('minute', $4::timestamptz, 'UTC') AS z
     ), served AS (
       SELECT CASE WHEN whole THEN a ELSE $4::timestamptz END AS a, CASE WHEN whole THEN z ELSE $4::timestamptz END AS z
         FROM (SELECT a, z, ${whole} AS whole FROM bounds OFFSET 0) x
     ), parts AS (
       -- each row is its own minute: the final GROUP BY adds them up, no aggregate here
       SELECT r.minute AS bucket, ${dims('r')}, r.currency, ${MEASURES.map((m) => `r.${m.sql}`).join(', ')}
         FROM served s
         JOIN ${level} r ON r.tenant_id = $1 AND r.minute >= s.a AND r.minute < s.z
        WHERE true ${filters('r')}
       UNION ALL
       SELECT l.*
         FROM served s
        CROSS JOIN LATERAL (VALUES ($3::timestamptz, s.a), (s.z, $4::timestamptz)) AS g(lo, hi)
        CROSS JOIN LATERAL (
              SELECT ${bucketSql('e.occurred_at', 'MINUTE')} AS bucket, ${dims('e')}, e.currency, ${LEDGER_MEASURES_SQL}
                FROM usage_events e
               WHERE e.tenant_id = $1 AND e.occurred_at >= g.lo AND e.occurred_at < g.hi ${filters('e')}
               GROUP BY ${partKeys}) l
        WHERE g.lo < g.hi
     )`;
}

/** The summary's rows as PostgreSQL answers them: keys, and every measure's sum as text. */
export function summaryRows(
  sql: Sql,
  f: SummaryFilter,
  groupBy: readonly UsageDimension[],
  granularity: Granularity | null | undefined,
): Promise<Record<string, string | Date | null>[]> {
  const st = summaryStatement(f, groupBy, granularity);
  return sql.query<Record<string, string | Date | null>>(st.name, st.text, st.params);
}

/** The summary statement; its rows are ordered by bucket, then the dimensions. */

/** The answer's rows: the parts summed per bucket and group, in a stable order. */
const totalsOfParts = (
  groupCols: string,
) => `SELECT bucket AS start, api_key_id AS "apiKeyId", subject, model, provider, kind, status, currency,
            ${MEASURES.map((m) => (m.numeric ? `round(sum(${m.sql}), 12)::text AS ${m.sql}` : `sum(${m.sql})::text AS ${m.sql}`)).join(', ')}
       FROM parts
      GROUP BY ${groupCols}
      ORDER BY bucket NULLS FIRST, api_key_id NULLS FIRST, subject NULLS FIRST, model NULLS FIRST,
               provider NULLS FIRST, kind NULLS FIRST, status NULLS FIRST, currency`;

export function summaryStatement(
  f: SummaryFilter,
  groupBy: readonly UsageDimension[],
  granularity: Granularity | null | undefined,
): Statement {
  const dims = (alias: string) =>
    (Object.keys(DIM_COLUMN) as UsageDimension[])
      .map(
        (d) =>
          (groupBy.includes(d) ? `${alias}.${DIM_COLUMN[d]}` : `NULL::${d === 'API_KEY' ? 'uuid' : 'text'}`) +
          ` AS ${DIM_COLUMN[d]}`,
      )
      .join(', ');
  const filters = (alias: string) => `
      AND ($5::uuid[] IS NULL OR ${alias}.api_key_id = ANY($5::uuid[]))
      AND ($6::text IS NULL OR ${alias}.subject = $6)
      AND ($7::text IS NULL OR ${alias}.model = $7)
      AND ($8::text IS NULL OR ${alias}.provider = $8)
      AND ($9::text IS NULL OR ${alias}.kind = $9)
      AND ($10::text IS NULL OR ${alias}.currency = $10)
      AND ($11::text IS NULL OR ${alias}.status = $11)`;
  const groupCols = 'bucket, api_key_id, subject, model, provider, kind, status, currency';
  // bucket, the dimensions, currency: the positions every part groups by
  const partKeys = Array.from({ length: Object.keys(DIM_COLUMN).length + 2 }, (_, i) => i + 1).join(', ');

  // The levels without subject are far smaller when a tenant has many end users; they serve
  // every summary that neither filters nor groups by subject.
  const bySubject = f.subject != null || groupBy.includes('SUBJECT');
  const hourly = bySubject
    ? 'usage_rollups_hourly'
    : '(SELECT k.*, NULL::text AS subject FROM usage_rollups_hourly_keys k)';
  // Whole local days come from the daily level: never with subject (it has none), never for
  // HOUR buckets, and only in the zone its days were cut in (the tenant's; checked in SQL).
  const daily = !bySubject && granularity !== 'HOUR';
  const days = daily
    ? `SELECT bucket, exact, lo, hi, da, dz,
              exact AND da < dz AND (SELECT timezone FROM tenants WHERE id = $1) = $2 AS whole_days
         FROM (SELECT s.*,
                      CASE WHEN date_trunc('day', lo, $2) = lo THEN lo
                           ELSE (date_trunc('day', lo AT TIME ZONE $2) + interval '1 day') AT TIME ZONE $2 END AS da,
                      date_trunc('day', hi, $2) AS dz
                 FROM spans s WHERE lo < hi) x`
    : 'SELECT bucket, exact, lo, hi, NULL::timestamptz AS da, NULL::timestamptz AS dz, false AS whole_days FROM spans WHERE lo < hi';
  // Sums over the range stay numeric, never cast back to bigint or numeric(38,12): a range
  // may add more than one column's worth (see MAX_AMOUNT in money.ts), and still answers.
  // (in MEASURES order, as LEDGER_MEASURES_SQL: the parts below are a UNION ALL)
  const sums = (alias: string) => MEASURES.map((m) => `sum(${alias}.${m.sql}) AS ${m.sql}`).join(', ');

  const params = [
    f.tenantId,
    f.timezone,
    f.from.toISOString(),
    f.to.toISOString(),
    f.apiKeyIds ?? null,
    f.subject ?? null,
    f.model ?? null,
    f.provider ?? null,
    f.kind ?? null,
    f.currency ?? null,
    f.status ?? null,
  ];

  if (granularity === 'MINUTE')
    return {
      name: bySubject ? 'usageSummary:minutesBySubject' : 'usageSummary:minutes',
      text: `WITH ${minuteParts(bySubject, dims, filters, partKeys)}
     ${totalsOfParts(groupCols)}`,
      params,
    };

  return {
    name: bySubject ? 'usageSummary:bySubject' : 'usageSummary',
    // spans: the range cut into [lo, hi) that each lie in one bucket. `exact` says every
    // instant of the span has the label `bucket`; otherwise (an HOUR span that a local hour
    // boundary cuts) each ledger entry is labelled on its own. The local days wholly inside a
    // span, [da, dz), come from the daily level; in the rest of the span (pieces), whole UTC
    // hours [a, z) come from the hourly level and the remainder, [lo, a) and [z, hi), from
    // the ledger.
    text: `WITH spans AS (${spansSql(granularity)}),
     days AS (${days}),
     segments AS (
       SELECT bucket, exact, lo, CASE WHEN whole_days THEN da ELSE hi END AS hi FROM days
       UNION ALL
       SELECT bucket, exact, dz, hi FROM days WHERE whole_days
     ), pieces AS (
       SELECT bucket, exact, lo, hi,
              CASE WHEN exact THEN date_trunc('hour', lo, 'UTC')
                     + CASE WHEN date_trunc('hour', lo, 'UTC') = lo THEN interval '0' ELSE interval '1 hour' END
                   ELSE hi END AS a,
              CASE WHEN exact THEN date_trunc('hour', hi, 'UTC') ELSE hi END AS z
         FROM segments
        WHERE lo < hi
     ), parts AS (
       SELECT d.bucket, ${dims('r')}, r.currency, ${sums('r')}
         FROM days d
         JOIN (SELECT k.*, NULL::text AS subject FROM usage_rollups_daily_keys k) r
           ON r.tenant_id = $1 AND r.day >= d.da AND r.day < d.dz
        WHERE d.whole_days ${filters('r')}
        GROUP BY ${partKeys}
       UNION ALL
       SELECT p.bucket, ${dims('r')}, r.currency, ${sums('r')}
         FROM pieces p
         JOIN ${hourly} r ON r.tenant_id = $1 AND r.hour >= p.a AND r.hour < p.z
        WHERE p.a < p.z ${filters('r')}
        GROUP BY ${partKeys}
       UNION ALL
       -- LATERAL with its own GROUP BY cannot be flattened: the ledger is read by index
       -- range, once per edge, whatever the planner's statistics say.
       SELECT l.*
         FROM pieces p
        CROSS JOIN LATERAL (VALUES (p.lo, least(p.a, p.hi)), (greatest(p.z, p.a), p.hi)) AS g(lo, hi)
        CROSS JOIN LATERAL (
              SELECT CASE WHEN p.exact THEN p.bucket ELSE ${bucketSql('e.occurred_at', granularity)} END AS bucket,
                     ${dims('e')}, e.currency, ${LEDGER_MEASURES_SQL}
                FROM usage_events e
               WHERE e.tenant_id = $1 AND e.occurred_at >= g.lo AND e.occurred_at < g.hi ${filters('e')}
               GROUP BY ${partKeys}) l
        WHERE g.lo < g.hi
     )
     ${totalsOfParts(groupCols)}`,
    params,
  };
}

/**
 * Quota's used for many scopes at once (usage.reader's usedMany): the summary statement of
 * one scope (no grouping, no buckets; by subject or not) run for every row of a list, as a
 * LATERAL subquery whose parameters are that row's columns. One statement, one plan, one
 * round trip for a whole flush of scopes; each row's answer is exactly the one-scope
 * statement's. Parameters: tenant ids, zones, window starts and ends, key ids (null: any),
 * subjects (null: any); rows come back tagged with their position (`ord`, from 1).
 */
function buildSummaryMany(bySubject: boolean): Statement {
  const one = summaryStatement(
    { tenantId: '', timezone: '', from: new Date(0), to: new Date(0), subject: bySubject ? '' : null },
    [],
    null,
  );
  const column: Record<string, string> = {
    $1: 'q.u_tenant',
    $2: 'q.u_tz',
    $3: 'q.u_lo',
    $4: 'q.u_hi',
    $5: '(CASE WHEN q.u_key IS NULL THEN NULL ELSE ARRAY[q.u_key] END)',
    $6: 'q.u_subject',
  };
  const inner = one.text.replace(/\$\d+/g, (p) => column[p] ?? 'NULL');
  return {
    name: `${one.name}:many`,
    text: `SELECT q.u_ord::int AS ord, sm.*
       FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::uuid[], $6::text[])
            WITH ORDINALITY AS q(u_tenant, u_tz, u_lo, u_hi, u_key, u_subject, u_ord)
      CROSS JOIN LATERAL (${inner}) sm`,
    params: [],
  };
}

/** The two texts, built once (every locked flush and lease renewal runs one). */
const SUMMARY_MANY = { bySubject: buildSummaryMany(true), byScope: buildSummaryMany(false) };

/** The rows of the many-scope summary (buildSummaryMany) for these filters (tenant, zone, range, key or none, subject or none), each tagged `ord`. */
export function summaryManyRows(
  sql: Sql,
  bySubject: boolean,
  fs: readonly {
    tenantId: string;
    timezone: string;
    from: Date;
    to: Date;
    apiKeyId: string | null;
    subject: string | null;
  }[],
): Promise<Record<string, string | number | null>[]> {
  const st = bySubject ? SUMMARY_MANY.bySubject : SUMMARY_MANY.byScope;
  return sql.query<Record<string, string | number | null>>(
    st.name,
    st.text,
    [
      fs.map((f) => f.tenantId),
      fs.map((f) => f.timezone),
      fs.map((f) => f.from.toISOString()),
      fs.map((f) => f.to.toISOString()),
      fs.map((f) => f.apiKeyId),
      fs.map((f) => f.subject),
    ],
    // Every locked authorization and lease renewal asks: planning the summary cost far more
    // than running it.
    { prepare: true },
  );
}
