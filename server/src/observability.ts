// Structured logs (pino) and Prometheus metrics (prom-client), one registry per app so
// several apps in one process (tests) do not collide.
//
// Every label value comes from a bounded set fixed by the code or the schema: a root field of
// the schema, an outcome, a contract error code, a queue name. Nothing a client chooses (its
// operation name, aliases, request id, key) ever becomes a label, so /metrics cannot be grown
// by anyone (README "Metrics" lists them all). Gauges of state held elsewhere read it at
// scrape time through small accessors (collect), so the hot paths pay nothing for them.
import type { GraphQLError } from 'graphql';
import pino from 'pino';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { WebSocketServer } from 'ws';
import type { PoolStats } from './db/database';
import { ERROR_CODES } from './lib/error-codes';
import { contractCode } from './lib/errors';
import { clip, clipMessage } from './lib/input';
import { ATTEMPT_OUTCOMES } from './modules/webhooks/webhooks.send';
import type { PubSubHooks } from './pubsub';

export type Logger = pino.Logger;
export const createLogger = (level = 'info') => pino({ level, base: { service: 'tally' } });

export const INGEST_OUTCOMES = ['CREATED', 'DUPLICATE', 'CONFLICT', 'INVALID'] as const;
export type CommitQueue = 'usage' | 'authorize';
export type RedisClientRole = 'publish' | 'subscribe';

/** What a committer shows to metrics (GroupCommitter has these). */
export interface ObservableQueue {
  readonly queuedEntries: number;
  readonly inflightFlushes: number;
  onWait: ((seconds: number) => void) | null;
}

