// Quota status: the limits that apply to a scope, their windows (DAY/MONTH in the tenant's
// zone, TOTAL never resets), what was used in each (from the usage module's summaries, so
// quota and summaries cannot disagree) and what open reservations hold.
//
// Which limits apply (applicable below): the tenant's plan's TENANT limits, its API_KEY limits
// when a key is asked for, the key's own limits; for a subject, the SUBJECT limits of the
// tenant's plan, unless the subject has a plan of its own: then every limit of that plan,
// counting that subject's usage (an API_KEY limit of it: the subject's usage through the key
// asked for), replaces them.

import { subjectIn, type TenantScope, tenantIn } from '../../auth/scope';
import { clockIn, type Database, type Sql } from '../../db/database';
import type { TenantRow } from '../../db/entities';
import { notFound } from '../../lib/errors';
import { Dec, fmt, ZERO } from '../../lib/money';
import type { ApiKeysService } from '../api-keys/api-keys.service';
import type { TenantsService } from '../tenants/tenants.service';
import type { UsageReader } from '../usage/ports';
import type { Totals } from '../usage/usage.types';
import * as check from './quota.input';
import { scopeKeyOf } from './quota.lease-keys';
import * as store from './quota.store';
import type { LimitInForce, LimitMetric, QuotaItem, QuotaStatus, ReservedAmounts, ScopeIds } from './quota.types';

/** How quota checks a key id it was given: through the api-keys module, which owns them. */
export type KeyOwners = Pick<ApiKeysService, 'ownerOf'>;

export interface Window {
  start: Date | null;
  end: Date | null;
}
export type Windows = Record<'DAY' | 'MONTH' | 'TOTAL', Window>;

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

