// Quota: plans and their limits, memberships (a history per tenant), per-key limits,
// quota status, authorizations with reservations, and threshold alerts.
// Owns: plans, limits, memberships, reservations, quota_alerts. Reads usage through the
// usage module's summaries (rollups + ledger edges), so quota and summaries never disagree.
//
// Concurrency: every decision that depends on "used + reserved" for a tenant runs under a
// transaction-scoped advisory lock on that tenant: authorizations, and the recording of
// usage for tenants that have limits (the usage writer takes it first, then computes alerts
// in the same transaction). After the lock, READ COMMITTED statements see every earlier
// holder's committed rows, so N concurrent authorizations on any number of instances admit
// exactly as many as fit, and each threshold crossing is seen by exactly one writer; the
// unique key on quota_alerts makes a second insert impossible anyway.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Database, Sql } from '../../db/database';
import type { TenantRow } from '../../db/entities';
import { type Principal, requireScope, tenantOf } from '../../graphql/principal';
import { AppError, badInput, containsNul, forbidden, notFound } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { clip } from '../../lib/input';
import { connection, keyset } from '../../lib/keyset';
import { Dec, fmt, parseAmount, ZERO } from '../../lib/money';
import type { TenantsService } from '../tenants/tenants.service';
import { DEFAULT_GROUP_COMMIT, GroupCommitter } from '../usage/group-commit';
import { addTotals, emptyTotals, summarize } from '../usage/usage.summary';
import type { EventRow, Totals } from '../usage/usage.types';
import type { ReservationState } from '../usage/usage.writer';
import {
  ACTIONS,
  type AlertRow,
  type Estimate,
  type LimitInput,
  type LimitMetric,
  type LimitRow,
  METRICS,
  type MembershipRow,
  PERIODS,
  type PlanRow,
  type QuotaItem,
  type QuotaStatus,
  type ReservationRow,
  type ReservedAmounts,
  SCOPES,
} from './quota.types';

const LIMIT_COLUMNS = `id, plan_id AS "planId", tenant_id AS "tenantId", api_key_id AS "apiKeyId", metric, period, scope,
  amount::text AS amount, action, thresholds, position`;
const MEMBERSHIP_COLUMNS = `id, tenant_id AS "tenantId", plan_id AS "planId", starts_at AS "startsAt", ends_at AS "endsAt"`;
const RESERVATION_COLUMNS = `id, tenant_id AS "tenantId", api_key_id AS "apiKeyId", subject, cost::text AS cost, tokens::text AS tokens,
  input_tokens::text AS "inputTokens", output_tokens::text AS "outputTokens", asr_seconds::text AS "asrSeconds",
  requests::text AS requests, expires_at AS "expiresAt"`;
export const ALERT_COLUMNS = `id, tenant_id AS "tenantId", limit_id AS "limitId", api_key_id AS "apiKeyId", subject,
  period_start AS "periodStart", threshold, used::text AS used, crossed_at AS "crossedAt"`;

export const MAX_RESERVE_SECONDS = 3600;
const MAX_LIMITS = 50;

interface Window {
  start: Date | null;
  end: Date | null;
}

/** The lock every quota decision for one tenant takes (authorizations and limited writes). */
export async function lockTenants(tx: Sql, tenantIds: readonly string[]): Promise<void> {
  if (tenantIds.length === 0) return;
  await tx.query(
    'quota:lockTenants',
    `SELECT pg_advisory_xact_lock(hashtextextended('tally:tenant:' || t, 0)) FROM unnest($1::text[]) AS t ORDER BY t`,
    [[...new Set(tenantIds)].sort()],
  );
}

/** A limit's metric in some usage totals, as an exact decimal. */
export function metricOf(t: Totals, m: LimitMetric): Dec {
  switch (m) {
    case 'COST':
      return new Dec(t.cost);
    case 'TOKENS':
      return new Dec(t.totalTokens.toString());
    case 'INPUT_TOKENS':
      return new Dec(t.inputTokens.toString());
    case 'OUTPUT_TOKENS':
      return new Dec(t.outputTokens.toString());
    case 'ASR_SECONDS':
      return new Dec(t.asrMilliseconds.toString()).div(1000);
    case 'REQUESTS':
      return new Dec(t.requests.toString());
  }
}

function reservedOf(r: ReservedAmounts, m: LimitMetric): Dec {
  switch (m) {
    case 'COST':
      return new Dec(r.cost);
    case 'TOKENS':
      return new Dec(r.tokens);
    case 'INPUT_TOKENS':
      return new Dec(r.inputTokens);
    case 'OUTPUT_TOKENS':
      return new Dec(r.outputTokens);
    case 'ASR_SECONDS':
      return new Dec(r.asrSeconds);
    case 'REQUESTS':
      return new Dec(r.requests);
  }
}

/**
 * `status` with one more open reservation `r` of the same tenant, added to the items whose
 * reserved sum would count it (as reservedFor filters: a key-scoped item counts its key's
 * reservations, a subject-scoped item its subject's, a tenant item all of them).
 */
