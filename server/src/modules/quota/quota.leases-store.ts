// Every statement of quota's leases of headroom (quota.leases.ts, docs/authorize-leases.md),
// named, and nothing else. Part of quota's store, in a file of its own (quota.store.ts holds
// the rest). A lease row's amount moves only by its owner's relative updates; reservations
// admitted against it are inserted under a share lock of the row (which keeps it from being
// deleted meanwhile) and are subtracted from it by the owner's next write; anyone may delete a
// lease (expired, reclaimed, limits changed).
import type { Sql } from '../../db/database';
import type { NewReservation } from './quota.types';

/** The leased sum of one limit item, as the locked path counts it. */
export interface HeldRow {
  tenantId: string;
  limitId: string;
  scopeKey: string;
  periodStart: Date | null;
  amount: string;
}

/** One lease as it is created (its id is chosen by the instance). */
export interface NewLease {
  id: string;
  tenantId: string;
  /** null: the tenant's sentinel (amount 0). */
  limitId: string | null;
  scopeKey: string;
  periodStart: Date | null;
  amount: string;
  expiresAt: Date;
}

/** A relative change of an own lease: amount + delta (never below 0), and a new expiry (or kept). */
export interface LeaseChange {
  id: string;
  delta: string;
  expiresAt: Date | null;
}

/**
 * Under the tenants' lock, first thing: shares the lock of the plans in force, the tenants'
 * and their subjects' (so no plan's limits change under a grant), deletes expired leases, and
 * answers what the live ones hold per item, when each tenant's memberships next change, and
 * which tenants have subjects with plans of their own (now or to come).
 */
export async function enterLeases(
  tx: Sql,
  tenantIds: string[],
  /** The subjects of the flush: their own plans are the only subject plans read. */
  subjects: string[],
  now: Date,
): Promise<{ held: HeldRow[]; next: Map<string, Date>; subjectPlans: Set<string> }> {
  const rows = await tx.query<HeldRow & { kind: string }>(
    'authorizeUsage:leases',
    `WITH plans AS (
       SELECT count(*)::text AS n
         FROM (SELECT pg_advisory_xact_lock_shared(hashtextextended('tally:plan:' || plan_id::text, 0))
                 FROM (SELECT DISTINCT plan_id FROM memberships
                        WHERE tenant_id = ANY($1::uuid[]) AND (subject IS NULL OR subject = ANY($3::text[]))
                          AND starts_at <= $2 AND (ends_at IS NULL OR ends_at > $2)) m) x
     ), gone AS (
       DELETE FROM quota_leases WHERE tenant_id = ANY($1::uuid[]) AND expires_at <= $2 AND (SELECT n FROM plans) IS NOT NULL
       RETURNING id
     )
     SELECT 'held' AS kind, tenant_id AS "tenantId", limit_id AS "limitId", scope_key AS "scopeKey",
            period_start AS "periodStart", sum(amount)::text AS amount
       FROM quota_leases
      WHERE tenant_id = ANY($1::uuid[]) AND limit_id IS NOT NULL AND expires_at > $2 AND id NOT IN (SELECT id FROM gone)
      GROUP BY tenant_id, limit_id, scope_key, period_start
     UNION ALL
     SELECT 'next', tenant_id, NULL, NULL, min(t), NULL
       FROM memberships, LATERAL (VALUES (starts_at), (ends_at)) AS v(t)
      WHERE tenant_id = ANY($1::uuid[]) AND (subject IS NULL OR subject = ANY($3::text[])) AND t > $2
      GROUP BY tenant_id
     UNION ALL
     SELECT 'subjects', tenant_id, NULL, NULL, NULL, NULL
       FROM unnest($1::uuid[]) AS t(tenant_id)
      WHERE EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = t.tenant_id AND m.subject IS NOT NULL
                      AND (m.ends_at IS NULL OR m.ends_at > $2))
     UNION ALL
     SELECT 'plans', NULL, NULL, NULL, NULL, n FROM plans`,
    [tenantIds, now, subjects],
    { prepare: true },
  );
  const next = new Map<string, Date>();
  for (const r of rows) if (r.kind === 'next' && r.periodStart) next.set(r.tenantId, r.periodStart);
  const subjectPlans = new Set(rows.filter((r) => r.kind === 'subjects').map((r) => r.tenantId));
  return { held: rows.filter((r) => r.kind === 'held'), next, subjectPlans };
}

/**
 * Under the tenant's lock: deletes other instances' leases of these items (their slices go
 * back to the scope) and answers what the remaining live leases of the tenants hold.
 */
