// Redis away, with two instances (two apps with their own Redis connections, one database)
// and a redis-server of the test's own on a free port (the system Redis is never touched):
// killed and restarted under load, the outage is loud (every live subscription ends with a
// retryable INTERNAL error, /readyz answers 503, new subscriptions are refused retryably)
// and the typed client subscribes again and gets a fresh first state; stalled (SIGSTOP), a
// revoked key's streams still end: at once on the revoking instance, within AUTH_CACHE_MS
// on the other.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import Decimal from 'decimal.js';
import { type Client, createClient } from 'graphql-ws';
import { createTallyClient, type TallyClient } from 'tally/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type App, createApp } from '../server/src/app';
import { loadConfig } from '../server/src/config';
import { type Database, openDatabase } from '../server/src/db/database';
import { freePort } from '../server/src/db/embedded';
import { type Server, serve } from '../server/src/http';
import { createLogger } from '../server/src/observability';
import { PING_EVERY_MS } from '../server/src/pubsub-redis';
import { createHarness, type Harness, OPERATOR_KEY, RECORD } from './support/harness';

const REDIS_SERVER = '/usr/bin/redis-server';
const AUTH_CACHE_MS = 1_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A redis-server of this test's own, which it may kill, restart and stall. */
class RedisServer {
  proc: ChildProcess | null = null;
  constructor(readonly port: number) {}
  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start() {
    this.proc = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await until(() => this.ping(), 'redis-server to answer PING');
  }
  ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = net.connect(this.port, '127.0.0.1');
      s.setTimeout(500);
      s.on('connect', () => s.write('PING\r\n'));
      s.on('data', (d) => {
        resolve(d.toString().startsWith('+PONG'));
        s.destroy();
      });
      s.on('error', () => resolve(false));
      s.on('timeout', () => {
        resolve(false);
        s.destroy();
      });
    });
  }
  async kill() {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }
  stall() {
    this.proc?.kill('SIGSTOP');
  }
  resume() {
    this.proc?.kill('SIGCONT');
  }
}

const haveRedis = existsSync(REDIS_SERVER);
if (!haveRedis) console.warn(`redis-outage: skipped, ${REDIS_SERVER} is not installed`);

let redis: RedisServer;
let h: Harness;
let A: Server;
let B: Server;
let appB: App;
let dbB: Database;
const wsClients: Client[] = [];
const typed: TallyClient[] = [];
const streams: AbortController[] = [];

beforeAll(async () => {
  if (!haveRedis) return;
  redis = new RedisServer(await freePort());
  await redis.start();
  const overrides = { redisUrl: redis.url, authCacheMs: AUTH_CACHE_MS };
  h = await createHarness('redis-outage', { config: overrides, poolSize: 10 });
  A = await h.listen();
  dbB = await openDatabase(h.url, { poolSize: 10 });
  appB = createApp({
    db: dbB,
    config: { ...loadConfig({}), operatorKey: OPERATOR_KEY, lastUsedFlushMs: 3_600_000, ...overrides },
    logger: createLogger(process.env.TEST_LOG ?? 'silent'),
  });
  B = await serve(appB, dbB, { port: 0, host: '127.0.0.1', maxBodyBytes: 1 << 20 });
  for (const s of [A, B]) await until(async () => (await readyz(s)).status === 200, 'both instances ready');
});

afterAll(async () => {
  for (const c of streams) c.abort();
  await Promise.all(wsClients.map((c) => c.dispose()));
  await Promise.all(typed.map((c) => c.close()));
  redis?.resume();
  await B?.stop(500);
  await appB?.close();
  await dbB?.close();
  await h?.close();
  await redis?.kill();
});

const base = (s: Server) => `http://127.0.0.1:${s.port}`;
const readyz = async (s: Server) => {
  const r = await fetch(`${base(s)}/readyz`);
  return { status: r.status, body: (await r.json()) as { status: string; pubsub?: string } };
};

