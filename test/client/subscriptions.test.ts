// The typed client's subscriptions over graphql-ws and SSE: typed iterators, return() at any
// moment, errors from the iterator, and iterators that reconnect across a server restart or
// end when their key is revoked.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { graphql, TallyError } from '@tally/client';
import { describe, expect, it } from 'vitest';
import { serve } from '../../server/src/http';
import { Feed } from '../support/wait';
import {
  client,
  crossUntilAlert,
  h,
  isIso,
  key,
  MAX_BODY,
  op,
  plannedTenant,
  sleep,
  until,
  urlOf,
  useClientServer,
  warmUp,
} from './kit';

useClientServer('client-subscriptions');

// ------------------------------------------------------------------ subscriptions

describe.each(['ws', 'sse'] as const)('subscriptions over %s', (transport) => {
  const subClient = (apiKey: string) => client(apiKey, { subscriptions: { transport } });

  it('usageRecorded yields each created event, typed values included', async () => {
    const t = await plannedTenant(`${transport}-usage`, '1000');
    const reader = subClient(t.reader);
    const feed = new Feed(reader.usageRecorded());
    await warmUp(t.admin, () => feed.values.length);
    const before = feed.values.length;
    const rec = await t.admin.recordUsage({
      idempotencyKey: `${transport}-u-1`,
      kind: 'LLM',
      provider: 'openai',
      model: 'gpt-4o-mini',
      inputTokens: 1000,
      outputTokens: 325,
    });
    await until(() => feed.values.length > before, 'the usageRecorded event');
    expect(feed.values.at(-1)).toEqual(rec.event);
    expect(feed.values.at(-1)?.cost).toBe('0.000345000000');
    expect(feed.error).toBeNull();
    await reader.close();
    await feed.finished;
  });

  it('quotaUpdated yields the current state at once, then the state after a change', async () => {
    const t = await plannedTenant(`${transport}-quota`);
    await t.admin.recordUsage({ idempotencyKey: 'qu-1', kind: 'CALL', cost: '1.5' });
    const reader = subClient(t.reader);
    const feed = new Feed(reader.quotaUpdated());
    await until(() => feed.values.length >= 1, 'the initial quota state');
    expect(feed.values[0]).toMatchObject({ tenantId: t.id, blocked: false });
    expect(feed.values[0]?.items[0]?.used).toBe('1.500000000000');
    await t.admin.recordUsage({ idempotencyKey: 'qu-2', kind: 'CALL', cost: '2.25' });
    await until(() => feed.values.some((v) => v.items[0]?.used === '3.750000000000'), 'the state after the change');
    expect(feed.values.at(-1)?.items[0]?.remaining).toBe('6.250000000000');
    expect(feed.error).toBeNull();
    await reader.close();
  });

  it('quotaAlerts yields each threshold crossing once', async () => {
    const t = await plannedTenant(`${transport}-alerts`);
    const reader = subClient(t.reader);
    const feed = new Feed(reader.quotaAlerts());
    await crossUntilAlert(t.admin, () => feed.values.length);
    // Every crossing up to the current usage has arrived (1 of cost is 10%).
    const last = Number((await t.admin.quotaStatus()).items[0]?.used) * 10;
    await until(() => feed.values.at(-1)?.threshold === last, `the ${last}% alert`);
    const seen = feed.values.length;
    await t.admin.recordUsage({ idempotencyKey: key('alert'), kind: 'CALL', cost: '1' });
    await until(() => feed.values.length > seen, 'the next threshold');
    await sleep(200);
    expect(feed.values.slice(seen)).toHaveLength(1);
    const alert = feed.values.at(-1);
    expect(alert).toMatchObject({ tenantId: t.id, threshold: last + 10, limit: { metric: 'COST', action: 'ALERT' } });
    expect(alert?.used).toBe(`${(last + 10) / 10}.000000000000`);
    expect(isIso(alert?.crossedAt)).toBe(true);
    expect(feed.error).toBeNull();
    await reader.close();
  });

  it('subscribe() runs any typed subscription document', async () => {
    const t = await plannedTenant(`${transport}-custom`, '1000');
    const reader = subClient(t.reader);
    const feed = new Feed(reader.subscribe(graphql('subscription { usageRecorded { idempotencyKey cost } }')));
    await warmUp(t.admin, () => feed.values.length);
    const before = feed.values.length;
    await t.admin.recordUsage({ idempotencyKey: `${transport}-custom-1`, kind: 'CALL', cost: '0.125' });
    await until(() => feed.values.length > before, 'the event');
    expect(feed.values.at(-1)).toEqual({
      usageRecorded: { idempotencyKey: `${transport}-custom-1`, cost: '0.125000000000' },
    });
    await reader.close();
  });

  it('return() after an event (break out of for-await) ends the iterator cleanly', async () => {
    const t = await plannedTenant(`${transport}-return`, '1000');
    const reader = subClient(t.reader);
    const it = reader.usageRecorded();
    const got: string[] = [];
    const loop = (async () => {
      for await (const e of it) {
        got.push(e.idempotencyKey);
        if (e.idempotencyKey.startsWith('stop')) break;
      }
    })();
    await warmUp(t.admin, () => got.length);
    await t.admin.recordUsage({ idempotencyKey: 'stop-1', kind: 'CALL', cost: '0' });
    await loop; // resolves (no error) once break returned the iterator
    const count = got.length;
    await t.admin.recordUsage({ idempotencyKey: 'after-1', kind: 'CALL', cost: '0' });
    await sleep(300);
    expect(got).toHaveLength(count);
    expect(got.at(-1)).toBe('stop-1');
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  // Guards a regression: return() while a next() is pending once waited for the next event
  // (async generators queue return() behind next()); it now reaches the transport at once.
  it('return() while a next() is pending ends the iterator at once; the pending next() is done', async () => {
    const t = await plannedTenant(`${transport}-return-pending`, '1000');
    const reader = subClient(t.reader);
    const it = reader.usageRecorded();
    // Consume one event: the stream is live.
    let live = false;
    const first = it.next().then((r) => {
      live = true;
      return r;
    });
    await warmUp(t.admin, () => (live ? 1 : 0));
    expect((await first).done).toBe(false);
    const pending = it.next();
    await sleep(100);
    const returned = await Promise.race([it.return?.().then(() => 'returned'), sleep(2_000).then(() => 'hung')]);
    await t.admin.recordUsage({ idempotencyKey: `${transport}-after-return`, kind: 'CALL', cost: '0' });
    const next = await Promise.race([pending, sleep(2_000).then(() => 'hung')]);
    expect({ returned, next }).toEqual({ returned: 'returned', next: { done: true, value: undefined } });
    await reader.close();
  });
});

// ------------------------------------------------------------------ reconnect and revocation

describe('subscriptions across a server restart and a revocation', () => {
  it.each(['ws', 'sse'] as const)(
    'quotaAlerts and usageRecorded iterators (%s) reconnect and receive events recorded after a restart',
    async (transport) => {
      const t = await plannedTenant(`restart-${transport}`, '10');
      let s = await serve(h.app, h.db, { port: 0, host: '127.0.0.1', maxBodyBytes: MAX_BODY });
      const port = s.port;
      try {
        const reader = client(t.reader, { url: urlOf(port), subscriptions: { transport } });
        const usage = new Feed(reader.usageRecorded());
        const alerts = new Feed(reader.quotaAlerts());
        await warmUp(t.admin, () => usage.values.length);
        await crossUntilAlert(t.admin, () => alerts.values.length);

        await s.stop(1000);
        s = await serve(h.app, h.db, { port, host: '127.0.0.1', maxBodyBytes: MAX_BODY });

        const usageBefore = usage.values.length;
        const alertsBefore = alerts.values.length;
        await warmUp(t.admin, () => usage.values.length, 40_000);
        // A quarter of a threshold per call: the alert stream reconnects on its own backoff,
        // possibly after the usage stream, and must find thresholds left to cross (a CI run
        // once spent all ten before it was back).
        await crossUntilAlert(t.admin, () => alerts.values.length, 40_000, '0.25');
        const after = alerts.values.slice(alertsBefore);
        expect(after.length).toBeGreaterThanOrEqual(1);
        // Whole calls of 1 before the restart, of 0.25 after it: used is a multiple of 0.25.
        expect(after.every((a) => a.tenantId === t.id && /^\d+\.(00|25|50|75)0{10}$/.test(a.used))).toBe(true);
        expect(usage.values.length).toBeGreaterThan(usageBefore);
        expect({ usage: usage.error, alerts: alerts.error, done: usage.done || alerts.done }).toEqual({
          usage: null,
          alerts: null,
          done: false,
        });
        await reader.close();
      } finally {
        await s.stop(1000);
      }
    },
  );

  // Guards a regression: over SSE the first reconnect waited graphql-sse's default 1.3 to 4 s
  // (then 2.3 to 5, ...), so after a restart the stream stayed deaf for seconds. Both
  // transports now wait 125-250 ms, then 250-500, then 500-1,000 (doubling, with jitter). The
  // server here refuses every attempt and notes when each arrived.
  it.each(['ws', 'sse'] as const)(
    'an iterator (%s) whose server refuses it retries soon, then less and less often',
    async (transport) => {
      const attempts: number[] = [];
      const refuser = http.createServer((req, res) => {
        attempts.push(performance.now());
        req.resume();
        res.writeHead(503).end();
      });
      refuser.on('upgrade', (_req, socket) => {
        attempts.push(performance.now());
        socket.destroy();
      });
      await new Promise<void>((r) => refuser.listen(0, '127.0.0.1', r));
      const reader = client('tly_anything', {
        url: urlOf((refuser.address() as AddressInfo).port),
        subscriptions: { transport },
      });
      const it = reader.usageRecorded();
      const pending = it.next().catch(() => null);
      try {
        await until(() => attempts.length >= 4, 'four connection attempts', 20_000);
      } finally {
        await it.return?.();
        await pending;
        await reader.close();
        refuser.closeAllConnections();
        await new Promise((r) => refuser.close(r));
      }
      const gaps = attempts.slice(1, 4).map((t, i) => t - (attempts[i] as number));
      // The first retry comes well before graphql-sse's 1.3 s; the third waits at least 500 ms.
      expect(gaps[0]).toBeLessThan(1_000);
      expect(gaps[2]).toBeGreaterThanOrEqual(490);
    },
  );

  it.each(['ws', 'sse'] as const)("a revoked key's iterator (%s) ends: UNAUTHENTICATED or done", async (transport) => {
    const t = await plannedTenant(`revoke-${transport}`, '1000');
    const reader = client(t.reader, { subscriptions: { transport } });
    const feed = new Feed(reader.usageRecorded());
    await warmUp(t.admin, () => feed.values.length);
    await t.admin.revokeApiKey(t.readerId);
    await until(() => feed.done, 'the iterator to end', 60_000);
    if (feed.error !== null) {
      expect(feed.error).toBeInstanceOf(TallyError);
      expect((feed.error as TallyError).code).toBe('UNAUTHENTICATED');
    }
    const count = feed.values.length;
    await t.admin.recordUsage({ idempotencyKey: key('after-revoke'), kind: 'CALL', cost: '0' });
    await sleep(300);
    expect(feed.values).toHaveLength(count);
  });
});

describe.each(['ws', 'sse'] as const)('subscription errors over %s', (transport) => {
  it('a key without READ gets FORBIDDEN from the iterator', async () => {
    const created = await op.createTenant({ name: `sub-forbidden-${transport}` });
    const ingest = await client(created.secret).createApiKey({ name: 'i', scopes: ['INGEST'] });
    const feed = new Feed(client(ingest.secret, { subscriptions: { transport } }).quotaAlerts());
    await until(() => feed.done, 'the refusal', 60_000);
    expect(feed.error).toBeInstanceOf(TallyError);
    expect((feed.error as TallyError).code).toBe('FORBIDDEN');
    expect(feed.values).toEqual([]);
  });

  // Guards a regression: graphql-sse retried the server's 401 as a network error for ~40 s and
  // then threw INTERNAL; a refused key is now final and UNAUTHENTICATED over SSE as over ws.
  it('an unknown key gets UNAUTHENTICATED from the iterator', async () => {
    const feed = new Feed(client('tly_00000000_nonsense', { subscriptions: { transport } }).usageRecorded());
    await until(() => feed.done, 'the refusal', 10_000);
    expect(feed.error).toBeInstanceOf(TallyError);
    expect((feed.error as TallyError).code).toBe('UNAUTHENTICATED');
    expect(feed.values).toEqual([]);
  });
});