function withReservation(status: QuotaStatus, r: AuthorizeCall): QuotaStatus {
  const holds = (i: QuotaItem) =>
    i.limit.scope === 'TENANT' ||
    i.scopeId == null ||
    (i.limit.scope === 'API_KEY' ? r.apiKeyId === i.scopeId : r.subject === i.scopeId);
  const items = status.items.map((i) => {
    if (!holds(i)) return i;
    const reserved = new Dec(i.reserved).plus(reservedOf(r.est, i.limit.metric));
    const remaining = Dec.max(ZERO, new Dec(i.limit.amount).minus(i.used).minus(reserved));
    return { ...i, reserved: fmt(reserved), remaining: fmt(remaining) };
  });
  return { ...status, items };
}

/** Answers computeStatus's queries gave, by what each depends on (see computeStatus). */
interface StatusMemo {
  limits: Map<string, Promise<LimitRow[]>>;
  windows: Map<string, Promise<Map<string, Record<'DAY' | 'MONTH' | 'TOTAL', Window>>>>;
  used: Map<string, Promise<Totals>>;
  reserved: Map<string, Promise<ReservedAmounts>>;
}
const newStatusMemo = (): StatusMemo => ({
  limits: new Map(),
  windows: new Map(),
  used: new Map(),
  reserved: new Map(),
});

/** One authorizeUsage call, checked and on its way to the authorizer. */
interface AuthorizeCall {
  tenant: TenantRow;
  apiKeyId: string | null;
  subject: string | null;
  est: ReservedAmounts;
  seconds: number;
}

export interface AuthorizeDecision {
  allowed: boolean;
  deniedBy: QuotaItem | null;
  reservation: ReservationRow | null;
  quota: QuotaStatus;
}

/** Totals of one ledger entry (for alert deltas). */
function entryTotals(e: EventRow): Totals {
  const t = emptyTotals(e.currency);
  t.requests = BigInt(e.requests);
  t.inputTokens = BigInt(e.inputTokens);
  t.outputTokens = BigInt(e.outputTokens);
  t.totalTokens = BigInt(e.inputTokens + e.outputTokens);
  t.asrMilliseconds = BigInt(e.kind === 'ASR' ? (e.durationMs ?? 0) : 0);
  t.cost = e.cost;
  return t;
}

export interface WritePlan {
  /** The writer's clock: alerts are stamped with it (millisecond precision, as cursors carry). */
  at: Date;
  lock: string[];
  limits: Map<string, { tenant: TenantRow; limits: LimitRow[] }>;
}

export class QuotaService {
  /** Emits 'changed' (tenant ids) after a committed reservation or release; 'decision' (allowed) per authorization. */
  readonly emitter = new EventEmitter();

  /**
   * Concurrent authorizations are decided in shared transactions (as recordUsage calls are
   * written): one tenant lock and one status computation per scope serve every call of a
   * flush, admitted one after another in memory, and their reservations go in as one INSERT.
   */
  readonly authorizer: GroupCommitter<AuthorizeCall, AuthorizeDecision>;

  constructor(
    private readonly db: Database,
    private readonly tenants: TenantsService,
    private readonly now: () => Date,
  ) {
    this.authorizer = new GroupCommitter((calls) => this.decide(calls), { ...DEFAULT_GROUP_COMMIT, maxItems: 500 });
  }

  // ---------------------------------------------------------------- plans and limits

  private normalizeLimits(input: LimitInput[], field: string[], forKey: boolean) {
    if (input.length > MAX_LIMITS) throw badInput(field, `at most ${MAX_LIMITS} limits`);
    return input.map((l, i) => {
      const f = [...field, String(i)];
      if (!METRICS.includes(l.metric as LimitMetric)) throw badInput([...f, 'metric'], 'unknown metric');
      if (!PERIODS.includes(l.period as never)) throw badInput([...f, 'period'], 'unknown period');
      let scope = l.scope ?? 'TENANT';
      if (!SCOPES.includes(scope as never)) throw badInput([...f, 'scope'], 'unknown scope');
      // A key's own limits count that key's usage.
      if (forKey) {
        if (scope === 'SUBJECT')
          throw badInput([...f, 'scope'], "a key's own limits count the key's usage; use API_KEY");
        scope = 'API_KEY';
      }
      const action = l.action ?? 'BLOCK';
      if (!ACTIONS.includes(action as never)) throw badInput([...f, 'action'], 'unknown action');
      const amount = fmt(parseAmount(l.amount, [...f, 'amount'], 'positive'));
      const thresholds = [...new Set(l.thresholds ?? [80, 100])].sort((a, b) => a - b);
      if (thresholds.some((t) => !Number.isInteger(t) || t < 1 || t > 1000))
        throw badInput([...f, 'thresholds'], 'thresholds are whole percentages from 1 to 1000');
      return { metric: l.metric, period: l.period, scope, amount, action, thresholds, position: i };
    });
  }

