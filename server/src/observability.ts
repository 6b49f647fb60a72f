// Structured logs (pino) and Prometheus metrics (prom-client), one registry per app so
// several apps in one process (tests) do not collide.
import pino from 'pino';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export type Logger = pino.Logger;
export const createLogger = (level = 'info') => pino({ level, base: { service: 'tally' } });

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
