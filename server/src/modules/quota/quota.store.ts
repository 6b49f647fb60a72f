// Every statement quota runs, named, and nothing else: no rules, no checks, no events (the
// services beside it decide; this file only reads and writes plans, limits, memberships,
// reservations and quota_alerts). Each function takes the Sql to run on, so a caller inside a
// transaction passes its `tx` and one outside passes the database.
import type { Sql } from '../../db/database';
import type { TenantRow } from '../../db/entities';
import type { Keyset } from '../../lib/keyset';
import type { AlertRow, LimitRow, MembershipRow, PlanRow, ReservationRow, ReservedAmounts } from './quota.types';

const LIMIT_COLUMNS = `id, plan_id AS "planId", tenant_id AS "tenantId", api_key_id AS "apiKeyId", metric, period, scope,
  amount::text AS amount, action, thresholds, position`;
const MEMBERSHIP_COLUMNS = `id, tenant_id AS "tenantId", plan_id AS "planId", starts_at AS "startsAt", ends_at AS "endsAt"`;
export const RESERVATION_COLUMNS = `id, tenant_id AS "tenantId", api_key_id AS "apiKeyId", subject, cost::text AS cost, tokens::text AS tokens,
  input_tokens::text AS "inputTokens", output_tokens::text AS "outputTokens", asr_seconds::text AS "asrSeconds",
  requests::text AS requests, expires_at AS "expiresAt"`;
const ALERT_COLUMNS = `id, tenant_id AS "tenantId", limit_id AS "limitId", api_key_id AS "apiKeyId", subject,
  period_start AS "periodStart", threshold, used::text AS used, crossed_at AS "crossedAt"`;

/** A scope inside one tenant: the whole tenant, one key, or one subject. */
export interface ScopeIds {
  apiKeyId?: string | null;
  subject?: string | null;
}

/** A limit as stored, without its id (what replaceLimits compares and inserts). */
export interface NewLimit {
  metric: string;
  period: string;
  scope: string;
  amount: string;
  action: string;
  thresholds: number[];
  position: number;
}

/** The state a reservation named by an entry is in, read under its row lock. */
export interface ReservationStateRow {
  id: string;
  tenantId: string;
  eventId: string | null;
  state: 'OPEN' | 'SETTLED' | 'RELEASED' | 'EXPIRED';
}

// ------------------------------------------------------------------ locks

