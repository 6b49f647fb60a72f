// Live subscriptions over a real HTTP + WebSocket server: usageRecorded, quotaAlerts and
// quotaUpdated over graphql-ws and over SSE, authentication at connect, scopes, revoked keys,
// quotaUpdated coalescing, and 1,000 concurrent subscribers on one process.
import Decimal from 'decimal.js';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COALESCE_MS, QuotaFeed } from '../server/src/modules/quota/quota.feed';
import { createTallyPubSub } from '../server/src/pubsub';
import { Revocations } from '../server/src/revocations';
import { createHarness, type Harness } from './support/harness';
import { closeSubscribers, SseSub, WsSub, wsClient } from './support/subscribers';
import { sleep, until } from './support/wait';
import { type RecordInput, World, type WorldTenant } from './support/world';

let h: Harness;
let world: World;
let port: number;

beforeAll(async () => {
  h = await createHarness('subscriptions', { poolSize: 20 });
  world = World.on(h);
  port = (await h.listen()).port;
});
afterAll(async () => {
  await closeSubscribers();
  await h?.close();
});

// ------------------------------------------------------------------ helpers

const dec = (s: string) => new Decimal(s);

const USAGE_RECORDED = `subscription($tenantId: ID, $apiKeyId: ID) {
  usageRecorded(tenantId: $tenantId, apiKeyId: $apiKeyId) { id idempotencyKey cost currency kind tenant { id } }
}`;
const QUOTA_ALERTS = `subscription($tenantId: ID) {
  quotaAlerts(tenantId: $tenantId) { id tenantId threshold used periodStart crossedAt limit { metric period amount action } }
}`;
const QUOTA_UPDATED = `subscription($tenantId: ID) {
  quotaUpdated(tenantId: $tenantId) { tenantId blocked items { used reserved remaining exceeded limit { metric period amount } } }
}`;

/** A tenant on a plan with one ALERT limit: COST per DAY of `amount`, thresholds 80 and 100. */
const plannedTenant = (name: string, amount = '1') =>
  world.tenant(name).onPlan([{ metric: 'COST', period: 'DAY', amount, thresholds: [80, 100], action: 'ALERT' }]);

let seq = 0;
const record = (key: string, cost: string, extra: Partial<RecordInput> = {}) =>
  world.as(key).record({ idempotencyKey: `sub-${++seq}`, cost, ...extra });

/**
 * Records zero-cost events until `received()` shows one arrived: proof that the subscription
 * (and those opened before it on the same connection) is live on the server. Zero cost moves
 * no COST limit and crosses no threshold.
 */
async function warmUp(key: string, received: () => number) {
  const before = received();
  const deadline = Date.now() + 5_000;
  while (received() === before) {
    if (Date.now() > deadline) throw new Error('subscription never became live');
    await record(key, '0', { idempotencyKey: `warm-${++seq}` });
    await until(() => received() > before, 'warm-up event', 200).catch(() => {});
  }
  await sleep(50);
}

// ------------------------------------------------------------------ graphql-ws

