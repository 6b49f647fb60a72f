// /metrics an operator can trust: labels come only from a bounded set (never a client-chosen
// operation name or request id, authenticated or not), and every metric a Grafana board needs
// moves when its event happens: ingest outcomes, authorize decisions, alerts published,
// GraphQL errors by contract code, group-commit queue depth and wait, the DB pool, open
// WebSocket and SSE connections, active subscriptions, pub/sub reconnects.
import { randomBytes } from 'node:crypto';
import { type Client, createClient } from 'graphql-ws';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type App, createApp } from '../server/src/app';
import { loadConfig } from '../server/src/config';
import { ERROR_CODES } from '../server/src/lib/errors';
import { createLogger } from '../server/src/observability';
import { schema } from '../server/src/schema';
import { createHarness, type Harness, OPERATOR_KEY, RECORD, type SeededTenant } from './support/harness';
import { RedisServer } from './support/redis-server';
import { sleep, until } from './support/wait';
import { World } from './support/world';

let h: Harness;
let base: string;
let t: SeededTenant;
let read: { secret: string; id: string };
const clients: Client[] = [];
const aborts: AbortController[] = [];

beforeAll(async () => {
  h = await createHarness('metrics', { poolSize: 10 });
  base = `http://127.0.0.1:${(await h.listen()).port}`;
  t = await h.seed.tenant('metrics');
  read = await t.key(['READ']);
});
afterAll(async () => {
  for (const a of aborts) a.abort();
  await Promise.all(clients.map((c) => c.dispose()));
  await h?.close();
});

const scrape = async () => {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
};

/** The sum of the samples of `name` whose labels include `labels`; NaN when there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) {
      sum += Number(m[3]);
      found = true;
    }
  }
  return found ? sum : Number.NaN;
}
const now = async (name: string, labels: Record<string, string> = {}) => sample(await scrape(), name, labels);

/** Root fields of the schema plus the fixed labels: everything `operation` may ever be. */
const ROOT_FIELDS = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap((type) =>
  Object.keys(type?.getFields() ?? {}),
);
const FIXED_LABELS = ['unauthenticated', 'invalid', 'multiple', 'other'];

const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const VIEWER = '{ viewer { apiKey { id } } }';

