// Quota status: the limits that apply to a scope, their windows (DAY/MONTH in the tenant's
// zone, TOTAL never resets), what was used in each (from the usage module's summaries, so
// quota and summaries cannot disagree) and what open reservations hold.

import { clockIn, type Database, type Sql } from '../../db/database';
import type { TenantRow } from '../../db/entities';
import { notFound } from '../../lib/errors';
import { Dec, fmt, ZERO } from '../../lib/money';
import type { ApiKeysService } from '../api-keys/api-keys.service';
import type { TenantsService } from '../tenants/tenants.service';
import type { UsageReader } from '../usage/ports';
import type { Totals } from '../usage/usage.types';
import * as check from './quota.input';
import * as store from './quota.store';
import type { LimitMetric, LimitRow, QuotaItem, QuotaStatus, ReservedAmounts } from './quota.types';

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

/** Answers computeStatus's queries gave, by what each depends on (see computeStatus). */
export interface StatusMemo {
  limits: Map<string, Promise<LimitRow[]>>;
  windows: Map<string, Promise<Map<string, Windows>>>;
  used: Map<string, Promise<Totals>>;
  reserved: Map<string, Promise<ReservedAmounts>>;
  /**
   * What the statuses are exact as of: a snapshot's asOf (status()), or else the database's
   * clock read before the first of their reads (the authorizer, under the tenant lock).
   */
  asOf?: Promise<Date>;
}
export const newStatusMemo = (asOf?: Date): StatusMemo => ({
  limits: new Map(),
  windows: new Map(),
  used: new Map(),
  reserved: new Map(),
  ...(asOf ? { asOf: Promise.resolve(asOf) } : {}),
});

export class QuotaStatuses {
  constructor(
    private readonly db: Database,
    private readonly tenants: TenantsService,
    private readonly keys: KeyOwners,
    private readonly usage: UsageReader,
    private readonly now: () => Date,
  ) {}

  /** DAY and MONTH windows (in the tenant's zone) holding each instant; TOTAL has none. */
  async windows(sql: Sql, timezone: string, instants: Date[]): Promise<Map<string, Windows>> {
    const unique = [...new Set(instants.map((d) => d.toISOString()))];
    const rows = await store.windowBounds(sql, timezone, unique);
    return new Map(
      rows.map((r) => [
        r.t.toISOString(),
        { DAY: { start: r.d0, end: r.d1 }, MONTH: { start: r.m0, end: r.m1 }, TOTAL: { start: null, end: null } },
      ]),
    );
  }

  /** What the ledger says for one scope and window, from the usage module's reader. */
  used(sql: Sql, tenant: TenantRow, scope: store.ScopeIds, w: Window): Promise<Totals> {
    return this.usage.used(sql, { tenantId: tenant.id, timezone: tenant.timezone, ...scope }, w);
  }

  /** Every limit that applies to the tenant, and to the key / subject when given. */
  async applicableLimits(sql: Sql, tenantId: string, apiKeyId: string | null, subject: string | null, at: Date) {
    const m = await store.membershipAt(sql, tenantId, at);
    const owners = [m?.planId, apiKeyId].filter((x): x is string => !!x);
    if (!owners.length) return [];
    const rows = await store.applicableLimits(sql, owners);
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
    // Asked before any read of this status (statements of one transaction run in order).
    memo.asOf ??= clockIn(sql, 'quotaStatus:asOf');
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
          await once(memo.reserved, `${t}|${limit.scope}|${scopeId}`, () => store.reservedIn(sql, t, scope, now)),
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
      asOf: await memo.asOf,
    };
  }

  /** The quota scope asked for: the (caller's) tenant, and a key of that tenant. */
  async scopeFor(tenantId: string, args: { apiKeyId?: string | null; subject?: string | null }, field = ['tenantId']) {
    const tenant = await this.tenants.get(tenantId, field);
    const apiKeyId = args.apiKeyId ?? null;
    if (apiKeyId) {
      if (!(await this.keys.ownerOf(apiKeyId, tenantId))) throw notFound('API key', ['apiKeyId']);
    }
    const subject = check.subject(args.subject, ['subject']);
    return { tenant, apiKeyId, subject };
  }

  /** One scope's quota, read in one snapshot: exact as of its asOf (db/database.ts says how). */
  status(tenant: TenantRow, apiKeyId: string | null, subject: string | null): Promise<QuotaStatus> {
    return this.db.snapshot('quotaStatus', (tx, asOf) =>
      this.computeStatus(tx, tenant, apiKeyId, subject, this.now(), newStatusMemo(asOf)),
    );
  }
}