describe('over graphql-ws', () => {
  it('usageRecorded delivers each committed event with its cost', async () => {
    const t = await plannedTenant('ws-usage', '1000');
    const reader = await t.key(['READ']);
    const sub = new WsSub(wsClient(port, reader.secret), USAGE_RECORDED);
    await warmUp(t.adminKey, () => sub.data.length);
    const already = sub.data.length;

    const rec = await record(t.adminKey, '0.25', { idempotencyKey: 'ws-usage-1' });
    await until(() => sub.data.length > already, 'the usageRecorded event');
    await sleep(100);
    const events = sub.data.slice(already).map((d) => d.usageRecorded);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      id: rec.event.id,
      idempotencyKey: 'ws-usage-1',
      kind: 'CALL',
      tenant: { id: t.id },
    });
    expect(dec(events[0].cost).eq('0.25')).toBe(true);

    // A DUPLICATE writes nothing and publishes nothing.
    const dup = await record(t.adminKey, '0.25', { idempotencyKey: 'ws-usage-1' });
    expect(dup.outcome).toBe('DUPLICATE');
    await sleep(200);
    expect(sub.data.length).toBe(already + 1);
    expect(sub.ended).toBe(false);
    sub.dispose();
  });

  it('quotaAlerts delivers a threshold crossing exactly once, even when more usage follows in the window', async () => {
    const t = await plannedTenant('ws-alerts');
    const reader = await t.key(['READ']);
    const client = wsClient(port, reader.secret);
    const alerts = new WsSub(client, QUOTA_ALERTS);
    const usage = new WsSub(client, USAGE_RECORDED);
    await warmUp(t.adminKey, () => usage.data.length);
    expect(alerts.results).toHaveLength(0);

    await record(t.adminKey, '0.9'); // 90% of 1: crosses 80
    await until(() => alerts.data.length >= 1, 'the 80% alert');
    await record(t.adminKey, '0.05'); // 95%: no new threshold
    await record(t.adminKey, '0.01'); // 96%
    await sleep(400);
    expect(alerts.data).toHaveLength(1);
    const a = alerts.data[0].quotaAlerts;
    expect(a).toMatchObject({
      tenantId: t.id,
      threshold: 80,
      limit: { metric: 'COST', period: 'DAY', action: 'ALERT' },
    });
    expect(dec(a.limit.amount).eq(1)).toBe(true);
    expect(dec(a.used).eq('0.9')).toBe(true);
    expect(Number.isNaN(Date.parse(a.crossedAt))).toBe(false);

    await record(t.adminKey, '0.04'); // exactly 100%
    await until(() => alerts.data.length >= 2, 'the 100% alert');
    await record(t.adminKey, '0.5'); // 150%: nothing left to cross
    await sleep(400);
    expect(alerts.data.map((d) => d.quotaAlerts.threshold)).toEqual([80, 100]);
    expect(dec(alerts.data[1].quotaAlerts.used).eq(1)).toBe(true);
    expect(alerts.errorCodes).toEqual([]);
    alerts.dispose();
    usage.dispose();
  });

  it('quotaUpdated sends the current state at once, then the state after a change', async () => {
    const t = await plannedTenant('ws-quota', '10');
    await record(t.adminKey, '1.5');
    const reader = await t.key(['READ']);
    const sub = new WsSub(wsClient(port, reader.secret), QUOTA_UPDATED);
    await until(() => sub.data.length >= 1, 'the initial quota state');
    const first = sub.data[0].quotaUpdated;
    expect(first.tenantId).toBe(t.id);
    expect(first.blocked).toBe(false);
    expect(first.items).toHaveLength(1);
    expect(dec(first.items[0].used).eq('1.5')).toBe(true);
    expect(dec(first.items[0].remaining).eq('8.5')).toBe(true);

    await record(t.adminKey, '2.25');
    await until(() => sub.data.some((d) => dec(d.quotaUpdated.items[0].used).eq('3.75')), 'the state after the change');
    const last = sub.data.at(-1).quotaUpdated;
    expect(last.tenantId).toBe(t.id);
    expect(dec(last.items[0].used).eq('3.75')).toBe(true);
    expect(dec(last.items[0].remaining).eq('6.25')).toBe(true);
    expect(last.items[0].exceeded).toBe(false);
    sub.dispose();
  });
});

// ------------------------------------------------------------------ SSE

describe('over SSE', () => {
  it('usageRecorded delivers each committed event with its cost', async () => {
    const t = await plannedTenant('sse-usage', '1000');
    const reader = await t.key(['READ']);
    const sub = new SseSub(port, reader.secret, USAGE_RECORDED);
    await warmUp(t.adminKey, () => sub.data.length);
    expect(sub.status).toBe(200);
    const already = sub.data.length;
    const rec = await record(t.adminKey, '0.125', { idempotencyKey: 'sse-usage-1' });
    await until(() => sub.data.length > already, 'the usageRecorded event');
    await sleep(100);
    const events = sub.data.slice(already).map((d) => d.usageRecorded);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      id: rec.event.id,
      idempotencyKey: 'sse-usage-1',
      tenant: { id: t.id },
    });
    expect(dec(events[0].cost).eq('0.125')).toBe(true);
    sub.close();
  });

  it('quotaAlerts delivers a threshold crossing exactly once', async () => {
    const t = await plannedTenant('sse-alerts');
    const reader = await t.key(['READ']);
    const alerts = new SseSub(port, reader.secret, QUOTA_ALERTS);
    const usage = new SseSub(port, reader.secret, USAGE_RECORDED);
    await warmUp(t.adminKey, () => usage.data.length);
    // The alerts stream was opened first; give it the same chance to be live.
    await sleep(100);
    expect(alerts.data).toHaveLength(0);

    await record(t.adminKey, '0.85');
    await until(() => alerts.data.length >= 1, 'the 80% alert');
    await record(t.adminKey, '0.05');
    await sleep(400);
    expect(alerts.data).toHaveLength(1);
    const a = alerts.data[0].quotaAlerts;
    expect(a).toMatchObject({ tenantId: t.id, threshold: 80, limit: { metric: 'COST' } });
    expect(dec(a.used).eq('0.85')).toBe(true);
    alerts.close();
    usage.close();
  });

  it('quotaUpdated sends the current state at once, then the state after a change', async () => {
    const t = await plannedTenant('sse-quota', '10');
    await record(t.adminKey, '4');
    const reader = await t.key(['READ']);
    const sub = new SseSub(port, reader.secret, QUOTA_UPDATED);
    await until(() => sub.data.length >= 1, 'the initial quota state');
    expect(sub.data[0].quotaUpdated.tenantId).toBe(t.id);
    expect(dec(sub.data[0].quotaUpdated.items[0].used).eq(4)).toBe(true);

    await record(t.adminKey, '0.5');
    await until(() => sub.data.some((d) => dec(d.quotaUpdated.items[0].used).eq('4.5')), 'the state after the change');
    expect(dec(sub.data.at(-1).quotaUpdated.items[0].remaining).eq('5.5')).toBe(true);
    sub.close();
  });
});