describe('labels', () => {
  it('3,000 requests with random operation names and request ids leave /metrics small, no client string in it', async () => {
    // One request of each kind first, so every label the mix can produce exists already.
    await post({ query: `query Warm ${VIEWER}`, operationName: 'Warm' });
    await post({ query: `query Warm ${VIEWER}`, operationName: 'Warm' }, auth(read.secret));
    await post({ query: 'query Warm { viewer {', operationName: 'Warm' }, auth(read.secret));
    await post({ query: `query A ${VIEWER}`, operationName: 'B' }, auth(read.secret));
    await post({ query: `query Warm ${VIEWER}`, operationName: 'Warm' }, { authorization: 'Bearer nope' });
    await fetch(`${base}/graphql?query=${encodeURIComponent(`query Warm ${VIEWER}`)}&operationName=Warm`, {
      headers: auth(read.secret),
    });
    const before = await scrape();

    const chosen: string[] = [];
    const rand = (prefix: string) => {
      const s = `${prefix}${randomBytes(6).toString('hex')}`;
      chosen.push(s);
      return s;
    };
    const one = async (i: number) => {
      const name = rand('Op');
      const headers = { 'x-request-id': rand('rid-') };
      switch (i % 8) {
        case 0: // unauthenticated
          return post({ query: `query ${name} ${VIEWER}`, operationName: name }, headers);
        case 1: // unknown key, client-chosen bearer
          return post(
            { query: `query ${name} ${VIEWER}`, operationName: name },
            { ...headers, authorization: `Bearer ${rand('k')}` },
          );
        case 2: // authenticated, valid
          return post({ query: `query ${name} ${VIEWER}`, operationName: name }, { ...headers, ...auth(read.secret) });
        case 3: // authenticated, unparsable
          return post({ query: `query ${name} { viewer {`, operationName: name }, { ...headers, ...auth(read.secret) });
        case 4: // authenticated, a field that does not exist
          return post(
            { query: `query ${name} { ${rand('f')} }`, operationName: name },
            { ...headers, ...auth(read.secret) },
          );
        case 5: // authenticated, the operation name is not in the document
          return post({ query: `query A ${VIEWER}`, operationName: name }, { ...headers, ...auth(read.secret) });
        case 6: // authenticated, an alias of the client's choosing
          return post(
            { query: `query ${name} { ${rand('a')}: viewer { apiKey { id } } }`, operationName: name },
            { ...headers, ...auth(read.secret) },
          );
        default: // GET, authenticated
          return fetch(`${base}/graphql?query=${encodeURIComponent(`query ${name} ${VIEWER}`)}&operationName=${name}`, {
            headers: { ...headers, ...auth(read.secret) },
          });
      }
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < 3000) {
          const res = await one(next++);
          await res.arrayBuffer();
        }
      }),
    );
    const after = await scrape();

    expect(sample(after, 'tally_graphql_requests_total') - sample(before, 'tally_graphql_requests_total')).toBe(3000);
    // The 3,000 requests added no series: only counts grew (a few bytes of digits).
    expect(after.length).toBeLessThan(before.length + 2_000);
    expect(after.length).toBeLessThan(64 * 1024);
    const leaked = chosen.filter((s) => after.includes(s));
    expect(leaked).toEqual([]);
    const operations = new Set([...after.matchAll(/operation="([^"]*)"/g)].map((m) => m[1] as string));
    for (const op of operations) expect([...ROOT_FIELDS, ...FIXED_LABELS]).toContain(op);
  });

  it('labels a request by the root field of its authenticated, valid operation, else by a fixed label', async () => {
    const count = (op: string) => now('tally_graphql_requests_total', { operation: op });
    const cases: [string, () => Promise<Response>][] = [
      ['viewer', () => post({ query: `query Whatever ${VIEWER}`, operationName: 'Whatever' }, auth(read.secret))],
      [
        'viewer',
        () =>
          post(
            { query: 'query Q { ...F } fragment F on Query { me: viewer { apiKey { id } } }', operationName: 'Q' },
            auth(read.secret),
          ),
      ],
      ['multiple', () => post({ query: '{ viewer { apiKey { id } } quotaStatus { tenantId } }' }, auth(read.secret))],
      ['unauthenticated', () => post({ query: `query Viewer ${VIEWER}` })],
      ['unauthenticated', () => post({ query: `query Viewer ${VIEWER}` }, { authorization: 'Bearer tly_nope' })],
      ['invalid', () => post({ query: '{ viewer {' }, auth(read.secret))],
      ['invalid', () => post({ query: '{ nothingHere }' }, auth(read.secret))],
      ['invalid', () => post({ query: `query A ${VIEWER}`, operationName: 'Missing' }, auth(read.secret))],
    ];
    for (const [label, send] of cases) {
      const before = (await count(label)) || 0;
      await (await send()).arrayBuffer();
      expect(await count(label), `${label} after ${send}`).toBe(before + 1);
    }
  });
});

