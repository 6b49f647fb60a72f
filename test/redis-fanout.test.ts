// Two server processes (npm start's main.ts) on one database and one Redis: a subscriber on
// instance B sees what instance A committed (usage events, quota alerts exactly once, the
// wallet A debited), and a
// key revoked on A ends B's open subscriptions for that key.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTallyClient, type TallyClient } from '@tally/client';
import Decimal from 'decimal.js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../server/src/db/embedded';
import { okOver, postOver } from './support/apps';
import { freshDatabase, OPERATOR_KEY, RECORD } from './support/harness';
import { closeSubscribers, WsSub, wsClient } from './support/subscribers';
import { sleep, until as waitUntil } from './support/wait';
import { plannedTenant as seedPlannedTenant } from './support/world';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisReachable(url: string): Promise<boolean> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    const pong = await Promise.race([
      redis.connect().then(() => redis.ping()),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 3_000)),
    ]);
    return pong === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

const redisUp = await redisReachable(REDIS_URL);
if (!redisUp)
  console.warn(`redis-fanout: skipped, Redis is not reachable at ${REDIS_URL} (set REDIS_URL to a running Redis)`);

const children: ChildProcess[] = [];
const typed: TallyClient[] = [];
let A = '';
let B = '';

// This file's waits: up to 10 s.
const until = (cond: () => boolean, what: string, ms = 10_000) => waitUntil(cond, what, ms);

async function waitFor(url: string, ms = 60_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await sleep(100);
  }
  throw new Error(`${url} did not come up`);
}

