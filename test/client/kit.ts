// What the typed client's test files share: one real server per file (useClientServer), the
// clients they make (closed after the file), a flaky HTTP proxy, and seeds and waits that
// prove a subscription is live.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { createTallyClient, type TallyClient, TallyError } from '@tally/client';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Server } from '../../server/src/http';
import { createHarness, type Harness, OPERATOR_KEY } from '../support/harness';
import { plannedTenant as seedPlannedTenant } from '../support/world';

export let h: Harness;
export let server: Server;
export let url: string;
export let op: TallyClient;
const clients: TallyClient[] = [];
const proxies: FlakyProxy[] = [];

/**
 * The server of one client test file: a fresh database, a real HTTP + WebSocket server, the
 * operator's client and the platform price book; everything closed after the file's tests.
 */
export function useClientServer(label: string) {
  beforeAll(async () => {
    h = await createHarness(label, { poolSize: 20 });
    server = await h.listen();
    url = urlOf(server.port);
    op = client(OPERATOR_KEY);
    // The platform price book the tests record against.
    await op.setPrice({
      provider: 'openai',
      model: 'gpt-4o-mini',
      inputPerMillion: '0.15',
      outputPerMillion: '0.6',
      cachedInputPerMillion: '0.075',
      effectiveFrom: '2020-01-01T00:00:00Z',
    });
    await op.setPrice({
      provider: 'anthropic',
      model: 'claude-sonnet-4',
      inputPerMillion: '3',
      outputPerMillion: '15',
      cachedInputPerMillion: '0.3',
      cacheWriteInputPerMillion: '3.75',
      effectiveFrom: '2020-01-01T00:00:00Z',
    });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const p of proxies) await p.stop();
    await h?.close();
  });
}

// ------------------------------------------------------------------ helpers

export const MAX_BODY = 8 * 1024 * 1024;
export const urlOf = (port: number) => `http://127.0.0.1:${port}/graphql`;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const DECIMAL = /^-?\d+\.\d{12}$/;
export const isIso = (s: unknown) => typeof s === 'string' && new Date(s).toISOString() === s;
export const range = () => ({
  from: new Date(Date.now() - 86_400_000).toISOString(),
  to: new Date(Date.now() + 86_400_000).toISOString(),
});
let seq = 0;
export const key = (prefix: string) => `${prefix}-${++seq}-${Date.now()}`;

export type Options = Partial<Parameters<typeof createTallyClient>[0]>;
export function client(apiKey: string, opts: Options = {}): TallyClient {
  const c = createTallyClient({ url, apiKey, backoffMs: 10, ...opts });
  clients.push(c);
  return c;
}

export async function until(cond: () => boolean, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** The TallyError a promise rejects with (fails the test when it resolves or rejects otherwise). */
export async function rejection(p: Promise<unknown>): Promise<TallyError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TallyError);
    expect(e).toBeInstanceOf(Error);
    return e as TallyError;
  }
  throw new Error('expected the call to fail');
}

/** A tenant on a plan with one ALERT limit: COST per DAY of `amount`, crossing a threshold every 10%. */
export async function plannedTenant(name: string, amount = '10') {
  const t = await seedPlannedTenant(client, name, [
    { metric: 'COST', period: 'DAY', amount, action: 'ALERT', thresholds: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100] },
  ]);
  return { id: t.id, admin: client(t.adminKey), adminKey: t.adminKey, reader: t.reader.secret, readerId: t.reader.id };
}

/** Records `cost` until `received()` grows, giving each event `pause` ms to arrive; fails after `ms`. */
async function recordUntil(
  admin: TallyClient,
  cost: string,
  received: () => number,
  ms: number,
  pause: number,
  what: { one: string; never: string },
) {
  const before = received();
  const deadline = Date.now() + ms;
  while (received() === before) {
    if (Date.now() > deadline) throw new Error(what.never);
    await admin.recordUsage({ idempotencyKey: key('until'), kind: 'CALL', cost });
    await until(() => received() > before, what.one, pause).catch(() => {});
  }
}

/** Records zero-cost events until `received()` grows: the subscription is live on the server. */
export const warmUp = (admin: TallyClient, received: () => number, ms = 20_000) =>
  recordUntil(admin, '0', received, ms, 250, { one: 'a warm-up event', never: 'the subscription never became live' });

/**
 * Records `cost` (by default 1, 10% of a plannedTenant's limit of 10) until an alert arrives:
 * the alert stream is live. A plannedTenant has ten thresholds in all, so a caller whose stream
 * may be deaf for a while (reconnecting) records less per call, leaving thresholds to cross.
 */
export const crossUntilAlert = (admin: TallyClient, received: () => number, ms = 20_000, cost = '1') =>
  recordUntil(admin, cost, received, ms, 400, { one: 'a quota alert', never: 'no quota alert arrived' });

export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export type Fault =
  /** Answer 503 without forwarding. */
  | '503'
  /** Forward, let the server answer (it has committed), then destroy the client's socket. */
  | 'lost';

/** A real HTTP proxy in front of the server that fails the requests it is told to. */
export class FlakyProxy {
  readonly bodies: string[] = [];
  faults: Fault[] = [];
  port = 0;
  private readonly server: http.Server;

  constructor(private readonly target: () => number) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        this.bodies.push(body.toString('utf8'));
        const fault = this.faults.shift();
        if (fault === '503') {
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.end('service unavailable');
          return;
        }
        const headers = { ...req.headers, host: `127.0.0.1:${this.target()}`, 'content-length': String(body.length) };
        delete headers.connection;
        delete headers['transfer-encoding'];
        const up = http.request(
          { host: '127.0.0.1', port: this.target(), path: req.url, method: req.method, headers },
          (upRes) => {
            const parts: Buffer[] = [];
            upRes.on('data', (c: Buffer) => parts.push(c));
            upRes.on('end', () => {
              if (fault === 'lost') {
                req.socket.destroy();
                return;
              }
              res.writeHead(upRes.statusCode ?? 502, {
                'content-type': upRes.headers['content-type'] ?? 'application/json',
              });
              res.end(Buffer.concat(parts));
            });
          },
        );
        up.on('error', () => {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end('bad gateway');
        });
        up.end(body);
      });
    });
  }

  static async start(target: () => number = () => server.port): Promise<FlakyProxy> {
    const p = new FlakyProxy(target);
    await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', r));
    p.port = (p.server.address() as AddressInfo).port;
    proxies.push(p);
    return p;
  }

  get url() {
    return urlOf(this.port);
  }

  /** The GraphQL requests that reached the proxy, parsed. */
  get requests(): { query: string; variables: any }[] {
    return this.bodies.map((b) => JSON.parse(b));
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export async function ledgerRows(tenantId: string, keys: string[]) {
  return h.sql<{ idempotency_key: string; n: number }>(
    `SELECT idempotency_key, count(*)::int AS n FROM usage_events
      WHERE tenant_id = $1 AND idempotency_key = ANY($2) GROUP BY idempotency_key ORDER BY idempotency_key`,
    [tenantId, keys],
  );
}