describe('events', () => {
  it('counts every ingest outcome of single records, batch items and reversals', async () => {
    const ingest = await t.key(['INGEST']);
    const outcomes = ['CREATED', 'DUPLICATE', 'CONFLICT', 'INVALID'];
    const read0 = async () => {
      const text = await scrape();
      return Object.fromEntries(outcomes.map((o) => [o, sample(text, 'tally_usage_items_total', { outcome: o })]));
    };
    const start = await read0();
    for (const o of outcomes) expect(start[o], o).not.toBeNaN();

    const a = await h.ok(ingest.secret, RECORD, { input: { idempotencyKey: 'm-a', kind: 'CALL', cost: '1' } });
    await h.ok(ingest.secret, RECORD, { input: { idempotencyKey: 'm-b', kind: 'CALL', cost: '1' } });
    const batch = await h.ok(
      ingest.secret,
      `mutation($input: [RecordUsageInput!]!) {
        recordUsageBatch(input: $input) { created duplicates rejected results { outcome } }
      }`,
      {
        input: [
          { idempotencyKey: 'm-c', kind: 'CALL', cost: '1' },
          { idempotencyKey: 'm-a', kind: 'CALL', cost: '1' },
          { idempotencyKey: 'm-b', kind: 'CALL', cost: '2' },
          { idempotencyKey: 'm-d', kind: 'CALL', cost: '1', tenantId: '00000000-0000-4000-8000-000000000000' },
          { idempotencyKey: 'm-e', kind: 'CALL', cost: '1' },
        ],
      },
    );
    expect(batch.recordUsageBatch.results.map((r: { outcome: string }) => r.outcome)).toEqual([
      'CREATED',
      'DUPLICATE',
      'CONFLICT',
      'INVALID',
      'CREATED',
    ]);
    const REVERSE = `mutation($input: ReverseUsageInput!) { reverseUsage(input: $input) { outcome } }`;
    const eventId = a.recordUsage.event.id;
    await h.ok(ingest.secret, REVERSE, { input: { eventId, idempotencyKey: 'm-rev', reason: 'x' } });
    await h.ok(ingest.secret, REVERSE, { input: { eventId, idempotencyKey: 'm-rev', reason: 'x' } });
    const conflict = await h.gql(ingest.secret, REVERSE, { input: { eventId, idempotencyKey: 'm-rev', reason: 'y' } });
    expect(conflict.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_CONFLICT');

    const end = await read0();
    const delta = Object.fromEntries(outcomes.map((o) => [o, (end[o] as number) - (start[o] as number)]));
    // records: 2 CREATED; batch: 2 CREATED, 1 each of the rest; reversals: CREATED, DUPLICATE, CONFLICT.
    expect(delta).toEqual({ CREATED: 5, DUPLICATE: 2, CONFLICT: 2, INVALID: 1 });
  });

  it('counts authorize decisions allowed and denied, and alerts published', async () => {
    const planned = await World.on(h)
      .tenant('metrics-planned')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '10', thresholds: [50, 80], action: 'BLOCK' }]);
    const key = planned.adminKey;
    const AUTHORIZE = `mutation($input: AuthorizeUsageInput!) { authorizeUsage(input: $input) { allowed } }`;
    const decisions = async () => {
      const text = await scrape();
      return {
        allowed: sample(text, 'tally_authorize_decisions_total', { decision: 'allowed' }),
        denied: sample(text, 'tally_authorize_decisions_total', { decision: 'denied' }),
        alerts: sample(text, 'tally_alerts_published_total'),
        waits: sample(text, 'tally_group_commit_wait_seconds_count', { queue: 'authorize' }),
        lease: sample(text, 'tally_authorize_path_total', { path: 'lease' }),
        locked: sample(text, 'tally_authorize_path_total', { path: 'locked' }),
      };
    };
    const before = await decisions();
    expect(before).toEqual({ ...before, alerts: 0 });
    expect(before.lease).not.toBeNaN();

    const yes = await h.ok(key, AUTHORIZE, { input: { estimate: { cost: '1' } } });
    const no = await h.ok(key, AUTHORIZE, { input: { estimate: { cost: '11' } } });
    const yes2 = await h.ok(key, AUTHORIZE, { input: { estimate: { cost: '2' }, reserveSeconds: 60 } });
    expect([yes.authorizeUsage.allowed, no.authorizeUsage.allowed, yes2.authorizeUsage.allowed]).toEqual([
      true,
      false,
      true,
    ]);
    await h.ok(key, RECORD, { input: { idempotencyKey: 'm-alert-1', kind: 'CALL', cost: '4' } }); // 40%
    let after = await decisions();
    expect(after.allowed - before.allowed).toBe(2);
    expect(after.denied - before.denied).toBe(1);
    expect(after.waits - before.waits).toBe(3);
    // A scope's first calls take the tenant's lock (leases come once it is busy).
    expect([after.locked - before.locked, after.lease - before.lease]).toEqual([3, 0]);
    expect(after.alerts).toBe(0);

    await h.ok(key, RECORD, { input: { idempotencyKey: 'm-alert-2', kind: 'CALL', cost: '5' } }); // 90%: 50 and 80
    await h.ok(key, RECORD, { input: { idempotencyKey: 'm-alert-3', kind: 'CALL', cost: '0.5' } }); // 95%: none
    after = await decisions();
    expect(after.alerts).toBe(2);
  });

  it('counts GraphQL errors by contract code, every code present from the start', async () => {
    const text0 = await scrape();
    for (const code of ERROR_CODES) expect(sample(text0, 'tally_graphql_errors_total', { code }), code).not.toBeNaN();
    const errors = (code: string) => now('tally_graphql_errors_total', { code });
    // { viewer { tenant { apiKeys { tenant ... { id } } } } } with its leaf at depth 11 (the limit is 10).
    const chain = ['viewer', ...Array.from({ length: 9 }, (_, i) => (i % 2 === 0 ? 'tenant' : 'apiKeys'))];
    const deep = `{ ${chain.join(' { ')} { id }${' }'.repeat(chain.length - 1)} }`;
    const cases: [string, () => Promise<Response>][] = [
      ['UNAUTHENTICATED', () => post({ query: VIEWER })],
      ['BAD_USER_INPUT', () => post({ query: '{ viewer {' }, auth(read.secret))],
      ['BAD_USER_INPUT', () => post({ query: '{ nothingHere }' }, auth(read.secret))],
      ['QUERY_TOO_COMPLEX', () => post({ query: deep }, auth(read.secret))],
      [
        'FORBIDDEN',
        () =>
          post(
            { query: 'mutation { createApiKey(input: { name: "x", scopes: [READ] }) { secret } }' },
            auth(read.secret),
          ),
      ],
      [
        'IDEMPOTENCY_CONFLICT',
        () =>
          post(
            { query: RECORD, variables: { input: { idempotencyKey: 'm-a', kind: 'CALL', cost: '9' } } },
            auth(t.adminKey),
          ),
      ],
    ];
    for (const [code, send] of cases) {
      const before = await errors(code);
      const body = (await (await send()).json()) as { errors?: { extensions?: { code?: string } }[] };
      expect(body.errors?.map((e) => e.extensions?.code)).toEqual([code]);
      expect(await errors(code), `${code} after ${send}`).toBe(before + 1);
    }
  });
});