export function reclaimLeases(
  tx: Sql,
  items: { tenantId: string; limitId: string; scopeKey: string; periodStart: Date | null }[],
  instanceId: string,
  now: Date,
): Promise<HeldRow[]> {
  const col = <T>(f: (i: (typeof items)[number]) => T) => items.map(f);
  return tx.query<HeldRow>(
    'authorizeUsage:reclaim',
    `WITH items AS (
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[]) AS i(tenant_id, limit_id, scope_key, period_start)
     ), locked AS MATERIALIZED (
       SELECT q.id FROM quota_leases q, items i
        WHERE q.tenant_id = i.tenant_id AND q.limit_id = i.limit_id AND q.scope_key = i.scope_key
          AND q.period_start IS NOT DISTINCT FROM i.period_start AND q.instance_id <> $5
        ORDER BY q.id FOR UPDATE OF q
     ), gone AS (
       DELETE FROM quota_leases WHERE id IN (SELECT id FROM locked) RETURNING id
     )
     SELECT tenant_id AS "tenantId", limit_id AS "limitId", scope_key AS "scopeKey", period_start AS "periodStart",
            sum(amount)::text AS amount
       FROM quota_leases
      WHERE tenant_id IN (SELECT tenant_id FROM items) AND limit_id IS NOT NULL AND expires_at > $6
        AND id NOT IN (SELECT id FROM gone)
      GROUP BY tenant_id, limit_id, scope_key, period_start`,
    [
      col((i) => i.tenantId),
      col((i) => i.limitId),
      col((i) => i.scopeKey),
      col((i) => i.periodStart?.toISOString() ?? null),
      instanceId,
      now,
    ],
  );
}

/**
 * An instance's changes to its own leases, in one statement: relative changes, deletions,
 * new leases. Answers the ids that exist afterwards among the changed and the new (a changed
 * id missing from the answer was deleted by someone else: that lease is lost).
 */
