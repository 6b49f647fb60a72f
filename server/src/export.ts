// The CSV exports, as the contract describes them:
//   GET /export/usage-events.csv?from=&to=[&tenantId=&apiKeyId=&subject=&model=&provider=&kind=&status=&currency=]
//   GET /export/usage-summary.csv?from=&to=&groupBy=MODEL,SUBJECT&granularity=DAY[&the same filters]
// Authenticated exactly as /graphql (the app's authenticate, the same Authorization header),
// allowed to whoever may read usageEvents / usageSummary (the READ scope, as their authScopes
// say), and filtered through the usage service's own normalization with scopeOf(principal), so
// whatever restricts a caller's filters in GraphQL restricts its exports. The rows come from
// a server-side cursor (usage.export.ts) through csv-stringify with backpressure, so memory
// stays flat in the number of rows; a client that goes away ends the cursor and releases its
// connection. An error before the first row is a JSON body with a contract code; once rows
// flow, a failure can only cut the response short (the status is sent).
import type http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import type { App } from './app';
import { scopeOf } from './auth/scope';
import { parseDateTime } from './graphql/scalars';
import { AppError, badInput, forbidden } from './lib/errors';
import type { ExportRows } from './modules/usage/usage.export';
import type { UsageFilterInput } from './modules/usage/usage.queries';
import { DIMENSIONS, GRANULARITIES, type Granularity, KINDS, type UsageDimension } from './modules/usage/usage.types';

export const EXPORT_PATHS = ['/export/usage-events.csv', '/export/usage-summary.csv'] as const;

const FILTER_TEXT = ['tenantId', 'apiKeyId', 'subject', 'model', 'provider', 'currency'] as const;
const PARAMS: Record<(typeof EXPORT_PATHS)[number], ReadonlySet<string>> = {
  '/export/usage-events.csv': new Set(['from', 'to', 'kind', 'status', ...FILTER_TEXT]),
  '/export/usage-summary.csv': new Set(['from', 'to', 'kind', 'status', 'groupBy', 'granularity', ...FILTER_TEXT]),
};
const STATUSES = ['SUCCEEDED', 'FAILED'] as const;
/** A query parameter longer than this is refused before it reaches any lookup. */
const MAX_PARAM = 1000;

const HTTP_STATUS: Partial<Record<string, number>> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
};

export function isExportPath(path: string): path is (typeof EXPORT_PATHS)[number] {
  return (EXPORT_PATHS as readonly string[]).includes(path);
}

/** Answers one export request (GET or HEAD); never throws. */
export async function serveExport(
  app: App,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path: (typeof EXPORT_PATHS)[number],
  requestId: string,
): Promise<void> {
  const started = performance.now();
  let out: ExportRows | null = null;
  let rows = 0;
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return fail(res, 405, new AppError('BAD_USER_INPUT', 'exports are read with GET'));
    }
    const principal = await app.authenticate(req.headers.authorization);
    // As usageEvents' and usageSummary's authScopes: { read: true } (graphql/builder.ts).
    if (!principal.isOperator && !principal.scopes.has('READ'))
      throw forbidden('this operation needs a key with the READ scope');
    const q = params(new URL(req.url ?? '/', 'http://export.invalid').searchParams, PARAMS[path]);
    const filter = filterOf(q);
    const scope = scopeOf(principal);
    out =
      path === '/export/usage-events.csv'
        ? await app.services.usage.exportEvents(scope, filter)
        : await app.services.usage.exportSummary(scope, filter, groupByOf(q.get('groupBy')), granularityOf(q));
  } catch (err) {
    return fail(res, 0, err, app, requestId);
  }

  const rowsOut = out;
  res.writeHead(200, {
    'content-type': 'text/csv; charset=utf-8',
    'content-disposition': `attachment; filename="${rowsOut.filename}"`,
    'cache-control': 'no-store',
    'x-request-id': requestId,
    // Every row is exact as of this instant (one snapshot: see db/database.ts).
    'x-tally-as-of': rowsOut.asOf.toISOString(),
  });
  try {
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    async function* each() {
      for await (const batch of rowsOut.rows)
        for (const r of batch) {
          rows++;
          yield r;
        }
    }
    await pipeline(Readable.from(each()), stringify({ header: true, columns: rowsOut.columns }), res);
    app.logger.info({ requestId, path, rows, durationMs: Math.round(performance.now() - started) }, 'export');
  } catch (err) {
    // The client went away, or the stream failed after the status was sent: the response is
    // cut short (a CSV without its last rows is told by the missing end of the connection).
    app.logger.warn({ requestId, path, rows, err: (err as Error).message }, 'export ended early');
    res.destroy();
  } finally {
    await rowsOut.close();
  }
}

