// The usage reader (see ports.ts): what was used in a scope and window, for other modules.
// Windows with bounds go through the summaries (whole local days from the daily level, whole
// hours from an hourly level, the ledger only at the edges), so quota and usageSummary
// cannot disagree; a TOTAL window sums every rollup row of the scope. Also pricing's port
// for its backdating rule (pricedEntries: which entries a price version already priced).
import type { Sql } from '../../db/database';
import type { PricedEntries, PricedEntriesCheck } from '../pricing/ports';
import type { UsageReader, UsageScope, UsageWindow } from './ports';
import * as pricingStore from './usage.pricing-store';
import * as store from './usage.store';
import { addTotals, summaryTotals } from './usage.summary';
import { summaryManyRows } from './usage.summary-store';
import type { Totals } from './usage.types';

export const usageReader: UsageReader = {
  async used(sql, scope, w) {
    return (await usedMany(sql, [{ scope, window: w }]))[0] as Totals;
  },
  usedMany,
};

type Ask = { scope: UsageScope; window: UsageWindow };

/**
 * Each ask's totals, with one statement per kind of ask present (at most four: bounded or
 * TOTAL, by subject or not), each answering all asks of its kind. Asks with a bounded window
 * go through the summaries (whole local days from the daily level, whole hours from an
 * hourly level, the ledger only at the edges: summaryManyRows), so quota and usageSummary
 * cannot disagree; a TOTAL window sums every rollup row of the scope (whole hours or days, so
 * no ledger edges are needed). Both answer rows of measures tagged with the ask's position.
 */
async function usedMany(sql: Sql, asks: readonly Ask[]): Promise<Totals[]> {
  const kinds = new Map<string, number[]>();
  asks.forEach((a, i) => {
    const k = `${a.window.start && a.window.end ? 'range' : 'total'}|${a.scope.subject != null}`;
    const idx = kinds.get(k);
    if (idx) idx.push(i);
    else kinds.set(k, [i]);
  });
  const rowsOf: Totals[][] = asks.map(() => []);
  // Sent together: one connection runs them in turn, without a round trip between.
  await Promise.all(
    [...kinds].map(async ([kind, idx]) => {
      const bySubject = kind.endsWith('|true');
      const mine = idx.map((i) => asks[i] as Ask);
      const rows = kind.startsWith('range')
        ? await summaryManyRows(
            sql,
            bySubject,
            mine.map((a) => ({
              tenantId: a.scope.tenantId,
              timezone: a.scope.timezone,
              from: a.window.start as Date,
              to: a.window.end as Date,
              apiKeyId: a.scope.apiKeyId ?? null,
              subject: a.scope.subject ?? null,
            })),
          )
        : await store.usedTotals(
            sql,
            bySubject,
            mine.map((a) => a.scope),
          );
      for (const r of rows) rowsOf[idx[Number(r.ord) - 1] as number]?.push(summaryTotals(r));
    }),
  );
  return rowsOf.map((rows) => addTotals(rows));
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