export async function writeLeases(
  sql: Sql,
  instanceId: string,
  change: LeaseChange[],
  drop: string[],
  add: NewLease[],
): Promise<Set<string>> {
  if (!change.length && !drop.length && !add.length) return new Set();
  const rows = await sql.query<{ id: string }>(
    'quotaLeases:write',
    `WITH locked AS MATERIALIZED (
       SELECT id FROM quota_leases WHERE (id = ANY($1::uuid[]) OR id = ANY($5::uuid[])) AND instance_id = $4
        ORDER BY id FOR UPDATE
     ), changed AS (
       UPDATE quota_leases q SET amount = greatest(0, q.amount + v.d), expires_at = coalesce(v.e, q.expires_at)
         FROM unnest($1::uuid[], $2::numeric[], $3::timestamptz[]) AS v(id, d, e), locked
        WHERE q.id = v.id AND locked.id = q.id
       RETURNING q.id
     ), dropped AS (
       DELETE FROM quota_leases WHERE id = ANY($5::uuid[]) AND id IN (SELECT id FROM locked) RETURNING id
     ), added AS (
       INSERT INTO quota_leases (id, tenant_id, limit_id, scope_key, period_start, instance_id, amount, expires_at)
       SELECT id, t, l, s, p, $4, a, e
         FROM unnest($6::uuid[], $7::uuid[], $8::uuid[], $9::text[], $10::timestamptz[], $11::numeric[], $12::timestamptz[])
           AS v(id, t, l, s, p, a, e)
       RETURNING id
     )
     SELECT id FROM changed UNION ALL SELECT id FROM added`,
    [
      change.map((c) => c.id),
      change.map((c) => c.delta),
      change.map((c) => c.expiresAt?.toISOString() ?? null),
      instanceId,
      drop,
      add.map((a) => a.id),
      add.map((a) => a.tenantId),
      add.map((a) => a.limitId),
      add.map((a) => a.scopeKey),
      add.map((a) => a.periodStart?.toISOString() ?? null),
      add.map((a) => a.amount),
      add.map((a) => a.expiresAt.toISOString()),
    ],
    { prepare: true },
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * Statements that change several lease rows lock them first, in id order (a MATERIALIZED CTE
 * with ORDER BY ... FOR UPDATE: rows are locked after the sort), so two concurrent statements
 * (a renewal, a reclaim, an owner's write) can wait for each other but never deadlock
 * (PostgreSQL would abort one after deadlock_timeout, a second late).
 *
 * The fast path's reservations, without the tenant's lock: in one statement, the leases the
 * reservations were admitted against are share-locked (FOR KEY SHARE, in id order), and a
 * reservation is inserted only when every lease it names still exists. The lock is what makes
 * it exact: a lease cannot be deleted (reclaimed, expired) while a statement that found it has
 * not committed, so whoever deletes one and then sums the open reservations counts everything
 * admitted against it. The rows' amounts do not move here: the owner knows what it admitted
 * (the estimate left its slice in memory before the statement was sent) and subtracts what
 * was written at its next write of the row (a renewal, an extension); until then the row
 * counts it twice, with the reservations, which only ever overstates what is held. FOR KEY
 * SHARE does not conflict with itself nor with the owner's updates of the amount, so
 * statements of one instance (and its renewals) never wait for each other's row locks.
 * `takes[i]` names reservation `r` (its index in `rs`) and a lease (the tenant's sentinel for
 * a reservation that takes from no slice: its existence is what counts). Answers the ids
 * inserted: the rows are what `rs` says (the caller has them; reading them back cost more
 * than the insert).
 */
export async function reserveFromLeases(
  sql: Sql,
  takes: { r: number; leaseId: string }[],
  rs: NewReservation[],
): Promise<Set<string>> {
  const col = <T>(f: (r: NewReservation) => T) => rs.map(f);
  const rows = await sql.query<{ id: string }>(
    'authorizeUsage:reserveFromLeases',
    `WITH takes AS (
       SELECT * FROM unnest($1::int[], $2::uuid[]) AS t(r, lease)
     ), live AS MATERIALIZED (
       SELECT q.id FROM quota_leases q WHERE q.id IN (SELECT lease FROM takes) ORDER BY q.id FOR KEY SHARE
     ), res AS (
       SELECT * FROM unnest($3::int[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[], $8::numeric[], $9::bigint[],
                            $10::bigint[], $11::bigint[], $12::numeric[], $13::bigint[], $14::timestamptz[])
         AS v(r, id, tenant_id, api_key_id, subject, cost, tokens, input_tokens, output_tokens, asr_seconds, requests, expires_at)
     )
     INSERT INTO reservations (id, tenant_id, api_key_id, subject, cost, tokens, input_tokens, output_tokens, asr_seconds, requests, expires_at)
     SELECT id, tenant_id, api_key_id, subject, cost, tokens, input_tokens, output_tokens, asr_seconds, requests, expires_at
       FROM res
      WHERE res.r NOT IN (SELECT t.r FROM takes t LEFT JOIN live g ON g.id = t.lease WHERE g.id IS NULL)
     RETURNING id`,
    [
      takes.map((t) => t.r),
      takes.map((t) => t.leaseId),
      rs.map((_, i) => i),
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
    // The fast path's one statement per flush: parse and plan were most of its cost.
    { prepare: true },
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * Extends own leases without the tenant's lock, and subtracts from each what the reservations
 * written out of it since its last write hold (`spent`: they are in `reserved` now, so the
 * row stops counting them twice; a row only ever falls by committed reservations, which whoever
 * reads the leases first and the reservations after counts at least once). Only rows still
 * live until `guard`, so no locked round that could have counted one of them as expired (clocks
 * apart by less than `guard - now`) sees it come back. Answers the ids extended (a missing one
 * was deleted or is about to expire: lost).
 */
export async function extendLeases(
  sql: Sql,
  instanceId: string,
  leases: { id: string; spent: string }[],
  expiresAt: Date,
  guard: Date,
): Promise<Set<string>> {
  const rows = await sql.query<{ id: string }>(
    'quotaLeases:extend',
    `WITH v AS (
       SELECT * FROM unnest($1::uuid[], $2::numeric[]) AS v(id, spent)
     ), locked AS MATERIALIZED (
       SELECT id FROM quota_leases WHERE id IN (SELECT id FROM v) AND instance_id = $3 AND expires_at > $5
        ORDER BY id FOR UPDATE
     )
     UPDATE quota_leases q SET expires_at = $4, amount = greatest(0, q.amount - v.spent)
       FROM locked, v WHERE q.id = locked.id AND v.id = q.id AND q.expires_at > $5
     RETURNING q.id`,
    [leases.map((l) => l.id), leases.map((l) => l.spent), instanceId, expiresAt, guard],
    { prepare: true },
  );
  return new Set(rows.map((r) => r.id));
}

/** The leases among `ids` that exist (a check-only decision on the fast path asks this). */
export async function liveLeases(sql: Sql, ids: string[]): Promise<Set<string>> {
  const rows = await sql.query<{ id: string }>(
    'authorizeUsage:liveLeases',
    'SELECT id FROM quota_leases WHERE id = ANY($1::uuid[])',
    [ids],
    { prepare: true },
  );
  return new Set(rows.map((r) => r.id));
}

/** A limit change of these tenants: every lease of theirs goes (under the tenants' lock). */
export async function forgetTenants(tx: Sql, tenantIds: string[]): Promise<void> {
  await tx.query('quotaLeases:forgetTenants', 'DELETE FROM quota_leases WHERE tenant_id = ANY($1::uuid[])', [
    tenantIds,
  ]);
}

/**
 * A plan's limits change: waits for the authorizations that read them (they share the plan's
 * lock), then deletes the leases of every tenant that has or had a membership of it.
 */
export async function forgetPlan(tx: Sql, planId: string): Promise<void> {
  await tx.query('quotaLeases:lockPlan', `SELECT pg_advisory_xact_lock(hashtextextended('tally:plan:' || $1, 0))`, [
    planId,
  ]);
  await tx.query(
    'quotaLeases:forgetPlan',
    'DELETE FROM quota_leases WHERE tenant_id IN (SELECT tenant_id FROM memberships WHERE plan_id = $1)',
    [planId],
  );
}

/** An instance closing: its leases go back. */
export async function dropInstance(sql: Sql, instanceId: string): Promise<void> {
  await sql.query('quotaLeases:dropInstance', 'DELETE FROM quota_leases WHERE instance_id = $1', [instanceId]);
}
