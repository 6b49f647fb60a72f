// Threshold alerts: one per (limit, scope, window, threshold), enforced by a unique key and
// stored in the transaction that recorded the usage that crossed it (the usage writer takes
// the tenants' lock first, so each crossing is seen by exactly one writer). A subject with a
// plan of its own is judged by that plan's limits (counting its usage) instead of the SUBJECT
// limits of the tenant's plan, as its status is (quota.status.ts); the own plans of the
// entries' subjects, and only theirs, are read in the transaction.

import { subjectIn, type TenantScope } from '../../auth/scope';
import type { Database, Sql } from '../../db/database';
import type { TenantRow } from '../../db/entities';
import { connection, keyset } from '../../lib/keyset';
import { Dec, fmt } from '../../lib/money';
import type { EventRow, Totals } from '../usage/usage.types';
import type { WebhookOutbox } from '../webhooks/ports';
import { metricOf, type QuotaStatuses, type Window, windowKey } from './quota.status';
import * as store from './quota.store';
import type { AlertRow, LimitMetric, LimitRow, NewAlert, ScopeIds } from './quota.types';

/** A limit's metric in one ledger entry (what the entry adds to the window's used). */
function entryMetric(e: EventRow, m: LimitMetric): Dec {
  switch (m) {
    case 'COST':
      return new Dec(e.cost);
    case 'TOKENS':
      return new Dec(e.inputTokens).plus(e.outputTokens);
    case 'INPUT_TOKENS':
      return new Dec(e.inputTokens);
    case 'OUTPUT_TOKENS':
      return new Dec(e.outputTokens);
    case 'ASR_SECONDS':
      return new Dec(e.kind === 'ASR' ? (e.durationMs ?? 0) : 0).div(1000);
    case 'REQUESTS':
      return new Dec(e.requests);
  }
}

export interface WritePlan {
  /** The writer's clock: alerts are stamped with it (millisecond precision, as cursors carry). */
  at: Date;
  lock: string[];
  /** Per tenant: its thresholded limits, and whether some of its subjects have plans of their own. */
  limits: Map<string, { tenant: TenantRow; limits: LimitRow[]; subjectPlans: boolean }>;
}

/** The usage a limit counts for one entry (null: the entry is outside its scope). */
function countsFor(l: LimitRow, e: EventRow, ownPlan: boolean): ScopeIds | null {
  if (ownPlan) {
    if (!e.subject) return null;
    if (l.scope !== 'API_KEY') return { subject: e.subject };
    return e.apiKeyId ? { apiKeyId: e.apiKeyId, subject: e.subject } : null;
  }
  if (l.apiKeyId) return e.apiKeyId === l.apiKeyId ? { apiKeyId: l.apiKeyId } : null;
  if (l.scope === 'TENANT') return {};
  if (l.scope === 'API_KEY') return e.apiKeyId ? { apiKeyId: e.apiKeyId } : null;
  return e.subject ? { subject: e.subject } : null;
}

const iso = (d: Date | string | null) => (d == null ? null : new Date(d).toISOString());

/** A quota.threshold_crossed webhook's data: the QuotaAlert's contract fields (its limit in brief), money as decimal text. */
function alertData(a: AlertRow, l: LimitRow | undefined): Record<string, unknown> {
  return {
    id: a.id,
    tenantId: a.tenantId,
    apiKeyId: a.apiKeyId,
    subject: a.subject,
    limit: l
      ? {
          id: l.id,
          metric: l.metric,
          period: l.period,
          scope: l.scope,
          amount: fmt(new Dec(l.amount)),
          action: l.action,
        }
      : { id: a.limitId },
    threshold: a.threshold,
    used: fmt(new Dec(a.used)),
    periodStart: iso(a.periodStart),
    crossedAt: iso(a.crossedAt),
  };
}

export class QuotaAlerts {
  constructor(
    private readonly db: Database,
    private readonly statuses: QuotaStatuses,
    private readonly outbox?: WebhookOutbox,
  ) {}

  /**
   * Limits with thresholds of the tenants in a write; null when none has any and no subject of
   * theirs has a plan of its own (no lock, no work).
   */
  async planWrite(tenantIds: string[], at: Date): Promise<WritePlan | null> {
    const rows = await store.thresholdedLimits(this.db, [...new Set(tenantIds)], at);
    if (!rows.length) return null;
    const limits: WritePlan['limits'] = new Map();
    for (const { tenant, limit, subjectPlans } of rows) {
      const e = limits.get(tenant.id) ?? { tenant, limits: [], subjectPlans };
      if (limit) e.limits.push(limit);
      limits.set(tenant.id, e);
    }
    return { at, lock: [...limits.keys()], limits };
  }

  /** The thresholded limits of the own plans of the entries' subjects, by [tenant, subject] (present: it has a plan). */
  private async ownPlans(tx: Sql, plan: WritePlan, created: EventRow[]): Promise<Map<string, LimitRow[]>> {
    const pairs = new Map<string, { tenantId: string; subject: string }>();
    for (const e of created)
      if (e.subject && plan.limits.get(e.tenantId)?.subjectPlans)
        pairs.set(JSON.stringify([e.tenantId, e.subject]), { tenantId: e.tenantId, subject: e.subject });
    const own = new Map<string, LimitRow[]>();
    if (!pairs.size) return own;
    for (const { forTenant, forSubject, ...limit } of await store.subjectPlanLimits(tx, [...pairs.values()], plan.at)) {
      const k = JSON.stringify([forTenant, forSubject]);
      const list = own.get(k) ?? [];
      if (limit.id) list.push(limit);
      own.set(k, list);
    }
    return own;
  }