/** The lock every quota decision for one tenant takes (authorizations and limited writes). */
export async function lockTenants(tx: Sql, tenantIds: readonly string[]): Promise<void> {
  if (tenantIds.length === 0) return;
  await tx.query(
    'quota:lockTenants',
    `SELECT pg_advisory_xact_lock(hashtextextended('tally:tenant:' || t, 0)) FROM unnest($1::text[]) AS t ORDER BY t`,
    [[...new Set(tenantIds)].sort()],
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

export async function insertLimit(
  tx: Sql,
  owner: { planId: string | null; apiKeyId: string | null; tenantId: string | null },
  l: NewLimit,
): Promise<void> {
  await tx.query(
    'limits:insert',
    `INSERT INTO limits (plan_id, tenant_id, api_key_id, metric, period, scope, amount, action, thresholds, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      owner.planId,
      owner.tenantId,
      owner.apiKeyId,
      l.metric,
      l.period,
      l.scope,
      l.amount,
      l.action,
      l.thresholds,
      l.position,
    ],
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

/** Active limits of a plan and a key, plan limits first (what a status is made of). */
export function applicableLimits(sql: Sql, owners: readonly string[]): Promise<LimitRow[]> {
  return sql.query<LimitRow>(
    'quota:limits',
    `SELECT ${LIMIT_COLUMNS} FROM limits WHERE active AND (plan_id = ANY($1::uuid[]) OR api_key_id = ANY($1::uuid[]))
      ORDER BY api_key_id NULLS FIRST, position`,
    [owners],
  );
}

/** Thresholded limits in force for any of the tenants at `at`, each with its tenant. */
export async function thresholdedLimits(
  sql: Sql,
  tenantIds: string[],
  at: Date,
): Promise<{ tenant: TenantRow; limit: LimitRow }[]> {
  const rows = await sql.query<LimitRow & { tz: string; tname: string; tcur: string; tcreated: Date }>(
    'quota:planWrite',
    `SELECT l.id, l.plan_id AS "planId", coalesce(l.tenant_id, m.tenant_id) AS "tenantId", l.api_key_id AS "apiKeyId", l.metric,
            l.period, l.scope, l.amount::text AS amount, l.action, l.thresholds, l.position, t.timezone AS tz, t.name AS tname,
            t.currency AS tcur, t.created_at AS tcreated
       FROM limits l
       LEFT JOIN memberships m ON m.plan_id = l.plan_id AND m.tenant_id = ANY($1::uuid[])
            AND m.starts_at <= $2 AND (m.ends_at IS NULL OR m.ends_at > $2)
       JOIN tenants t ON t.id = coalesce(l.tenant_id, m.tenant_id)
      WHERE l.active AND cardinality(l.thresholds) > 0
        AND (m.id IS NOT NULL OR (l.api_key_id IS NOT NULL AND l.tenant_id = ANY($1::uuid[])))`,
    [tenantIds, at],
  );
  return rows.map(({ tz, tname, tcur, tcreated, ...limit }) => ({
    tenant: { id: limit.tenantId as string, name: tname, timezone: tz, currency: tcur, createdAt: tcreated },
    limit,
  }));
}

// ------------------------------------------------------------------ memberships

export async function membershipStartsAtOrAfter(tx: Sql, tenantId: string, at: Date): Promise<boolean> {
  const later = await tx.query(
    'assignPlan:later',
    'SELECT 1 FROM memberships WHERE tenant_id = $1 AND starts_at >= $2',
    [tenantId, at],
  );
  return later.length > 0;
}

export async function endMembershipAt(tx: Sql, tenantId: string, at: Date): Promise<void> {
  await tx.query(
    'assignPlan:endCurrent',
    'UPDATE memberships SET ends_at = $2 WHERE tenant_id = $1 AND starts_at < $2 AND (ends_at IS NULL OR ends_at > $2)',
    [tenantId, at],
  );
}

export async function insertMembership(
  tx: Sql,
  tenantId: string,
  planId: string,
  startsAt: Date,
): Promise<MembershipRow> {
  const [m] = await tx.query<MembershipRow>(
    'assignPlan:insert',
    `INSERT INTO memberships (tenant_id, plan_id, starts_at) VALUES ($1, $2, $3) RETURNING ${MEMBERSHIP_COLUMNS}`,
    [tenantId, planId, startsAt],
  );
  return m as MembershipRow;
}

export async function membershipAt(sql: Sql, tenantId: string, at: Date): Promise<MembershipRow | null> {
  const [m] = await sql.query<MembershipRow>(
    'memberships:at',
    `SELECT ${MEMBERSHIP_COLUMNS} FROM memberships
      WHERE tenant_id = $1 AND starts_at <= $2 AND (ends_at IS NULL OR ends_at > $2) ORDER BY starts_at DESC LIMIT 1`,
    [tenantId, at],
  );
  return m ?? null;
}

// ------------------------------------------------------------------ windows

/** DAY and MONTH bounds in `timezone` of each instant (ISO string -> bounds). */
export function windowBounds(
  sql: Sql,
  timezone: string,
  instants: string[],
): Promise<{ t: Date; d0: Date; d1: Date; m0: Date; m1: Date }[]> {
  return sql.query<{ t: Date; d0: Date; d1: Date; m0: Date; m1: Date }>(
    'quota:windows',
    `SELECT t, date_trunc('day', t, $2) AS d0, ((date_trunc('day', t, $2) AT TIME ZONE $2) + interval '1 day') AT TIME ZONE $2 AS d1,
            date_trunc('month', t, $2) AS m0, ((date_trunc('month', t, $2) AT TIME ZONE $2) + interval '1 month') AT TIME ZONE $2 AS m1
       FROM unnest($1::timestamptz[]) AS t`,
    [instants, timezone],
  );
}

// ------------------------------------------------------------------ reservations

/** What the open reservations of one scope hold, summed. */
export async function reservedIn(sql: Sql, tenantId: string, scope: ScopeIds, now: Date): Promise<ReservedAmounts> {
  const [r] = await sql.query<ReservedAmounts>(
    'quota:reserved',
    `SELECT coalesce(sum(cost), 0)::text AS cost, coalesce(sum(tokens), 0)::text AS tokens,
            coalesce(sum(input_tokens), 0)::text AS "inputTokens", coalesce(sum(output_tokens), 0)::text AS "outputTokens",
            coalesce(sum(asr_seconds), 0)::text AS "asrSeconds", coalesce(sum(requests), 0)::text AS requests
       FROM reservations
      WHERE tenant_id = $1 AND settled_at IS NULL AND released_at IS NULL AND expires_at > $2
        AND ($3::uuid IS NULL OR api_key_id = $3) AND ($4::text IS NULL OR subject = $4)`,
    [tenantId, now, scope.apiKeyId ?? null, scope.subject ?? null],
  );
  return r as ReservedAmounts;
}

export interface NewReservation {
  id: string;
  tenantId: string;
  apiKeyId: string | null;
  subject: string | null;
  est: ReservedAmounts;
  expiresAt: Date;
}

export function insertReservations(tx: Sql, rs: NewReservation[]): Promise<ReservationRow[]> {
  const col = <T>(f: (r: NewReservation) => T) => rs.map(f);
  return tx.query<ReservationRow>(
    'authorizeUsage:reserve',
    `INSERT INTO reservations (id, tenant_id, api_key_id, subject, cost, tokens, input_tokens, output_tokens, asr_seconds, requests, expires_at)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::numeric[], $6::bigint[], $7::bigint[],
                          $8::bigint[], $9::numeric[], $10::bigint[], $11::timestamptz[])
     RETURNING ${RESERVATION_COLUMNS}`,
    [
      col((r) => r.id),
      col((r) => r.tenantId),
      col((r) => r.apiKeyId),
      col((r) => r.subject),
      col((r) => r.est.cost),
      col((r) => r.est.tokens),
      col((r) => r.est.inputTokens),
      col((r) => r.est.outputTokens),
      col((r) => r.est.asrSeconds),
      col((r) => r.est.requests),
      col((r) => r.expiresAt.toISOString()),
    ],
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

export interface NewAlert {
  tenantId: string;
  limitId: string;
  scopeKey: string;
  apiKeyId: string | null;
  subject: string | null;
  periodStart: Date | null;
  threshold: number;
  used: string;
}

/** Stores the alerts not stored before (the unique key decides); returns the new ones. */
export function insertAlerts(tx: Sql, alerts: NewAlert[], at: Date): Promise<AlertRow[]> {
  return tx.query<AlertRow>(
    'recordUsage:alerts',
    `INSERT INTO quota_alerts (tenant_id, limit_id, scope_key, api_key_id, subject, period_start, threshold, used, crossed_at)
     SELECT *, $9::timestamptz FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::timestamptz[], $7::int[], $8::numeric[])
     ON CONFLICT DO NOTHING RETURNING ${ALERT_COLUMNS}`,
    [
      alerts.map((c) => c.tenantId),
      alerts.map((c) => c.limitId),
      alerts.map((c) => c.scopeKey),
      alerts.map((c) => c.apiKeyId),
      alerts.map((c) => c.subject),
      alerts.map((c) => c.periodStart?.toISOString() ?? null),
      alerts.map((c) => c.threshold),
      alerts.map((c) => c.used),
      at,
    ],
  );
}

export function alertsPage(
  sql: Sql,
  tenantId: string,
  range: { from: Date | null; to: Date | null },
  k: Keyset,
): Promise<AlertRow[]> {
  return sql.query<AlertRow>(
    'quotaAlerts:page',
    `SELECT ${ALERT_COLUMNS} FROM quota_alerts
      WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR crossed_at >= $2) AND ($3::timestamptz IS NULL OR crossed_at < $3)
        AND ($4::timestamptz IS NULL OR (crossed_at, id) < ($4::timestamptz, $5::uuid))
      ORDER BY crossed_at DESC, id DESC LIMIT $6`,
    [tenantId, range.from, range.to, k.afterInstant, k.afterId, k.limit],
  );
}