describe('gauges', () => {
  const QUOTA_UPDATED = 'subscription { quotaUpdated { tenantId } }';
  const USAGE_RECORDED = 'subscription { usageRecorded { id } }';

  it('shows open WebSocket and SSE connections and active subscriptions by field', async () => {
    const gauges = async () => {
      const text = await scrape();
      return {
        ws: sample(text, 'tally_websocket_connections'),
        sse: sample(text, 'tally_sse_connections'),
        quotaWs: sample(text, 'tally_subscriptions', { field: 'quotaUpdated', transport: 'ws' }) || 0,
        usageWs: sample(text, 'tally_subscriptions', { field: 'usageRecorded', transport: 'ws' }) || 0,
        quotaSse: sample(text, 'tally_subscriptions', { field: 'quotaUpdated', transport: 'sse' }) || 0,
      };
    };
    const idle = { ws: 0, sse: 0, quotaWs: 0, usageWs: 0, quotaSse: 0 };
    expect(await gauges()).toEqual(idle);

    const client = createClient({
      url: `${base.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${read.secret}` },
      retryAttempts: 0,
      on: { connected: (s) => (socket = s as WebSocket) },
    });
    clients.push(client);
    let socket: WebSocket | null = null;
    let got = 0;
    const stopQuota = client.subscribe(
      { query: QUOTA_UPDATED },
      { next: () => got++, error: () => {}, complete: () => {} },
    );
    const stopUsage = client.subscribe(
      { query: USAGE_RECORDED },
      { next: () => {}, error: () => {}, complete: () => {} },
    );
    await until(() => got > 0, 'the first quotaUpdated state over WebSocket');
    await until(async () => (await gauges()).usageWs === 1, 'the usageRecorded subscription');
    expect(await gauges()).toEqual({ ...idle, ws: 1, quotaWs: 1, usageWs: 1 });

    const abort = new AbortController();
    aborts.push(abort);
    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json', ...auth(read.secret) },
      body: JSON.stringify({ query: QUOTA_UPDATED }),
      signal: abort.signal,
    });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read(); // the first state arrived
    expect(await gauges()).toEqual({ ...idle, ws: 1, sse: 1, quotaWs: 1, usageWs: 1, quotaSse: 1 });

    stopUsage();
    await until(async () => (await gauges()).usageWs === 0, 'usageRecorded ended');
    expect(await gauges()).toEqual({ ...idle, ws: 1, sse: 1, quotaWs: 1, quotaSse: 1 });
    abort.abort();
    await until(async () => (await gauges()).sse === 0, 'the SSE stream closed');
    expect(await gauges()).toEqual({ ...idle, ws: 1, quotaWs: 1 });
    stopQuota();
    await until(async () => (await gauges()).quotaWs === 0, 'quotaUpdated ended');
    expect(await gauges()).toEqual({ ...idle, ws: 1 });

    // Errors sent over the socket count too: one refused by its resolver, one failing validation.
    const other = await h.seed.tenant('metrics-other');
    const FORBIDDEN_ALERTS = 'subscription($tenantId: ID) { quotaAlerts(tenantId: $tenantId) { id } }';
    const errorCounts = async () => {
      const text = await scrape();
      return {
        forbidden: sample(text, 'tally_graphql_errors_total', { code: 'FORBIDDEN' }),
        bad: sample(text, 'tally_graphql_errors_total', { code: 'BAD_USER_INPUT' }),
      };
    };
    const errors0 = await errorCounts();
    const wsCodes: unknown[] = [];
    for (const query of [FORBIDDEN_ALERTS, 'subscription { nothingHere }'])
      await new Promise<void>((resolve) => {
        client.subscribe(
          { query, variables: { tenantId: other.id } },
          {
            next: (m) => void wsCodes.push(...(m.errors ?? []).map((e) => e.extensions?.code)),
            error: (e) => {
              wsCodes.push(...(Array.isArray(e) ? e.map((x) => x.extensions?.code) : ['closed']));
              resolve();
            },
            complete: resolve,
          },
        );
      });
    expect(wsCodes[0]).toBe('FORBIDDEN');
    expect(await errorCounts()).toEqual({ forbidden: errors0.forbidden + 1, bad: errors0.bad + 1 });
    expect(await gauges()).toEqual({ ...idle, ws: 1 });
    (socket as WebSocket | null)?.close(1000);
    await until(async () => (await gauges()).ws === 0, 'the socket closed');
    expect(await gauges()).toEqual(idle);

    // Over SSE too, and a refused subscription is no subscription.
    const forbidden0 = await now('tally_graphql_errors_total', { code: 'FORBIDDEN' });
    const refused = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json', ...auth(read.secret) },
      body: JSON.stringify({ query: FORBIDDEN_ALERTS, variables: { tenantId: other.id } }),
    });
    expect(await refused.text()).toContain('FORBIDDEN');
    expect(await now('tally_graphql_errors_total', { code: 'FORBIDDEN' })).toBe(forbidden0 + 1);
    expect(await gauges()).toEqual(idle);
  });

  it('shows the DB pool in use, idle and waiting, and the group-commit queue depth and wait', async () => {
    const ingest = await t.key(['INGEST']);
    // Authenticated once, so the key is cached and calls below need no connection before they queue.
    await h.ok(ingest.secret, RECORD, { input: { idempotencyKey: 'pool-0', kind: 'CALL', cost: '1' } });
    const pool = async () => {
      const text = await scrape();
      return {
        inUse: sample(text, 'tally_db_pool_connections', { state: 'in_use' }),
        idle: sample(text, 'tally_db_pool_connections', { state: 'idle' }),
        waiting: sample(text, 'tally_db_pool_waiting'),
        max: sample(text, 'tally_db_pool_max_connections'),
        queued: sample(text, 'tally_group_commit_queued_items', { queue: 'usage' }),
        flushes: sample(text, 'tally_group_commit_inflight_flushes', { queue: 'usage' }),
        waits: sample(text, 'tally_group_commit_wait_seconds_count', { queue: 'usage' }),
        waited: sample(text, 'tally_group_commit_wait_seconds_sum', { queue: 'usage' }),
      };
    };
    const start = await pool();
    expect(start).toMatchObject({ inUse: 0, waiting: 0, max: 10, queued: 0, flushes: 0 });

    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const hold = () =>
      h.db.transaction('test:hold', async (tx) => {
        await tx.query('test:hold', 'SELECT 1');
        await gate;
      });
    const held = [hold(), hold(), hold(), hold()];
    await until(async () => (await pool()).inUse === 4, 'four connections in use');
    for (let i = 0; i < 6; i++) held.push(hold());
    held.push(hold(), hold());
    await until(async () => (await pool()).waiting === 2, 'two transactions waiting for a connection');
    expect(await pool()).toMatchObject({ inUse: 10, idle: 0, waiting: 2 });

    // Two flushes (the most at once) stuck on the pool; later calls wait in the queue.
    const calls: Promise<unknown>[] = [];
    const call = (i: number) =>
      h.ok(ingest.secret, RECORD, { input: { idempotencyKey: `pool-${i}`, kind: 'CALL', cost: '1' } });
    calls.push(call(1));
    await until(async () => (await pool()).flushes === 1, 'the first flush');
    calls.push(call(2));
    await until(async () => (await pool()).flushes === 2, 'the second flush');
    calls.push(call(3), call(4), call(5));
    await until(async () => (await pool()).queued === 3, 'three items queued');
    await sleep(200);
    release();
    await Promise.all([...held, ...calls]);
    const end = await pool();
    expect(end).toMatchObject({ inUse: 0, waiting: 0, queued: 0, flushes: 0 });
    expect(end.idle).toBeGreaterThan(0);
    expect(end.waits - start.waits).toBe(5);
    // The three queued calls each waited at least the 200 ms the pool was held after they arrived.
    expect(end.waited - start.waited).toBeGreaterThanOrEqual(0.6);
  });
});

