// The typed client, operation by operation: every contract query and mutation with its
// default selection, over a real HTTP server, and request() with any typed document.
import { graphql } from '@tally/client';
import { describe, expect, it } from 'vitest';
import { client, DECIMAL, h, isIso, key, op, plannedTenant, range, rejection, useClientServer } from './kit';

useClientServer('client-operations');

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
    const req1 = {
      idempotencyKey: 'req-1',
      kind: 'LLM',
      provider: 'openai',
      model: 'gpt-4o-mini',
      inputTokens: 1000,
      outputTokens: 325,
      subject: 'user-7',
      latencyMs: 420,
      metadata: { route: '/v1/chat' },
    } as const;
    const rec = await tally.recordUsage(req1);
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
    // The same call again, payload and all.
    const again = await tally.recordUsage({ ...req1 });
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

    const asked = Date.now();
    const summary = await tally.usageSummary({ filter: range(), groupBy: ['MODEL'], granularity: 'DAY' });
    // asOf comes through the client: the read's instant, after the writes above, not in the future
    expect(isIso(summary.asOf)).toBe(true);
    expect(Date.parse(summary.asOf)).toBeGreaterThanOrEqual(asked - 1000);
    expect(Date.parse(summary.asOf)).toBeLessThanOrEqual(Date.now() + 1000);
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
    expect(isIso(status.asOf)).toBe(true);
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

  it('credits: grantCredits, wallet, voidCreditGrant, setWalletThreshold, and the wallet on authorizeUsage', async () => {
    const t = await op.createTenant({ name: 'credits-acme' });
    const tenantId = t.apiKey.tenant.id;
    const tally = client(t.secret);
    expect((await rejection(tally.wallet())).code).toBe('NOT_FOUND');
    const input = {
      tenantId,
      amount: '12.5',
      idempotencyKey: 'welcome',
      reason: 'trial',
      expiresAt: '2099-01-01T00:00:00.000Z',
    };
    const g = await op.grantCredits(input);
    expect(g).toMatchObject({
      amount: '12.500000000000',
      remaining: '12.500000000000',
      priority: 0,
      reason: 'trial',
      voidedAt: null,
    });
    expect(isIso(g.createdAt) && isIso(g.effectiveAt)).toBe(true);
    expect((await op.grantCredits(input)).id).toBe(g.id);
    expect((await rejection(op.grantCredits({ ...input, amount: '13' }))).code).toBe('IDEMPOTENCY_CONFLICT');
    const w = await tally.wallet();
    expect(w).toMatchObject({
      tenantId,
      subject: null,
      currency: 'USD',
      balance: '12.500000000000',
      available: '12.500000000000',
    });
    expect(isIso(w.asOf)).toBe(true);
    expect(w.grants.map((x) => x.id)).toEqual([g.id]);
    const auth = await tally.authorizeUsage({ estimate: { cost: '20' } });
    expect(auth).toMatchObject({ allowed: false, deniedBy: null, wallet: { available: '12.500000000000' } });
    const set = await tally.setWalletThreshold({ lowBalanceThreshold: '5' });
    expect(set).toMatchObject({ lowBalanceThreshold: '5.000000000000', lowBalanceSince: null });
    const voided = await op.voidCreditGrant(g.id);
    expect(voided).toMatchObject({ id: g.id, remaining: '0.000000000000' });
    expect(isIso(voided.voidedAt)).toBe(true);
    expect((await tally.wallet({ includeSpent: true })).grants).toHaveLength(1);
    expect((await tally.wallet()).grants).toHaveLength(0);
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
