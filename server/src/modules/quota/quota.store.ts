// Every statement quota runs, named, and nothing else: no rules, no checks, no events (the
// services beside it decide; this file only reads and writes plans, limits, memberships,
// reservations and quota_alerts). Each function takes the Sql to run on, so a caller inside a
// transaction passes its `tx` and one outside passes the database.
import type { Sql } from '../../db/database';
import type { TenantRow } from '../../db/entities';
import type { Keyset } from '../../lib/keyset';
import type {
  AlertRow,
  LimitInForce,
  LimitRow,
  MembershipRow,
  NewAlert,
  NewLimit,
  NewReservation,
  PlanRow,
  ReservationRow,
  ReservationStateRow,
  ReservedAmounts,
  ScopeIds,
} from './quota.types';

const LIMIT_COLUMNS = `id, plan_id AS "planId", tenant_id AS "tenantId", api_key_id AS "apiKeyId", metric, period, scope,
  amount::text AS amount, action, thresholds, position`;
const MEMBERSHIP_COLUMNS = `id, tenant_id AS "tenantId", plan_id AS "planId", subject, starts_at AS "startsAt", ends_at AS "endsAt"`;
export const RESERVATION_COLUMNS = `id, tenant_id AS "tenantId", api_key_id AS "apiKeyId", subject, cost::text AS cost, tokens::text AS tokens,
  input_tokens::text AS "inputTokens", output_tokens::text AS "outputTokens", asr_seconds::text AS "asrSeconds",
  requests::text AS requests, expires_at AS "expiresAt"`;
const ALERT_COLUMNS = `id, tenant_id AS "tenantId", limit_id AS "limitId", api_key_id AS "apiKeyId", subject,
  period_start AS "periodStart", threshold, used::text AS used, crossed_at AS "crossedAt"`;

// ------------------------------------------------------------------ locks

/** The lock every quota decision for one tenant takes (authorizations and limited writes). */
export async function lockTenants(tx: Sql, tenantIds: readonly string[]): Promise<void> {
  if (tenantIds.length === 0) return;
  await tx.query(
    'quota:lockTenants',
    `SELECT pg_advisory_xact_lock(hashtextextended('tally:tenant:' || t, 0)) FROM unnest($1::text[]) AS t ORDER BY t`,
    [[...new Set(tenantIds)].sort()],
    { prepare: true },
  );
}

// ------------------------------------------------------------------ plans

export async function upsertPlan(tx: Sql, code: string, name: string): Promise<PlanRow> {
  const [plan] = await tx.query<PlanRow>(
    'upsertPlan:plan',
    `INSERT INTO plans (code, name) VALUES ($1, $2)
     ON CONFLICT (code) DO UPDATE SET name = excluded.name, updated_at = now() RETURNING id, code, name`,
    [code, name],
  );
  return plan as PlanRow;
}

export function allPlans(sql: Sql): Promise<PlanRow[]> {
  return sql.query<PlanRow>('plans:all', 'SELECT id, code, name FROM plans ORDER BY code');
}

export function plansByIds(sql: Sql, ids: readonly string[]): Promise<PlanRow[]> {
  return sql.query<PlanRow>('plans:byIds', 'SELECT id, code, name FROM plans WHERE id = ANY($1::uuid[])', [ids]);
}

export async function planByCode(sql: Sql, code: string): Promise<PlanRow | null> {
  const [plan] = await sql.query<PlanRow>('assignPlan:plan', 'SELECT id, code, name FROM plans WHERE code = $1', [
    code,
  ]);
  return plan ?? null;
}

// ------------------------------------------------------------------ limits

/** The active limits of one owner (a plan or a key), locked for replacing them. */
export function activeLimitsForUpdate(
  tx: Sql,
  owner: { planId: string | null; apiKeyId: string | null },
): Promise<LimitRow[]> {
  return tx.query<LimitRow>(
    'limits:current',
    `SELECT ${LIMIT_COLUMNS} FROM limits WHERE active AND plan_id IS NOT DISTINCT FROM $1 AND api_key_id IS NOT DISTINCT FROM $2 FOR UPDATE`,
    [owner.planId, owner.apiKeyId],
  );
}