/** A limit's metric in reserved amounts, as an exact decimal. */
export function reservedOf(r: ReservedAmounts, m: LimitMetric): Dec {
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

/** A status asked for: the tenant, a key of it and a subject; a subject token sees only its subject's items. */
export interface StatusScope {
  tenant: TenantRow;
  apiKeyId: string | null;
  subject: string | null;
  /** Only the items that count `subject` (a subject token's view); `blocked` still says whether it is. */
  subjectOnly: boolean;
}

/** The limits in force that apply to (key, subject), and the usage each counts (see the top of this file). */
export function applicable(rows: LimitInForce[], apiKeyId: string | null, subject: string | null) {
  const own = subject === null ? [] : rows.filter((r) => r.forSubject === subject);
  const out: { limit: LimitInForce; counts: ScopeIds }[] = [];
  for (const limit of rows) {
    if (limit.forSubject !== null) continue;
    if (limit.apiKeyId) out.push({ limit, counts: { apiKeyId: limit.apiKeyId } });
    else if (limit.scope === 'TENANT') out.push({ limit, counts: {} });
    else if (limit.scope === 'API_KEY') {
      if (apiKeyId) out.push({ limit, counts: { apiKeyId } });
    } else if (subject !== null && own.length === 0) out.push({ limit, counts: { subject } });
  }
  for (const limit of own) {
    if (!limit.id) continue; // a plan without limits: it replaces, and adds nothing
    if (limit.scope !== 'API_KEY') out.push({ limit, counts: { subject } });
    else if (apiKeyId) out.push({ limit, counts: { apiKeyId, subject } });
  }
  return out;
}

/** How windows() names the windows of one zone and instant. */
export const windowKey = (timezone: string, at: Date) => `${timezone}|${at.toISOString()}`;

export class QuotaStatuses {
  constructor(
    private readonly db: Database,
    private readonly tenants: TenantsService,
    private readonly keys: KeyOwners,
    private readonly usage: UsageReader,
    private readonly now: () => Date,
  ) {}

  /** DAY and MONTH windows (in each zone) holding each instant, by zone and instant; TOTAL has none. */
  async windows(sql: Sql, pairs: readonly { timezone: string; at: Date }[]): Promise<Map<string, Windows>> {
    const unique = [...new Map(pairs.map((p) => [windowKey(p.timezone, p.at), p])).values()];
    const rows = await store.windowBounds(
      sql,
      unique.map((p) => ({ timezone: p.timezone, at: p.at.toISOString() })),
    );
    return new Map(
      rows.map((r, i) => {
        const p = unique[i] as { timezone: string; at: Date };
        return [
          windowKey(p.timezone, p.at),
          { DAY: { start: r.d0, end: r.d1 }, MONTH: { start: r.m0, end: r.m1 }, TOTAL: { start: null, end: null } },
        ];
      }),
    );
  }

  /** What the ledger says for each (tenant, scope, window), from the usage module's reader, in one round. */
  usedMany(sql: Sql, asks: readonly { tenant: TenantRow; scope: ScopeIds; w: Window }[]): Promise<Totals[]> {
    return this.usage.usedMany(
      sql,
      asks.map((a) => ({ scope: { tenantId: a.tenant.id, timezone: a.tenant.timezone, ...a.scope }, window: a.w })),
    );
  }

  /**
   * The quota of each scope, with one statement per kind of read for all of them (limits,
   * windows, reserved, used; see the top of this file), so a flush of the authorizer's locked
   * path costs the same round trips for one scope as for a hundred tenants. Scopes asked twice
   * are read once. `asOf`: what the statuses are exact as of when the caller knows (a
   * snapshot's); otherwise the database's clock read before the first of their reads (the
   * authorizer, under the tenant lock).
   */
  async computeStatuses(
    sql: Sql,
    scopes: readonly { tenant: TenantRow; apiKeyId: string | null; subject: string | null }[],
    now: Date,
    asOf?: Date,
  ): Promise<QuotaStatus[]> {
    // Sent before any read of these statuses: one connection runs a transaction's statements in turn.
    const clock = asOf ? Promise.resolve(asOf) : clockIn(sql, 'quotaStatus:asOf');
    // Awaited last: a failure of a read before it is the one thrown, and this one is not left unheard.
    clock.catch(() => {});
    const keyOf = (s: (typeof scopes)[number]) => scopeKeyOf(s.tenant.id, s.apiKeyId, s.subject);
    const unique = [...new Map(scopes.map((s) => [keyOf(s), s])).values()];
    const [limits, windows] = await Promise.all([
      store.limitsInForce(
        sql,
        unique.map((s) => ({ tenantId: s.tenant.id, apiKeyId: s.apiKeyId, subject: s.subject })),
        now,
      ),
      this.windows(
        sql,
        unique.map((s) => ({ timezone: s.tenant.timezone, at: now })),
      ),
    ]);
    // Every item of every scope, and the reserved and used sums they count, each asked once.
    const reservedAsks = new Map<string, { tenantId: string } & ScopeIds>();
    const usedAsks = new Map<string, { tenant: TenantRow; scope: ScopeIds; w: Window }>();
    const plans = unique.map((s, n) =>
      applicable(limits[n] ?? [], s.apiKeyId, s.subject).map(({ limit, counts }) => {
        const w = (windows.get(windowKey(s.tenant.timezone, now)) as Windows)[limit.period];
        const who = JSON.stringify([s.tenant.id, counts.apiKeyId ?? null, counts.subject ?? null]);
        const period = JSON.stringify([who, w.start?.toISOString() ?? null, w.end?.toISOString() ?? null]);
        reservedAsks.set(who, { tenantId: s.tenant.id, ...counts });
        usedAsks.set(period, { tenant: s.tenant, scope: counts, w });
        return { limit, counts, w, who, period };
      }),
    );
    // Reserved is read before used (the connection runs them in the order sent, each on a fresh
    // snapshot): a reservation settled in between is then counted twice (in reserved and in
    // used), never in neither, so a decision can only err on the safe side.
    const reservedP = store.reservedIn(sql, [...reservedAsks.values()], now);
    const usedP = this.usedMany(sql, [...usedAsks.values()]);
    const [reservedRows, usedRows] = await Promise.all([reservedP, usedP]);
    const reservedBy = new Map([...reservedAsks.keys()].map((k, i) => [k, reservedRows[i] as ReservedAmounts]));
    const usedBy = new Map([...usedAsks.keys()].map((k, i) => [k, usedRows[i] as Totals]));
    const at = await clock;
    const byScope = new Map(
      unique.map((s, n) => {
        const items = (plans[n] ?? []).map(({ limit, counts, w, who, period }): QuotaItem => {
          const reserved = reservedOf(reservedBy.get(who) as ReservedAmounts, limit.metric);
          const used = metricOf(usedBy.get(period) as Totals, limit.metric);
          const amount = new Dec(limit.amount);
          const remaining = Dec.max(ZERO, amount.minus(used).minus(reserved));
          return {
            limit,
            counts,
            scopeId: counts.apiKeyId ?? counts.subject ?? null,
            periodStart: w.start,
            periodEnd: w.end,
            used: fmt(used),
            reserved: fmt(reserved),
            remaining: fmt(remaining),
            exceeded: used.gte(amount),
          };
        });
        const status: QuotaStatus = {
          tenantId: s.tenant.id,
          apiKeyId: s.apiKeyId,
          subject: s.subject,
          blocked: items.some((i) => i.limit.action === 'BLOCK' && i.exceeded),
          items,
          asOf: at,
        };
        return [keyOf(s), status];
      }),
    );
    return scopes.map((s) => byScope.get(keyOf(s)) as QuotaStatus);
  }

  /** The quota scope a caller asks for: its tenant (the operator names one), a key of it, a subject it may see. */
  async scopeFor(
    p: TenantScope,
    args: { tenantId?: string | null; apiKeyId?: string | null; subject?: string | null },
  ): Promise<StatusScope> {
    const tenantId = tenantIn(p, args.tenantId, ['tenantId']);
    const subject = subjectIn(p, check.subject(args.subject, ['subject']), ['subject']);
    const tenant = await this.tenants.get(tenantId, ['tenantId']);
    const apiKeyId = args.apiKeyId ?? null;
    if (apiKeyId) {
      if (!(await this.keys.ownerOf(apiKeyId, tenantId))) throw notFound('API key', ['apiKeyId']);
    }
    return { tenant, apiKeyId, subject, subjectOnly: p.subject !== null };
  }

  /** A tenant's own quota as a caller sees it (Tenant.quota): a subject token, its subject's. */
  tenantScope(p: TenantScope, tenant: TenantRow): StatusScope {
    return { tenant, apiKeyId: null, subject: subjectIn(p, null, ['subject']), subjectOnly: p.subject !== null };
  }

  async status(s: StatusScope): Promise<QuotaStatus> {
    // Read in one snapshot: exact as of its asOf (db/database.ts says how).
    const status = (
      await this.db.snapshot('quotaStatus', (tx, asOf) => this.computeStatuses(tx, [s], this.now(), asOf))
    )[0] as QuotaStatus;
    if (!s.subjectOnly) return status;
    // What counts other subjects (the tenant's, a key's) is not shown; whether it blocks is.
    return { ...status, items: status.items.filter((i) => i.counts.subject === s.subject) };
  }
}
