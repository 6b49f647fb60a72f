// Usage reads: the event list, summaries and totals, each pinned to one tenant the caller may
// read. Read-only: every sum comes from summarize (rollups plus the ledger's partial hours);
// nothing here writes. UsageService (recording, reversals) extends this class, so the module
// keeps one handle for the composition root.

import { readIn, type TenantScope } from '../../auth/scope';
import type { Database } from '../../db/database';
import { badInput, notFound } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { connection, keyset } from '../../lib/keyset';
import type { TenantsService } from '../tenants/tenants.service';
import { EVENT_COLUMNS, type EventRow, type Totals } from './usage.columns';
import { addTotals, emptyTotals, type SummaryRow, summarize } from './usage.summary';
import type { Granularity, UsageDimension } from './usage.types';

const MAX_RANGE_MS = 400 * 24 * 3600_000;

export interface UsageFilterInput {
  tenantId?: string | null;
  apiKeyId?: string | null;
  subject?: string | null;
  model?: string | null;
  provider?: string | null;
  kind?: string | null;
  currency?: string | null;
  from: Date;
  to: Date;
}

export class UsageQueries {
  constructor(
    protected readonly db: Database,
    protected readonly tenants: TenantsService,
  ) {}

  /**
   * Checks a filter and pins it to what the caller may read (READ: the field's authScopes): one
   * tenant and, for a subject token, its subject within its maxRangeDays (auth/scope.ts
   * readIn). Every read of the ledger for a caller goes through here.
   */
  async resolveFilter(scope: TenantScope, raw: UsageFilterInput) {
    const { tenantId, subject } = readIn(scope, raw, ['filter']);
    UsageQueries.checkRange(raw.from, raw.to, ['filter', 'to']);
    const f = { ...raw, subject };
    const tenant = await this.tenants.get(tenantId, ['filter', 'tenantId']);
    if (f.apiKeyId != null) {
      const [k] = isUuid(f.apiKeyId)
        ? await this.db.query('usage:filterKey', 'SELECT 1 FROM api_keys WHERE id = $1 AND tenant_id = $2', [
            f.apiKeyId,
            tenantId,
          ])
        : [];
      if (!k) throw notFound('API key', ['filter', 'apiKeyId']);
    }
    return {
      tenant,
      filter: { ...f, tenantId, timezone: tenant.timezone, apiKeyIds: f.apiKeyId ? [f.apiKeyId] : null },
    };
  }

  async events(scope: TenantScope, f: UsageFilterInput, first: number, after: string | null | undefined) {
    const k = keyset(first, after);
    const { filter } = await this.resolveFilter(scope, f);
    const rows = await this.db.query<EventRow>(
      'usageEvents:page',
      `SELECT ${EVENT_COLUMNS} FROM usage_events
        WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3
          AND ($4::uuid IS NULL OR api_key_id = $4) AND ($5::text IS NULL OR subject = $5)
          AND ($6::text IS NULL OR model = $6) AND ($7::text IS NULL OR provider = $7) AND ($8::text IS NULL OR kind = $8)
          AND ($9::text IS NULL OR currency = $9)
          AND ($10::timestamptz IS NULL OR (occurred_at, id) < ($10::timestamptz, $11::uuid))
        ORDER BY occurred_at DESC, id DESC
        LIMIT $12`,
      [
        filter.tenantId,
        filter.from,
        filter.to,
        filter.apiKeyId ?? null,
        filter.subject ?? null,
        filter.model ?? null,
        filter.provider ?? null,
        filter.kind ?? null,
        filter.currency ?? null,
        k.afterInstant,
        k.afterId,
        k.limit,
      ],
    );
    return connection(rows, first, (e) => e.occurredAt);
  }
  async summary(
    scope: TenantScope,
    f: UsageFilterInput,
    groupBy: readonly UsageDimension[],
    granularity: Granularity | null,
  ) {
    const { tenant, filter } = await this.resolveFilter(scope, f);
    // In a transaction of its own: that is where JIT is off (see BEGIN_TX); a summary is heavy
    // enough for PostgreSQL's JIT to fire, and light enough that compiling costs far more.
    const buckets = await this.db.transaction('usageSummary', (tx) =>
      summarize(tx, filter, [...new Set(groupBy)], granularity),
    );
    return { totals: totalsOf(buckets, ['filter', 'currency'], tenant.currency), buckets };
  }

  /** Totals per API key over [from, to), one statement for all keys of one tenant. */
  async totalsByKey(
    tenantId: string,
    timezone: string,
    keyIds: string[],
    from: Date,
    to: Date,
  ): Promise<Map<string, Totals>> {
    const rows = await this.db.transaction('usageSummary:byKey', (tx) =>
      summarize(tx, { tenantId, timezone, from, to, apiKeyIds: keyIds }, ['API_KEY'], null),
    );
    const out = new Map<string, Totals>();
    for (const id of keyIds)
      out.set(
        id,
        totalsOf(
          rows.filter((r) => r.apiKeyId === id),
          ['from'],
        ),
      );
    return out;
  }

  /** A tenant's totals over [from, to), or one subject's (what a subject token may read). */
  async tenantTotals(
    tenantId: string,
    timezone: string,
    from: Date,
    to: Date,
    currency?: string,
    subject: string | null = null,
  ): Promise<Totals> {
    const rows = await this.db.transaction('usageSummary:tenant', (tx) =>
      summarize(tx, { tenantId, timezone, from, to, subject }, [], null),
    );
    return totalsOf(rows, ['from'], currency);
  }

  async byIds(ids: readonly string[]): Promise<EventRow[]> {
    const valid = ids.filter(isUuid);
    if (!valid.length) return [];
    return this.db.query<EventRow>(
      'usageEvents:byIds',
      `SELECT ${EVENT_COLUMNS} FROM usage_events WHERE id = ANY($1::uuid[])`,
      [valid],
    );
  }

  static checkRange(from: Date, to: Date, field = ['to']) {
    if (to.getTime() <= from.getTime()) throw badInput(field, 'must be after from');
    if (to.getTime() - from.getTime() > MAX_RANGE_MS) throw badInput(field, 'the range may span at most 400 days');
  }
}

/** Totals of rows that share one currency; usage in several currencies cannot be added up. */
function totalsOf(rows: SummaryRow[], currencyField: string[], tenantCurrency?: string): Totals {
  const currencies = new Set(rows.map((r) => r.currency));
  if (currencies.size > 1)
    throw badInput(
      currencyField,
      `the range holds usage in ${[...currencies].sort().join(' and ')}; filter by one currency`,
    );
  return rows.length ? addTotals(rows) : emptyTotals(tenantCurrency);
}