async function gql(s: Server, key: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${base(s)}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: any; errors?: unknown[] };
  if (body.errors?.length) throw new Error(`unexpected GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

let seq = 0;
const record = (s: Server, key: string, cost: string) =>
  gql(s, key, RECORD, { input: { idempotencyKey: `outage-${++seq}`, kind: 'CALL', cost } });

async function tenant(name: string) {
  const code = `plan-${name}`;
  await gql(A, OPERATOR_KEY, 'mutation($input: UpsertPlanInput!) { upsertPlan(input: $input) { id } }', {
    input: {
      code,
      name: code,
      limits: [{ metric: 'COST', period: 'DAY', amount: '100000', thresholds: [100], action: 'ALERT' }],
    },
  });
  const d = await gql(
    A,
    OPERATOR_KEY,
    'mutation($input: CreateTenantInput!) { createTenant(input: $input) { secret apiKey { tenant { id } } } }',
    { input: { name, planCode: code } },
  );
  const adminKey = d.createTenant.secret as string;
  const r = await gql(
    A,
    adminKey,
    'mutation { createApiKey(input: { name: "reader", scopes: [READ] }) { secret apiKey { id } } }',
  );
  return {
    id: d.createTenant.apiKey.tenant.id as string,
    adminKey,
    reader: { secret: r.createApiKey.secret as string, id: r.createApiKey.apiKey.id as string },
  };
}

interface Msg {
  data?: any;
  errors?: { message: string; extensions?: { code?: string; retryable?: boolean } }[];
}

function wsClient(s: Server, key: string, onClosed?: (code: number) => void): Client {
  const c = createClient({
    url: `ws://127.0.0.1:${s.port}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${key}` },
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {},
    on: { closed: (e) => onClosed?.((e as { code: number }).code) },
  });
  wsClients.push(c);
  return c;
}

class WsSub {
  results: Msg[] = [];
  completed = false;
  error: unknown = null;
  constructor(client: Client, query: string) {
    client.subscribe<any>(
      { query },
      {
        next: (m) => this.results.push(m as Msg),
        error: (e) => {
          this.error = e;
        },
        complete: () => {
          this.completed = true;
        },
      },
    );
  }
  get data() {
    return this.results.filter((r) => r.data).map((r) => r.data);
  }
  get ended() {
    return this.completed || this.error !== null;
  }
  get errors() {
    return this.results.flatMap((r) => r.errors ?? []);
  }
}

/** An SSE subscription read to its end. */
function sse(s: Server, key: string, query: string) {
  const ctrl = new AbortController();
  streams.push(ctrl);
  const state = { text: '', ended: false };
  void (async () => {
    const res = await fetch(`${base(s)}/graphql`, {
      method: 'POST',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query }),
      signal: ctrl.signal,
    });
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) state.text += Buffer.from(chunk);
  })()
    .catch(() => {})
    .finally(() => {
      state.ended = true;
    });
  return state;
}

class Feed<T> {
  values: T[] = [];
  error: unknown = null;
  done = false;
  constructor(it: AsyncIterableIterator<T>) {
    void (async () => {
      try {
        for (let r = await it.next(); !r.done; r = await it.next()) this.values.push(r.value);
      } catch (e) {
        this.error = e;
      } finally {
        this.done = true;
      }
    })();
  }
}

const USAGE = 'subscription { usageRecorded { id cost } }';
const QUOTA = 'subscription { quotaUpdated { tenantId items { used } } }';