  /**
   * In the writer's transaction, after the entries are in: for each limit whose used/amount
   * the new entries moved across a threshold (in the window of each entry's occurredAt),
   * store the alert once. Returns the alerts stored by this transaction.
   */
  async recordAlerts(tx: Sql, plan: WritePlan, created: EventRow[]): Promise<AlertRow[]> {
    const candidates: NewAlert[] = [];
    const crossed = new Map<string, LimitRow>();
    const ownPlans = await this.ownPlans(tx, plan, created);
    const written = [...plan.limits]
      .map(([tenantId, { tenant, limits }]) => ({
        tenantId,
        tenant,
        limits,
        events: created.filter((e) => e.tenantId === tenantId),
      }))
      .filter((x) => x.events.length);
    if (!written.length) return [];
    // One statement for the windows of every entry, one round for the used sums of every
    // (limit, scope, window) the entries moved, whatever the number of tenants.
    const windows = await this.statuses.windows(
      tx,
      written.flatMap((x) => x.events.map((e) => ({ timezone: x.tenant.timezone, at: e.occurredAt }))),
    );
    type Group = { tenantId: string; limit: LimitRow; scope: ScopeIds; w: Window; delta: EventRow[]; uk: string };
    const groups = new Map<string, Group>();
    const asks = new Map<string, { tenant: TenantRow; scope: ScopeIds; w: Window }>();
    for (const { tenantId, tenant, limits, events } of written)
      for (const e of events) {
        const own = e.subject ? ownPlans.get(JSON.stringify([tenantId, e.subject])) : undefined;
        // A subject's own plan replaces the SUBJECT limits of the tenant's plan for it.
        const judged = [
          ...limits.filter((l) => !own || l.apiKeyId || l.scope !== 'SUBJECT').map((l) => ({ l, ownPlan: false })),
          ...(own ?? []).map((l) => ({ l, ownPlan: true })),
        ];
        for (const { l, ownPlan } of judged) {
          const scope = countsFor(l, e, ownPlan);
          if (!scope) continue;
          const w = windows.get(windowKey(tenant.timezone, e.occurredAt))?.[l.period] as Window;
          const who = [tenantId, scope.apiKeyId ?? '', scope.subject ?? '', w.start?.toISOString() ?? 'total'];
          const key = JSON.stringify([l.id, ...who]);
          const uk = JSON.stringify(who);
          const g = groups.get(key) ?? { tenantId, limit: l, scope, w, delta: [], uk };
          g.delta.push(e);
          groups.set(key, g);
          asks.set(uk, { tenant, scope, w });
        }
      }
    const sums = await this.statuses.usedMany(tx, [...asks.values()]);
    const usedBy = new Map([...asks.keys()].map((k, i) => [k, sums[i] as Totals]));
    for (const g of groups.values()) {
      const tenantId = g.tenantId;
      const after = metricOf(usedBy.get(g.uk) as Totals, g.limit.metric);
      const before = g.delta.reduce((b, e) => b.minus(entryMetric(e, g.limit.metric)), after);
      const amount = new Dec(g.limit.amount);
      for (const t of g.limit.thresholds) {
        const level = amount.times(t).div(100);
        if (before.lt(level) && after.gte(level) && crossed.set(g.limit.id, g.limit))
          candidates.push({
            tenantId,
            limitId: g.limit.id,
            // One subject through one key (an own plan's API_KEY limit): both, unambiguous (a key id is a UUID).
            scopeKey:
              g.scope.apiKeyId && g.scope.subject
                ? `${g.scope.apiKeyId}/${g.scope.subject}`
                : (g.scope.apiKeyId ?? g.scope.subject ?? ''),
            apiKeyId: g.scope.apiKeyId ?? null,
            subject: g.scope.subject ?? null,
            periodStart: g.w.start,
            threshold: t,
            used: fmt(after),
          });
      }
    }
    if (!candidates.length) return [];
    const stored = await store.insertAlerts(tx, candidates, plan.at);
    // Only the alerts this transaction stored (the unique key kept out any stored before).
    await this.outbox?.emit(
      tx,
      stored.map((a) => ({
        tenantId: a.tenantId,
        type: 'quota.threshold_crossed',
        key: a.id,
        at: new Date(a.crossedAt),
        data: alertData(a, crossed.get(a.limitId)),
      })),
    );
    return stored;
  }

  /** The tenant's stored alerts; a subject token's, only its subject's (READ: the field's authScopes). */
  async alerts(
    p: TenantScope,
    tenantId: string,
    args: {
      from?: Date | null;
      to?: Date | null;
      first?: number | null;
      after?: string | null;
    },
  ) {
    const first = args.first ?? 50;
    const k = keyset(first, args.after);
    const range = { from: args.from ?? null, to: args.to ?? null, subject: subjectIn(p, null, ['subject']) };
    const rows = await store.alertsPage(this.db, tenantId, range, k);
    return connection(rows, first, (r) => r.crossedAt);
  }
}
