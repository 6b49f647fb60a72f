// Threshold alerts: one per (limit, scope, window, threshold), enforced by a unique key and
// stored in the transaction that recorded the usage that crossed it (the usage writer takes
// the tenants' lock first, so each crossing is seen by exactly one writer).

import type { Database, Sql } from '../../db/database';
import type { TenantRow } from '../../db/entities';
import { connection, keyset } from '../../lib/keyset';
import { Dec, fmt } from '../../lib/money';
import type { EventRow, Totals } from '../usage/usage.types';
import { metricOf, type QuotaStatuses, type Window } from './quota.status';
import * as store from './quota.store';
import type { AlertRow, LimitMetric, LimitRow } from './quota.types';

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
  limits: Map<string, { tenant: TenantRow; limits: LimitRow[] }>;
}

export class QuotaAlerts {
  constructor(
    private readonly db: Database,
    private readonly statuses: QuotaStatuses,
  ) {}

  /** Limits with thresholds of the tenants in a write; null when none has any (no lock, no work). */
  async planWrite(tenantIds: string[], at: Date): Promise<WritePlan | null> {
    const rows = await store.thresholdedLimits(this.db, [...new Set(tenantIds)], at);
    if (!rows.length) return null;
    const limits = new Map<string, { tenant: TenantRow; limits: LimitRow[] }>();
    for (const { tenant, limit } of rows) {
      const e = limits.get(tenant.id) ?? { tenant, limits: [] };
      e.limits.push(limit);
      limits.set(tenant.id, e);
    }
    return { at, lock: [...limits.keys()], limits };
  }

  /**
   * In the writer's transaction, after the entries are in: for each limit whose used/amount
   * the new entries moved across a threshold (in the window of each entry's occurredAt),
   * store the alert once. Returns the alerts stored by this transaction.
   */
  async recordAlerts(tx: Sql, plan: WritePlan, created: EventRow[]): Promise<AlertRow[]> {
    const candidates: store.NewAlert[] = [];
    for (const [tenantId, { tenant, limits }] of plan.limits) {
      const events = created.filter((e) => e.tenantId === tenantId);
      if (!events.length) continue;
      const windows = await this.statuses.windows(
        tx,
        tenant.timezone,
        events.map((e) => e.occurredAt),
      );
      const groups = new Map<
        string,
        { limit: LimitRow; scope: { apiKeyId?: string; subject?: string }; w: Window; delta: EventRow[] }
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
          g.delta.push(e);
          groups.set(key, g);
        }
      }
      const usedCache = new Map<string, Promise<Totals>>();
      for (const g of groups.values()) {
        const uk = `${g.scope.apiKeyId ?? ''}|${g.scope.subject ?? ''}|${g.w.start?.toISOString() ?? 'total'}`;
        if (!usedCache.has(uk)) usedCache.set(uk, this.statuses.used(tx, tenant, g.scope, g.w));
        const after = metricOf(await (usedCache.get(uk) as Promise<Totals>), g.limit.metric);
        const before = g.delta.reduce((b, e) => b.minus(entryMetric(e, g.limit.metric)), after);
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
    return store.insertAlerts(tx, candidates, plan.at);
  }

  /** The tenant's stored alerts (READ: the field's authScopes). */
  async alerts(
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
    const rows = await store.alertsPage(this.db, tenantId, { from: args.from ?? null, to: args.to ?? null }, k);
    return connection(rows, first, (r) => r.crossedAt);
  }
}
