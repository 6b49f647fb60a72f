// The GraphQL app: graphql-yoga over the Pothos schema, with authentication in the
// context, abuse limits (graphql-armor), errors with contract codes (graphql/contract-errors.ts), structured
// logs and metrics. Transport-free: tests call app.yoga.fetch in process; http.ts serves it.
import { randomUUID } from 'node:crypto';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import type { GraphQLError } from 'graphql';
import { createYoga, type Plugin } from 'graphql-yoga';
import type { Principal } from './auth/principal';
import { ABUSE_LIMITS, type Config } from './config';
import type { Database } from './db/database';
import type { Context } from './graphql/context';
import { maskUnexpected, useContractErrors } from './graphql/contract-errors';
import { graphiqlOptions, renderGraphiQL, useKeylessIntrospection } from './graphql/graphiql';
import { useIngestJit } from './graphql/jit';
import { useOperationMetrics } from './graphql/operation-metrics';
import { useRequestParseErrors } from './graphql/request-errors';
import { startKeyRecheck } from './key-recheck';
import { AppError, unauthenticated } from './lib/errors';
import { createLoaders } from './loaders';
import { QuotaFeed } from './modules/quota/quota.feed';
import { createLogger, createMetrics, instrument, type Logger, type Metrics, pubSubHooks } from './observability';
import { createTallyPubSub } from './pubsub';
import { requestIdFrom, useRequestIds } from './request-scope';
import { Revocations } from './revocations';
import { schema } from './schema';
import { createServices, type Services } from './services';
import type { Topics } from './topics';

export interface AppOptions {
  db: Database;
  config: Config;
  logger?: Logger;
  now?: () => Date;
}

export type App = ReturnType<typeof createApp>;

interface RequestState {
  id: string;
  started: number;
  operation: string;
}

