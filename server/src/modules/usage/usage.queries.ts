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
import type { EventRow, Totals } from './usage.columns';
import * as store from './usage.store';
import { addTotals, emptyTotals, type SummaryRow, summarize } from './usage.summary';
import type { Granularity, UsageDimension } from './usage.types';

const MAX_RANGE_MS = 400 * 24 * 3600_000;
/** MINUTE buckets: ranges of at most 24 hours (1,440 buckets per group). */
const MAX_MINUTE_RANGE_MS = 24 * 3600_000;

export interface UsageFilterInput {
  tenantId?: string | null;
  apiKeyId?: string | null;
  subject?: string | null;
  model?: string | null;
  provider?: string | null;
  kind?: string | null;
  currency?: string | null;
  status?: string | null;
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
      if (!isUuid(f.apiKeyId) || !(await store.keyInTenant(this.db, f.apiKeyId, tenantId)))
        throw notFound('API key', ['filter', 'apiKeyId']);
    }
    return {
      tenant,
      filter: { ...f, tenantId, timezone: tenant.timezone, apiKeyIds: f.apiKeyId ? [f.apiKeyId] : null },
    };
  }

  async events(scope: TenantScope, f: UsageFilterInput, first: number, after: string | null | undefined) {
    const k = keyset(first, after);
    const { filter } = await this.resolveFilter(scope, f);
    const rows = await store.eventsPage(this.db, filter, k);
    return connection(rows, first, (e) => e.occurredAt);
  }
  async summary(
    scope: TenantScope,
    f: UsageFilterInput,
    groupBy: readonly UsageDimension[],
    granularity: Granularity | null,
  ) {
    const { tenant, filter } = await this.resolveFilter(scope, f);
    this.checkGranularity(filter, granularity);
    // One snapshot (REPEATABLE READ READ ONLY, where JIT is off too: see BEGIN_TX): the answer
    // is exact as of `asOf` (db/database.ts says precisely how). A summary is heavy enough for
    // PostgreSQL's JIT to fire, and light enough that compiling costs far more.
    const { buckets, asOf } = await this.db.snapshot('usageSummary', async (tx, asOf) => ({
      asOf,
      buckets: await summarize(tx, filter, [...new Set(groupBy)], granularity),
    }));
    return { totals: totalsOf(buckets, ['filter', 'currency'], tenant.currency), buckets, asOf };
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
    return store.eventsByIds(this.db, valid);
  }

  /** MINUTE buckets only for ranges of at most 24 hours (the contract). */
  checkGranularity(f: { from: Date; to: Date }, granularity: Granularity | null) {
    if (granularity === 'MINUTE' && f.to.getTime() - f.from.getTime() > MAX_MINUTE_RANGE_MS)
      throw badInput(['granularity'], 'MINUTE buckets are for ranges of at most 24 hours; use HOUR for longer ones');
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
