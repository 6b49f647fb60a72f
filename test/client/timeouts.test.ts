// Every call of the typed client has a deadline: against a Tally that accepts the connection
// and never answers, a call fails after its timeoutMs with TIMEOUT (retries included, and the
// socket is closed); a caller's AbortSignal stops a call at once with ABORTED.
import net, { type AddressInfo } from 'node:net';
import { DEFAULT_TIMEOUT_MS, TallyError } from '@tally/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { OPERATOR_KEY } from '../support/harness';
import { client, FlakyProxy, op, rejection, until, urlOf, useClientServer } from './kit';

useClientServer('client-timeouts');

/**
 * A TCP server that accepts every connection, reads what comes and never answers. It counts
 * the requests it got (connections that carried bytes: after an abort, Node's fetch opens a
 * spare idle connection, which carries none) and how many of those are still open.
 */
class SilentServer {
  readonly server = net.createServer((socket) => {
    let carried = false;
    socket.on('data', () => {
      if (!carried) this.requests++;
      if (!carried) this.openRequests++;
      carried = true;
    });
    socket.on('close', () => {
      if (carried) this.openRequests--;
    });
    socket.on('error', () => {});
  });
  requests = 0;
  openRequests = 0;

  async start() {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return urlOf((this.server.address() as AddressInfo).port);
  }

  async stop() {
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

let silent: SilentServer;
let silentUrl: string;
beforeAll(async () => {
  silent = new SilentServer();
  silentUrl = await silent.start();
});
afterAll(async () => {
  silent.server.unref();
  await Promise.race([silent.stop(), new Promise((r) => setTimeout(r, 1000))]);
});

const timed = async <T>(p: Promise<T>) => {
  const t0 = performance.now();
  const e = await rejection(p);
  return { e, ms: performance.now() - t0 };
};

describe('a Tally that accepts and never answers', () => {
  it('recordUsage (retried when it fails) gives up after timeoutMs with TIMEOUT and closes the socket', async () => {
    const before = silent.requests;
    const tally = client(OPERATOR_KEY, { url: silentUrl, timeoutMs: 400, maxAttempts: 5 });
    const { e, ms } = await timed(tally.recordUsage({ idempotencyKey: 't-1', kind: 'CALL', cost: '1', tenantId: 'x' }));
    expect(e).toMatchObject({ name: 'TallyError', code: 'TIMEOUT', retryable: true, status: undefined });
    expect(e.message).toMatch(/within 400 ms/);
    expect(ms).toBeGreaterThanOrEqual(390);
    expect(ms).toBeLessThan(400 + 1500);
    // The request was sent, the deadline covered it: no second attempt after the time was up.
    expect(silent.requests - before).toBe(1);
    // The connection that carried it is closed, not left waiting for an answer.
    await until(() => silent.openRequests === 0, 'the client to close its connection', 1000);
  });

  it('a per-call timeoutMs overrides the client default, for queries too', async () => {
    const tally = client(OPERATOR_KEY, { url: silentUrl, timeoutMs: 60_000 });
    const { e, ms } = await timed(tally.viewer({ timeoutMs: 200 }));
    expect(e.code).toBe('TIMEOUT');
    expect(ms).toBeGreaterThanOrEqual(190);
    expect(ms).toBeLessThan(200 + 1500);
  });

  it('without timeoutMs the default (10 s) applies: still waiting after 1 s, then an abort stops it at once', async () => {
    expect(DEFAULT_TIMEOUT_MS).toBe(10_000);
    const tally = client(OPERATOR_KEY, { url: silentUrl });
    const ctl = new AbortController();
    let settled = false;
    const call = tally.viewer({ signal: ctl.signal }).finally(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 1000));
    expect(settled).toBe(false);
    const t0 = performance.now();
    ctl.abort();
    const e = await rejection(call);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(e).toMatchObject({ code: 'ABORTED', retryable: false });
  });

  it("the usage buffer's flush has the buffer's timeoutMs: every waiting record rejects with TIMEOUT", async () => {
    const tally = client(OPERATOR_KEY, { url: silentUrl });
    const buf = tally.usageBuffer({ maxItems: 2, maxDelayMs: 10, timeoutMs: 300 });
    const t0 = performance.now();
    const results = await Promise.allSettled([
      buf.record({ idempotencyKey: 'b-1', kind: 'CALL', cost: '1' }),
      buf.record({ idempotencyKey: 'b-2', kind: 'CALL', cost: '1' }),
    ]);
    expect(performance.now() - t0).toBeLessThan(300 + 1500);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'TIMEOUT' });
    }
  });
});