export async function repositionLimit(tx: Sql, id: string, position: number): Promise<void> {
  await tx.query('limits:reposition', 'UPDATE limits SET position = $2 WHERE id = $1', [id, position]);
}

const LIMIT_FIELDS = ['metric', 'period', 'scope', 'amount', 'action', 'thresholds', 'position'] as const;

export async function insertLimit(
  tx: Sql,
  owner: { planId: string | null; apiKeyId: string | null; tenantId: string | null },
  l: NewLimit,
): Promise<void> {
  await tx.query(
    'limits:insert',
    `INSERT INTO limits (plan_id, tenant_id, api_key_id, metric, period, scope, amount, action, thresholds, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [owner.planId, owner.tenantId, owner.apiKeyId, ...LIMIT_FIELDS.map((k) => l[k])],
  );
}

export async function retireLimits(tx: Sql, ids: string[]): Promise<void> {
  await tx.query('limits:retire', 'UPDATE limits SET active = false WHERE id = ANY($1::uuid[])', [ids]);
}

export function limitsByIds(sql: Sql, ids: readonly string[]): Promise<LimitRow[]> {
  return sql.query<LimitRow>('limits:byIds', `SELECT ${LIMIT_COLUMNS} FROM limits WHERE id = ANY($1::uuid[])`, [ids]);
}

/** Active limits of any of the owners (plan ids and key ids), in position order. */
export function limitsOfOwners(sql: Sql, owners: readonly string[]): Promise<LimitRow[]> {
  return sql.query<LimitRow>(
    'limits:ofOwners',
    `SELECT ${LIMIT_COLUMNS} FROM limits WHERE active AND (plan_id = ANY($1::uuid[]) OR api_key_id = ANY($1::uuid[])) ORDER BY position`,
    [owners],
  );
}

/** SQL: the plan of the tenant's own membership in force at `at` (memberships_tenant_idx). */
const planAt = (tenant: string, at: string) =>
  `(SELECT m.plan_id FROM memberships m WHERE m.tenant_id = ${tenant} AND m.subject IS NULL AND m.starts_at <= ${at}
     AND (m.ends_at IS NULL OR m.ends_at > ${at}) ORDER BY m.starts_at DESC LIMIT 1)`;

/**
 * What statuses are made of, for many scopes (tenant $1, key $2, subject $3, element by
 * element) at $4 in one statement, each row tagged with its scope's position (`ord`, from 1):
 * the active limits of the tenant's plan at $4 and of the key, then of the subject's own plan
 * only (memberships_subject_idx; a plan without limits answers a row of NULLs, so it shows).
 */
export const LIMITS_IN_FORCE = `
  SELECT q.u_ord::int AS ord, x.* FROM unnest($1::uuid[], $2::uuid[], $3::text[]) WITH ORDINALITY AS q(u_tenant, u_key, u_subject, u_ord)
   CROSS JOIN LATERAL (
    SELECT ${LIMIT_COLUMNS}, NULL::text AS "forSubject" FROM limits
     WHERE active AND (plan_id = ${planAt('q.u_tenant', '$4')} OR api_key_id = q.u_key)
    UNION ALL
    SELECT l.id, l.plan_id, l.tenant_id, l.api_key_id, l.metric, l.period, l.scope, l.amount::text, l.action, l.thresholds,
           l.position, s.subject
      FROM (SELECT m.subject, m.plan_id FROM memberships m
             WHERE m.tenant_id = q.u_tenant AND m.subject = q.u_subject AND m.starts_at <= $4
               AND (m.ends_at IS NULL OR m.ends_at > $4)
             ORDER BY m.starts_at DESC LIMIT 1) s
      LEFT JOIN limits l ON l.plan_id = s.plan_id AND l.active) x
  ORDER BY ord, x."forSubject" NULLS FIRST, x."apiKeyId" NULLS FIRST, x.position`;

/** The limits in force of each scope, in order (see LIMITS_IN_FORCE). */
export async function limitsInForce(
  sql: Sql,
  scopes: readonly { tenantId: string; apiKeyId: string | null; subject: string | null }[],
  at: Date,
): Promise<LimitInForce[][]> {
  const rows = await sql.query<LimitInForce & { ord: number }>(
    'quota:limits',
    LIMITS_IN_FORCE,
    [scopes.map((s) => s.tenantId), scopes.map((s) => s.apiKeyId), scopes.map((s) => s.subject), at],
    { prepare: true },
  );
  const out: LimitInForce[][] = scopes.map(() => []);
  for (const { ord, ...r } of rows) out[ord - 1]?.push(r);
  return out;
}

/**
 * Per tenant of a write: its thresholded limits in force at `at` (its plan's and its keys'),
 * and whether any subject of it has an own plan then. A tenant with neither has no row.
 */
export async function thresholdedLimits(
  sql: Sql,
  tenantIds: string[],
  at: Date,
): Promise<{ tenant: TenantRow; limit: LimitRow | null; subjectPlans: boolean }[]> {
  const rows = await sql.query<
    LimitRow & { tz: string; tname: string; tcur: string; tcreated: Date; subjectPlans: boolean }
  >(
    'quota:planWrite',
    `SELECT l.id, l.plan_id AS "planId", t.id AS "tenantId", l.api_key_id AS "apiKeyId", l.metric, l.period, l.scope,
            l.amount::text AS amount, l.action, l.thresholds, l.position, t.timezone AS tz, t.name AS tname,
            t.currency AS tcur, t.created_at AS tcreated, s.any AS "subjectPlans"
       FROM tenants t
       CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = t.id AND m.subject IS NOT NULL
                             AND m.starts_at <= $2 AND (m.ends_at IS NULL OR m.ends_at > $2)) AS any) s
       LEFT JOIN LATERAL (
         SELECT * FROM limits WHERE active AND cardinality(thresholds) > 0 AND plan_id = ${planAt('t.id', '$2')}
         UNION ALL
         SELECT * FROM limits WHERE active AND cardinality(thresholds) > 0 AND api_key_id IS NOT NULL AND tenant_id = t.id
       ) l ON true
      WHERE t.id = ANY($1::uuid[]) AND (l.id IS NOT NULL OR s.any)`,
    [tenantIds, at],
  );
  return rows.map(({ tz, tname, tcur, tcreated, subjectPlans, ...limit }) => ({
    tenant: { id: limit.tenantId as string, name: tname, timezone: tz, currency: tcur, createdAt: tcreated },
    limit: limit.id ? limit : null,
    subjectPlans,
  }));
}

/** The thresholded limits of the own plans of (tenant, subject) pairs at `at`; a subject with a plan and none: a NULL limit. */
export function subjectPlanLimits(
  tx: Sql,
  pairs: { tenantId: string; subject: string }[],
  at: Date,
): Promise<(LimitRow & { forSubject: string; forTenant: string })[]> {
  return tx.query(
    'quota:subjectPlans',
    `SELECT s.tenant_id AS "forTenant", s.subject AS "forSubject", l.id, l.plan_id AS "planId", l.tenant_id AS "tenantId",
            l.api_key_id AS "apiKeyId", l.metric, l.period, l.scope, l.amount::text AS amount, l.action, l.thresholds, l.position
       FROM (SELECT DISTINCT ON (m.tenant_id, m.subject) m.tenant_id, m.subject, m.plan_id
               FROM unnest($1::uuid[], $2::text[]) AS v(t, s)
               JOIN memberships m ON m.tenant_id = v.t AND m.subject = v.s
              WHERE m.starts_at <= $3 AND (m.ends_at IS NULL OR m.ends_at > $3)
              ORDER BY m.tenant_id, m.subject, m.starts_at DESC) s
       LEFT JOIN limits l ON l.plan_id = s.plan_id AND l.active AND cardinality(l.thresholds) > 0`,
    [pairs.map((p) => p.tenantId), pairs.map((p) => p.subject), at],
  );
}

// ------------------------------------------------------------------ memberships

/** Whose memberships: the tenant's own (subject NULL, memberships_tenant_idx) or one subject's. */
const whose = (subject: string | null) => (subject === null ? 'subject IS NULL' : 'subject = $3');
const args = (tenantId: string, at: Date, subject: string | null) =>
  subject === null ? [tenantId, at] : [tenantId, at, subject];

export async function membershipStartsAtOrAfter(tx: Sql, tenantId: string, subject: string | null, at: Date) {
  const later = await tx.query(
    'assignPlan:later',
    `SELECT 1 FROM memberships WHERE tenant_id = $1 AND ${whose(subject)} AND starts_at >= $2`,
    args(tenantId, at, subject),
  );
  return later.length > 0;
}

export async function endMembershipAt(tx: Sql, tenantId: string, subject: string | null, at: Date): Promise<void> {
  await tx.query(
    'assignPlan:endCurrent',
    `UPDATE memberships SET ends_at = $2
      WHERE tenant_id = $1 AND ${whose(subject)} AND starts_at < $2 AND (ends_at IS NULL OR ends_at > $2)`,
    args(tenantId, at, subject),
  );
}

export async function insertMembership(
  tx: Sql,
  m: { tenantId: string; planId: string; subject: string | null; startsAt: Date },
): Promise<MembershipRow> {
  const [row] = await tx.query<MembershipRow>(
    'assignPlan:insert',
    `INSERT INTO memberships (tenant_id, plan_id, subject, starts_at) VALUES ($1, $2, $3, $4) RETURNING ${MEMBERSHIP_COLUMNS}`,
    [m.tenantId, m.planId, m.subject, m.startsAt],
  );
  return row as MembershipRow;
}

/** The membership of the tenant (subject null) or of one subject in force at `at`. */
export async function membershipAt(sql: Sql, tenantId: string, at: Date, subject: string | null = null) {
  const [m] = await sql.query<MembershipRow>(
    'memberships:at',
    `SELECT ${MEMBERSHIP_COLUMNS} FROM memberships
      WHERE tenant_id = $1 AND ${whose(subject)} AND starts_at <= $2 AND (ends_at IS NULL OR ends_at > $2)
      ORDER BY starts_at DESC LIMIT 1`,
    args(tenantId, at, subject),
  );
  return m ?? null;
}

/** Subject memberships not ended at `at` (in force or to come), newest start first (keyset on starts_at, id). */
export function subjectMembershipsPage(
  sql: Sql,
  tenantId: string,
  subject: string | null,
  at: Date,
  k: Keyset,
): Promise<MembershipRow[]> {
  return sql.query<MembershipRow>(
    'subjectMemberships:page',
    `SELECT ${MEMBERSHIP_COLUMNS} FROM memberships
      WHERE tenant_id = $1 AND subject IS NOT NULL AND ($2::text IS NULL OR subject = $2) AND (ends_at IS NULL OR ends_at > $3)
        AND ($4::timestamptz IS NULL OR (starts_at, id) < ($4::timestamptz, $5::uuid))
      ORDER BY starts_at DESC, id DESC LIMIT $6`,
    [tenantId, subject, at, k.afterInstant, k.afterId, k.limit],
  );
}

// ------------------------------------------------------------------ windows

/** DAY and MONTH bounds of each (zone, instant) pair, in order. */
export function windowBounds(
  sql: Sql,
  pairs: readonly { timezone: string; at: string }[],
): Promise<{ d0: Date; d1: Date; m0: Date; m1: Date }[]> {
  return sql.query<{ d0: Date; d1: Date; m0: Date; m1: Date }>(
    'quota:windows',
    `SELECT date_trunc('day', t, z) AS d0, ((date_trunc('day', t, z) AT TIME ZONE z) + interval '1 day') AT TIME ZONE z AS d1,
            date_trunc('month', t, z) AS m0, ((date_trunc('month', t, z) AT TIME ZONE z) + interval '1 month') AT TIME ZONE z AS m1
       FROM unnest($1::text[], $2::timestamptz[]) WITH ORDINALITY AS q(z, t, ord)
      ORDER BY ord`,
    [pairs.map((p) => p.timezone), pairs.map((p) => p.at)],
    { prepare: true },
  );
}

// ------------------------------------------------------------------ reservations

/**
 * What the open reservations of each scope hold, summed, in order ($1-$3 the scopes' tenant,
 * key and subject, $4 now). Each scope's sum is a range of the open-reservations index; the
 * planner keeps to it because reservations.tenant_id has a fixed n_distinct (migration
 * ReservationTenantStats): with sampled statistics, an ANALYZE taken while one tenant had all
 * the rows made it sum every scope by reading the whole table.
 */
export const RESERVED_SQL = `SELECT x.* FROM unnest($1::uuid[], $2::uuid[], $3::text[]) WITH ORDINALITY AS q(u_tenant, u_key, u_subject, u_ord)
      CROSS JOIN LATERAL (
        SELECT coalesce(sum(cost), 0)::text AS cost, coalesce(sum(tokens), 0)::text AS tokens,
               coalesce(sum(input_tokens), 0)::text AS "inputTokens", coalesce(sum(output_tokens), 0)::text AS "outputTokens",
               coalesce(sum(asr_seconds), 0)::text AS "asrSeconds", coalesce(sum(requests), 0)::text AS requests
          FROM reservations
         WHERE tenant_id = q.u_tenant AND settled_at IS NULL AND released_at IS NULL AND expires_at > $4
           AND (q.u_key IS NULL OR api_key_id = q.u_key) AND (q.u_subject IS NULL OR subject = q.u_subject)) x
      ORDER BY q.u_ord`;

/** What the open reservations of each scope (a tenant, optionally a key and a subject) hold, summed, in order. */
export function reservedIn(
  sql: Sql,
  scopes: readonly ({ tenantId: string } & ScopeIds)[],
  now: Date,
): Promise<ReservedAmounts[]> {
  return sql.query<ReservedAmounts>(
    'quota:reserved',
    RESERVED_SQL,
    [scopes.map((s) => s.tenantId), scopes.map((s) => s.apiKeyId ?? null), scopes.map((s) => s.subject ?? null), now],
    { prepare: true },
  );
}

const AMOUNTS = ['cost', 'tokens', 'inputTokens', 'outputTokens', 'asrSeconds', 'requests'] as const;

export function insertReservations(tx: Sql, rs: NewReservation[]): Promise<ReservationRow[]> {
  const col = <T>(f: (r: NewReservation) => T) => rs.map(f);
  const amounts = AMOUNTS.map((k) => col((r) => r.est[k]));
  const expires = col((r) => r.expiresAt.toISOString());
  return tx.query<ReservationRow>(
    'authorizeUsage:reserve',
    `INSERT INTO reservations (id, tenant_id, api_key_id, subject, cost, tokens, input_tokens, output_tokens, asr_seconds, requests, expires_at)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::numeric[], $6::bigint[], $7::bigint[],
                          $8::bigint[], $9::numeric[], $10::bigint[], $11::timestamptz[])
     RETURNING ${RESERVATION_COLUMNS}`,
    [...(['id', 'tenantId', 'apiKeyId', 'subject'] as const).map((k) => col((r) => r[k])), ...amounts, expires],
    { prepare: true },
  );
}

/** Releases an open reservation (of `tenantId` unless null); null when there is none. */
export async function releaseReservation(
  sql: Sql,
  id: string,
  tenantId: string | null,
  now: Date,
): Promise<ReservationRow | null> {
  const [r] = await sql.query<ReservationRow>(
    'releaseReservation',
    `UPDATE reservations SET released_at = $3
      WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) AND settled_at IS NULL AND released_at IS NULL AND expires_at > $3
      RETURNING ${RESERVATION_COLUMNS}`,
    [id, tenantId, now],
  );
  return r ?? null;
}

/**
 * Deletes up to `limit` reservations with ids below `madeBefore` (UUIDv7: made before its
 * instant) that expired before `expiredBefore`; answers how many. The id range is the primary
 * key's, so the oldest rows are found without an index of their own; the expiry condition
 * keeps any row an id does not date (a clock ahead, an id of another form) until it has
 * expired. Small batches: each holds its row locks briefly.
 */
export async function pruneReservations(
  sql: Sql,
  madeBefore: string,
  notYetMade: string,
  expiredBefore: Date,
  limit: number,
): Promise<number> {
  // Two primary-key ranges: ids made before `madeBefore`, and ids no clock has reached yet
  // (`notYetMade` and above: random ids of rows made before reservation ids were UUIDv7 sit
  // there nearly all; the few below it are in the first range or soon will be). `expires_at`
  // decides; the ranges only keep the scans short.
  const rows = await sql.query(
    'quota:pruneReservations',
    `DELETE FROM reservations
      WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM (
          (SELECT ctid FROM reservations WHERE id < $1 AND expires_at < $3 ORDER BY id LIMIT $4)
          UNION ALL
          (SELECT ctid FROM reservations WHERE id >= $2 AND expires_at < $3 ORDER BY id LIMIT $4)
        ) x LIMIT $4))
      RETURNING 1`,
    [madeBefore, notYetMade, expiredBefore, limit],
  );
  return rows.length;
}

/** The reservations among `ids` that exist, whatever their state, locked for the transaction. */
export function lockReservations(tx: Sql, ids: string[], now: Date): Promise<ReservationStateRow[]> {
  return tx.query<ReservationStateRow>(
    'recordUsage:reservations',
    `SELECT id, tenant_id AS "tenantId", event_id AS "eventId",
            CASE WHEN settled_at IS NOT NULL THEN 'SETTLED' WHEN released_at IS NOT NULL THEN 'RELEASED'
                 WHEN expires_at <= $2 THEN 'EXPIRED' ELSE 'OPEN' END AS state
       FROM reservations WHERE id = ANY($1::uuid[])
      ORDER BY id FOR UPDATE`,
    [ids, now],
  );
}

export async function settleReservations(
  tx: Sql,
  pairs: { reservationId: string; eventId: string }[],
  now: Date,
): Promise<void> {
  await tx.query(
    'recordUsage:settle',
    `UPDATE reservations r SET settled_at = $3, event_id = v.e FROM unnest($1::uuid[], $2::uuid[]) AS v(r, e) WHERE r.id = v.r`,
    [pairs.map((x) => x.reservationId), pairs.map((x) => x.eventId), now],
  );
}

// ------------------------------------------------------------------ alerts

/** Stores the alerts not stored before (the unique key decides); returns the new ones. */
export function insertAlerts(tx: Sql, alerts: NewAlert[], at: Date): Promise<AlertRow[]> {
  return tx.query<AlertRow>(
    'recordUsage:alerts',
    `INSERT INTO quota_alerts (tenant_id, limit_id, scope_key, api_key_id, subject, period_start, threshold, used, crossed_at)
     SELECT *, $9::timestamptz FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::timestamptz[], $7::int[], $8::numeric[])
     ON CONFLICT DO NOTHING RETURNING ${ALERT_COLUMNS}`,
    [
      ...(['tenantId', 'limitId', 'scopeKey', 'apiKeyId', 'subject'] as const).map((k) => alerts.map((c) => c[k])),
      alerts.map((c) => c.periodStart?.toISOString() ?? null),
      ...(['threshold', 'used'] as const).map((k) => alerts.map((c) => c[k])),
      at,
    ],
  );
}

export function alertsPage(
  sql: Sql,
  tenantId: string,
  range: { from: Date | null; to: Date | null; subject: string | null },
  k: Keyset,
): Promise<AlertRow[]> {
  return sql.query<AlertRow>(
    'quotaAlerts:page',
    `SELECT ${ALERT_COLUMNS} FROM quota_alerts
      WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR crossed_at >= $2) AND ($3::timestamptz IS NULL OR crossed_at < $3)
        AND ($4::timestamptz IS NULL OR (crossed_at, id) < ($4::timestamptz, $5::uuid)) AND ($7::text IS NULL OR subject = $7)
      ORDER BY crossed_at DESC, id DESC LIMIT $6`,
    [tenantId, range.from, range.to, k.afterInstant, k.afterId, k.limit, range.subject],
  );
}