/** The state the gauges read at scrape time; filled by instrument() and the transports. */
interface Sources {
  pool: (() => PoolStats) | null;
  queues: Map<CommitQueue, ObservableQueue>;
  webSockets: Set<WebSocketServer>;
}

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
  const registers = [registry];
  const sources: Sources = { pool: null, queues: new Map(), webSockets: new Set() };

  const errors = new Counter({
    name: 'tally_graphql_errors_total',
    help: 'GraphQL errors sent to clients, by contract code (extensions.code)',
    labelNames: ['code'] as const,
    registers,
  });
  const ingest = new Counter({
    name: 'tally_usage_items_total',
    help: 'Usage items judged by recordUsage / recordUsageBatch / reverseUsage, by outcome',
    labelNames: ['outcome'] as const,
    registers,
  });
  const decisions = new Counter({
    name: 'tally_authorize_decisions_total',
    help: 'authorizeUsage decisions',
    labelNames: ['decision'] as const,
    registers,
  });
  const decisionPaths = new Counter({
    name: 'tally_authorize_path_total',
    help: "authorizeUsage decisions by path: 'lease' (this instance's slice, no lock) or 'locked' (the tenant's lock)",
    labelNames: ['path'] as const,
    registers,
  });
  const reconnects = new Counter({
    name: 'tally_pubsub_reconnects_total',
    help: 'Redis pub/sub connections re-established after a loss (0 with in-process pub/sub)',
    labelNames: ['client'] as const,
    registers,
  });
  const reconnectAttempts = new Counter({
    name: 'tally_pubsub_reconnect_attempts_total',
    help: 'Redis pub/sub reconnection attempts (0 with in-process pub/sub)',
    labelNames: ['client'] as const,
    registers,
  });
  const webhookAttempts = new Counter({
    name: 'tally_webhook_attempts_total',
    help: 'Webhook delivery attempts sent by this instance, by outcome',
    labelNames: ['outcome'] as const,
    registers,
  });
  // Every series a board plots exists from the start (at 0), so rate() and alerts see it.
  for (const outcome of ATTEMPT_OUTCOMES) webhookAttempts.inc({ outcome }, 0);
  for (const code of ERROR_CODES) errors.inc({ code }, 0);
  for (const outcome of INGEST_OUTCOMES) ingest.inc({ outcome }, 0);
  for (const decision of ['allowed', 'denied']) decisions.inc({ decision }, 0);
  for (const path of ['lease', 'locked']) decisionPaths.inc({ path }, 0);
  for (const client of ['publish', 'subscribe']) {
    reconnects.inc({ client }, 0);
    reconnectAttempts.inc({ client }, 0);
  }

  const metrics = {
    registry,
    sources,
    requests: new Counter({
      name: 'tally_graphql_requests_total',
      help: 'GraphQL requests over HTTP by operation (a root field, or unauthenticated/invalid/multiple/other) and status',
      labelNames: ['operation', 'status'] as const,
      registers,
    }),
    duration: new Histogram({
      name: 'tally_graphql_request_duration_seconds',
      help: 'GraphQL request latency over HTTP, by operation (as tally_graphql_requests_total)',
      labelNames: ['operation'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    errors,
    ingest,
    decisions,
    decisionPaths,
    leaseRenewal: new Histogram({
      name: 'tally_lease_renewal_seconds',
      help: "Time a lease renewal (a scope's slices resized on the locked path) takes from its request to its commit",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    leaseWrite: new Histogram({
      name: 'tally_lease_write_seconds',
      help: "One statement of authorizeUsage's lease path (reservations moved out of slices), from its start to its commit",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    leaseWriteDecisions: new Counter({
      name: 'tally_lease_write_decisions_total',
      help: "Decisions written by the lease path's statements (divided by tally_lease_write_seconds_count: decisions per statement)",
      registers,
    }),
    alertsPublished: new Counter({
      name: 'tally_alerts_published_total',
      help: 'Quota threshold alerts committed and published to subscribers',
      registers,
    }),
    reconnects,
    reconnectAttempts,
    webhookAttempts,
    commitWait: new Histogram({
      name: 'tally_group_commit_wait_seconds',
      help: "Time a call's entries wait in a group-commit queue until their flush starts",
      labelNames: ['queue'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    subscriptions: new Gauge({
      name: 'tally_subscriptions',
      help: 'Active GraphQL subscriptions by root field and transport (ws, sse, http)',
      labelNames: ['field', 'transport'] as const,
      registers,
    }),
    sse: new Gauge({
      name: 'tally_sse_connections',
      help: 'Open SSE (text/event-stream) responses of /graphql',
      registers,
    }),
  };

  new Gauge({
    name: 'tally_group_commit_queued_items',
    help: 'Entries waiting in a group-commit queue for their flush',
    labelNames: ['queue'] as const,
    registers,
    collect() {
      for (const [queue, q] of sources.queues) this.set({ queue }, q.queuedEntries);
    },
  });
  new Gauge({
    name: 'tally_group_commit_inflight_flushes',
    help: 'Group-commit flushes (shared transactions) in progress',
    labelNames: ['queue'] as const,
    registers,
    collect() {
      for (const [queue, q] of sources.queues) this.set({ queue }, q.inflightFlushes);
    },
  });
  new Gauge({
    name: 'tally_db_pool_connections',
    help: 'PostgreSQL pool connections by state (in_use, idle)',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const p = sources.pool?.();
      if (!p) return;
      this.set({ state: 'in_use' }, p.total - p.idle);
      this.set({ state: 'idle' }, p.idle);
    },
  });
  new Gauge({
    name: 'tally_db_pool_waiting',
    help: 'Queries and transactions waiting for a PostgreSQL pool connection',
    registers,
    collect() {
      const p = sources.pool?.();
      if (p) this.set(p.waiting);
    },
  });
  new Gauge({
    name: 'tally_db_pool_max_connections',
    help: 'Size of the PostgreSQL pool',
    registers,
    collect() {
      const p = sources.pool?.();
      if (p) this.set(p.max);
    },
  });
  new Gauge({
    name: 'tally_websocket_connections',
    help: 'Open WebSocket connections on /graphql',
    registers,
    collect() {
      let n = 0;
      for (const wss of sources.webSockets) n += wss.clients.size;
      this.set(n);
    },
  });
  return metrics;
}
export type Metrics = ReturnType<typeof createMetrics>;

/** A module's typed local events (lib/events.ts), as far as metrics listen to them. */
interface Observed<M extends Record<string, unknown[]>> {
  on<K extends Extract<keyof M, string>>(name: K, listener: (...args: M[K]) => void): void;
}

/** What instrument() reads and listens to; the services' own types are not needed here. */
export interface Instrumented {
  db: { poolStats(): PoolStats };
  usage: { emitter: Observed<{ outcomes: [outcomes: string[]] }>; committer: ObservableQueue };
  quota: {
    emitter: Observed<{
      decision: [allowed: boolean, path: 'lease' | 'locked'];
      renewal: [seconds: number];
      leaseWrite: [seconds: number, decisions: number];
      alerts: [alerts: unknown[]];
    }>;
    authorizer: ObservableQueue;
  };
  webhooks: { worker: { onAttempt: (outcome: (typeof ATTEMPT_OUTCOMES)[number]) => void } };
}

/** Connects the metrics to the services: their events, queues and the database pool. */
export function instrument(metrics: Metrics, s: Instrumented): void {
  metrics.sources.pool = () => s.db.poolStats();
  const queues: [CommitQueue, ObservableQueue][] = [
    ['usage', s.usage.committer],
    ['authorize', s.quota.authorizer],
  ];
  for (const [queue, q] of queues) {
    metrics.sources.queues.set(queue, q);
    metrics.commitWait.zero({ queue });
    const wait = metrics.commitWait.labels(queue);
    q.onWait = (seconds) => wait.observe(seconds);
  }
  s.usage.emitter.on('outcomes', (outcomes) => {
    for (const o of outcomes) metrics.ingest.inc({ outcome: o });
  });
  // Alerts are emitted only after their transaction committed, and each is published.
  s.quota.emitter.on('alerts', (alerts) => metrics.alertsPublished.inc(alerts.length));
  s.quota.emitter.on('decision', (allowed, path) => {
    metrics.decisions.inc({ decision: allowed ? 'allowed' : 'denied' });
    metrics.decisionPaths.inc({ path });
  });
  s.quota.emitter.on('renewal', (seconds) => metrics.leaseRenewal.observe(seconds));
  s.quota.emitter.on('leaseWrite', (seconds, decisions) => {
    metrics.leaseWrite.observe(seconds);
    metrics.leaseWriteDecisions.inc(decisions);
  });
  s.webhooks.worker.onAttempt = (outcome) => metrics.webhookAttempts.inc({ outcome });
}

/** The pub/sub port's Redis events, counted (never fired with in-process pub/sub). */
export function pubSubHooks(metrics: Metrics): PubSubHooks {
  return {
    onRedis: (client, event) =>
      (event === 'reconnected' ? metrics.reconnects : metrics.reconnectAttempts).inc({ client }),
  };
}

/** Counts the open sockets of a WebSocket server until it closes. */
export function observeWebSocketServer(metrics: Metrics, wss: WebSocketServer): void {
  metrics.sources.webSockets.add(wss);
  wss.once('close', () => metrics.sources.webSockets.delete(wss));
}

/** Counts errors of a response by contract code. */
export function countErrors(metrics: Metrics, errors: readonly unknown[] | null | undefined): void {
  if (!errors?.length) return;
  for (const e of errors) metrics.errors.inc({ code: contractCode(e as GraphQLError) }); // as graphql/contract-errors.ts maps it
}
