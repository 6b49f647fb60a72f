// Redis away, with two instances (two apps with their own Redis connections, one database)
// and a redis-server of the test's own on a free port (the system Redis is never touched):
// killed and restarted under load, the outage is loud (every live subscription ends with a
// retryable INTERNAL error, /readyz answers 503, new subscriptions are refused retryably)
// and the typed client subscribes again and gets a fresh first state; stalled (SIGSTOP), a
// revoked key's streams still end: at once on the revoking instance, within AUTH_CACHE_MS
// on the other.

import { createTallyClient, type TallyClient, type TallyClientOptions } from '@tally/client';
import Decimal from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../server/src/app';
import { loadConfig } from '../server/src/config';
import { type Database, openDatabase } from '../server/src/db/database';
import { type Server, serve } from '../server/src/http';
import { createLogger } from '../server/src/observability';
import { PING_EVERY_MS } from '../server/src/pubsub-redis';
import { okOver } from './support/apps';
import { createHarness, type Harness, OPERATOR_KEY, RECORD } from './support/harness';
import { haveRedisServer, REDIS_SERVER, RedisServer } from './support/redis-server';
import { closeSubscribers, SseSub, WsSub, wsClient } from './support/subscribers';
import { Feed, sleep, until as waitUntil } from './support/wait';
import { plannedTenant } from './support/world';

const AUTH_CACHE_MS = 1_000;
// This file's waits: up to 10 s, every 20 ms.
const until = (cond: () => boolean | Promise<boolean>, what: string, ms = 10_000) => waitUntil(cond, what, ms, 20);

const haveRedis = haveRedisServer;
if (!haveRedis) console.warn(`redis-outage: skipped, ${REDIS_SERVER} is not installed`);

let redis: RedisServer;
let h: Harness;
let A: Server;
let B: Server;
let appB: App;
let dbB: Database;
const typed: TallyClient[] = [];

beforeAll(async () => {
  if (!haveRedis) return;
  redis = await RedisServer.start();
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
  await closeSubscribers();
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

const gql = (s: Server, key: string, query: string, variables?: Record<string, unknown>) =>
  okOver(base(s), key, query, variables);

let seq = 0;
const record = (s: Server, key: string, cost: string) =>
  gql(s, key, RECORD, { input: { idempotencyKey: `outage-${++seq}`, kind: 'CALL', cost } });

/** A tenant (created through A) on a plan with one ALERT limit that nothing here reaches. */
const tenant = (name: string) =>
  plannedTenant((apiKey) => connect(A, apiKey), name, [
    { metric: 'COST', period: 'DAY', amount: '100000', thresholds: [100], action: 'ALERT' },
  ]);

/** A typed client of one instance, over real HTTP. */
function connect(s: Server, apiKey: string, opts: Partial<TallyClientOptions> = {}): TallyClient {
  const c = createTallyClient({ url: `${base(s)}/graphql`, apiKey, ...opts });
  typed.push(c);
  return c;
}

const USAGE = 'subscription { usageRecorded { id cost } }';
const QUOTA = 'subscription { quotaUpdated { tenantId items { used } } }';

describe.skipIf(!haveRedis)('Redis outage', () => {
  it('killed and restarted under load: subscriptions on both instances end with a retryable error, /readyz is 503 meanwhile, the typed client resubscribes to a fresh state', async () => {
    const t = await tenant('restart');
    const raw = [A, B].flatMap((s) => {
      const c = wsClient(base(s), t.reader.secret, { lazy: false });
      return [new WsSub(c, USAGE), new WsSub(c, QUOTA)];
    });
    const resubscribed: string[] = [];
    const onResubscribe = (e: { code: string }) => resubscribed.push(e.code);
    const clientA = connect(A, t.reader.secret, { subscriptions: { onResubscribe } });
    const clientB = connect(B, t.reader.secret, { subscriptions: { onResubscribe } });
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
      const refused = new WsSub(wsClient(base(B), t.reader.secret, { lazy: false }), USAGE);
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
      wsClient(base(A), t.reader.secret, { lazy: false, onClosed: (c) => closed.A?.push(c) }),
      USAGE,
    );
    const wsB = new WsSub(
      wsClient(base(B), t.reader.secret, { lazy: false, onClosed: (c) => closed.B?.push(c) }),
      USAGE,
    );
    const sseA = new SseSub(base(A), t.reader.secret, USAGE);
    const sseB = new SseSub(base(B), t.reader.secret, USAGE);
    // Another key's subscription, which the revocation does not touch.
    const bystander = new WsSub(wsClient(base(B), t.adminKey, { lazy: false }), USAGE);
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
