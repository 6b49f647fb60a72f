// Webhook delivery to a real local HTTP receiver: every request verified with the Standard
// Webhooks library; quota alerts and reversals delivered from the outbox; retries with the same
// webhook-id until a 2xx, FAILED after the schedule; timeouts and redirects are failed attempts;
// redelivery and rotation; two instances deliver each event exactly once.
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import type { WebhookEvent } from '../../server/src/modules/webhooks/ports';
import { credits } from '../credits/kit';
import { sleep, until } from '../support/wait';
import { NOON, World, type WorldTenant } from '../support/world';
import {
  CREATE_ENDPOINT,
  DELIVERIES,
  LIST_ENDPOINTS,
  REDELIVER,
  Receiver,
  ROTATE_SECRET,
  UPDATE_ENDPOINT,
} from './receiver';

const WEBHOOKS = {
  allowPrivateAddresses: true,
  retryScheduleMs: [100, 200],
  timeoutMs: 800,
  concurrency: 8,
  pollMs: 50,
  worker: true,
};
const world = await World.forFile('webhook-delivery', { config: { webhooks: WEBHOOKS } });
const { h } = world;
const receivers: Receiver[] = [];
afterAll(async () => {
  for (const r of receivers) await r.close();
});

async function receiver() {
  const r = await Receiver.start();
  receivers.push(r);
  return r;
}

async function endpoint(t: WorldTenant, url: string, eventTypes: string[] = []) {
  const r = await h.ok(t.admin.secret, CREATE_ENDPOINT, { input: { url, eventTypes } });
  return r.createWebhookEndpoint as { secret: string; endpoint: { id: string } };
}

const deliveries = async (t: WorldTenant, endpointId: string, first = 50, after?: string) =>
  (await h.ok(t.admin.secret, DELIVERIES, { endpointId, first, after })).webhookDeliveries;

/** Every request the receiver got, verified with the endpoint's secret (throws when one does not verify). */
const verified = (r: Receiver, secret: string) => r.received.map((x) => new Webhook(secret).verify(x.body, x.headers));

/** Events straight into the outbox, in a transaction of their own (as an emitting module would). */
const emit = (events: WebhookEvent[]) =>
  h.db.transaction('test:emit', (tx) => h.app.services.webhooks.outbox.emit(tx, events));
const event = (t: WorldTenant, key: string): WebhookEvent => ({
  tenantId: t.id,
  type: 'usage.reversed',
  key,
  at: new Date(NOON),
  data: { key, cost: '1.250000000000' },
});

