// Structured logs (pino) and Prometheus metrics (prom-client), one registry per app so
// several apps in one process (tests) do not collide.
import pino from 'pino';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { clip, clipMessage } from './lib/input';

export type Logger = pino.Logger;
export const createLogger = (level = 'info') => pino({ level, base: { service: 'tally' } });

/**
 * An error as the log may hold it: what failed and where, never the data. A failed statement
 * (TypeORM's QueryFailedError, pg's DatabaseError) carries its parameters (whole batches,
 * metadata, subjects) and pg's detail quotes row values: the log gets the statement's name and
 * the parameters' shape (count, types, lengths) instead.
 */
export function loggableError(e: unknown): Record<string, unknown> {
  // By shape: an error from another realm (vitest's, a worker's) is no instanceof Error.
  if (!e || typeof e !== 'object' || typeof (e as Error).message !== 'string')
    return { type: typeof e, message: clip(String(e), 200) };
  const err = e as Error & {
    code?: unknown;
    query?: unknown;
    parameters?: unknown;
    driverError?: { code?: unknown; routine?: unknown };
    routine?: unknown;
  };
  const out: Record<string, unknown> = { type: err.constructor?.name ?? err.name, message: clipMessage(err.message) };
  const code = err.driverError?.code ?? err.code;
  if (typeof code === 'string') out.code = code;
  const routine = err.driverError?.routine ?? err.routine;
  if (typeof routine === 'string') out.routine = routine;
  if (typeof err.query === 'string') out.statement = /\/\*\s*([\w:.-]+)\s*\*\//.exec(err.query)?.[1] ?? 'unnamed';
  if (Array.isArray(err.parameters)) out.parameters = parameterShape(err.parameters);
  if (err.stack)
    out.stack = err.stack
      .split('\n')
      .filter((l) => /^\s+at /.test(l))
      .slice(0, 12)
      .join('\n');
  return out;
}

/** ['string:36', 'number', 'null', 'object:array(500)'] for at most 20 parameters. */
function parameterShape(params: unknown[]) {
  const shape = (p: unknown) =>
    p === null || p === undefined
      ? String(p)
      : typeof p === 'string'
        ? `string:${p.length}`
        : Array.isArray(p)
          ? `array:${p.length}`
          : Buffer.isBuffer(p)
            ? `bytes:${p.length}`
            : p instanceof Date
              ? 'date'
              : typeof p;
  return { count: params.length, types: params.slice(0, 20).map(shape) };
}

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'tally_graphql_requests_total',
      help: 'GraphQL requests by operation and outcome',
      labelNames: ['operation', 'status'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'tally_graphql_request_duration_seconds',
      help: 'GraphQL request latency',
      labelNames: ['operation'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    ingest: new Counter({
      name: 'tally_usage_items_total',
      help: 'Usage items judged by recordUsage / recordUsageBatch / reverseUsage, by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