// ------------------------------------------------------------------ authentication and scopes

describe('authentication and scopes', () => {
  it('refuses a connection without a key, or with a bad or revoked key (4403), before any operation runs', async () => {
    const t = await plannedTenant('ws-auth');
    const gone = await t.key(['READ']);
    await h.ok(t.adminKey, 'mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { id: gone.id });
    for (const key of [null, 'nonsense', `${t.adminKey}x`, gone.secret]) {
      let closedWith: number | null = null;
      const sub = new WsSub(
        wsClient(port, key, {
          onClosed: (code) => {
            closedWith = code;
          },
        }),
        USAGE_RECORDED,
      );
      await until(() => sub.ended, `refusal of ${key}`);
      expect(sub.error, String(key)).toMatchObject({ code: 4403 });
      expect(closedWith, String(key)).toBe(4403);
      expect(sub.results, String(key)).toEqual([]);
    }
    // A good key on the same server still connects.
    const ok = new WsSub(wsClient(port, t.adminKey), QUOTA_UPDATED);
    await until(() => ok.data.length === 1, 'a good key');
    expect(ok.data[0].quotaUpdated.tenantId).toBe(t.id);
    ok.dispose();
  });

  it('answers FORBIDDEN to a READ key naming another tenant, over WebSocket and SSE', async () => {
    const mine = await plannedTenant('forbid-mine');
    const theirs = await plannedTenant('forbid-theirs');
    const reader = await mine.key(['READ']);
    const client = wsClient(port, reader.secret);
    for (const query of [USAGE_RECORDED, QUOTA_ALERTS, QUOTA_UPDATED]) {
      const ws = new WsSub(client, query, { tenantId: theirs.id });
      await until(() => ws.ended, `the WebSocket answer to ${query}`);
      expect(ws.errorCodes, query).toEqual(['FORBIDDEN']);
      expect(ws.data, query).toEqual([]);

      const sse = new SseSub(port, reader.secret, query, { tenantId: theirs.id });
      await until(() => sse.ended, `the SSE answer to ${query}`);
      expect(sse.errorCodes, query).toEqual(['FORBIDDEN']);
      expect(sse.data, query).toEqual([]);
    }
    // Nothing of the other tenant's leaks to this connection meanwhile.
    const own = new WsSub(client, USAGE_RECORDED, { tenantId: mine.id });
    await warmUp(mine.adminKey, () => own.data.length);
    const before = own.data.length;
    await record(theirs.adminKey, '0.5');
    await sleep(200);
    expect(own.data.length).toBe(before);
    own.dispose();
  });

  it('answers FORBIDDEN to an INGEST-only key, over WebSocket and SSE', async () => {
    const t = await plannedTenant('forbid-ingest');
    const ingest = await t.key(['INGEST']);
    const client = wsClient(port, ingest.secret);
    for (const query of [USAGE_RECORDED, QUOTA_ALERTS, QUOTA_UPDATED]) {
      const ws = new WsSub(client, query);
      await until(() => ws.ended, `the WebSocket answer to ${query}`);
      expect(ws.errorCodes, query).toEqual(['FORBIDDEN']);
      expect(ws.data, query).toEqual([]);

      const sse = new SseSub(port, ingest.secret, query);
      await until(() => sse.ended, `the SSE answer to ${query}`);
      expect(sse.errorCodes, query).toEqual(['FORBIDDEN']);
    }
  });

  it("ends a revoked key's open subscriptions; no further events arrive", async () => {
    const t = await plannedTenant('revoke', '1000');
    const reader = await t.key(['READ']);
    const other = await t.key(['READ']);
    const client = wsClient(port, reader.secret);
    const usage = new WsSub(client, USAGE_RECORDED);
    const quota = new WsSub(client, QUOTA_UPDATED);
    // Another key of the same tenant keeps its subscription.
    const bystander = new WsSub(wsClient(port, other.secret), USAGE_RECORDED);
    await warmUp(t.adminKey, () => Math.min(usage.data.length, bystander.data.length));
    await until(() => quota.data.length >= 1, 'the initial quota state');
    const sse = new SseSub(port, reader.secret, USAGE_RECORDED);
    await warmUp(t.adminKey, () => sse.data.length);
    expect(usage.ended || quota.ended || sse.ended).toBe(false);

    await h.ok(t.adminKey, 'mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { id: reader.id });
    // The key's subscriptions end and its sockets close with 4403 (graphql-ws clients do not retry that).
    await until(() => usage.endedByRevocation && quota.endedByRevocation, 'the WebSocket subscriptions to end');
    await until(() => sse.ended, 'the SSE stream to end');
    const counts = [usage.results.length, quota.results.length, sse.results.length];
    const bystanderBefore = bystander.data.length;

    await record(t.adminKey, '3');
    await until(() => bystander.data.length > bystanderBefore, 'the bystander event');
    await sleep(400);
    expect([usage.results.length, quota.results.length, sse.results.length]).toEqual(counts);
    expect(bystander.ended).toBe(false);
    bystander.dispose();
  });

  // Guards a regression: authentication once happened only at connect, so a socket opened
  // before its key was revoked kept working for new operations. Now every operation re-checks
  // the key and a revocation closes the key's sockets on every instance.
  it('refuses new operations on a still-open connection whose key was revoked', async () => {
    const t = await plannedTenant('revoke-new', '1000');
    const reader = await t.key(['READ']);
    let connects = 0;
    // Not lazy: the socket stays open after its last subscription ends.
    const client = wsClient(port, reader.secret, { lazy: false, onConnected: () => connects++ });
    const first = new WsSub(client, QUOTA_UPDATED);
    await until(() => first.data.length >= 1, 'the initial quota state');
    await h.ok(t.adminKey, 'mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { id: reader.id });
    await until(() => first.endedByRevocation, 'the subscription to end');

    const after = new WsSub(client, USAGE_RECORDED);
    await sleep(300);
    await record(t.adminKey, '1');
    await sleep(300);
    // Refused: either the closed socket's client errors at once, or a reconnect is refused (4403).
    expect(after.data.map((d) => d.usageRecorded.cost)).toEqual([]);
    expect(after.ended).toBe(true);
    expect(connects).toBeLessThanOrEqual(1); // never admitted again
  });
});

// ------------------------------------------------------------------ coalescing

describe('quotaUpdated coalescing', () => {
  it('pushes far fewer states than changes, at least ~250 ms apart, the last one final', async () => {
    const t = await plannedTenant('coalesce', '1000');
    const reader = await t.key(['READ']);
    const sub = new WsSub(wsClient(port, reader.secret), QUOTA_UPDATED);
    await until(() => sub.data.length === 1, 'the initial quota state');
    expect(dec(sub.data[0].quotaUpdated.items[0].used).eq(0)).toBe(true);
    await sleep(300); // away from the initial computation

    const started = performance.now();
    for (let i = 0; i < 20; i++) await record(t.adminKey, '0.05');
    const burstMs = performance.now() - started;
    await until(
      () => sub.data.some((d) => dec(d.quotaUpdated.items[0].used).eq(1)),
      'a push with the final state (20 x 0.05)',
    );
    await sleep(700); // anything still scheduled arrives
    const pushes = sub.results.slice(1);
    expect(pushes.every((p) => p.msg.data && !p.msg.errors)).toBe(true);
    const limit = 1 + Math.ceil(burstMs / 250) + 1;
    expect(pushes.length).toBeGreaterThanOrEqual(1);
    expect(pushes.length, `${pushes.length} pushes for a ${Math.round(burstMs)} ms burst`).toBeLessThanOrEqual(limit);
    expect(pushes.length).toBeLessThan(20);
    expect(dec(pushes.at(-1)?.msg.data.quotaUpdated.items[0].used).eq(1)).toBe(true);
    // used only grows along the pushes.
    const used = pushes.map((p) => dec(p.msg.data.quotaUpdated.items[0].used));
    for (let i = 1; i < used.length; i++) expect(used[i]?.gte(used[i - 1] as Decimal)).toBe(true);
    const gaps = pushes.slice(1).map((p, i) => p.at - (pushes[i] as { at: number }).at);
    for (const gap of gaps) expect(gap, `gaps ${gaps.map(Math.round).join(', ')} ms`).toBeGreaterThanOrEqual(200);
    sub.dispose();
  });
});

// ------------------------------------------------------------------ scale

describe('1,000 concurrent subscribers', () => {
  it('10 tenants x 100 subscribers over 50 connections: each gets its own tenant update, none another', async () => {
    const TENANTS = 10;
    const PER_TENANT = 100;
    const CONNECTIONS_PER_TENANT = 5; // 50 WebSocket connections, 20 subscriptions each
    const tenants = await Promise.all(Array.from({ length: TENANTS }, (_, i) => plannedTenant(`fan-${i}`, '1000')));
    const readers = await Promise.all(tenants.map((t) => t.key(['READ'])));
    const subs: { tenant: number; sub: WsSub }[] = [];
    const conns: Client[] = [];
    for (let i = 0; i < TENANTS; i++) {
      for (let c = 0; c < CONNECTIONS_PER_TENANT; c++) {
        const client = wsClient(port, (readers[i] as { secret: string }).secret);
        conns.push(client);
        for (let s = 0; s < PER_TENANT / CONNECTIONS_PER_TENANT; s++)
          subs.push({ tenant: i, sub: new WsSub(client, QUOTA_UPDATED) });
      }
    }
    expect(subs).toHaveLength(1000);
    expect(new Set(conns).size).toBe(50);
    await until(() => subs.every(({ sub }) => sub.data.length >= 1), 'every initial state', 30_000);

    // One event per tenant, each with its own cost: tenant i records (i + 1) / 100.
    const cost = (i: number) => new Decimal(i + 1).div(100);
    await Promise.all(tenants.map((t, i) => record(t.adminKey, cost(i).toString())));
    await until(
      () => subs.every(({ tenant, sub }) => sub.data.some((d) => dec(d.quotaUpdated.items[0].used).eq(cost(tenant)))),
      'every subscriber to see its tenant update',
      30_000,
    );
    await sleep(300);
    for (const { tenant, sub } of subs) {
      expect(sub.errorCodes).toEqual([]);
      expect(sub.ended).toBe(false);
      for (const d of sub.data) {
        expect(d.quotaUpdated.tenantId).toBe((tenants[tenant] as WorldTenant).id);
        const used = dec(d.quotaUpdated.items[0].used);
        expect(used.eq(0) || used.eq(cost(tenant))).toBe(true);
      }
    }
    for (const { sub } of subs) sub.dispose();
  });
});

describe('Revocations registry', () => {
  it('tells every watcher of a revoked key once, leaves other keys alone, and lets go', () => {
    const r = new Revocations();
    const told = new Map<string, number>();
    const tell = (who: string) => () => told.set(who, (told.get(who) ?? 0) + 1);
    const unwatchA = Array.from({ length: 1000 }, (_, i) => r.watch('key-a', tell(`a${i}`)));
    const unwatchB = r.watch('key-b', tell('b'));
    expect(r.size).toBe(2);
    unwatchA[0]?.(); // one watcher of A leaves before the revocation
    r.revoked('key-a');
    r.revoked('key-a'); // a second revocation message changes nothing
    expect(told.size).toBe(999);
    expect([...told.values()].every((n) => n === 1)).toBe(true);
    expect(told.has('a0')).toBe(false);
    expect(r.size).toBe(1); // A is gone; B still watched
    for (const u of unwatchA) u(); // unwatching after the fact is harmless
    unwatchB();
    expect(r.size).toBe(0);
    expect(told.has('b')).toBe(false);
  });
});

/** A promise the test resolves when it chooses (Promise.withResolvers arrives with Node 22). */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { opened, open };
}

describe('QuotaFeed', () => {
  it('computes the first state once for watchers arriving together, and pushes a fresh one after a change it may predate', async () => {
    const { pubsub } = createTallyPubSub();
    const feed = new QuotaFeed(pubsub);
    let calls = 0;
    const first = gate();
    const compute = async () => {
      const n = ++calls;
      if (n === 1) await first.opened;
      return { version: n } as never;
    };
    const got: number[][] = Array.from({ length: 50 }, () => []);
    const iterators = got.map((values) => {
      const it = feed.watch('tenant-1', '|', compute)[Symbol.asyncIterator]();
      void (async () => {
        for (let r = await it.next(); !r.done; r = await it.next())
          values.push((r.value as unknown as { version: number }).version);
      })();
      return it;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBe(1); // 50 watchers, one computation in flight
    pubsub.publish('quota:changed', 'tenant-1', { tenantId: 'tenant-1' }); // lands while it runs
    await new Promise((r) => setTimeout(r, 20));
    first.open();
    await new Promise((r) => setTimeout(r, 400)); // past the 250 ms coalescing window
    // The change's own computation (2) reached everyone first; the older first state (1),
    // resolving after it, is never pushed on top of it.
    for (const values of got) expect(values).toEqual([2]);
    expect(calls).toBe(2);

    // B joins while A's first state is still being computed, after a change that computation
    // may predate: B gets that state and then a fresh one (A already had the change's own).
    const second = gate();
    const slow = async () => {
      const n = ++calls;
      if (n === 3) await second.opened;
      return { version: n } as never;
    };
    const seen = { a: [] as number[], b: [] as number[] };
    const follow = (who: 'a' | 'b') => {
      const it = feed.watch('tenant-2', '|', slow)[Symbol.asyncIterator]();
      void (async () => {
        for (let r = await it.next(); !r.done; r = await it.next())
          seen[who].push((r.value as unknown as { version: number }).version);
      })();
      return it;
    };
    const a = follow('a');
    await new Promise((r) => setTimeout(r, 20));
    pubsub.publish('quota:changed', 'tenant-2', { tenantId: 'tenant-2' });
    await new Promise((r) => setTimeout(r, 20));
    const b = follow('b');
    await new Promise((r) => setTimeout(r, 20));
    second.open();
    await new Promise((r) => setTimeout(r, 400));
    expect(seen).toEqual({ a: [4, 5], b: [3, 5] });
    await a.return?.();
    await b.return?.();
    for (const it of iterators) await it.return?.();
  });
  it('spaces pushes COALESCE_MS apart from the previous delivery, however long a computation takes', async () => {
    const { pubsub } = createTallyPubSub();
    const feed = new QuotaFeed(pubsub);
    let calls = 0;
    const compute = async () => {
      const n = ++calls;
      if (n === 2) await new Promise((r) => setTimeout(r, 150)); // a slow push, then a fast one
      return { version: n } as never;
    };
    const pushes: { version: number; at: number }[] = [];
    const it = feed.watch('tenant-3', '|', compute)[Symbol.asyncIterator]();
    void (async () => {
      for (let r = await it.next(); !r.done; r = await it.next())
        pushes.push({ version: (r.value as unknown as { version: number }).version, at: performance.now() });
    })();
    await new Promise((r) => setTimeout(r, 300)); // the first state, and past its window
    pubsub.publish('quota:changed', 'tenant-3', { tenantId: 'tenant-3' });
    await new Promise((r) => setTimeout(r, 50));
    pubsub.publish('quota:changed', 'tenant-3', { tenantId: 'tenant-3' }); // while push 2 computes
    await new Promise((r) => setTimeout(r, 700));
    expect(pushes.map((p) => p.version)).toEqual([1, 2, 3]);
    const gap = (pushes[2] as { at: number }).at - (pushes[1] as { at: number }).at;
    expect(gap, `${Math.round(gap)} ms between pushes 2 and 3`).toBeGreaterThanOrEqual(COALESCE_MS - 5);
    await it.return?.();
  });
});

describe('in-process pub/sub', () => {
  it('knows which topics have listeners, so events nobody can receive are not built', async () => {
    const { pubsub, listens } = createTallyPubSub();
    expect(listens('usage:recorded:t1')).toBe(false);
    const it = pubsub.subscribe('usage:recorded', 't1')[Symbol.asyncIterator]();
    const first = it.next();
    await new Promise((r) => setTimeout(r, 0));
    expect(listens('usage:recorded:t1')).toBe(true);
    expect(listens('usage:recorded:t2')).toBe(false);
    pubsub.publish('usage:recorded', 't1', { id: 'e1' } as never);
    expect((await first).value).toEqual({ id: 'e1' });
    await it.return?.();
    expect(listens('usage:recorded:t1')).toBe(false);
    // With Redis, another instance may always be listening.
    const shared = createTallyPubSub(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    expect(shared.listens('usage:recorded:t1')).toBe(true);
    await shared.close();
  });
});