describe('pub/sub reconnects', () => {
  let redis: RedisServer | null = null;
  let app: App | null = null;
  afterAll(async () => {
    await app?.close();
    await redis?.kill();
  });

  it('stays 0 in process, and counts each Redis client that reconnects', async () => {
    const text = await scrape();
    for (const client of ['publish', 'subscribe'])
      expect(sample(text, 'tally_pubsub_reconnects_total', { client }), client).toBe(0);

    redis = await RedisServer.start();
    const admin = new Redis({ port: redis.port, lazyConnect: true, maxRetriesPerRequest: null });
    await admin.connect();
    app = createApp({
      db: h.db,
      config: { ...loadConfig({}), operatorKey: OPERATOR_KEY, redisUrl: redis.url },
      logger: createLogger('silent'),
    });
    const reconnects = async (client: string) =>
      sample(await (app as App).metrics.registry.metrics(), 'tally_pubsub_reconnects_total', { client });
    // Both clients are up (the subscriber holds the app's revocation subscription).
    await until(
      async () => Number(await admin.client('LIST').then((l) => String(l).split('\n').length)) >= 3,
      'clients',
    );
    await sleep(100);
    expect(await reconnects('publish')).toBe(0);
    expect(await reconnects('subscribe')).toBe(0);

    await admin.client('KILL', 'TYPE', 'pubsub');
    await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await until(async () => (await reconnects('subscribe')) === 1, 'the subscriber reconnected');
    await until(async () => (await reconnects('publish')) === 1, 'the publisher reconnected');
    const attempts = sample(await app.metrics.registry.metrics(), 'tally_pubsub_reconnect_attempts_total');
    expect(attempts).toBeGreaterThanOrEqual(2);
    admin.disconnect();
  });
});