/** The JSON body of an error before the first row, with the contract's code (and field). */
function fail(res: http.ServerResponse, status: number, err: unknown, app?: App, requestId?: string) {
  let e: AppError;
  if (err instanceof AppError) e = err;
  else {
    app?.logger.error({ requestId, err }, 'export failed');
    e = new AppError('INTERNAL', 'internal error');
  }
  // A filter field is named as its query parameter (GraphQL names it under `filter`).
  const field = e.field?.[0] === 'filter' ? e.field.slice(1) : e.field;
  res.writeHead(status || (HTTP_STATUS[e.code] ?? 500), { 'content-type': 'application/json; charset=utf-8' });
  res.end(
    JSON.stringify({ errors: [{ message: e.message, extensions: { code: e.code, ...(field ? { field } : {}) } }] }),
  );
}

/** The query parameters, each at most once, each one this export knows. */
function params(search: URLSearchParams, known: ReadonlySet<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of search) {
    if (!known.has(k))
      throw badInput([k.slice(0, 100)], `is not a parameter of this export (${[...known].join(', ')})`);
    if (out.has(k)) throw badInput([k], 'may be given once');
    if (v.length > MAX_PARAM) throw badInput([k], `must be at most ${MAX_PARAM} characters`);
    if (v.includes('\u0000')) throw badInput([k], 'may not contain the NUL character');
    out.set(k, v);
  }
  return out;
}

function oneOf<T extends string>(q: Map<string, string>, name: string, values: readonly T[]): T | null {
  const v = q.get(name);
  if (v == null || v === '') return null;
  if (!(values as readonly string[]).includes(v)) throw badInput([name], `must be one of ${values.join(', ')}`);
  return v as T;
}

function filterOf(q: Map<string, string>): UsageFilterInput {
  const instant = (name: 'from' | 'to') => {
    const v = q.get(name);
    if (v == null || v === '') throw badInput([name], 'is required');
    return parseDateTime(v, [name]);
  };
  const text = (name: (typeof FILTER_TEXT)[number]) => {
    const v = q.get(name);
    return v == null || v === '' ? null : v;
  };
  return {
    from: instant('from'),
    to: instant('to'),
    tenantId: text('tenantId'),
    apiKeyId: text('apiKeyId'),
    subject: text('subject'),
    model: text('model'),
    provider: text('provider'),
    currency: text('currency'),
    kind: oneOf(q, 'kind', KINDS),
    status: oneOf(q, 'status', STATUSES),
  };
}

function groupByOf(v: string | undefined): UsageDimension[] {
  if (v == null || v === '') return [];
  return v.split(',').map((d) => {
    const dim = d.trim();
    if (!(DIMENSIONS as readonly string[]).includes(dim))
      throw badInput(['groupBy'], `"${dim.slice(0, 40)}" is not one of ${DIMENSIONS.join(', ')}`);
    return dim as UsageDimension;
  });
}

const granularityOf = (q: Map<string, string>): Granularity | null => oneOf(q, 'granularity', GRANULARITIES);
