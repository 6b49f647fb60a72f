// The usage reader (see ports.ts): what was used in a scope and window, for other modules.
// Windows with bounds go through the summaries (whole local days from the daily level, whole
// hours from an hourly level, the ledger only at the edges), so quota and usageSummary
// cannot disagree; a TOTAL window sums every rollup row of the scope. Also pricing's port
// for its backdating rule (pricedEntries: which entries a price version already priced).
import type { Sql } from '../../db/database';
import { Dec, fmt } from '../../lib/money';
import type { PricedEntries, PricedEntriesCheck } from '../pricing/ports';
import type { UsageReader, UsageScope, UsageWindow } from './ports';
import * as pricingStore from './usage.pricing-store';
import * as store from './usage.store';
import { addTotals, emptyTotals, summarize } from './usage.summary';
import type { Totals } from './usage.types';

export const usageReader: UsageReader = { used };

async function used(sql: Sql, scope: UsageScope, w: UsageWindow): Promise<Totals> {
  if (w.start && w.end) {
    const rows = await summarize(
      sql,
      {
        tenantId: scope.tenantId,
        timezone: scope.timezone,
        from: w.start,
        to: w.end,
        apiKeyIds: scope.apiKeyId ? [scope.apiKeyId] : null,
        subject: scope.subject ?? null,
      },
      [],
      null,
      // Quota's status reads (every locked authorization, every lease renewal): planning the
      // summary cost far more than running it.
      true,
    );
    return addTotals(rows);
  }
  // TOTAL: every rollup row of the scope (whole hours or days, so no ledger edges are needed);
  // the daily level has a row per day instead of per hour, but no subject.
  const r = await store.usedTotal(sql, scope);
  const t = emptyTotals();
  t.requests = BigInt(r?.requests ?? 0);
  t.inputTokens = BigInt(r?.input ?? 0);
  t.outputTokens = BigInt(r?.output ?? 0);
  t.totalTokens = t.inputTokens + t.outputTokens;
  t.asrMilliseconds = BigInt(r?.asr ?? 0);
  t.cost = fmt(new Dec(r?.cost ?? 0));
  return t;
}

/**
 * Pricing's port (pricing/ports.ts): for each check, the latest occurredAt of an entry priced
 * by one of its versions in [from, to) (of its tenant, or of any), in one statement. The
 * ledger has no index by price, so each tenant's entries since the earliest `from` are read
 * through (tenant_id, occurred_at): a price set from now on reads only entries dated ahead
 * (at most 5 minutes); a backdated one reads the ledger since its start.
 */
export const pricedEntries: PricedEntries = {
  async latestPriced(sql: Sql, checks: readonly PricedEntriesCheck[]): Promise<(Date | null)[]> {
    if (!checks.length) return [];
    const rows = await pricingStore.latestPriced(sql, checks);
    const out: (Date | null)[] = checks.map(() => null);
    for (const r of rows) out[r.ord] = r.latest;
    return out;
  },
};
