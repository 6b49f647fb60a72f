// The typed client's failures: one TallyError class with contract codes, and retries through
// a real flaky proxy (no mocked fetch) that repeat only what is idempotent, with the same body.
import { describe, expect, it } from 'vitest';
import { OPERATOR_KEY } from '../support/harness';
import { client, closedPort, FlakyProxy, h, ledgerRows, op, rejection, urlOf, useClientServer } from './kit';

useClientServer('client-errors');

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