describe('an AbortSignal', () => {
  it('already aborted: the call rejects at once with ABORTED and sends nothing', async () => {
    await until(() => silent.openRequests === 0, 'earlier calls to be closed');
    const before = silent.requests;
    const tally = client(OPERATOR_KEY, { url: silentUrl });
    const reason = new Error('the user went away');
    const { e, ms } = await timed(
      tally.recordUsage({ idempotencyKey: 'a-1', kind: 'CALL', cost: '1' }, { signal: AbortSignal.abort(reason) }),
    );
    expect(e).toMatchObject({ code: 'ABORTED', retryable: false });
    expect(e.cause).toBe(reason);
    expect(ms).toBeLessThan(50);
    await new Promise((r) => setTimeout(r, 50));
    expect(silent.requests).toBe(before);
  });

  it('fired during the backoff between retries: no further attempt is made', async () => {
    const created = await op.createTenant({ name: 'abort-backoff' });
    const proxy = await FlakyProxy.start();
    proxy.faults = ['503', '503', '503', '503', '503'];
    // Backoff of at least 1 s after the first 503: the abort lands inside it.
    const tally = client(created.secret, { url: proxy.url, backoffMs: 1000, maxAttempts: 5 });
    const ctl = new AbortController();
    const call = tally.recordUsage({ idempotencyKey: 'ab-1', kind: 'CALL', cost: '1' }, { signal: ctl.signal });
    await until(() => proxy.bodies.length === 1, 'the first attempt');
    const t0 = performance.now();
    ctl.abort();
    const e = await rejection(call);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(e.code).toBe('ABORTED');
    await new Promise((r) => setTimeout(r, 300));
    expect(proxy.bodies).toHaveLength(1);
  });
});

describe('retries keep one deadline', () => {
  it('503 after 503 with long backoffs: the call ends at timeoutMs with TIMEOUT naming the last attempt', async () => {
    const created = await op.createTenant({ name: 'deadline-retries' });
    const proxy = await FlakyProxy.start();
    proxy.faults = Array.from({ length: 20 }, () => '503' as const);
    const tally = client(created.secret, { url: proxy.url, backoffMs: 300, maxAttempts: 20, timeoutMs: 1000 });
    const { e, ms } = await timed(tally.recordUsage({ idempotencyKey: 'dl-1', kind: 'CALL', cost: '1' }));
    expect(e).toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(e.message).toMatch(/within 1000 ms \(last attempt: .*HTTP 503/);
    expect(e.cause).toBeInstanceOf(TallyError);
    expect((e.cause as TallyError).status).toBe(503);
    expect(ms).toBeGreaterThanOrEqual(990);
    expect(ms).toBeLessThan(1000 + 1000);
    // 300 ms, 600 ms... between attempts: only a few fit in one second, all with the same body.
    expect(proxy.bodies.length).toBeGreaterThanOrEqual(2);
    expect(proxy.bodies.length).toBeLessThanOrEqual(4);
    expect(new Set(proxy.bodies).size).toBe(1);
  });

  it('a retried call that succeeds within its deadline is answered normally', async () => {
    const created = await op.createTenant({ name: 'deadline-ok' });
    const proxy = await FlakyProxy.start();
    proxy.faults = ['503'];
    const tally = client(created.secret, { url: proxy.url, timeoutMs: 5000 });
    const r = await tally.recordUsage({ idempotencyKey: 'ok-1', kind: 'CALL', cost: '1' });
    expect(r.outcome).toBe('CREATED');
    expect(proxy.bodies).toHaveLength(2);
  });
});

describe('a WebSocket server that takes the connection and never acknowledges it', () => {
  it('a subscription fails after timeoutMs with TIMEOUT (once its reconnects are used up)', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    let messages = 0;
    wss.on('connection', (socket) => socket.on('message', () => messages++));
    try {
      const port = (wss.address() as AddressInfo).port;
      const tally = client(OPERATOR_KEY, { url: urlOf(port), timeoutMs: 300, subscriptions: { retryAttempts: 0 } });
      const t0 = performance.now();
      const e = await rejection(tally.quotaUpdated().next());
      const ms = performance.now() - t0;
      expect(e).toMatchObject({ code: 'TIMEOUT', retryable: true });
      expect(ms).toBeGreaterThanOrEqual(290);
      expect(ms).toBeLessThan(300 + 1500);
      expect(messages).toBe(1); // connection_init, then nothing came back
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });
});

describe('a wrong URL', () => {
  it('says the URL and the cause (ECONNREFUSED), not "fetch failed"', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const e = await rejection(client(OPERATOR_KEY, { url: urlOf(port), maxAttempts: 1 }).viewer());
    expect(e).toMatchObject({ code: 'INTERNAL', retryable: true });
    expect(e.message).toContain(urlOf(port));
    expect(e.message).toMatch(/ECONNREFUSED/);
  });
});