  /** Keeps identical active limits (their ids, so alert history continues), adds new ones, retires the rest. */
  private async replaceLimits(
    tx: Sql,
    owner: { planId: string | null; apiKeyId: string | null; tenantId: string | null },
    wanted: ReturnType<QuotaService['normalizeLimits']>,
  ): Promise<void> {
    const current = await tx.query<LimitRow>(
      'limits:current',
      `SELECT ${LIMIT_COLUMNS} FROM limits WHERE active AND plan_id IS NOT DISTINCT FROM $1 AND api_key_id IS NOT DISTINCT FROM $2 FOR UPDATE`,
      [owner.planId, owner.apiKeyId],
    );
    const same = (a: LimitRow, b: (typeof wanted)[number]) =>
      a.metric === b.metric &&
      a.period === b.period &&
      a.scope === b.scope &&
      new Dec(a.amount).eq(b.amount) &&
      a.action === b.action &&
      a.thresholds.join() === b.thresholds.join();
    const kept = new Set<string>();
    for (const w of wanted) {
      const match = current.find((c) => !kept.has(c.id) && same(c, w));
      if (match) {
        kept.add(match.id);
        await tx.query('limits:reposition', 'UPDATE limits SET position = $2 WHERE id = $1', [match.id, w.position]);
      } else {
        await tx.query(
          'limits:insert',
          `INSERT INTO limits (plan_id, tenant_id, api_key_id, metric, period, scope, amount, action, thresholds, position)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [
            owner.planId,
            owner.tenantId,
            owner.apiKeyId,
            w.metric,
            w.period,
            w.scope,
            w.amount,
            w.action,
            w.thresholds,
            w.position,
          ],
        );
      }
    }
    const retire = current.filter((c) => !kept.has(c.id)).map((c) => c.id);
    if (retire.length)
      await tx.query('limits:retire', 'UPDATE limits SET active = false WHERE id = ANY($1::uuid[])', [retire]);
  }

  async upsertPlan(p: Principal, input: { code: string; name: string; limits: LimitInput[] }): Promise<PlanRow> {
    if (!p.isOperator) throw forbidden('only the operator manages plans');
    const code = input.code.trim();
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(code))
      throw badInput(['input', 'code'], 'use 1 to 64 letters, digits, _ . : -');
    const name = input.name.trim();
    if (!name || name.length > 200 || containsNul(name))
      throw badInput(['input', 'name'], 'must be 1 to 200 characters');
    const limits = this.normalizeLimits(input.limits, ['input', 'limits'], false);
    return this.db.transaction('upsertPlan', async (tx) => {
      const [plan] = await tx.query<PlanRow>(
        'upsertPlan:plan',
        `INSERT INTO plans (code, name) VALUES ($1, $2)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, updated_at = now() RETURNING id, code, name`,
        [code, name],
      );
      await this.replaceLimits(tx, { planId: (plan as PlanRow).id, apiKeyId: null, tenantId: null }, limits);
      return plan as PlanRow;
    });
  }

  async plans(p: Principal): Promise<PlanRow[]> {
    if (p.isOperator) return this.db.query<PlanRow>('plans:all', 'SELECT id, code, name FROM plans ORDER BY code');
    // A tenant sees the plan it is on.
    const m = await this.membershipAt(p.tenantId as string, this.now());
    return m ? this.plansByIds([m.planId]) : [];
  }

  async plansByIds(ids: readonly string[]): Promise<PlanRow[]> {
    return this.db.query<PlanRow>('plans:byIds', 'SELECT id, code, name FROM plans WHERE id = ANY($1::uuid[])', [ids]);
  }

  async limitsByIds(ids: readonly string[]): Promise<LimitRow[]> {
    return this.db.query<LimitRow>('limits:byIds', `SELECT ${LIMIT_COLUMNS} FROM limits WHERE id = ANY($1::uuid[])`, [
      ids.filter(isUuid),
    ]);
  }

  /** Active limits per owner (plan ids and key ids), in one statement. */
  async limitsOf(owners: readonly string[]): Promise<Map<string, LimitRow[]>> {
    const rows = await this.db.query<LimitRow>(
      'limits:ofOwners',
      `SELECT ${LIMIT_COLUMNS} FROM limits WHERE active AND (plan_id = ANY($1::uuid[]) OR api_key_id = ANY($1::uuid[])) ORDER BY position`,
      [owners],
    );
    const out = new Map<string, LimitRow[]>(owners.map((o) => [o, []]));
    for (const r of rows) out.get((r.planId ?? r.apiKeyId) as string)?.push(r);
    return out;
  }

  async assignPlan(
    p: Principal,
    input: { tenantId: string; planCode: string; startsAt?: Date | null },
  ): Promise<MembershipRow> {
    if (!p.isOperator) throw forbidden('only the operator assigns plans');
    const tenant = await this.tenants.get(input.tenantId, ['input', 'tenantId']);
    return this.db.transaction('assignPlan', (tx) =>
      this.assignIn(tx, tenant.id, input.planCode, input.startsAt ?? this.now()),
    );
  }

  /** Starts a membership at `startsAt`, ending the one in force then. Used by createTenant too. */
  async assignIn(tx: Sql, tenantId: string, planCode: string, startsAt: Date): Promise<MembershipRow> {
    const [plan] = await tx.query<PlanRow>('assignPlan:plan', 'SELECT id, code, name FROM plans WHERE code = $1', [
      planCode,
    ]);
    if (!plan) throw notFound(`plan "${clip(planCode)}"`, ['input', 'planCode']);
    await lockTenants(tx, [tenantId]);
    const later = await tx.query(
      'assignPlan:later',
      'SELECT 1 FROM memberships WHERE tenant_id = $1 AND starts_at >= $2',
      [tenantId, startsAt],
    );
    if (later.length) throw badInput(['input', 'startsAt'], 'a membership already starts at or after that instant');
    await tx.query(
      'assignPlan:endCurrent',
      'UPDATE memberships SET ends_at = $2 WHERE tenant_id = $1 AND starts_at < $2 AND (ends_at IS NULL OR ends_at > $2)',
      [tenantId, startsAt],
    );
    const [m] = await tx.query<MembershipRow>(
      'assignPlan:insert',
      `INSERT INTO memberships (tenant_id, plan_id, starts_at) VALUES ($1, $2, $3) RETURNING ${MEMBERSHIP_COLUMNS}`,
      [tenantId, plan.id, startsAt],
    );
    return m as MembershipRow;
  }

  async membershipAt(tenantId: string, at: Date, sql: Sql = this.db): Promise<MembershipRow | null> {
    const [m] = await sql.query<MembershipRow>(
      'memberships:at',
      `SELECT ${MEMBERSHIP_COLUMNS} FROM memberships
        WHERE tenant_id = $1 AND starts_at <= $2 AND (ends_at IS NULL OR ends_at > $2) ORDER BY starts_at DESC LIMIT 1`,
      [tenantId, at],
    );
    return m ?? null;
  }

  async setApiKeyLimits(p: Principal, input: { apiKeyId: string; limits: LimitInput[] }) {
    if (!p.isOperator) requireScope(p, 'ADMIN');
    if (!isUuid(input.apiKeyId)) throw notFound('API key', ['input', 'apiKeyId']);
    const limits = this.normalizeLimits(input.limits, ['input', 'limits'], true);
    return this.db.transaction('setApiKeyLimits', async (tx) => {
      const [key] = await tx.query<{ id: string; tenantId: string }>(
        'setApiKeyLimits:key',
        'SELECT id, tenant_id AS "tenantId" FROM api_keys WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)',
        [input.apiKeyId, p.isOperator ? null : p.tenantId],
      );
      if (!key) throw notFound('API key', ['input', 'apiKeyId']);
      await this.replaceLimits(tx, { planId: null, apiKeyId: key.id, tenantId: key.tenantId }, limits);
      return key.id;
    });
  }

  // ---------------------------------------------------------------- status

  /** DAY and MONTH windows (in the tenant's zone) holding each instant; TOTAL has none. */
  async windows(
    sql: Sql,
    timezone: string,
    instants: Date[],
  ): Promise<Map<string, Record<'DAY' | 'MONTH' | 'TOTAL', Window>>> {
    const unique = [...new Set(instants.map((d) => d.toISOString()))];
    const rows = await sql.query<{ t: Date; d0: Date; d1: Date; m0: Date; m1: Date }>(
      'quota:windows',
      `SELECT t, date_trunc('day', t, $2) AS d0, ((date_trunc('day', t, $2) AT TIME ZONE $2) + interval '1 day') AT TIME ZONE $2 AS d1,
              date_trunc('month', t, $2) AS m0, ((date_trunc('month', t, $2) AT TIME ZONE $2) + interval '1 month') AT TIME ZONE $2 AS m1
         FROM unnest($1::timestamptz[]) AS t`,
      [unique, timezone],
    );
    return new Map(
      rows.map((r) => [
        r.t.toISOString(),
        { DAY: { start: r.d0, end: r.d1 }, MONTH: { start: r.m0, end: r.m1 }, TOTAL: { start: null, end: null } },
      ]),
    );
  }

  /** What the ledger says for one scope and window (rollups, ledger at the edges, reversals included). */
  private async used(
    sql: Sql,
    tenant: TenantRow,
    scope: { apiKeyId?: string | null; subject?: string | null },
    w: Window,
  ): Promise<Totals> {
    if (w.start && w.end) {
      const rows = await summarize(
        sql,
        {
          tenantId: tenant.id,
          timezone: tenant.timezone,
          from: w.start,
          to: w.end,
          apiKeyIds: scope.apiKeyId ? [scope.apiKeyId] : null,
          subject: scope.subject ?? null,
        },
        [],
        null,
      );
      return addTotals(rows);
    }
    // TOTAL: every rollup row of the scope (whole hours or days, so no ledger edges are needed);
    // the daily level has a row per day instead of per hour, but no subject.
    const [r] = await sql.query<Record<string, string | null>>(
      'quota:usedTotal',
      `SELECT sum(requests)::text AS requests, sum(input_tokens)::text AS input, sum(output_tokens)::text AS output,
              sum(asr_ms)::text AS asr, sum(cost)::text AS cost
         FROM ${scope.subject != null ? 'usage_rollups_hourly' : '(SELECT k.*, NULL::text AS subject FROM usage_rollups_daily_keys k) r'}
        WHERE tenant_id = $1 AND ($2::uuid IS NULL OR api_key_id = $2) AND ($3::text IS NULL OR subject = $3)`,
      [tenant.id, scope.apiKeyId ?? null, scope.subject ?? null],
    );
    const t = emptyTotals();
    t.requests = BigInt(r?.requests ?? 0);
    t.inputTokens = BigInt(r?.input ?? 0);
    t.outputTokens = BigInt(r?.output ?? 0);
    t.totalTokens = t.inputTokens + t.outputTokens;
    t.asrMilliseconds = BigInt(r?.asr ?? 0);
    t.cost = fmt(new Dec(r?.cost ?? 0));
    return t;
  }

  private async reservedFor(
    sql: Sql,
    tenantId: string,
    scope: { apiKeyId?: string | null; subject?: string | null },
    now: Date,
  ) {
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
    return r as NonNullable<typeof r>;
  }

  /** Every limit that applies to the tenant, and to the key / subject when given. */
  async applicableLimits(sql: Sql, tenantId: string, apiKeyId: string | null, subject: string | null, at: Date) {
    const m = await this.membershipAt(tenantId, at, sql);
    const owners = [m?.planId, apiKeyId].filter((x): x is string => !!x);
    if (!owners.length) return [];
    const rows = await sql.query<LimitRow>(
      'quota:limits',
      `SELECT ${LIMIT_COLUMNS} FROM limits WHERE active AND (plan_id = ANY($1::uuid[]) OR api_key_id = ANY($1::uuid[]))
        ORDER BY api_key_id NULLS FIRST, position`,
      [owners],
    );
    return rows.filter(
      (l) =>
        l.apiKeyId || l.scope === 'TENANT' || (l.scope === 'API_KEY' && apiKeyId) || (l.scope === 'SUBJECT' && subject),
    );
  }

  /**
   * One scope's quota. `memo` holds the queries' answers by what they depend on, so the calls
   * of one authorization flush share the tenant's limits, windows, used and reserved sums
   * wherever their scopes agree (each call alone gets a fresh one).
   */
  async computeStatus(
    sql: Sql,
    tenant: TenantRow,
    apiKeyId: string | null,
    subject: string | null,
    now: Date,
    memo: StatusMemo = newStatusMemo(),
  ): Promise<QuotaStatus> {
    const once = <T>(m: Map<string, Promise<T>>, k: string, f: () => Promise<T>): Promise<T> => {
      const known = m.get(k);
      if (known) return known;
      const p = f();
      m.set(k, p);
      return p;
    };
    const t = tenant.id;
    // applicableLimits reads the subject only as present or not
    const limits = await once(memo.limits, `${t}|${apiKeyId}|${!!subject}`, () =>
      this.applicableLimits(sql, t, apiKeyId, subject, now),
    );
    const windows = (
      await once(memo.windows, `${tenant.timezone}|${now.toISOString()}`, () =>
        this.windows(sql, tenant.timezone, [now]),
      )
    ).get(now.toISOString());
    const items = await Promise.all(
      limits.map(async (limit): Promise<QuotaItem> => {
        const scope =
          limit.scope === 'TENANT'
            ? {}
            : limit.scope === 'API_KEY'
              ? { apiKeyId: limit.apiKeyId ?? apiKeyId }
              : { subject };
        const scopeId =
          limit.scope === 'TENANT' ? null : ((scope as { apiKeyId?: string; subject?: string }).apiKeyId ?? subject);
        const w = (windows as NonNullable<typeof windows>)[limit.period];
        const used = metricOf(
          await once(memo.used, `${t}|${limit.scope}|${scopeId}|${limit.period}`, () =>
            this.used(sql, tenant, scope, w),
          ),
          limit.metric,
        );
        const reserved = reservedOf(
          await once(memo.reserved, `${t}|${limit.scope}|${scopeId}`, () => this.reservedFor(sql, t, scope, now)),
          limit.metric,
        );
        const amount = new Dec(limit.amount);
        const remaining = Dec.max(ZERO, amount.minus(used).minus(reserved));
        return {
          limit,
          scopeId,
          periodStart: w.start,
          periodEnd: w.end,
          used: fmt(used),
          reserved: fmt(reserved),
          remaining: fmt(remaining),
          exceeded: used.gte(amount),
        };
      }),
    );
    return {
      tenantId: tenant.id,
      apiKeyId,
      subject,
      blocked: items.some((i) => i.limit.action === 'BLOCK' && i.exceeded),
      items,
    };
  }

  /** Resolves who may see which quota: the tenant, and a key of that tenant. */
  async scopeFor(
    p: Principal,
    args: { tenantId?: string | null; apiKeyId?: string | null; subject?: string | null },
    field = ['tenantId'],
  ) {
    requireScope(p, 'READ');
    const tenantId = tenantOf(p, args.tenantId, field);
    const tenant = await this.tenants.get(tenantId, field);
    const apiKeyId = args.apiKeyId ?? null;
    if (apiKeyId) {
      const [k] = isUuid(apiKeyId)
        ? await this.db.query('quota:key', 'SELECT 1 FROM api_keys WHERE id = $1 AND tenant_id = $2', [
            apiKeyId,
            tenantId,
          ])
        : [];
      if (!k) throw notFound('API key', ['apiKeyId']);
    }
    const subject = args.subject ?? null;
    if (subject != null && (subject.length > 255 || containsNul(subject)))
      throw badInput(['subject'], 'must be at most 255 characters');
    return { tenant, apiKeyId, subject };
  }

  async status(tenant: TenantRow, apiKeyId: string | null, subject: string | null): Promise<QuotaStatus> {
    return this.computeStatus(this.db, tenant, apiKeyId, subject, this.now());
  }

  // ---------------------------------------------------------------- authorizations

  async authorize(
    p: Principal,
    input: {
      tenantId?: string | null;
      apiKeyId?: string | null;
      subject?: string | null;
      estimate: Estimate;
      reserveSeconds?: number | null;
    },
  ) {
    requireScope(p, 'INGEST');
    const tenantId = tenantOf(p, input.tenantId, ['input', 'tenantId']);
    const tenant = await this.tenants.get(tenantId, ['input', 'tenantId']);
    const apiKeyId = input.apiKeyId ?? p.key?.id ?? null;
    if (apiKeyId && apiKeyId !== p.key?.id) {
      const [k] = isUuid(apiKeyId)
        ? await this.db.query('authorize:key', 'SELECT 1 FROM api_keys WHERE id = $1 AND tenant_id = $2', [
            apiKeyId,
            tenantId,
          ])
        : [];
      if (!k) throw notFound('API key', ['input', 'apiKeyId']);
    }
    const subject = input.subject ?? null;
    if (subject != null && (subject.length > 255 || containsNul(subject)))
      throw badInput(['input', 'subject'], 'must be at most 255 characters');
    const seconds = input.reserveSeconds ?? 0;
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_RESERVE_SECONDS)
      throw badInput(['input', 'reserveSeconds'], `must be 0 to ${MAX_RESERVE_SECONDS}`);
    const e = input.estimate;
    const count = (v: number | null | undefined, f: string) => {
      if (v == null) return 0;
      if (!Number.isInteger(v) || v < 0) throw badInput(['input', 'estimate', f], 'may not be negative');
      return v;
    };
    const est = {
      cost: fmt(e.cost == null ? ZERO : parseAmount(e.cost, ['input', 'estimate', 'cost'])),
      inputTokens: String(count(e.inputTokens, 'inputTokens')),
      outputTokens: String(count(e.outputTokens, 'outputTokens')),
      tokens: '0',
      asrSeconds: fmt(e.asrSeconds == null ? ZERO : parseAmount(e.asrSeconds, ['input', 'estimate', 'asrSeconds'])),
      requests: String(e.requests == null ? 1 : count(e.requests, 'requests')),
    };
    est.tokens = String(
      e.tokens != null ? count(e.tokens, 'tokens') : Number(est.inputTokens) + Number(est.outputTokens),
    );

    const [out] = await this.authorizer.submit([{ tenant, apiKeyId, subject, est, seconds }]);
    const decision = out as AuthorizeDecision;
    this.emitter.emit('decision', decision.allowed);
    if (decision.reservation) this.emitter.emit('changed', [tenantId]);
    return decision;
  }

  /**
   * Decides a flush of authorizations under their tenants' locks. Each call sees the state
   * its predecessors in the flush left: their reservations are added to the statuses whose
   * scope holds them, exactly as the reserved sums of a later transaction would count them.
   */
  private async decide(calls: AuthorizeCall[]): Promise<AuthorizeDecision[]> {
    const now = this.now();
    return this.db.transaction('authorizeUsage', async (tx) => {
      await lockTenants(
        tx,
        calls.map((c) => c.tenant.id),
      );
      const statuses = new Map<string, QuotaStatus>();
      // Every status of the flush is computed before any call is admitted, so the shared
      // reserved sums are all from before the flush; admissions are added by withReservation.
      const memo = newStatusMemo();
      const keyOf = (c: AuthorizeCall) => `${c.tenant.id}|${c.apiKeyId ?? ''}|${c.subject ?? '\u0000'}`;
      for (const c of calls)
        if (!statuses.has(keyOf(c)))
          statuses.set(keyOf(c), await this.computeStatus(tx, c.tenant, c.apiKeyId, c.subject, now, memo));

      const reserve: { call: AuthorizeCall; id: string }[] = [];
      const decisions = calls.map((c): AuthorizeDecision => {
        const before = statuses.get(keyOf(c)) as QuotaStatus;
        const deniedBy =
          before.items.find((i) => {
            if (i.limit.action !== 'BLOCK') return false;
            const total = new Dec(i.used).plus(i.reserved).plus(reservedOf(c.est, i.limit.metric));
            return i.exceeded || total.gt(i.limit.amount);
          }) ?? null;
        if (deniedBy || c.seconds === 0) return { allowed: !deniedBy, deniedBy, reservation: null, quota: before };
        reserve.push({ call: c, id: randomUUID() });
        // Later calls of the flush see this reservation wherever their scope holds it.
        for (const [k, st] of statuses) if (st.tenantId === c.tenant.id) statuses.set(k, withReservation(st, c));
        return { allowed: true, deniedBy: null, reservation: null, quota: statuses.get(keyOf(c)) as QuotaStatus };
      });
      if (reserve.length) {
        const col = <T>(f: (c: AuthorizeCall) => T) => reserve.map((r) => f(r.call));
        const rows = await tx.query<ReservationRow>(
          'authorizeUsage:reserve',
          `INSERT INTO reservations (id, tenant_id, api_key_id, subject, cost, tokens, input_tokens, output_tokens, asr_seconds, requests, expires_at)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::numeric[], $6::bigint[], $7::bigint[],
                                $8::bigint[], $9::numeric[], $10::bigint[], $11::timestamptz[])
           RETURNING ${RESERVATION_COLUMNS}`,
          [
            reserve.map((r) => r.id),
            col((c) => c.tenant.id),
            col((c) => c.apiKeyId),
            col((c) => c.subject),
            col((c) => c.est.cost),
            col((c) => c.est.tokens),
            col((c) => c.est.inputTokens),
            col((c) => c.est.outputTokens),
            col((c) => c.est.asrSeconds),
            col((c) => c.est.requests),
            col((c) => new Date(now.getTime() + c.seconds * 1000).toISOString()),
          ],
        );
        const byId = new Map(rows.map((r) => [r.id, r]));
        let n = 0;
        decisions.forEach((d, i) => {
          if (d.allowed && (calls[i] as AuthorizeCall).seconds > 0)
            d.reservation = byId.get((reserve[n++] as { id: string }).id) ?? null;
        });
      }
      return decisions;
    });
  }

  async release(
    p: Principal,
    id: string,
  ): Promise<{ tenantId: string; apiKeyId: string | null; subject: string | null }> {
    requireScope(p, 'INGEST');
    const invalid = () =>
      new AppError('RESERVATION_INVALID', 'unknown, expired, settled or released reservation', ['id']);
    if (!isUuid(id)) throw invalid();
    const [r] = await this.db.query<ReservationRow>(
      'releaseReservation',
      `UPDATE reservations SET released_at = $3
        WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) AND settled_at IS NULL AND released_at IS NULL AND expires_at > $3
        RETURNING ${RESERVATION_COLUMNS}`,
      [id, p.isOperator ? null : p.tenantId, this.now()],
    );
    if (!r) throw invalid();
    this.emitter.emit('changed', [r.tenantId]);
    return { tenantId: r.tenantId, apiKeyId: r.apiKeyId, subject: r.subject };
  }

  // ---------------------------------------------------------------- alerts (called by the usage writer)

  /** Limits with thresholds of the tenants in a write; null when none has any (no lock, no work). */
  async planWrite(tenantIds: string[], at: Date): Promise<WritePlan | null> {
    const unique = [...new Set(tenantIds)];
    const rows = await this.db.query<LimitRow & { tz: string; tname: string; tcur: string; tcreated: Date }>(
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
      [unique, at],
    );
    if (!rows.length) return null;
    const limits = new Map<string, { tenant: TenantRow; limits: LimitRow[] }>();
    for (const { tz, tname, tcur, tcreated, ...l } of rows) {
      const tid = l.tenantId as string;
      const tenant = { id: tid, name: tname, timezone: tz, currency: tcur, createdAt: tcreated };
      const e = limits.get(tid) ?? { tenant, limits: [] };
      e.limits.push(l);
      limits.set(tid, e);
    }
    return { at, lock: [...limits.keys()], limits };
  }

  /**
   * In the writer's transaction, after the entries are in: for each limit whose used/amount
   * the new entries moved across a threshold (in the window of each entry's occurredAt),
   * store the alert once. Returns the alerts stored by this transaction.
   */
  async recordAlerts(tx: Sql, plan: WritePlan, created: EventRow[]): Promise<AlertRow[]> {
    const candidates: {
      tenantId: string;
      limitId: string;
      scopeKey: string;
      apiKeyId: string | null;
      subject: string | null;
      periodStart: Date | null;
      threshold: number;
      used: string;
    }[] = [];
    for (const [tenantId, { tenant, limits }] of plan.limits) {
      const events = created.filter((e) => e.tenantId === tenantId);
      if (!events.length) continue;
      const windows = await this.windows(
        tx,
        tenant.timezone,
        events.map((e) => e.occurredAt),
      );
      const groups = new Map<
        string,
        { limit: LimitRow; scope: { apiKeyId?: string; subject?: string }; w: Window; delta: Totals[] }
      >();
      for (const e of events) {
        for (const l of limits) {
          let scope: { apiKeyId?: string; subject?: string };
          if (l.apiKeyId) {
            if (e.apiKeyId !== l.apiKeyId) continue;
            scope = { apiKeyId: l.apiKeyId };
          } else if (l.scope === 'TENANT') scope = {};
          else if (l.scope === 'API_KEY') {
            if (!e.apiKeyId) continue;
            scope = { apiKeyId: e.apiKeyId };
          } else {
            if (!e.subject) continue;
            scope = { subject: e.subject };
          }
          const w = windows.get(e.occurredAt.toISOString())?.[l.period] as Window;
          const key = `${l.id}|${scope.apiKeyId ?? ''}|${scope.subject ?? ''}|${w.start?.toISOString() ?? ''}`;
          const g = groups.get(key) ?? { limit: l, scope, w, delta: [] };
          g.delta.push(entryTotals(e));
          groups.set(key, g);
        }
      }
      const usedCache = new Map<string, Promise<Totals>>();
      for (const g of groups.values()) {
        const uk = `${g.scope.apiKeyId ?? ''}|${g.scope.subject ?? ''}|${g.w.start?.toISOString() ?? 'total'}`;
        if (!usedCache.has(uk)) usedCache.set(uk, this.used(tx, tenant, g.scope, g.w));
        const after = metricOf(await (usedCache.get(uk) as Promise<Totals>), g.limit.metric);
        const before = after.minus(metricOf(addTotals(g.delta), g.limit.metric));
        const amount = new Dec(g.limit.amount);
        for (const t of g.limit.thresholds) {
          const level = amount.times(t).div(100);
          if (before.lt(level) && after.gte(level))
            candidates.push({
              tenantId,
              limitId: g.limit.id,
              scopeKey: g.scope.apiKeyId ?? g.scope.subject ?? '',
              apiKeyId: g.scope.apiKeyId ?? null,
              subject: g.scope.subject ?? null,
              periodStart: g.w.start,
              threshold: t,
              used: fmt(after),
            });
        }
      }
    }
    if (!candidates.length) return [];
    return tx.query<AlertRow>(
      'recordUsage:alerts',
      `INSERT INTO quota_alerts (tenant_id, limit_id, scope_key, api_key_id, subject, period_start, threshold, used, crossed_at)
       SELECT *, $9::timestamptz FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::timestamptz[], $7::int[], $8::numeric[])
       ON CONFLICT DO NOTHING RETURNING ${ALERT_COLUMNS}`,
      [
        candidates.map((c) => c.tenantId),
        candidates.map((c) => c.limitId),
        candidates.map((c) => c.scopeKey),
        candidates.map((c) => c.apiKeyId),
        candidates.map((c) => c.subject),
        candidates.map((c) => c.periodStart?.toISOString() ?? null),
        candidates.map((c) => c.threshold),
        candidates.map((c) => c.used),
        plan.at,
      ],
    );
  }

  async alerts(
    p: Principal,
    args: {
      tenantId?: string | null;
      from?: Date | null;
      to?: Date | null;
      first?: number | null;
      after?: string | null;
    },
  ) {
    requireScope(p, 'READ');
    const tenantId = tenantOf(p, args.tenantId, ['tenantId']);
    const first = args.first ?? 50;
    const k = keyset(first, args.after);
    const rows = await this.db.query<AlertRow>(
      'quotaAlerts:page',
      `SELECT ${ALERT_COLUMNS} FROM quota_alerts
        WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR crossed_at >= $2) AND ($3::timestamptz IS NULL OR crossed_at < $3)
          AND ($4::timestamptz IS NULL OR (crossed_at, id) < ($4::timestamptz, $5::uuid))
        ORDER BY crossed_at DESC, id DESC LIMIT $6`,
      [tenantId, args.from ?? null, args.to ?? null, k.afterInstant, k.afterId, k.limit],
    );
    return connection(rows, first, (r) => r.crossedAt);
  }

  // ---------------------------------------------------------------- reservations (called by the usage writer)

  /**
   * The reservations among `ids` that exist, whatever their state, locked for this
   * transaction (so one settles once, and a state read here holds until commit). The writer
   * settles the open ones and says of the others why nothing was settled.
   */
  async lockReservations(tx: Sql, ids: string[], now: Date): Promise<Map<string, ReservationState>> {
    if (!ids.length) return new Map();
    const rows = await tx.query<ReservationState & { id: string }>(
      'recordUsage:reservations',
      `SELECT id, tenant_id AS "tenantId", event_id AS "eventId",
              CASE WHEN settled_at IS NOT NULL THEN 'SETTLED' WHEN released_at IS NOT NULL THEN 'RELEASED'
                   WHEN expires_at <= $2 THEN 'EXPIRED' ELSE 'OPEN' END AS state
         FROM reservations WHERE id = ANY($1::uuid[])
        ORDER BY id FOR UPDATE`,
      [ids, now],
    );
    return new Map(rows.map(({ id, ...r }) => [id, r]));
  }

  async settleReservations(tx: Sql, pairs: { reservationId: string; eventId: string }[], now: Date): Promise<void> {
    if (!pairs.length) return;
    await tx.query(
      'recordUsage:settle',
      `UPDATE reservations r SET settled_at = $3, event_id = v.e FROM unnest($1::uuid[], $2::uuid[]) AS v(r, e) WHERE r.id = v.r`,
      [pairs.map((x) => x.reservationId), pairs.map((x) => x.eventId), now],
    );
  }
}
