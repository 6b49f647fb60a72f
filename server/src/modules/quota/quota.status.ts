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

/** Answers computeStatus's queries gave, by what each depends on (see computeStatus). */
export interface StatusMemo {
  /** The subjects a flush asks about, per tenant: one statement reads all their own plans. */
  subjects: Map<string, string[]>;
  limits: Map<string, Promise<LimitInForce[]>>;
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
  subjects: new Map(),
  limits: new Map(),
  windows: new Map(),
  used: new Map(),
  reserved: new Map(),
  ...(asOf ? { asOf: Promise.resolve(asOf) } : {}),
});

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
  used(sql: Sql, tenant: TenantRow, scope: ScopeIds, w: Window): Promise<Totals> {
    return this.usage.used(sql, { tenantId: tenant.id, timezone: tenant.timezone, ...scope }, w);
  }

  /**
   * One scope's quota. `memo` holds the queries' answers by what they depend on, so the calls
   * of one authorization flush share the tenant's limits (one statement for the tenant's plan,
   * the key's and every subject of the flush's own plan), windows, used and reserved sums
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
    let subjects = memo.subjects.get(t) ?? (subject === null ? [] : [subject]);
    if (subject !== null && !subjects.includes(subject)) subjects = [...subjects, subject];
    const rows = await once(memo.limits, JSON.stringify([t, apiKeyId, subjects]), () =>
      store.limitsInForce(sql, t, apiKeyId, subjects, now),
    );
    const windows = (
      await once(memo.windows, `${tenant.timezone}|${now.toISOString()}`, () =>
        this.windows(sql, tenant.timezone, [now]),
      )
    ).get(now.toISOString()) as Windows;
    const items = await Promise.all(
      applicable(rows, apiKeyId, subject).map(async ({ limit, counts }): Promise<QuotaItem> => {
        const w = windows[limit.period];
        const who = [t, counts.apiKeyId ?? null, counts.subject ?? null];
        // Reserved is read before used (statements of one transaction run in order, each on a
        // fresh snapshot): a reservation settled in between is then counted twice (in reserved
        // and in used), never in neither, so a decision can only err on the safe side.
        const reservedAmounts = once(memo.reserved, JSON.stringify(who), () => store.reservedIn(sql, t, counts, now));
        const usedTotals = once(memo.used, JSON.stringify([...who, limit.period]), () =>
          this.used(sql, tenant, counts, w),
        );
        const reserved = reservedOf(await reservedAmounts, limit.metric);
        const used = metricOf(await usedTotals, limit.metric);
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
    const status = await this.db.snapshot('quotaStatus', (tx, asOf) =>
      this.computeStatus(tx, s.tenant, s.apiKeyId, s.subject, this.now(), newStatusMemo(asOf)),
    );
    if (!s.subjectOnly) return status;
    // What counts other subjects (the tenant's, a key's) is not shown; whether it blocks is.
    return { ...status, items: status.items.filter((i) => i.counts.subject === s.subject) };
  }
}
