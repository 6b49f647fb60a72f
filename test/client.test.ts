// The typed client against a real HTTP + WebSocket server: every contract operation with its
// default selection, custom documents, TallyError mapping, retries through a real flaky proxy
// (no mocked fetch), reconnecting subscriptions over graphql-ws and SSE, the usage buffer, and
// the provider usage helpers.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import {
  createTallyClient,
  fromAnthropicUsage,
  fromOpenAIUsage,
  graphql,
  type TallyClient,
  TallyError,
} from 'tally/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, serve } from '../server/src/http';
import { createHarness, type Harness, OPERATOR_KEY } from './support/harness';
import { Feed } from './support/wait';

let h: Harness;
let server: Server;
let url: string;
let op: TallyClient;
const clients: TallyClient[] = [];
const proxies: FlakyProxy[] = [];

beforeAll(async () => {
  h = await createHarness('client', { poolSize: 20 });
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

// ------------------------------------------------------------------ helpers

const MAX_BODY = 8 * 1024 * 1024;
const urlOf = (port: number) => `http://127.0.0.1:${port}/graphql`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DECIMAL = /^-?\d+\.\d{12}$/;
const isIso = (s: unknown) => typeof s === 'string' && new Date(s).toISOString() === s;
const range = () => ({
  from: new Date(Date.now() - 86_400_000).toISOString(),
  to: new Date(Date.now() + 86_400_000).toISOString(),
});
let seq = 0;
const key = (prefix: string) => `${prefix}-${++seq}-${Date.now()}`;

type Options = Partial<Parameters<typeof createTallyClient>[0]>;
function client(apiKey: string, opts: Options = {}): TallyClient {
  const c = createTallyClient({ url, apiKey, backoffMs: 10, ...opts });
  clients.push(c);
  return c;
}

async function until(cond: () => boolean, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** The TallyError a promise rejects with (fails the test when it resolves or rejects otherwise). */
async function rejection(p: Promise<unknown>): Promise<TallyError> {
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
async function plannedTenant(name: string, amount = '10') {
  const code = key(`plan-${name}`);
  await op.upsertPlan({
    code,
    name: code,
    limits: [
      {
        metric: 'COST',
        period: 'DAY',
        amount,
        action: 'ALERT',
        thresholds: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
      },
    ],
  });
  const created = await op.createTenant({ name, planCode: code });
  const admin = client(created.secret);
  const reader = await admin.createApiKey({ name: 'reader', scopes: ['READ'] });
  return {
    id: created.apiKey.tenant.id,
    admin,
    adminKey: created.secret,
    reader: reader.secret,
    readerId: reader.apiKey.id,
  };
}

/** Records zero-cost events until `received()` grows: the subscription is live on the server. */
async function warmUp(admin: TallyClient, received: () => number, ms = 20_000) {
  const before = received();
  const deadline = Date.now() + ms;
  while (received() === before) {
    if (Date.now() > deadline) throw new Error('the subscription never became live');
    await admin.recordUsage({ idempotencyKey: key('warm'), kind: 'CALL', cost: '0' });
    await until(() => received() > before, 'a warm-up event', 250).catch(() => {});
  }
}

/**
 * Records cost 1 (10% of a plannedTenant's limit) until an alert arrives: the alert stream is
 * live. Returns the alerts received.
 */
async function crossUntilAlert(admin: TallyClient, received: () => number, ms = 20_000) {
  const before = received();
  const deadline = Date.now() + ms;
  while (received() === before) {
    if (Date.now() > deadline) throw new Error('no quota alert arrived');
    await admin.recordUsage({ idempotencyKey: key('cross'), kind: 'CALL', cost: '1' });
    await until(() => received() > before, 'a quota alert', 400).catch(() => {});
  }
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

type Fault =
  /** Answer 503 without forwarding. */
  | '503'
  /** Forward, let the server answer (it has committed), then destroy the client's socket. */
  | 'lost';

/** A real HTTP proxy in front of the server that fails the requests it is told to. */
class FlakyProxy {
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

async function ledgerRows(tenantId: string, keys: string[]) {
  return h.sql<{ idempotency_key: string; n: number }>(
    `SELECT idempotency_key, count(*)::int AS n FROM usage_events
      WHERE tenant_id = $1 AND idempotency_key = ANY($2) GROUP BY idempotency_key ORDER BY idempotency_key`,
    [tenantId, keys],
  );
}

// ------------------------------------------------------------------ every operation

describe('every contract operation, with its default selection', () => {
  it('operator: createTenant, upsertPlan, plans, assignPlan, tenant, viewer', async () => {
    const code = key('pro');
    const plan = await op.upsertPlan({
      code,
      name: 'Pro',
      limits: [{ metric: 'COST', period: 'MONTH', amount: '25.5', thresholds: [50, 100] }],
    });
    expect(plan).toMatchObject({ code, name: 'Pro' });
    expect(plan.limits).toEqual([
      {
        id: expect.any(String),
        metric: 'COST',
        period: 'MONTH',
        scope: 'TENANT',
        amount: '25.500000000000',
        action: 'BLOCK',
        thresholds: [50, 100],
      },
    ]);
    expect((await op.plans()).map((p) => p.code)).toContain(code);

    const created = await op.createTenant({ name: 'ops-acme', timezone: 'Europe/Paris' });
    expect(created.secret).toMatch(/^tly_[0-9a-f]{8}_/);
    expect(created.secret.startsWith(`${created.apiKey.prefix}_`)).toBe(true);
    expect(created.apiKey).toMatchObject({
      name: expect.any(String),
      scopes: ['ADMIN'],
      lastUsedAt: null,
      revokedAt: null,
    });
    expect(isIso(created.apiKey.createdAt)).toBe(true);
    const tenantId = created.apiKey.tenant.id;

    const startsAt = '2026-01-01T00:00:00.000Z';
    const membership = await op.assignPlan({ tenantId, planCode: code, startsAt });
    expect(membership).toMatchObject({ startsAt, endsAt: null, tenant: { id: tenantId }, plan: { id: plan.id, code } });

    const tenant = await op.tenant(tenantId);
    expect(tenant).toMatchObject({ id: tenantId, name: 'ops-acme', timezone: 'Europe/Paris' });
    expect(isIso(tenant?.createdAt)).toBe(true);
    expect(tenant?.membership?.plan.code).toBe(code);
    expect(tenant?.membership?.plan.limits[0]?.amount).toBe('25.500000000000');

    expect(await op.viewer()).toEqual({ isOperator: true, apiKey: null, tenant: null });
    const admin = client(created.secret);
    const viewer = await admin.viewer();
    expect(viewer.isOperator).toBe(false);
    expect(viewer.apiKey?.id).toBe(created.apiKey.id);
    expect(viewer.tenant).toMatchObject({ id: tenantId, name: 'ops-acme', timezone: 'Europe/Paris' });
  });

  it('tenant admin: createApiKey, apiKeys, setApiKeyLimits, revokeApiKey', async () => {
    const created = await op.createTenant({ name: 'keys-acme' });
    const tenantId = created.apiKey.tenant.id;
    const admin = client(created.secret);
    const made = await admin.createApiKey({ name: 'ingest', scopes: ['INGEST', 'READ'] });
    expect(made.apiKey).toMatchObject({ name: 'ingest', tenant: { id: tenantId }, revokedAt: null });
    expect([...made.apiKey.scopes].sort()).toEqual(['INGEST', 'READ']);
    expect((await client(made.secret).viewer()).apiKey?.id).toBe(made.apiKey.id);

    const limited = await admin.setApiKeyLimits({
      apiKeyId: made.apiKey.id,
      limits: [{ metric: 'TOKENS', period: 'DAY', scope: 'API_KEY', amount: '1000', action: 'ALERT' }],
    });
    expect(limited.id).toBe(made.apiKey.id);
    expect(limited.limits).toEqual([
      expect.objectContaining({
        metric: 'TOKENS',
        period: 'DAY',
        scope: 'API_KEY',
        amount: '1000.000000000000',
        action: 'ALERT',
        thresholds: [80, 100],
      }),
    ]);

    expect((await admin.apiKeys(tenantId)).map((k) => k.id).sort()).toEqual([created.apiKey.id, made.apiKey.id].sort());
    const revoked = await admin.revokeApiKey(made.apiKey.id);
    expect(revoked.id).toBe(made.apiKey.id);
    expect(isIso(revoked.revokedAt)).toBe(true);
    expect((await admin.apiKeys(tenantId)).map((k) => k.id)).toEqual([created.apiKey.id]);
    const all = await admin.apiKeys(tenantId, { includeRevoked: true });
    expect(all.find((k) => k.id === made.apiKey.id)?.revokedAt).toBe(revoked.revokedAt);
    expect((await rejection(client(made.secret).viewer())).code).toBe('UNAUTHENTICATED');
  });

  it('prices: setPrice, prices, quote', async () => {
    const price = await op.setPrice({
      provider: 'acme-ai',
      model: 'speech-1',
      perSecond: '0.0001',
      effectiveFrom: '2021-06-01T00:00:00Z',
    });
    expect(price).toMatchObject({
      tenantId: null,
      provider: 'acme-ai',
      model: 'speech-1',
      currency: 'USD',
      perSecond: '0.000100000000',
      inputPerMillion: null,
      effectiveFrom: '2021-06-01T00:00:00.000Z',
      effectiveTo: null,
    });
    const list = await op.prices({ model: 'speech-1' });
    expect(list.map((p) => p.id)).toEqual([price.id]);
    const mini = await op.prices({ provider: 'openai', model: 'gpt-4o-mini', at: new Date().toISOString() });
    expect(mini).toHaveLength(1);
    expect(mini[0]).toMatchObject({ inputPerMillion: '0.150000000000', outputPerMillion: '0.600000000000' });

    const quote = await op.quote({
      kind: 'LLM',
      provider: 'openai',
      model: 'gpt-4o-mini',
      inputTokens: 1000,
      outputTokens: 325,
    });
    expect(quote).toMatchObject({ cost: '0.000345000000', currency: 'USD', price: { id: mini[0]?.id } });
    const asr = await op.quote({ kind: 'ASR', provider: 'acme-ai', model: 'speech-1', durationMs: 90_000 });
    expect(asr.cost).toBe('0.009000000000');
  });

  it('usage: recordUsage, recordUsageBatch, reverseUsage, usageEvents, usageSummary', async () => {
    const created = await op.createTenant({ name: 'usage-acme' });
    const tenantId = created.apiKey.tenant.id;
    const tally = client(created.secret);
    const rec = await tally.recordUsage({
      idempotencyKey: 'req-1',
      kind: 'LLM',
      provider: 'openai',
      model: 'gpt-4o-mini',
      inputTokens: 1000,
      outputTokens: 325,
      subject: 'user-7',
      latencyMs: 420,
      metadata: { route: '/v1/chat' },
    });
    expect(rec.outcome).toBe('CREATED');
    expect(rec.event).toMatchObject({
      idempotencyKey: 'req-1',
      kind: 'LLM',
      provider: 'openai',
      model: 'gpt-4o-mini',
      modelSource: 'VENDOR',
      status: 'SUCCEEDED',
      subject: 'user-7',
      inputTokens: 1000,
      outputTokens: 325,
      totalTokens: 1325,
      cost: '0.000345000000',
      currency: 'USD',
      quantity: null,
      latencyMs: 420,
      metadata: { route: '/v1/chat' },
      apiKey: { id: created.apiKey.id },
      price: { id: expect.any(String) },
      reverses: null,
    });
    expect(isIso(rec.event.occurredAt)).toBe(true);
    expect(isIso(rec.event.recordedAt)).toBe(true);
    const again = await tally.recordUsage({
      idempotencyKey: 'req-1',
      kind: 'LLM',
      provider: 'openai',
      model: 'gpt-4o-mini',
      inputTokens: 1000,
      outputTokens: 325,
      subject: 'user-7',
      latencyMs: 420,
      metadata: { route: '/v1/chat' },
    });
    expect(again).toEqual({ ...rec, outcome: 'DUPLICATE' });

    const batch = await tally.recordUsageBatch([
      { idempotencyKey: 'b-1', kind: 'CALL', quantity: '3', cost: '0.03' },
      { idempotencyKey: 'req-1', kind: 'CALL', cost: '9' },
      { idempotencyKey: 'b-2', kind: 'LLM', model: 'gpt-4o-mini', inputTokens: -1 },
      { idempotencyKey: 'b-1', kind: 'CALL', quantity: '3', cost: '0.03' },
    ]);
    expect({ created: batch.created, duplicates: batch.duplicates, rejected: batch.rejected }).toEqual({
      created: 1,
      duplicates: 1,
      rejected: 2,
    });
    expect(batch.results.map((r) => [r.index, r.outcome])).toEqual([
      [0, 'CREATED'],
      [1, 'CONFLICT'],
      [2, 'INVALID'],
      [3, 'DUPLICATE'],
    ]);
    expect(batch.results[0]?.event).toMatchObject({
      idempotencyKey: 'b-1',
      quantity: '3.000000000000',
      cost: '0.030000000000',
    });
    expect(batch.results[1]?.error?.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(batch.results[2]).toMatchObject({ event: null, error: { code: 'BAD_USER_INPUT', field: ['inputTokens'] } });
    expect(batch.results[3]?.event?.id).toBe(batch.results[0]?.event?.id);

    const reversal = await tally.reverseUsage({ eventId: rec.event.id, idempotencyKey: 'rev-1', reason: 'refund' });
    expect(reversal.outcome).toBe('CREATED');
    expect(reversal.event).toMatchObject({
      cost: '-0.000345000000',
      inputTokens: -1000,
      outputTokens: -325,
      reverses: { id: rec.event.id },
      occurredAt: rec.event.occurredAt,
    });

    const page1 = await tally.usageEvents({ filter: range(), first: 2 });
    expect(page1.edges).toHaveLength(2);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    expect(typeof page1.pageInfo.endCursor).toBe('string');
    const page2 = await tally.usageEvents({ filter: range(), first: 2, after: page1.pageInfo.endCursor });
    expect(page2.pageInfo.hasNextPage).toBe(false);
    const ids = [...page1.edges, ...page2.edges].map((e) => e.node.id);
    expect(ids.sort()).toEqual([rec.event.id, batch.results[0]?.event?.id, reversal.event.id].sort());
    expect(page1.edges.every((e) => typeof e.cursor === 'string')).toBe(true);

    const summary = await tally.usageSummary({ filter: range(), groupBy: ['MODEL'], granularity: 'DAY' });
    expect(summary.totals).toMatchObject({
      requests: 1, // +1, +1, -1
      inputTokens: 0,
      quantity: '3.000000000000',
      cost: '0.030000000000',
      currency: 'USD',
    });
    expect(typeof summary.totals.requests).toBe('number');
    expect(summary.buckets.length).toBeGreaterThanOrEqual(2);
    for (const b of summary.buckets) {
      expect(isIso(b.start)).toBe(true);
      expect(b.totals.cost).toMatch(DECIMAL);
    }
    const llm = summary.buckets.filter((b) => b.model === 'gpt-4o-mini');
    expect(llm.reduce((n, b) => n + b.totals.requests, 0)).toBe(0);
    const [{ n }] = await h.sql('SELECT count(*)::int AS n FROM usage_events WHERE tenant_id = $1', [tenantId]);
    expect(n).toBe(3);
  });

  it('quota: quotaStatus, authorizeUsage, releaseReservation, quotaAlertHistory', async () => {
    const t = await plannedTenant('quota-acme');
    const status = await t.admin.quotaStatus();
    expect(status).toMatchObject({ tenantId: t.id, blocked: false });
    expect(status.items).toHaveLength(1);
    expect(status.items[0]).toMatchObject({
      scopeId: null,
      used: '0.000000000000',
      reserved: '0.000000000000',
      remaining: '10.000000000000',
      exceeded: false,
      limit: { metric: 'COST', period: 'DAY', action: 'ALERT', amount: '10.000000000000' },
    });
    expect(isIso(status.items[0]?.periodStart)).toBe(true);

    const auth = await t.admin.authorizeUsage({ estimate: { cost: '2.5' }, reserveSeconds: 60 });
    expect(auth.allowed).toBe(true);
    expect(auth.deniedBy).toBeNull();
    expect(auth.reservation?.estimate.cost).toBe('2.500000000000');
    expect(isIso(auth.reservation?.expiresAt)).toBe(true);
    expect(auth.quota.items[0]?.reserved).toBe('2.500000000000');
    const id = auth.reservation?.id as string;
    expect(await t.admin.releaseReservation(id)).toBe(true);
    expect((await rejection(t.admin.releaseReservation(id))).code).toBe('RESERVATION_INVALID');
    expect((await t.admin.quotaStatus({ tenantId: t.id })).items[0]?.reserved).toBe('0.000000000000');

    await t.admin.recordUsage({ idempotencyKey: 'q-1', kind: 'CALL', cost: '2.5' });
    const history = await t.admin.quotaAlertHistory({ first: 10 });
    expect(history.edges.map((e) => e.node.threshold).sort((a, b) => a - b)).toEqual([10, 20]);
    const alert = history.edges[0]?.node;
    expect(alert).toMatchObject({ tenantId: t.id, used: '2.500000000000', limit: { metric: 'COST' } });
    expect(isIso(alert?.crossedAt)).toBe(true);
    expect(history.pageInfo.hasNextPage).toBe(false);
  });

  it('request() runs any typed document, with variables', async () => {
    const created = await op.createTenant({ name: 'custom-acme' });
    const tally = client(created.secret);
    expect(await tally.request(graphql('query { viewer { tenant { name } } }'))).toEqual({
      viewer: { tenant: { name: 'custom-acme' } },
    });
    const doc = graphql(`
      mutation Rec($input: RecordUsageInput!) { recordUsage(input: $input) { outcome event { cost kind } } }
    `);
    const r = await tally.request(doc, { input: { idempotencyKey: 'c-1', kind: 'CALL', cost: '0.5' } });
    expect(r).toEqual({ recordUsage: { outcome: 'CREATED', event: { cost: '0.500000000000', kind: 'CALL' } } });
  });
});

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

// ------------------------------------------------------------------ errors

describe('errors: one TallyError class with contract codes', () => {
  it('maps an input error to BAD_USER_INPUT with the field path, and does not retry it', async () => {
    const created = await op.createTenant({ name: 'err-input' });
    const proxy = await FlakyProxy.start();
    const tally = client(created.secret, { url: proxy.url });
    const e = await rejection(
      tally.recordUsage({ idempotencyKey: 'neg', kind: 'LLM', model: 'gpt-4o-mini', inputTokens: -1 }),
    );
    expect(e).toMatchObject({
      name: 'TallyError',
      code: 'BAD_USER_INPUT',
      field: ['input', 'inputTokens'],
      retryable: false,
    });
    expect(e.message).toBeTruthy();
    expect(e.errors[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    // recordUsage retries only what may succeed on a second try.
    expect(proxy.bodies).toHaveLength(1);
    expect(await ledgerRows(created.apiKey.tenant.id, ['neg'])).toEqual([]);
  });

  it('maps a bad key to UNAUTHENTICATED and a missing scope to FORBIDDEN', async () => {
    const bad = await rejection(client('tly_00000000_nonsense').viewer());
    expect(bad).toMatchObject({ code: 'UNAUTHENTICATED', retryable: false, status: 401 });
    const created = await op.createTenant({ name: 'err-auth' });
    const reader = await client(created.secret).createApiKey({ name: 'r', scopes: ['READ'] });
    const forbidden = await rejection(
      client(reader.secret).recordUsage({ idempotencyKey: 'f', kind: 'CALL', cost: '1' }),
    );
    expect(forbidden).toMatchObject({ code: 'FORBIDDEN', retryable: false });
    expect((await rejection(client(created.secret).createTenant({ name: 'nope' }))).code).toBe('FORBIDDEN');
  });

  it('maps a reused idempotency key with another payload to IDEMPOTENCY_CONFLICT', async () => {
    const created = await op.createTenant({ name: 'err-idem' });
    const tally = client(created.secret);
    await tally.recordUsage({ idempotencyKey: 'same', kind: 'CALL', cost: '1' });
    const e = await rejection(tally.recordUsage({ idempotencyKey: 'same', kind: 'CALL', cost: '2' }));
    expect(e).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', retryable: false });
    const missing = await rejection(
      tally.recordUsage({ idempotencyKey: 'np', kind: 'LLM', model: 'no-such-model', inputTokens: 5 }),
    );
    expect(missing.code).toBe('PRICE_NOT_FOUND');
    expect(await ledgerRows(created.apiKey.tenant.id, ['same', 'np'])).toEqual([{ idempotency_key: 'same', n: 1 }]);
  });

  it('maps a network failure to INTERNAL, retryable', async () => {
    const port = await closedPort();
    const dead = client(OPERATOR_KEY, { url: urlOf(port), maxAttempts: 2 });
    const e = await rejection(dead.viewer());
    expect(e).toMatchObject({ code: 'INTERNAL', retryable: true, field: undefined });
    expect(e.message).toMatch(/network/i);
    const rec = await rejection(dead.recordUsage({ idempotencyKey: 'x', kind: 'CALL', cost: '1', tenantId: 'x' }));
    expect(rec).toMatchObject({ code: 'INTERNAL', retryable: true });
  });
});

// ------------------------------------------------------------------ retries

describe('retries through a flaky network', () => {
  it('recordUsage retries 5xx with the same idempotency key: one ledger row', async () => {
    const created = await op.createTenant({ name: 'retry-503' });
    const proxy = await FlakyProxy.start();
    proxy.faults = ['503', '503'];
    const tally = client(created.secret, { url: proxy.url });
    const r = await tally.recordUsage({ idempotencyKey: 'r503', kind: 'CALL', cost: '0.5' });
    expect(r.outcome).toBe('CREATED');
    expect(proxy.bodies).toHaveLength(3);
    expect(new Set(proxy.bodies).size).toBe(1);
    expect(proxy.requests[0]?.variables.input.idempotencyKey).toBe('r503');
    expect(await ledgerRows(created.apiKey.tenant.id, ['r503'])).toEqual([{ idempotency_key: 'r503', n: 1 }]);
  });

  it('recordUsage whose answer was lost after the commit retries and gets DUPLICATE: still one row', async () => {
    const created = await op.createTenant({ name: 'retry-lost' });
    const proxy = await FlakyProxy.start();
    proxy.faults = ['lost'];
    const tally = client(created.secret, { url: proxy.url });
    const r = await tally.recordUsage({ idempotencyKey: 'lost-1', kind: 'CALL', cost: '0.25' });
    expect(r.outcome).toBe('DUPLICATE');
    expect(r.event).toMatchObject({ idempotencyKey: 'lost-1', cost: '0.250000000000' });
    expect(proxy.bodies).toHaveLength(2);
    expect(proxy.bodies[0]).toBe(proxy.bodies[1]);
    expect(await ledgerRows(created.apiKey.tenant.id, ['lost-1'])).toEqual([{ idempotency_key: 'lost-1', n: 1 }]);
  });

  it('recordUsageBatch retries lost answers and 5xx with the same keys: one row per key', async () => {
    const created = await op.createTenant({ name: 'retry-batch' });
    const proxy = await FlakyProxy.start();
    proxy.faults = ['lost', '503'];
    const tally = client(created.secret, { url: proxy.url });
    const keys = ['bk-1', 'bk-2', 'bk-3'];
    const r = await tally.recordUsageBatch(keys.map((k) => ({ idempotencyKey: k, kind: 'CALL', cost: '0.1' })));
    expect(r.results.map((x) => x.outcome)).toEqual(['DUPLICATE', 'DUPLICATE', 'DUPLICATE']);
    expect(r.results.map((x) => x.event?.idempotencyKey)).toEqual(keys);
    expect(proxy.bodies).toHaveLength(3);
    expect(new Set(proxy.bodies).size).toBe(1);
    expect(await ledgerRows(created.apiKey.tenant.id, keys)).toEqual(keys.map((k) => ({ idempotency_key: k, n: 1 })));
  });

  it('gives up after maxAttempts with a retryable TallyError, having written nothing', async () => {
    const created = await op.createTenant({ name: 'retry-give-up' });
    const proxy = await FlakyProxy.start();
    proxy.faults = ['503', '503', '503', '503', '503'];
    const tally = client(created.secret, { url: proxy.url, maxAttempts: 3 });
    const e = await rejection(tally.recordUsage({ idempotencyKey: 'gu', kind: 'CALL', cost: '1' }));
    expect(e).toMatchObject({ code: 'INTERNAL', retryable: true, status: 503 });
    expect(proxy.bodies).toHaveLength(3);
    expect(await ledgerRows(created.apiKey.tenant.id, ['gu'])).toEqual([]);
  });

  it('never retries other mutations: one request, a retryable TallyError for the caller', async () => {
    const created = await op.createTenant({ name: 'no-retry' });
    const tenantId = created.apiKey.tenant.id;
    const proxy = await FlakyProxy.start();
    const tally = client(created.secret, { url: proxy.url });

    proxy.faults = ['503'];
    const e503 = await rejection(tally.createApiKey({ name: 'k-503', scopes: ['READ'] }));
    expect(e503).toMatchObject({ code: 'INTERNAL', retryable: true, status: 503 });
    expect(proxy.bodies).toHaveLength(1);

    // Lost after the commit: a retry would have made a second key.
    proxy.faults = ['lost'];
    const lost = await rejection(tally.createApiKey({ name: 'k-lost', scopes: ['READ'] }));
    expect(lost).toMatchObject({ code: 'INTERNAL', retryable: true });
    expect(proxy.bodies).toHaveLength(2);
    const rows = await h.sql('SELECT name FROM api_keys WHERE tenant_id = $1 AND name LIKE $2', [tenantId, 'k-%']);
    expect(rows).toEqual([{ name: 'k-lost' }]);

    proxy.faults = ['503'];
    await rejection(tally.setPrice({ provider: 'own', model: 'm', perRequest: '1' }));
    expect(proxy.bodies).toHaveLength(3);
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
        await crossUntilAlert(t.admin, () => alerts.values.length, 40_000);
        const after = alerts.values.slice(alertsBefore);
        expect(after.length).toBeGreaterThanOrEqual(1);
        expect(after.every((a) => a.tenantId === t.id && a.used.endsWith('.000000000000'))).toBe(true);
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

// ------------------------------------------------------------------ usage buffer

describe('usageBuffer', () => {
  it('sends N concurrent records as ceil(N / maxItems) batches; each caller gets its own result', async () => {
    const created = await op.createTenant({ name: 'buffer-batches' });
    const tenantId = created.apiKey.tenant.id;
    const proxy = await FlakyProxy.start();
    const tally = client(created.secret, { url: proxy.url });
    const buffer = tally.usageBuffer({ maxItems: 10, maxDelayMs: 50 });
    const N = 25;
    const BAD = 7;
    const keys = Array.from({ length: N }, (_, i) => `buf-${i}`);
    const results = await Promise.all(
      keys.map((k, i) =>
        buffer.record(
          i === BAD
            ? { idempotencyKey: k, kind: 'LLM', model: 'gpt-4o-mini', inputTokens: -1 }
            : { idempotencyKey: k, kind: 'CALL', cost: `0.0${i % 10}` },
        ),
      ),
    );
    expect(proxy.requests).toHaveLength(Math.ceil(N / 10));
    expect(proxy.requests.every((r) => r.query.includes('recordUsageBatch'))).toBe(true);
    expect(proxy.requests.map((r) => r.variables.input.length).sort((a, b) => a - b)).toEqual([5, 10, 10]);
    results.forEach((r, i) => {
      if (i === BAD) {
        expect(r).toMatchObject({
          outcome: 'INVALID',
          event: null,
          error: { code: 'BAD_USER_INPUT', field: ['inputTokens'] },
        });
      } else {
        expect(r.outcome, keys[i]).toBe('CREATED');
        expect(r.event?.idempotencyKey).toBe(keys[i]);
        expect(r.event?.cost).toBe(`0.0${i % 10}0000000000`);
      }
    });
    expect(buffer.pending).toBe(0);
    const rows = await ledgerRows(tenantId, keys);
    expect(rows).toHaveLength(N - 1);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    await buffer.close();
  });

  it('flushes a lone item after maxDelayMs', async () => {
    const created = await op.createTenant({ name: 'buffer-delay' });
    const proxy = await FlakyProxy.start();
    const buffer = client(created.secret, { url: proxy.url }).usageBuffer({ maxItems: 100, maxDelayMs: 30 });
    const r = await buffer.record({ idempotencyKey: 'lone', kind: 'CALL', cost: '0.2' });
    expect(r).toMatchObject({
      index: 0,
      outcome: 'CREATED',
      event: { idempotencyKey: 'lone', cost: '0.200000000000' },
    });
    expect(proxy.requests.map((q) => q.variables.input.length)).toEqual([1]);
    await buffer.close();
  });

  it('close() flushes what waits; record() after close rejects', async () => {
    const created = await op.createTenant({ name: 'buffer-close' });
    const proxy = await FlakyProxy.start();
    const buffer = client(created.secret, { url: proxy.url }).usageBuffer({ maxItems: 100, maxDelayMs: 600_000 });
    const waiting = ['c-1', 'c-2', 'c-3'].map((k) => buffer.record({ idempotencyKey: k, kind: 'CALL', cost: '1' }));
    expect(buffer.pending).toBe(3);
    await sleep(100);
    expect(proxy.bodies).toHaveLength(0);
    await buffer.close();
    const results = await Promise.all(waiting);
    expect(results.map((r) => [r.outcome, r.event?.idempotencyKey])).toEqual([
      ['CREATED', 'c-1'],
      ['CREATED', 'c-2'],
      ['CREATED', 'c-3'],
    ]);
    expect(proxy.bodies).toHaveLength(1);
    expect(buffer.pending).toBe(0);
    const late = await rejection(buffer.record({ idempotencyKey: 'c-4', kind: 'CALL', cost: '1' }));
    expect(late.retryable).toBe(false);
    expect(proxy.bodies).toHaveLength(1);
    expect(await ledgerRows(created.apiKey.tenant.id, ['c-1', 'c-2', 'c-3', 'c-4'])).toHaveLength(3);
  });

  it('a failed flush (server down) rejects every caller of that flush', async () => {
    const created = await op.createTenant({ name: 'buffer-down' });
    const s = await serve(h.app, h.db, { port: 0, host: '127.0.0.1', maxBodyBytes: MAX_BODY });
    const tally = client(created.secret, { url: urlOf(s.port), maxAttempts: 2 });
    const buffer = tally.usageBuffer({ maxItems: 100, maxDelayMs: 600_000 });
    const ok = buffer.record({ idempotencyKey: 'd-0', kind: 'CALL', cost: '1' });
    await buffer.flush();
    expect((await ok).outcome).toBe('CREATED');

    await s.stop(1000);
    const doomed = ['d-1', 'd-2', 'd-3'].map((k) => buffer.record({ idempotencyKey: k, kind: 'CALL', cost: '1' }));
    await buffer.close(); // resolves: the failure belongs to the callers
    const settled = await Promise.allSettled(doomed);
    expect(settled.map((x) => x.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const x of settled) {
      const reason = (x as PromiseRejectedResult).reason;
      expect(reason).toBeInstanceOf(TallyError);
      expect(reason).toMatchObject({ code: 'INTERNAL', retryable: true });
    }
    expect(await ledgerRows(created.apiKey.tenant.id, ['d-0', 'd-1', 'd-2', 'd-3'])).toEqual([
      { idempotency_key: 'd-0', n: 1 },
    ]);
  });
});

// ------------------------------------------------------------------ provider usage helpers

describe('provider usage helpers', () => {
  // A chat.completions response's usage, as the OpenAI API returns it.
  const openAIChat = {
    prompt_tokens: 1200,
    completion_tokens: 300,
    total_tokens: 1500,
    prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 128,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
  // A Responses API usage object.
  const openAIResponses = {
    input_tokens: 2000,
    input_tokens_details: { cached_tokens: 1500 },
    output_tokens: 500,
    output_tokens_details: { reasoning_tokens: 200 },
    total_tokens: 2500,
  };
  // An Anthropic Messages response's usage: input_tokens excludes the cache reads and writes.
  const anthropic = {
    input_tokens: 50,
    cache_creation_input_tokens: 1000,
    cache_read_input_tokens: 2000,
    cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 0 },
    output_tokens: 400,
    server_tool_use: null,
    service_tier: 'standard',
  };

  it('fromOpenAIUsage maps chat completions and responses usage', () => {
    expect(fromOpenAIUsage(openAIChat)).toEqual({
      inputTokens: 1200,
      outputTokens: 300,
      cachedInputTokens: 1024,
      cacheWriteInputTokens: 0,
      reasoningTokens: 128,
    });
    expect(fromOpenAIUsage(openAIResponses)).toEqual({
      inputTokens: 2000,
      outputTokens: 500,
      cachedInputTokens: 1500,
      cacheWriteInputTokens: 0,
      reasoningTokens: 200,
    });
    // Older / other OpenAI-compatible servers send no details at all, or nulls.
    expect(
      fromOpenAIUsage({
        prompt_tokens: 10,
        completion_tokens: 5,
        prompt_tokens_details: null,
        completion_tokens_details: null,
      }),
    ).toEqual({ inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, cacheWriteInputTokens: 0, reasoningTokens: 0 });
  });

  it('fromAnthropicUsage adds cache reads and writes into inputTokens', () => {
    expect(fromAnthropicUsage(anthropic)).toEqual({
      inputTokens: 3050,
      outputTokens: 400,
      cachedInputTokens: 2000,
      cacheWriteInputTokens: 1000,
      reasoningTokens: 0,
    });
    expect(
      fromAnthropicUsage({
        input_tokens: 12,
        output_tokens: 3,
        cache_read_input_tokens: null,
        cache_creation_input_tokens: null,
      }),
    ).toEqual({ inputTokens: 12, outputTokens: 3, cachedInputTokens: 0, cacheWriteInputTokens: 0, reasoningTokens: 0 });
  });

  it('records their output with the right price', async () => {
    const created = await op.createTenant({ name: 'helpers' });
    const tally = client(created.secret);
    const oa = await tally.recordUsage({
      idempotencyKey: 'oa-1',
      kind: 'LLM',
      provider: 'openai',
      model: 'gpt-4o-mini',
      ...fromOpenAIUsage(openAIChat),
    });
    // (1200 - 1024) x 0.15 + 1024 x 0.075 + 300 x 0.6, per million
    expect(oa.event).toMatchObject({
      inputTokens: 1200,
      cachedInputTokens: 1024,
      outputTokens: 300,
      reasoningTokens: 128,
      totalTokens: 1500,
      cost: '0.000283200000',
    });
    const an = await tally.recordUsage({
      idempotencyKey: 'an-1',
      kind: 'LLM',
      provider: 'anthropic',
      model: 'claude-sonnet-4',
      ...fromAnthropicUsage(anthropic),
    });
    // 50 x 3 + 2000 x 0.3 + 1000 x 3.75 + 400 x 15, per million
    expect(an.event).toMatchObject({
      inputTokens: 3050,
      cachedInputTokens: 2000,
      cacheWriteInputTokens: 1000,
      outputTokens: 400,
      cost: '0.010500000000',
    });
    // QuoteInput has the token fields but no reasoningTokens.
    const { inputTokens, outputTokens, cachedInputTokens, cacheWriteInputTokens } = fromAnthropicUsage(anthropic);
    const quote = await tally.quote({
      kind: 'LLM',
      provider: 'anthropic',
      model: 'claude-sonnet-4',
      inputTokens,
      outputTokens,
      cachedInputTokens,
      cacheWriteInputTokens,
    });
    expect(quote.cost).toBe('0.010500000000');
  });
});
