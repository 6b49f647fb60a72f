// The usage reader (see ports.ts): what was used in a scope and window, for other modules.
// Windows with bounds go through the summaries (whole local days from the daily level, whole
// hours from an hourly level, the ledger only at the edges), so quota and usageSummary
// cannot disagree; a TOTAL window sums every rollup row of the scope.
import type { Sql } from '../../db/database';
import { Dec, fmt } from '../../lib/money';
import type { UsageReader, UsageScope, UsageWindow } from './ports';
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