async function startInstance(databaseUrl: string): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/src/main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      REDIS_URL,
      TALLY_OPERATOR_KEY: OPERATOR_KEY,
      TALLY_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'tally-fanout-')),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/readyz`);
  return base;
}

beforeAll(async () => {
  if (!redisUp) return;
  const url = await freshDatabase('redis-fanout');
  // A first, alone: it applies the migrations; B then finds them applied.
  A = await startInstance(url);
  B = await startInstance(url);
});

afterAll(async () => {
  await closeSubscribers();
  await Promise.all(typed.map((c) => c.close()));
  for (const child of children) child.kill('SIGKILL');
});

let seq = 0;
const record = (base: string, key: string, cost: string) =>
  okOver(base, key, RECORD, { input: { idempotencyKey: `fan-${++seq}`, kind: 'CALL', cost } });

/** A tenant (created through A) on a plan with one ALERT limit: COST per DAY of 1, thresholds 80 and 100. */
const plannedTenant = (name: string) =>
  seedPlannedTenant((apiKey) => connect(A, apiKey), name, [
    { metric: 'COST', period: 'DAY', amount: '1', thresholds: [80, 100], action: 'ALERT' },
  ]);

/** A typed client of one instance, over real HTTP. */
function connect(base: string, apiKey: string): TallyClient {
  const c = createTallyClient({ url: `${base}/graphql`, apiKey });
  typed.push(c);
  return c;
}

const USAGE_RECORDED = 'subscription { usageRecorded { id cost idempotencyKey tenant { id } } }';
const QUOTA_ALERTS = 'subscription { quotaAlerts { id tenantId threshold used limit { metric amount } } }';

/**
 * Records zero-cost events on A until B's usageRecorded subscriber has one: proof that B's
 * subscriptions are live in Redis. Zero cost moves no COST limit.
 */
async function warmUp(key: string, usage: WsSub) {
  const deadline = Date.now() + 10_000;
  while (usage.data.length === 0) {
    if (Date.now() > deadline) throw new Error("B's subscription never received A's events");
    await record(A, key, '0');
    await until(() => usage.data.length > 0, 'a warm-up event', 300).catch(() => {});
  }
  await sleep(100);
}

describe('two instances over one Redis', () => {
  it.skipIf(!redisUp)("B's subscribers receive A's usage events and its quota alert, exactly once", async () => {
    const t = await plannedTenant('fanout');
    const client = wsClient(B, t.reader.secret);
    const alerts = new WsSub(client, QUOTA_ALERTS);
    const usage = new WsSub(client, USAGE_RECORDED);
    await warmUp(t.adminKey, usage);
    expect(alerts.results).toEqual([]);
    const before = usage.data.length;

    const rec = await record(A, t.adminKey, '0.9'); // 90% of 1: crosses 80
    await until(() => alerts.data.length >= 1, "the alert from A's usage");
    await until(() => usage.data.length > before, "A's usage event");
    await sleep(1_000); // a duplicate (from either instance) would arrive by now
    expect(alerts.data).toHaveLength(1);
    const a = alerts.data[0].quotaAlerts;
    expect(a).toMatchObject({ tenantId: t.id, threshold: 80, limit: { metric: 'COST' } });
    expect(new Decimal(a.used).eq('0.9')).toBe(true);
    const events = usage.data.slice(before).map((d) => d.usageRecorded);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id: rec.recordUsage.event.id, tenant: { id: t.id } });
    expect(new Decimal(events[0].cost).eq('0.9')).toBe(true);

    // More usage on A in the same window crosses nothing new; the 100% crossing comes once.
    await record(A, t.adminKey, '0.05');
    await record(A, t.adminKey, '0.05');
    await until(() => alerts.data.length >= 2, 'the 100% alert');
    await sleep(1_000);
    expect(alerts.data.map((d) => d.quotaAlerts.threshold)).toEqual([80, 100]);
    expect(alerts.completed || usage.completed).toBe(false);
  });

  it.skipIf(!redisUp)("B's walletUpdated watchers see the wallet after A's debits", async () => {
    const t = await plannedTenant('fanout-wallet');
    await okOver(A, OPERATOR_KEY, 'mutation($input: GrantCreditsInput!) { grantCredits(input: $input) { id } }', {
      input: { tenantId: t.id, amount: '5', idempotencyKey: 'fan-grant' },
    });
    const wallet = new WsSub(wsClient(B, t.reader.secret), 'subscription { walletUpdated { balance } }');
    await until(() => wallet.data.length >= 1, 'the initial wallet');
    expect(wallet.data[0].walletUpdated.balance).toBe('5.000000000000');
    // Until B's pub/sub subscription is live, a change may pass unseen: debit until one is pushed.
    let debits = 0;
    const deadline = Date.now() + 10_000;
    while (wallet.data.length < 2) {
      if (Date.now() > deadline) throw new Error("B never pushed the wallet after A's debit");
      await record(A, t.adminKey, '0.25');
      debits++;
      await until(() => wallet.data.length >= 2, 'a push', 500).catch(() => {});
    }
    const expected = new Decimal(5).minus(new Decimal('0.25').times(debits)).toFixed(12);
    await until(() => wallet.data.at(-1).walletUpdated.balance === expected, "the wallet after A's last debit");
  });

  it.skipIf(!redisUp)(
    "a key revoked on A ends that key's open subscription on B and B's cached authentication",
    async () => {
      const t = await plannedTenant('revoke');
      const usage = new WsSub(wsClient(B, t.reader.secret), USAGE_RECORDED);
      await warmUp(t.adminKey, usage);
      expect(usage.completed).toBe(false);
      const viewer = () => postOver(B, t.reader.secret, '{ viewer { isOperator } }');
      expect((await viewer()).errors).toBeUndefined(); // B now holds the key in its 5 s cache

      await okOver(A, t.adminKey, 'mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { id: t.reader.id });
      // Ends on B: completed, or B closed the key's socket with 4403.
      await until(
        () => usage.completed || (usage.error as { code?: number } | null)?.code === 4403,
        "B's subscription to end",
      );
      // Well inside the cache's 5 s: B refuses the key because A's revocation reached it.
      expect((await viewer()).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      const count = usage.results.length;
      await record(A, t.adminKey, '0.1');
      await sleep(1_000);
      expect(usage.results.length).toBe(count);
    },
  );
});