describe.skipIf(!haveRedis)('Redis outage', () => {
  it('killed and restarted under load: subscriptions on both instances end with a retryable error, /readyz is 503 meanwhile, the typed client resubscribes to a fresh state', async () => {
    const t = await tenant('restart');
    const raw = [A, B].flatMap((s) => {
      const c = wsClient(s, t.reader.secret);
      return [new WsSub(c, USAGE), new WsSub(c, QUOTA)];
    });
    const resubscribed: string[] = [];
    const onResubscribe = (e: { code: string }) => resubscribed.push(e.code);
    const clientA = createTallyClient({
      url: `${base(A)}/graphql`,
      apiKey: t.reader.secret,
      subscriptions: { onResubscribe },
    });
    const clientB = createTallyClient({
      url: `${base(B)}/graphql`,
      apiKey: t.reader.secret,
      subscriptions: { onResubscribe },
    });
    typed.push(clientA, clientB);
    const quota = new Feed(clientA.quotaUpdated());
    const usage = new Feed(clientB.usageRecorded());
    await until(() => quota.values.length >= 1, 'the first quota state');
    // Live on both instances: each subscriber has an event recorded on the other instance.
    while (usage.values.length === 0 || raw.some((r) => r.data.length === 0)) {
      await record(A, t.adminKey, '0');
      await record(B, t.adminKey, '0');
      await sleep(100);
    }

    // Load on both instances for the whole test: recording never depends on Redis.
    let loading = true;
    let acknowledged = 0;
    const load = (async () => {
      for (let i = 0; loading; i++) {
        await record(i % 2 ? A : B, t.adminKey, '0.01');
        acknowledged++;
        await sleep(10);
      }
    })();
    await sleep(300);
    try {
      await redis.kill();
      await until(() => raw.every((r) => r.ended), 'every raw subscription to end', 5_000);
      for (const r of raw) {
        expect(r.errors.map((e) => [e.extensions?.code, e.extensions?.retryable])).toEqual([['INTERNAL', true]]);
        expect(r.completed).toBe(true);
      }
      for (const s of [A, B]) {
        const r = await readyz(s);
        expect(r.status).toBe(503);
        expect(r.body).toEqual({ status: 'pub/sub unreachable', pubsub: 'disconnected' });
      }
      // A new subscription while Redis is away is refused, retryably, at once.
      const refused = new WsSub(wsClient(B, t.reader.secret), USAGE);
      await until(() => refused.ended, 'the refusal');
      expect(refused.errors.map((e) => [e.extensions?.code, e.extensions?.retryable])).toEqual([['INTERNAL', true]]);
      const ackedDuringOutage = acknowledged;
      await sleep(1_000);
      expect(acknowledged).toBeGreaterThan(ackedDuringOutage); // ingestion goes on

      await redis.start();
      for (const s of [A, B]) await until(async () => (await readyz(s)).status === 200, '/readyz 200 again');
    } finally {
      loading = false;
      await load;
    }

    // The typed client subscribed again: the state it now shows is the committed one.
    const [{ total }] = await h.sql(
      'SELECT coalesce(sum(cost), 0)::text AS total FROM usage_events WHERE tenant_id = $1',
      [t.id],
    );
    await until(
      () => new Decimal(quota.values.at(-1)?.items[0]?.used ?? '-1').eq(total),
      `a quota state with used = ${total}`,
      15_000,
    );
    // And new events reach B's usageRecorded iterator again, once it has subscribed again
    // (what is published before that is the gap the error announced).
    const ids = new Set<string>();
    await until(
      async () => {
        ids.add((await record(A, t.adminKey, '0.5')).recordUsage.event.id);
        await sleep(100);
        return usage.values.some((e) => ids.has(e.id));
      },
      "events recorded on A after the restart, on B's iterator",
      15_000,
    );
    expect(resubscribed.length).toBeGreaterThanOrEqual(2);
    expect(new Set(resubscribed)).toEqual(new Set(['INTERNAL']));
    expect({ quota: quota.error, usage: usage.error, done: quota.done || usage.done }).toEqual({
      quota: null,
      usage: null,
      done: false,
    });
    expect(appB.pubsubHealth.reconnects).toBeGreaterThanOrEqual(1);
    expect(h.app.pubsubHealth.reconnects).toBeGreaterThanOrEqual(1);
  });

  it('stalled: a revoked key’s streams end at once on the revoking instance and within AUTH_CACHE_MS on the other', async () => {
    if (!redis.proc) await redis.start(); // whatever the previous test left
    for (const s of [A, B]) await until(async () => (await readyz(s)).status === 200, 'both instances ready');
    const t = await tenant('stalled');
    const closed: Record<string, number[]> = { A: [], B: [] };
    const wsA = new WsSub(
      wsClient(A, t.reader.secret, (c) => closed.A?.push(c)),
      USAGE,
    );
    const wsB = new WsSub(
      wsClient(B, t.reader.secret, (c) => closed.B?.push(c)),
      USAGE,
    );
    const sseA = sse(A, t.reader.secret, USAGE);
    const sseB = sse(B, t.reader.secret, USAGE);
    // Another key's subscription, which the revocation does not touch.
    const bystander = new WsSub(wsClient(B, t.adminKey), USAGE);
    while (
      bystander.data.length === 0 ||
      wsA.data.length === 0 ||
      wsB.data.length === 0 ||
      !sseA.text.includes('usageRecorded') ||
      !sseB.text.includes('usageRecorded')
    ) {
      await record(A, t.adminKey, '0');
      await sleep(100);
    }

    redis.stall(); // connections stay open; nothing goes through
    try {
      const revoked = Date.now();
      await gql(A, t.adminKey, 'mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { id: t.reader.id });
      await until(() => closed.A?.includes(4403) === true && sseA.ended, "A's own streams to end", 500);
      await until(() => closed.B?.includes(4403) === true && sseB.ended, "B's streams to end", AUTH_CACHE_MS + 1_000);
      expect(Date.now() - revoked).toBeLessThan(AUTH_CACHE_MS + 1_000);
      // A Redis that answers nothing is noticed by its PINGs: loud, as if it were down.
      await until(() => bystander.ended, 'the stall to be noticed', 3 * PING_EVERY_MS);
      expect(bystander.errors.map((e) => [e.extensions?.code, e.extensions?.retryable])).toEqual([['INTERNAL', true]]);
      expect((await readyz(B)).status).toBe(503);
    } finally {
      redis.resume();
    }
  });
});