describe('webhook delivery', () => {
  it('a quota alert is delivered once, signed per Standard Webhooks, with the alert as data', async () => {
    world.clock.set(NOON);
    const acme = await world
      .tenant('acme')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '1', thresholds: [50, 100], action: 'ALERT' }])
      .withKey('INGEST');
    const rx = await receiver();
    const { secret, endpoint: ep } = await endpoint(acme, rx.url);
    await acme.record({ cost: '0.6' });
    await until(() => rx.received.length === 1, 'the alert delivered');
    const [payload] = verified(rx, secret) as { type: string; timestamp: string; data: Record<string, unknown> }[];
    expect(payload).toMatchObject({
      type: 'quota.threshold_crossed',
      data: { tenantId: acme.id, threshold: 50, used: '0.600000000000', subject: null, apiKeyId: null },
    });
    expect(payload?.data.limit).toMatchObject({ metric: 'COST', period: 'DAY', amount: '1.000000000000' });
    const [alert] = (await acme.alerts()).edges;
    expect(payload?.data.id).toBe(alert?.node.id);
    expect(payload?.timestamp).toBe(new Date(alert?.node.crossedAt as string).toISOString());
    expect(rx.received[0]?.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
    await until(async () => (await deliveries(acme, ep.id)).edges[0]?.node.status === 'DELIVERED', 'DELIVERED');
    const [d] = (await deliveries(acme, ep.id)).edges;
    expect(d.node).toMatchObject({
      eventType: 'quota.threshold_crossed',
      attempts: 1,
      lastResponseStatus: 200,
      nextAttemptAt: null,
      eventId: rx.received[0]?.headers['webhook-id'],
    });
    expect(d.node.attemptLog).toMatchObject([{ attempt: 1, outcome: 'SUCCESS', responseStatus: 200, error: null }]);
    // the second threshold in the same window: a second alert, a second delivery; nothing for the first again
    await acme.record({ cost: '0.1' });
    await acme.record({ cost: '0.4' });
    await until(() => rx.received.length === 2, 'the 100% alert delivered');
    await sleep(150);
    expect(rx.events().map((e) => e.data.threshold)).toEqual([50, 100]);
  });

  it('wallet crossings are delivered once each: low_balance then depleted, re-armed by a grant', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('acme').withKey('INGEST');
    const c = credits(world);
    const rx = await receiver();
    const { secret } = await endpoint(acme, rx.url, ['wallet.low_balance', 'wallet.depleted']);
    await c.grant(acme.id, { amount: '1' });
    await h.ok(acme.admin.secret, 'mutation { setWalletThreshold(input: { lowBalanceThreshold: "0.5" }) { balance } }');
    await acme.record({ cost: '0.3' }); // available 0.7: nothing yet
    await acme.record({ cost: '0.3' }); // 0.4 < 0.5: low_balance
    await acme.record({ cost: '0.1' }); // still low: nothing more
    await acme.record({ cost: '0.5' }); // -0.2: depleted
    await until(() => rx.received.length === 2, 'both crossings delivered');
    const payloads = verified(rx, secret) as { type: string; data: Record<string, unknown> }[];
    expect(payloads.map((p) => [p.type, p.data.available])).toEqual([
      ['wallet.low_balance', '0.400000000000'],
      ['wallet.depleted', '-0.200000000000'],
    ]);
    expect(payloads[0]?.data).toMatchObject({
      tenantId: acme.id,
      subject: null,
      currency: 'USD',
      lowBalanceThreshold: '0.500000000000',
    });
    // a grant lifts it above the threshold: both re-arm, and the next fall is told again
    await c.grant(acme.id, { amount: '2' }); // available 1.8
    await sleep(200);
    expect(rx.received.length).toBe(2);
    await acme.record({ cost: '1.5' }); // 0.3 < 0.5
    await until(() => rx.received.length === 3, 'the re-armed crossing delivered');
    expect(rx.events()[2]).toMatchObject({ type: 'wallet.low_balance', data: { available: '0.300000000000' } });
  });

  it('a reversal is delivered as usage.reversed, money as decimal text; an endpoint gets only the types it asked for', async () => {
    world.clock.set(NOON);
    const acme = await world.tenant('acme').withKey('INGEST');
    const all = await receiver();
    const quotaOnly = await receiver();
    const disabled = await receiver();
    const a = await endpoint(acme, all.url);
    await endpoint(acme, quotaOnly.url, ['quota.threshold_crossed']);
    const d = await endpoint(acme, disabled.url, ['usage.reversed']);
    await h.ok(acme.admin.secret, UPDATE_ENDPOINT, { input: { id: d.endpoint.id, enabled: false } });
    const rec = await acme.record({ cost: '2.5', subject: 'user-7' });
    const rev = await acme.reverse(rec.event.id);
    await until(() => all.received.length === 1, 'the reversal delivered');
    const [payload] = verified(all, a.secret) as { type: string; data: Record<string, unknown> }[];
    expect(payload).toMatchObject({
      type: 'usage.reversed',
      data: {
        reversesId: rec.event.id,
        cost: '-2.500000000000',
        currency: 'USD',
        subject: 'user-7',
        tenantId: acme.id,
      },
    });
    expect(JSON.stringify(rev)).toContain(payload?.data.id as string);
    await sleep(200);
    expect(quotaOnly.received).toEqual([]);
    expect(disabled.received).toEqual([]);
  });

  it('recording usage prepares nothing for webhooks (no statement in the ledger transaction)', async () => {
    const p = h.app.services.webhooks.ledgerParticipant;
    expect(await p.prepare({ at: new Date(), kind: 'record', tenantIds: ['x'] })).toBeNull();
    expect(await p.prepare({ at: new Date(), kind: 'reverse', tenantIds: ['x'] })).not.toBeNull();
  });

  it('emitting one fact twice makes one delivery; a tenant without endpoints gets none', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const lonely = await world.tenant('lonely').withKey('INGEST');
    const rx = await receiver();
    const { endpoint: ep } = await endpoint(acme, rx.url);
    await emit([event(acme, 'k1'), event(lonely, 'k1')]);
    await emit([event(acme, 'k1')]);
    await until(() => rx.received.length === 1, 'one delivery');
    await sleep(200);
    expect(rx.received).toHaveLength(1);
    expect((await deliveries(acme, ep.id)).edges).toHaveLength(1);
    const [n] = await h.sql('SELECT count(*)::int AS n FROM webhook_deliveries WHERE tenant_id = $1', [lonely.id]);
    expect(n.n).toBe(0);
  });

  it('a 500 then a 200: DELIVERED after two attempts with the same webhook-id, both signed', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const rx = await receiver();
    rx.respond = (_r, n, res) => void res.writeHead(n === 1 ? 500 : 204).end();
    const { secret, endpoint: ep } = await endpoint(acme, rx.url);
    const counted = async () =>
      Object.fromEntries(
        (await h.app.metrics.webhookAttempts.get()).values.map((v) => [v.labels.outcome as string, v.value]),
      );
    const before = await counted();
    await emit([event(acme, 'retry-1')]);
    await until(async () => (await deliveries(acme, ep.id)).edges[0]?.node.status === 'DELIVERED', 'DELIVERED', 5000);
    expect(rx.received).toHaveLength(2);
    expect(verified(rx, secret)).toHaveLength(2);
    expect(rx.received[0]?.headers['webhook-id']).toBe(rx.received[1]?.headers['webhook-id']);
    expect(rx.received[0]?.body).toBe(rx.received[1]?.body);
    const [d] = (await deliveries(acme, ep.id)).edges;
    expect(d.node).toMatchObject({ attempts: 2, lastResponseStatus: 204, status: 'DELIVERED' });
    expect(
      d.node.attemptLog.map((a: { outcome: string; responseStatus: number }) => [a.outcome, a.responseStatus]),
    ).toEqual([
      ['HTTP_ERROR', 500],
      ['SUCCESS', 204],
    ]);
    // tally_webhook_attempts_total counted both
    const after = await counted();
    const delta = (o: string) => (after[o] ?? Number.NaN) - (before[o] ?? Number.NaN);
    expect([delta('HTTP_ERROR'), delta('SUCCESS')]).toEqual([1, 1]);
    expect(Object.keys(after).sort()).toHaveLength(8);
    // the retry waited at least the schedule's first delay
    expect((rx.received[1]?.at as number) - (rx.received[0]?.at as number)).toBeGreaterThanOrEqual(90);
  });

  it('always failing: retried per the schedule, then FAILED; the attempt log keeps each outcome', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const rx = await receiver();
    rx.respond = (_r, _n, res) => void res.writeHead(503).end('x'.repeat(100_000));
    const { endpoint: ep } = await endpoint(acme, rx.url);
    await emit([event(acme, 'fail-1')]);
    await until(async () => (await deliveries(acme, ep.id)).edges[0]?.node.status === 'FAILED', 'FAILED', 5000);
    const [d] = (await deliveries(acme, ep.id)).edges;
    expect(d.node).toMatchObject({ attempts: 3, lastResponseStatus: 503, nextAttemptAt: null });
    expect(d.node.attemptLog.map((a: { attempt: number; outcome: string }) => [a.attempt, a.outcome])).toEqual([
      [1, 'HTTP_ERROR'],
      [2, 'HTTP_ERROR'],
      [3, 'HTTP_ERROR'],
    ]);
    await sleep(400);
    expect(rx.received).toHaveLength(3);
    // redeliver: a new attempt now, the same webhook-id, a new round of the schedule
    rx.respond = (_r, _n, res) => void res.writeHead(200).end();
    const again = (await h.ok(acme.admin.secret, REDELIVER, { id: d.node.id })).redeliverWebhook;
    expect(again).toMatchObject({ id: d.node.id, status: 'PENDING', eventId: d.node.eventId });
    await until(() => rx.received.length === 4, 'the redelivery');
    expect(rx.received[3]?.headers['webhook-id']).toBe(d.node.eventId);
    await until(async () => (await deliveries(acme, ep.id)).edges[0]?.node.status === 'DELIVERED', 'DELIVERED');
    expect((await deliveries(acme, ep.id)).edges[0].node.attempts).toBe(4);
  });

  it('a receiver that does not answer in time: TIMEOUT; a redirect is not followed', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const slow = await receiver();
    slow.respond = () => {}; // never answers
    const target = await receiver();
    const redirecting = await receiver();
    redirecting.respond = (_r, _n, res) => void res.writeHead(302, { location: target.url }).end();
    const s = await endpoint(acme, slow.url);
    const r = await endpoint(acme, redirecting.url);
    await emit([event(acme, 'slow-1')]);
    await until(
      async () => (await deliveries(acme, s.endpoint.id)).edges[0]?.node.status === 'FAILED',
      'FAILED',
      10_000,
    );
    const [sd] = (await deliveries(acme, s.endpoint.id)).edges;
    expect(sd.node.attemptLog.map((a: { outcome: string }) => a.outcome)).toEqual(['TIMEOUT', 'TIMEOUT', 'TIMEOUT']);
    expect(sd.node.attemptLog[0].error).toMatch(/within 800 ms/);
    expect(sd.node.lastResponseStatus).toBeNull();
    await until(async () => (await deliveries(acme, r.endpoint.id)).edges[0]?.node.status === 'FAILED', 'FAILED', 5000);
    const [rd] = (await deliveries(acme, r.endpoint.id)).edges;
    expect(
      rd.node.attemptLog.map((a: { outcome: string; responseStatus: number }) => [a.outcome, a.responseStatus]),
    ).toEqual([
      ['REDIRECT', 302],
      ['REDIRECT', 302],
      ['REDIRECT', 302],
    ]);
    expect(target.received).toEqual([]);
  });

  it('an answer is read to 4 KiB and no further: a 2xx that streams forever is a success, not a timeout', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const rx = await receiver();
    rx.respond = (_r, _n, res) => {
      res.writeHead(200);
      const chunk = 'x'.repeat(1024);
      const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(chunk)), 5);
    };
    const { endpoint: ep } = await endpoint(acme, rx.url);
    await emit([event(acme, 'stream-1')]);
    await until(async () => (await deliveries(acme, ep.id)).edges[0]?.node.status !== 'PENDING', 'an outcome');
    const [d] = (await deliveries(acme, ep.id)).edges;
    expect(d.node).toMatchObject({ status: 'DELIVERED', attempts: 1, lastResponseStatus: 200 });
    expect(d.node.attemptLog[0].outcome).toBe('SUCCESS');
  });

  it('a slow endpoint never holds up another: its attempts take at most a quarter of the slots', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const slow = await receiver();
    slow.respond = () => {}; // never answers: each attempt waits for the timeout
    const fast = await receiver();
    const s = await endpoint(acme, slow.url);
    await emit(Array.from({ length: 10 }, (_, i) => event(acme, `slow-first-${i}`)));
    await until(() => slow.received.length >= 2, 'the slow endpoint busy');
    const f = await endpoint(acme, fast.url);
    await emit(Array.from({ length: 10 }, (_, i) => event(acme, `then-fast-${i}`)));
    await until(() => fast.received.length >= 10, "the fast endpoint's 10 deliveries");
    // meanwhile the slow endpoint had at most 2 (8 / 4) attempts in flight: most of its first attempts wait
    const slowRows = (await deliveries(acme, s.endpoint.id)).edges.filter(
      (e: { node: { eventType: string; attempts: number } }) => e.node.attempts === 0,
    );
    expect(slowRows.length).toBeGreaterThanOrEqual(6);
    expect(slow.received.length).toBeLessThanOrEqual(4);
    expect((await deliveries(acme, f.endpoint.id)).edges).toHaveLength(10);
  });

  it('a refused connection is retried; after rotation only the new secret verifies', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const rx = await receiver();
    const { secret: old, endpoint: ep } = await endpoint(acme, rx.url);
    const { secret } = (await h.ok(acme.admin.secret, ROTATE_SECRET, { id: ep.id })).rotateWebhookSecret;
    await emit([event(acme, 'rot-1')]);
    await until(() => rx.received.length === 1, 'delivered');
    expect(verified(rx, secret)).toHaveLength(1);
    expect(() => verified(rx, old)).toThrow();
    // nothing listening: CONNECTION_REFUSED, retried
    const port = rx.port;
    await rx.close();
    receivers.splice(receivers.indexOf(rx), 1);
    await h.ok(acme.admin.secret, UPDATE_ENDPOINT, { input: { id: ep.id, url: `http://127.0.0.1:${port}/gone` } });
    await emit([event(acme, 'rot-2')]);
    await until(
      async () => (await deliveries(acme, ep.id)).edges[0]?.node.status === 'FAILED',
      'FAILED after refused connections',
      5000,
    );
    const [d] = (await deliveries(acme, ep.id)).edges;
    expect(d.node.attemptLog.map((a: { outcome: string }) => a.outcome)).toEqual([
      'CONNECTION_REFUSED',
      'CONNECTION_REFUSED',
      'CONNECTION_REFUSED',
    ]);
  });

  it('webhookDeliveries pages newest first; another tenant cannot read or redeliver them', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const other = await world.tenant('other').withKey('INGEST');
    const rx = await receiver();
    const { endpoint: ep } = await endpoint(acme, rx.url);
    for (let i = 0; i < 5; i++) await emit([event(acme, `page-${i}`)]);
    const p1 = await deliveries(acme, ep.id, 2);
    const p2 = await deliveries(acme, ep.id, 2, p1.pageInfo.endCursor);
    const p3 = await deliveries(acme, ep.id, 2, p2.pageInfo.endCursor);
    const ids = [...p1.edges, ...p2.edges, ...p3.edges].map((e: { node: { id: string } }) => e.node.id);
    expect(new Set(ids).size).toBe(5);
    expect(p3.pageInfo.hasNextPage).toBe(false);
    // stored to the millisecond, as cursors carry it: two rows of one millisecond can't straddle a cursor
    const [{ whole }] = await h.sql(
      `SELECT bool_and(created_at = date_trunc('milliseconds', created_at)) AS whole FROM webhook_deliveries WHERE endpoint_id = $1`,
      [ep.id],
    );
    expect(whole).toBe(true);
    const created = [...p1.edges, ...p2.edges, ...p3.edges].map(
      (e: { node: { createdAt: string } }) => e.node.createdAt,
    );
    expect([...created].sort().reverse()).toEqual(created);
    const r = await h.gql(other.admin.secret, DELIVERIES, { endpointId: ep.id });
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: ['endpointId'] });
    const rd = await h.gql(other.admin.secret, REDELIVER, { id: ids[0] });
    expect(rd.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: ['deliveryId'] });
    const bad = await h.gql(acme.admin.secret, DELIVERIES, { endpointId: ep.id, first: 501 });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: ['first'] });
    expect((await h.ok(acme.admin.secret, LIST_ENDPOINTS)).webhookEndpoints).toHaveLength(1);
  });

  it("a claim whose sender died comes due again; the dead sender's late outcome cannot undo the new one", async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const rx = await receiver();
    const { secret, endpoint: ep } = await endpoint(acme, rx.url);
    // As an instance leaves a row it claimed and then died: claimed, due again only when the claim runs out.
    const stale = '11111111-1111-4111-8111-111111111111';
    const [row] = await h.sql(
      `INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_type, event_key, occurred_at, data, claim, next_attempt_at)
       VALUES ($1, $2, 'usage.reversed', 'orphan-1', now(), '{"orphan":true}', $3, now() + interval '300 milliseconds')
       RETURNING id`,
      [acme.id, ep.id, stale],
    );
    await until(() => rx.received.length === 1, 'the orphaned claim delivered once it ran out');
    expect(verified(rx, secret)).toMatchObject([{ type: 'usage.reversed', data: { orphan: true } }]);
    await until(async () => (await deliveries(acme, ep.id)).edges[0]?.node.status === 'DELIVERED', 'DELIVERED');
    // the dead sender's outcome, arriving late: logged and counted, the state stays DELIVERED
    const { recordAttempts } = await import('../../server/src/modules/webhooks/webhooks.store');
    await recordAttempts(h.db, [
      {
        d: { id: row.id, claim: stale },
        result: { outcome: 'TIMEOUT', status: null, error: 'late', durationMs: 1 },
        at: new Date(),
        next: { status: 'PENDING', nextAttemptAt: new Date() },
      },
    ]);
    const [d] = (await deliveries(acme, ep.id)).edges;
    expect(d.node).toMatchObject({ status: 'DELIVERED', attempts: 2, nextAttemptAt: null });
    expect(d.node.attemptLog.map((a: { outcome: string }) => a.outcome)).toEqual(['SUCCESS', 'TIMEOUT']);
    expect(rx.received).toHaveLength(1);
  });

  it('two instances on one database deliver each event exactly once', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const rx = await receiver();
    rx.respond = async (_r, _n, res) => {
      await sleep(5);
      res.writeHead(200).end();
    };
    const { secret, endpoint: ep } = await endpoint(acme, rx.url);
    const two = await world.secondInstance();
    try {
      const events = Array.from({ length: 60 }, (_, i) => event(acme, `two-${i}`));
      // half emitted through each instance's outbox
      await emit(events.slice(0, 30));
      await two.app.services.db.transaction('test:emit', (tx) =>
        two.app.services.webhooks.outbox.emit(tx, events.slice(30)),
      );
      await until(() => rx.received.length >= 60, '60 deliveries', 10_000);
      await sleep(300);
      expect(rx.received).toHaveLength(60);
      expect(new Set(rx.received.map((r) => r.headers['webhook-id'])).size).toBe(60);
      expect(verified(rx, secret)).toHaveLength(60);
      // both instances sent some
      const one = h.app.services.webhooks.worker.stats.attempts;
      const other = two.app.services.webhooks.worker.stats.attempts;
      expect(one).toBeGreaterThan(0);
      expect(other).toBeGreaterThan(0);
      const [n] = await h.sql(
        "SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'DELIVERED' AND attempts = 1",
        [ep.id],
      );
      expect(n.n).toBe(60);
    } finally {
      await two.close();
    }
  });
});
