// Webhook endpoints: who may create, list, change, delete and rotate them; what a bad URL or
// event type is told; the secret shown once; another tenant's endpoint never seen.
import { describe, expect, it } from 'vitest';
import { OPERATOR_KEY } from '../support/harness';
import { World } from '../support/world';
import {
  CREATE_ENDPOINT,
  DELETE_ENDPOINT,
  DELIVERIES,
  LIST_ENDPOINTS,
  ROTATE_SECRET,
  UPDATE_ENDPOINT,
} from './receiver';

const world = await World.forFile('webhook-endpoints');
const { h } = world;

const create = (key: string, input: Record<string, unknown>) => h.gql(key, CREATE_ENDPOINT, { input });
const codeOf = (r: { errors?: { extensions?: { code?: string; field?: string[] } }[] }) => ({
  code: r.errors?.[0]?.extensions?.code,
  field: r.errors?.[0]?.extensions?.field,
});

describe('webhook endpoints', () => {
  it('a tenant ADMIN creates one and sees its secret once; lists show no secret', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const r = await create(acme.admin.secret, {
      url: 'https://hooks.example.com/tally',
      eventTypes: ['quota.threshold_crossed'],
    });
    expect(r.errors).toBeUndefined();
    const { secret, endpoint } = r.data.createWebhookEndpoint;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    expect(endpoint).toMatchObject({ tenantId: acme.id, enabled: true, eventTypes: ['quota.threshold_crossed'] });
    const list = await h.ok(acme.admin.secret, LIST_ENDPOINTS);
    expect(list.webhookEndpoints).toEqual([endpoint]);
    expect(JSON.stringify(list)).not.toContain(secret.slice(6));
    // stored to sign with: the database keeps it as is (the README says so)
    const [row] = await h.sql('SELECT secret FROM webhook_endpoints WHERE id = $1', [endpoint.id]);
    expect(row.secret).toBe(secret);
  });

  it('the operator names the tenant; other keys and subject tokens may not touch endpoints', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    expect(codeOf(await create(OPERATOR_KEY, { url: 'https://a.example/h' }))).toEqual({
      code: 'BAD_USER_INPUT',
      field: ['input', 'tenantId'],
    });
    const made = await create(OPERATOR_KEY, { tenantId: acme.id, url: 'https://a.example/h' });
    expect(made.data.createWebhookEndpoint.endpoint.tenantId).toBe(acme.id);
    expect((await h.ok(OPERATOR_KEY, LIST_ENDPOINTS, { tenantId: acme.id })).webhookEndpoints).toHaveLength(1);
    expect(codeOf(await create(acme.secret, { url: 'https://a.example/h' })).code).toBe('FORBIDDEN');
    expect(codeOf(await h.gql(acme.secret, LIST_ENDPOINTS)).code).toBe('FORBIDDEN');
    const token = await acme.subjectToken('user-1');
    expect(codeOf(await h.gql(token.secret, LIST_ENDPOINTS)).code).toBe('FORBIDDEN');
    expect(
      codeOf(
        await create(OPERATOR_KEY, { tenantId: '00000000-0000-4000-8000-000000000000', url: 'https://a.example/h' }),
      ),
    ).toEqual({
      code: 'NOT_FOUND',
      field: ['input', 'tenantId'],
    });
  });

  it('refuses bad URLs and unknown event types, naming the field, and writes nothing', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const bad: [unknown, string[], RegExp][] = [
      ['ftp://example.com/x', ['input', 'url'], /http or https/],
      ['not a url', ['input', 'url'], /absolute URL/],
      ['/relative', ['input', 'url'], /absolute URL/],
      ['javascript:alert(1)', ['input', 'url'], /http or https/],
      [`https://example.com/${'a'.repeat(1_000_000)}`, ['input', 'url'], /at most 2048/],
      ['https://user:pw@example.com/', ['input', 'url'], /user name or password/],
      ['https://exa\u0000mple.com/', ['input', 'url'], /NUL/],
    ];
    for (const [url, field, message] of bad) {
      const r = await create(acme.admin.secret, { url });
      expect(codeOf(r)).toEqual({ code: 'BAD_USER_INPUT', field });
      expect(r.errors?.[0]?.message).toMatch(message);
    }
    const t = await create(acme.admin.secret, {
      url: 'https://ok.example/',
      eventTypes: ['usage.reversed', 'quota.nope'],
    });
    expect(codeOf(t)).toEqual({ code: 'BAD_USER_INPUT', field: ['input', 'eventTypes', '1'] });
    expect(t.errors?.[0]?.message).toMatch(/unknown event type "quota.nope"/);
    expect((await h.ok(acme.admin.secret, LIST_ENDPOINTS)).webhookEndpoints).toEqual([]);
  });

  it('updates url, event types and enabled; refuses the same bad input on update', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const { endpoint } = (await create(acme.admin.secret, { url: 'https://a.example/h' })).data.createWebhookEndpoint;
    const u = await h.ok(acme.admin.secret, UPDATE_ENDPOINT, {
      input: {
        id: endpoint.id,
        url: 'http://b.example/x',
        eventTypes: ['wallet.depleted', 'wallet.depleted'],
        enabled: false,
      },
    });
    expect(u.updateWebhookEndpoint).toMatchObject({
      url: 'http://b.example/x',
      eventTypes: ['wallet.depleted'],
      enabled: false,
    });
    const e = await h.ok(acme.admin.secret, UPDATE_ENDPOINT, { input: { id: endpoint.id, enabled: true } });
    expect(e.updateWebhookEndpoint).toMatchObject({ url: 'http://b.example/x', enabled: true });
    const bad = await h.gql(acme.admin.secret, UPDATE_ENDPOINT, { input: { id: endpoint.id, url: 'gopher://x' } });
    expect(codeOf(bad)).toEqual({ code: 'BAD_USER_INPUT', field: ['input', 'url'] });
  });

  it("another tenant's endpoint is NOT_FOUND for every verb, like one that does not exist", async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const other = await world.tenant('other').withKey('INGEST');
    const { endpoint } = (await create(acme.admin.secret, { url: 'https://a.example/h' })).data.createWebhookEndpoint;
    for (const id of [endpoint.id, '00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      expect(codeOf(await h.gql(other.admin.secret, UPDATE_ENDPOINT, { input: { id, enabled: false } }))).toEqual({
        code: 'NOT_FOUND',
        field: ['input', 'id'],
      });
      expect(codeOf(await h.gql(other.admin.secret, DELETE_ENDPOINT, { id }))).toEqual({
        code: 'NOT_FOUND',
        field: ['id'],
      });
      expect(codeOf(await h.gql(other.admin.secret, ROTATE_SECRET, { id }))).toEqual({
        code: 'NOT_FOUND',
        field: ['id'],
      });
    }
    expect((await h.ok(other.admin.secret, LIST_ENDPOINTS)).webhookEndpoints).toEqual([]);
    expect((await h.ok(acme.admin.secret, LIST_ENDPOINTS)).webhookEndpoints[0].enabled).toBe(true);
  });

  it('rotation answers a new secret once and stores it; delete hides the endpoint', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const first = (await create(acme.admin.secret, { url: 'https://a.example/h' })).data.createWebhookEndpoint;
    const rotated = (await h.ok(acme.admin.secret, ROTATE_SECRET, { id: first.endpoint.id })).rotateWebhookSecret;
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(first.secret);
    expect(rotated.endpoint.id).toBe(first.endpoint.id);
    const [row] = await h.sql('SELECT secret FROM webhook_endpoints WHERE id = $1', [first.endpoint.id]);
    expect(row.secret).toBe(rotated.secret);
    expect((await h.ok(acme.admin.secret, DELETE_ENDPOINT, { id: first.endpoint.id })).deleteWebhookEndpoint).toBe(
      true,
    );
    expect((await h.ok(acme.admin.secret, LIST_ENDPOINTS)).webhookEndpoints).toEqual([]);
    expect(codeOf(await h.gql(acme.admin.secret, DELETE_ENDPOINT, { id: first.endpoint.id })).code).toBe('NOT_FOUND');
  });

  it('a page of deliveries with every attempt log costs the same statements for 1 delivery as for 5 (no N+1)', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const { endpoint } = (await create(acme.admin.secret, { url: 'https://a.example/h' })).data.createWebhookEndpoint;
    const emit = (n: number, from: number) =>
      h.db.transaction('test:emit', (tx) =>
        h.app.services.webhooks.outbox.emit(
          tx,
          Array.from({ length: n }, (_, i) => ({
            tenantId: acme.id,
            type: 'usage.reversed' as const,
            key: `n1-${from + i}`,
            at: new Date(),
            data: {},
          })),
        ),
      );
    // attempts logged as the worker would (the worker is off in this file)
    const attempts = () =>
      h.sql(
        `INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, at, duration_ms, outcome, response_status)
         SELECT tenant_id, id, 1, now(), 3, 'HTTP_ERROR', 500 FROM webhook_deliveries d
          WHERE endpoint_id = $1 AND NOT EXISTS (SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = d.id)`,
        [endpoint.id],
      );
    const statements = async () => {
      await h.gql(acme.admin.secret, DELIVERIES, { endpointId: endpoint.id }); // warm the key cache
      const before = h.db.queryCount();
      const r = await h.ok(acme.admin.secret, DELIVERIES, { endpointId: endpoint.id });
      return {
        n: h.db.queryCount() - before,
        logs: r.webhookDeliveries.edges.map((e: any) => e.node.attemptLog.length),
      };
    };
    await emit(1, 0);
    await attempts();
    const one = await statements();
    await emit(4, 1);
    await attempts();
    const five = await statements();
    expect(one.logs).toEqual([1]);
    expect(five.logs).toEqual([1, 1, 1, 1, 1]);
    expect(five.n).toBe(one.n);
    expect(one.n).toBeLessThanOrEqual(3);
  });

  it('hostile input is a clear refusal naming its field, never INTERNAL', async () => {
    const acme = await world.tenant('acme').withKey('INGEST');
    const { endpoint } = (await create(acme.admin.secret, { url: 'https://a.example/h' })).data.createWebhookEndpoint;
    const cases: [string, Record<string, unknown>, string, string[]][] = [
      [
        CREATE_ENDPOINT,
        { input: { url: 'https://a.example/', eventTypes: Array(1000).fill('usage.reversed') } },
        'BAD_USER_INPUT',
        ['input', 'eventTypes'],
      ],
      [
        CREATE_ENDPOINT,
        { input: { url: 'https://a.example/', eventTypes: ['x'.repeat(1_000_000)] } },
        'BAD_USER_INPUT',
        ['input', 'eventTypes', '0'],
      ],
      [CREATE_ENDPOINT, { input: { url: 'https://a.example/\ud83d' } }, 'BAD_USER_INPUT', ['input', 'url']],
      [DELIVERIES, { endpointId: endpoint.id, first: -1 }, 'BAD_USER_INPUT', ['first']],
      [DELIVERIES, { endpointId: endpoint.id, after: 'garbage' }, 'BAD_USER_INPUT', ['after']],
      [DELIVERIES, { endpointId: 'x'.repeat(100_000) }, 'NOT_FOUND', ['endpointId']],
    ];
    for (const [query, vars, code, field] of cases) {
      const r = await h.gql(acme.admin.secret, query, vars);
      expect(codeOf(r)).toEqual({ code, field });
      expect(r.errors?.[0]?.message.length).toBeLessThan(700);
    }
  });
});
