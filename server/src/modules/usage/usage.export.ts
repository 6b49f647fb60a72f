// The CSV exports' rows (GET /export/usage-events.csv and /export/usage-summary.csv; the
// transport is server/src/export.ts). A filter goes through the very normalization the
// GraphQL fields use (UsageQueries.resolveFilter with the caller's TenantScope: the tenant,
// the 400-day rule, a key of the tenant), and a summary through the same checks as
// usageSummary; then one statement is streamed from a server-side cursor in a snapshot
// (Database.stream), so memory stays flat in the number of rows and every row is exact as of
// one instant.
import type { TenantScope } from '../../auth/scope';
import type { Database, RowStream } from '../../db/database';
import { MEASURES } from './usage.columns';
import type { UsageFilterInput, UsageQueries } from './usage.queries';
import { EVENT_EXPORT_COLUMNS, eventsExportStatement } from './usage.store';
import { summaryStatement } from './usage.summary-store';
import type { Granularity, UsageDimension } from './usage.types';

/** An export ready to stream: its header, its rows as CSV cells, and when it is exact as of. */
export interface ExportRows {
  /** A file name without directories or quotes. */
  filename: string;
  columns: string[];
  asOf: Date;
  /** Batches of rows, each a list of cells in `columns` order. */
  rows: AsyncIterable<unknown[][]>;
  /** Ends it early (idempotent): the cursor is closed and the connection released. */
  close(): Promise<void>;
}

/**
 * Rows read per round trip: about 100 KB, small enough that a batch is garbage before V8's
 * young generation promotes it (the heap stays flat, not just bounded).
 */
const BATCH = 250;

const DIMENSION_COLUMN: Record<UsageDimension, [header: string, row: string]> = {
  API_KEY: ['apiKeyId', 'apiKeyId'],
  SUBJECT: ['subject', 'subject'],
  MODEL: ['model', 'model'],
  PROVIDER: ['provider', 'provider'],
  KIND: ['kind', 'kind'],
  STATUS: ['status', 'status'],
};
/** UsageTotals' fields, in the contract's order (totalTokens is computed, not a measure). */
const TOTALS_COLUMNS = [
  'requests',
  'failedRequests',
  'inputTokens',
  'outputTokens',
  'cachedInputTokens',
  'cacheWriteInputTokens',
  'reasoningTokens',
  'totalTokens',
  'asrMilliseconds',
  'quantity',
  'cost',
  'currency',
] as const;
const SQL_OF = new Map<string, string>(MEASURES.map((m) => [m.ts, m.sql]));

const stamp = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
const fileName = (what: string, f: { from: Date; to: Date }) => `${what}-${stamp(f.from)}-${stamp(f.to)}.csv`;

function exportOf<T>(
  stream: RowStream<T>,
  filename: string,
  columns: string[],
  cells: (row: T) => unknown[],
): ExportRows {
  return {
    filename,
    columns,
    asOf: stream.asOf,
    close: () => stream.close(),
    rows: {
      [Symbol.asyncIterator]: () => {
        const it = stream[Symbol.asyncIterator]();
        return {
          next: async () => {
            const r = await it.next();
            return r.done ? r : { done: false, value: r.value.map(cells) };
          },
          return: async () => {
            await stream.close();
            return { done: true, value: undefined };
          },
        };
      },
    },
  };
}

/** Every entry of the filter, oldest first. */
export async function exportEvents(
  queries: UsageQueries,
  db: Database,
  scope: TenantScope,
  f: UsageFilterInput,
): Promise<ExportRows> {
  const { filter } = await queries.resolveFilter(scope, f);
  // the normalized filter, never the raw one: whatever resolveFilter pins (the tenant, and
  // whatever a caller's scope restricts) is what the statement filters by
  const st = eventsExportStatement(filter);
  // Arrays in the columns' order: the cells as they are, no object per row.
  const stream = await db.stream<unknown[]>(st.name, st.text, st.params, { batch: BATCH, rowMode: 'array' });
  const columns = EVENT_EXPORT_COLUMNS.map(([name]) => name);
  return exportOf(stream, fileName('usage-events', filter), columns, (r) => r);
}

/** One row per bucket: start, the grouped dimensions (in the order asked), every UsageTotals field. */
export async function exportSummary(
  queries: UsageQueries,
  db: Database,
  scope: TenantScope,
  f: UsageFilterInput,
  groupBy: readonly UsageDimension[],
  granularity: Granularity | null,
): Promise<ExportRows> {
  const { filter } = await queries.resolveFilter(scope, f);
  queries.checkGranularity(filter, granularity);
  const dims = [...new Set(groupBy)];
  const st = summaryStatement(filter, dims, granularity);
  const stream = await db.stream<Record<string, string | Date | null>>(st.name, st.text, st.params, { batch: BATCH });
  const columns = ['start', ...dims.map((d) => DIMENSION_COLUMN[d][0]), ...TOTALS_COLUMNS];
  const rowKeys = dims.map((d) => DIMENSION_COLUMN[d][1]);
  return exportOf(stream, fileName('usage-summary', filter), columns, (r) => [
    r.start instanceof Date ? r.start.toISOString() : null,
    ...rowKeys.map((k) => r[k]),
    ...TOTALS_COLUMNS.map((c) => {
      if (c === 'currency') return r.currency;
      if (c === 'totalTokens') return (BigInt(r.input_tokens as string) + BigInt(r.output_tokens as string)).toString();
      return r[SQL_OF.get(c) as string];
    }),
  ]);
}
