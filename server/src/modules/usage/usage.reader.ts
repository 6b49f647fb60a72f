// The usage reader (see ports.ts): what was used in a scope and window, for other modules.
// Windows with bounds go through the summaries (whole local days from the daily level, whole
// hours from an hourly level, the ledger only at the edges), so quota and usageSummary
// cannot disagree; a TOTAL window sums every rollup row of the scope.
import type { Sql } from '../../db/database';
import { Dec, fmt } from '../../lib/money';
import type { UsageReader, UsageScope, UsageWindow } from './ports';
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
  const [r] = await sql.query<Record<string, string | null>>(
    'usage:usedTotal',
    `SELECT sum(requests)::text AS requests, sum(input_tokens)::text AS input, sum(output_tokens)::text AS output,
            sum(asr_ms)::text AS asr, sum(cost)::text AS cost
       FROM ${scope.subject != null ? 'usage_rollups_hourly' : '(SELECT k.*, NULL::text AS subject FROM usage_rollups_daily_keys k) r'}
      WHERE tenant_id = $1 AND ($2::uuid IS NULL OR api_key_id = $2) AND ($3::text IS NULL OR subject = $3)`,
    [scope.tenantId, scope.apiKeyId ?? null, scope.subject ?? null],
  );
  const t = emptyTotals();
  t.requests = BigInt(r?.requests ?? 0);
  t.inputTokens = BigInt(r?.input ?? 0);
  t.outputTokens = BigInt(r?.output ?? 0);
  t.totalTokens = t.inputTokens + t.outputTokens;
  t.asrMilliseconds = BigInt(r?.asr ?? 0);
  t.cost = fmt(new Dec(r?.cost ?? 0));
  return t;
}