export function createApp(opts: AppOptions) {
  const { db, config } = opts;
  const logger = opts.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  const requests = new WeakMap<Request, RequestState>();
  const rejectTooComplex = (_ctx: unknown, err: GraphQLError) => {
    Object.assign(err.extensions as Record<string, unknown>, { code: 'QUERY_TOO_COMPLEX' });
  };

  // The pub/sub port comes first: each module publishes its own topics through it, and only
  // after its transaction committed (usage: usage:recorded, only for tenants someone may be
  // listening to; quota: quota:alert, quota:changed; api-keys: keys:revoked).
  const {
    pubsub,
    publisher,
    health: pubsubHealth,
    close: closePubSub,
  } = createTallyPubSub<Topics>(config.redisUrl, logger, pubSubHooks(metrics));
  const services = createServices(db, config, publisher, opts.now);
  services.webhooks.worker.onError = (err, what) => logger.warn({ err }, what);
  if (config.webhooks.worker) services.webhooks.startWorker();
  instrument(metrics, services);
  const feed = new QuotaFeed(pubsub);
  const revocations = new Revocations();
  // This instance's own streams of a key it revoked end at once, in process (api-keys emits
  // this before it publishes keys:revoked).
  services.apiKeys.emitter.on('revoked', (keyId) => revocations.revoked(keyId));
  const stopKeyRecheck = startKeyRecheck({
    keys: services.apiKeys,
    revocations,
    health: pubsubHealth,
    everyMs: config.authCacheMs,
    logger,
  });
  // The minute rollups are short-lived (modules/usage), and so are subject tokens a day past
  // expiry (modules/api-keys) and reservations RESERVATION_RETENTION_DAYS past expiry
  // (modules/quota): any instance prunes them, hourly. Answers once every prune has finished
  // (a failure is logged, never thrown, so the timers need no catch).
  const prune = async (): Promise<void> => {
    const jobs: [string, () => Promise<number>][] = [
      ['pruning minute rollups failed', () => services.usage.pruneMinutes()],
      ['pruning expired subject tokens failed', () => services.apiKeys.pruneTokens()],
    ];
    if (config.reservationRetentionDays > 0)
      jobs.push([
        'pruning old reservations failed',
        () => services.quota.pruneReservations(config.reservationRetentionDays),
      ]);
    await Promise.all(jobs.map(([failed, job]) => job().catch((err) => logger.warn({ err }, failed))));
  };
  // Expired credit grants leave their wallets' balances by an EXPIRY movement (reads never
  // count them anyway; modules/credits): any instance sweeps, every minute.
  const sweepCredits = () =>
    void services.credits.sweepExpired().catch((err) => logger.warn({ err }, 'sweeping expired credits failed'));
  const pruning = [
    setTimeout(prune, 60_000).unref(),
    setInterval(prune, 3_600_000).unref(),
    setInterval(sweepCredits, 60_000).unref(),
  ];
  // A key revoked on any instance stops authenticating here at once (not when the cache
  // expires), and its open sockets and subscriptions here end.
  const anyRevocation = pubsub.subscribe('keys:revoked')[Symbol.asyncIterator]();
  void (async () => {
    for (let r = await anyRevocation.next(); !r.done; r = await anyRevocation.next()) {
      services.apiKeys.forget(r.value.keyId);
      revocations.revoked(r.value.keyId);
    }
  })();

  /** Who an Authorization header names: the one authentication of HTTP (GraphQL and the CSV exports). */
  async function authenticate(header: string | null | undefined): Promise<Principal> {
    const m = /^Bearer\s+(\S+)$/i.exec((header ?? '').trim());
    if (!m) throw unauthenticated();
    // A key or a subject token; an expired token is told so.
    const principal = await services.apiKeys.identify(m[1] as string);
    if (principal instanceof AppError) throw principal;
    return principal;
  }

  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // Self-hosted (no CDN) and opening without a key: graphql/graphiql.ts.
    graphiql: !config.production && graphiqlOptions,
    renderGraphiQL,
    // Bearer keys only: no cookies, so a browser can never be tricked into sending credentials.
    cors: { origin: '*', credentials: false, allowedHeaders: ['authorization', 'content-type', 'x-request-id'] },
    logging: false,
    // http.ts refuses a body over MAX_BODY_BYTES before yoga sees it (by Content-Length, or
    // counting a chunked one as it streams). Yoga's own limit would pipe every request's body
    // through a TransformStream again, about 8% of an authorizeUsage's CPU (bench test 5).
    maxRequestBodySize: false,
    // Unexpected errors become INTERNAL (logged with the request id); graphql/contract-errors.ts.
    maskedErrors: { maskError: maskUnexpected(logger) },
    context: async (initial): Promise<Context> => {
      const { request } = initial;
      const base = { services, loaders: createLoaders(services), pubsub, pubsubHealth, feed, revocations };
      // WebSocket operations were authenticated at connect (ws.ts) and carry their principal.
      const authenticated = (initial as { principal?: Principal }).principal;
      if (authenticated) return { ...base, requestId: randomUUID(), principal: authenticated, viaSocket: true };
      const state = requests.get(request);
      const principal = await authenticate(request.headers.get('authorization'));
      return { ...base, requestId: state?.id ?? randomUUID(), principal };
    },
    plugins: [
      useRequestParseErrors(),
      EnvelopArmorPlugin({
        maxDepth: { n: ABUSE_LIMITS.maxDepth, onReject: [rejectTooComplex] },
        maxAliases: { n: ABUSE_LIMITS.maxAliases, onReject: [rejectTooComplex] },
        maxTokens: { n: ABUSE_LIMITS.maxTokens, onReject: [rejectTooComplex] },
        maxDirectives: { n: ABUSE_LIMITS.maxDirectives, onReject: [rejectTooComplex] },
        // Cost is limited by the schema's complexity plugin (variables-aware); see builder.ts.
        costLimit: { enabled: false },
        // useContractErrors strips every suggestion in production, enum values and input fields included.
        blockFieldSuggestion: { enabled: false },
      }),
      ...(config.production ? [useDisableIntrospection()] : [useKeylessIntrospection(schema)]),
      // Unexpected errors are logged and answered with their request's id (request-scope.ts).
      useRequestIds((c) => {
        const ctx = c as { requestId?: string; request?: Request };
        return ctx.requestId ?? (ctx.request ? requests.get(ctx.request)?.id : undefined);
      }),
      // Every error leaving the server gets its contract code, field and tidy message here.
      useContractErrors({ hideSuggestions: config.production }),
      useIngestJit(),
      useRequestLog(requests, logger, metrics),
      useOperationMetrics(requests, metrics),
    ],
  });

  return {
    yoga,
    authenticate,
    services,
    metrics,
    logger,
    pubsub,
    /** The hourly prunes, now (tests; any instance runs them on its own timer). */
    prune,
    /** Pub/sub health for /readyz, and its reconnect hook and counters for metrics. */
    pubsubHealth,
    revocations,
    async close() {
      stopKeyRecheck();
      for (const t of pruning) clearTimeout(t);
      // Everything acknowledged is committed already; this writes what is still queued.
      await services.usage.committer.close();
      await services.quota.authorizer.close();
      await services.quota.leases.close();
      await services.apiKeys.close();
      // Attempts in flight are recorded (each ends by its timeout); what is due stays in the outbox.
      await services.webhooks.close();
      await anyRevocation.return?.();
      await closePubSub();
    },
  };
}

/** Request id, operation (a bounded label: operation-metrics.ts) and duration per request, logged and counted. */
function useRequestLog(requests: WeakMap<Request, RequestState>, logger: Logger, metrics: Metrics): Plugin {
  return {
    onRequest({ request }) {
      // http.ts put the id it chose there (the caller's when sane).
      const id = requestIdFrom(request.headers.get('x-request-id'));
      requests.set(request, { id, started: performance.now(), operation: 'other' });
    },
    onResponse({ request, response }) {
      const s = requests.get(request);
      if (!s) return;
      const ms = performance.now() - s.started;
      response.headers.set('x-request-id', s.id);
      metrics.requests.inc({ operation: s.operation, status: String(response.status) });
      metrics.duration.observe({ operation: s.operation }, ms / 1000);
      logger.info(
        { requestId: s.id, operation: s.operation, status: response.status, durationMs: Math.round(ms * 100) / 100 },
        'graphql',
      );
    },
  };
}

export type { Services };
export { AppError };
