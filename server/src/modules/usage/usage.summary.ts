// Usage aggregates for any [from, to) and any tenant time zone, exact: the statement is
// usage.summary-store.ts (summaryRows: how the range is cut and which level serves each part);
// here its rows become Totals, and totals are added exactly.
import type { Sql } from '../../db/database';
import { Dec, fmt, ZERO } from '../../lib/money';
import { MEASURES, type MeasureTotals } from './usage.columns';
import { type SummaryFilter, summaryRows } from './usage.summary-store';
import type { Granularity, Totals, UsageDimension } from './usage.types';

export interface SummaryRow extends Totals {
  start: Date | null;
  apiKeyId: string | null;
  subject: string | null;
  model: string | null;
  provider: string | null;
  kind: string | null;
  status: string | null;
}

export async function summarize(
  sql: Sql,
  f: SummaryFilter,
  groupBy: readonly UsageDimension[],
  granularity: Granularity | null | undefined,
): Promise<SummaryRow[]> {
  const rows = await summaryRows(sql, f, groupBy, granularity);
  // One object per row, measures written into it (a MINUTE summary answers 1,440 rows a group).
  return rows.map((r) => {
    const row: Record<string, unknown> = {
      start: r.start as Date | null,
      apiKeyId: r.apiKeyId as string | null,
      subject: r.subject as string | null,
      model: r.model as string | null,
      provider: r.provider as string | null,
      kind: r.kind as string | null,
      status: r.status as string | null,
      currency: r.currency as string,
    };
    return addSums(row, r) as unknown as SummaryRow;
  });
}

const NOTHING = Object.fromEntries([
  ...MEASURES.map((m) => [m.ts, m.numeric ? fmt(ZERO) : 0n]),
  ['totalTokens', 0n],
]) as Omit<Totals, 'currency'>;

/** Totals of nothing: every measure zero (a copy of one object made at load: quota asks per entry). */
export const emptyTotals = (currency = 'USD'): Totals => ({ ...NOTHING, currency });

/** Exactly the sum of `rows` (bigint and decimal addition, no rounding anywhere). */
export function addTotals(rows: readonly Totals[], currency?: string): Totals {
  const t = emptyTotals(currency ?? rows[0]?.currency ?? 'USD') as unknown as Record<string, bigint | string>;
  for (const m of MEASURES) {
    if (m.numeric) {
      let sum = new Dec(0);
      for (const r of rows) sum = sum.plus(r[m.ts] as string);
      t[m.ts] = fmt(sum);
    } else {
      let sum = 0n;
      for (const r of rows) sum += r[m.ts] as bigint;
      t[m.ts] = sum;
    }
  }
  let total = 0n;
  for (const r of rows) total += r.totalTokens;
  t.totalTokens = total;
  return t as unknown as Totals;
}

/** The totals of one summary row as PostgreSQL answers it (text sums named like the rollup columns). */
export const summaryTotals = (r: Record<string, unknown>): Totals =>
  addSums({ currency: r.currency as string }, r) as unknown as Totals;

/** Writes the totals of a row of text sums named like the rollup columns (a summary's answer) into `t`. */
function addSums(t: Record<string, unknown>, r: Record<string, unknown>): Record<string, unknown> {
  for (const m of MEASURES) t[m.ts] = m.numeric ? r[m.sql] : BigInt(r[m.sql] as string);
  const totals = t as MeasureTotals;
  t.totalTokens = totals.inputTokens + totals.outputTokens;
  return t;
}
