import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, OPERATOR_KEY, RECORD, SUMMARY } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('core');
});
afterAll(async () => h?.close());

describe('auth', () => {
  it('rejects a missing, malformed, unknown or revoked key with UNAUTHENTICATED, viewer included', async () => {
    const t = await h.seed.tenant('auth');
    const k = await t.key(['READ']);
    for (const key of [null, 'nonsense', 'tly_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', `${k.secret}x`]) {
      const r = await h.gql(key, '{ viewer { isOperator } }');
      expect(r.errors?.[0]?.extensions?.code, String(key)).toBe('UNAUTHENTICATED');
      expect(r.status).toBe(401);
    }
    expect((await h.ok(k.secret, '{ viewer { isOperator apiKey { id } } }')).viewer).toEqual({
      isOperator: false,
      apiKey: { id: k.id },
    });
    await h.ok(t.adminKey, 'mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { id: k.id });
    const r = await h.gql(k.secret, '{ viewer { isOperator } }');
    expect(r.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('stores only a hash of the secret and shows a visible prefix', async () => {
    const t = await h.seed.tenant('hash');
    const [row] = await h.sql('SELECT prefix, secret_hash FROM api_keys WHERE id = $1', [t.adminKeyId]);
    expect(t.adminKey.startsWith(`${row.prefix}_`)).toBe(true);
    expect(row.prefix).toMatch(/^tly_[0-9a-f]{8}$/);
    expect(Buffer.from(row.secret_hash).toString('utf8')).not.toContain(t.adminKey.slice(13));
    expect(Buffer.from(row.secret_hash)).toHaveLength(32);
  });

  it('enforces scopes: INGEST cannot read, READ cannot record, only ADMIN manages keys', async () => {
    const t = await h.seed.tenant('scopes');
    const ingest = await t.key(['INGEST']);
    const read = await t.key(['READ']);
    const filter = { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' };
    expect((await h.gql(ingest.secret, SUMMARY, { filter })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const rec = await h.gql(read.secret, RECORD, { input: { idempotencyKey: 'a', kind: 'CALL', cost: '1' } });
    expect(rec.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const mk = await h.gql(read.secret, 'mutation { createApiKey(input: { name: "x", scopes: [READ] }) { secret } }');
    expect(mk.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const op = await h.gql(t.adminKey, 'mutation { createTenant(input: { name: "x" }) { secret } }');
    expect(op.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('keeps lastUsedAt without a write per request, and flushes it in one statement', async () => {
    const t = await h.seed.tenant('lastused');
    const k = await t.key(['READ']);
    const before = h.db.queryCount();
    for (let i = 0; i < 5; i++) await h.ok(k.secret, '{ viewer { isOperator } }');
    const [row] = await h.sql('SELECT last_used_at FROM api_keys WHERE id = $1', [k.id]);
    expect(row.last_used_at).toBeNull();
    // 5 requests on a cached key: at most the first one looked the key up.
    expect(h.db.queryCount() - before).toBeLessThanOrEqual(1);
    const viaApi = await h.ok(k.secret, '{ viewer { apiKey { lastUsedAt } } }');
    expect(viaApi.viewer.apiKey.lastUsedAt).not.toBeNull();
    await h.app.services.apiKeys.flushLastUsed();
    const [after] = await h.sql('SELECT last_used_at FROM api_keys WHERE id = $1', [k.id]);
    expect(after.last_used_at).not.toBeNull();
  });

  it('requires operator keys to name the tenant', async () => {
    const r = await h.gql(OPERATOR_KEY, RECORD, { input: { idempotencyKey: 'op-1', kind: 'CALL', cost: '1' } });
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'tenantId'] });
  });
});

describe('recordUsage', () => {
  it('validates every rule of the contract and names the field', async () => {
    const t = await h.seed.tenant('validation');
    const now = new Date();
    const cases: [Record<string, unknown>, string[]][] = [
      [{ kind: 'LLM' }, ['input', 'model']],
      [{ kind: 'ASR', model: 'whisper' }, ['input', 'durationMs']],
      [{ kind: 'LLM', model: 'm', inputTokens: -1 }, ['input', 'inputTokens']],
      [{ kind: 'LLM', model: 'm', outputTokens: -5 }, ['input', 'outputTokens']],
      [
        { kind: 'LLM', model: 'm', inputTokens: 10, cachedInputTokens: 6, cacheWriteInputTokens: 5 },
        ['input', 'cachedInputTokens'],
      ],
      [{ kind: 'LLM', model: 'm', outputTokens: 10, reasoningTokens: 11 }, ['input', 'reasoningTokens']],
      [
        { kind: 'LLM', model: 'm', occurredAt: new Date(now.getTime() + 6 * 60_000).toISOString() },
        ['input', 'occurredAt'],
      ],
      [
        { kind: 'LLM', model: 'm', occurredAt: new Date(now.getTime() - 36 * 86_400_000).toISOString() },
        ['input', 'occurredAt'],
      ],
      [{ kind: 'LLM', model: 'm', metadata: [1, 2] }, ['input', 'metadata']],
      [{ kind: 'LLM', model: 'm', metadata: { big: 'x'.repeat(4100) } }, ['input', 'metadata']],
      [{ kind: 'LLM', model: 'm', idempotencyKey: 'k'.repeat(256) }, ['input', 'idempotencyKey']],
      [{ kind: 'LLM', model: 'm', idempotencyKey: '' }, ['input', 'idempotencyKey']],
      [{ kind: 'CALL', cost: '-1' }, ['input', 'cost']],
    ];
    for (const [input, field] of cases) {
      const r = await h.gql(t.adminKey, RECORD, { input: { idempotencyKey: 'v-1', ...input } });
      expect(r.errors?.[0]?.extensions, JSON.stringify(input)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    const [{ n }] = await h.sql('SELECT count(*)::int AS n FROM usage_events WHERE tenant_id = $1', [t.id]);
    expect(n).toBe(0);
  });

  it('is idempotent: same payload DUPLICATE with the original, different payload IDEMPOTENCY_CONFLICT', async () => {
    const t = await h.seed.tenant('idem');
    const input = { idempotencyKey: 'req-1', kind: 'CALL', quantity: '2', cost: '0.5', metadata: { a: 1, b: 2 } };
    const first = await h.ok(t.adminKey, RECORD, { input });
    expect(first.recordUsage.outcome).toBe('CREATED');
    // Key order in metadata and decimal spelling do not change the payload.
    const again = await h.ok(t.adminKey, RECORD, { input: { ...input, quantity: '2.0', metadata: { b: 2, a: 1 } } });
    expect(again.recordUsage).toEqual({ ...first.recordUsage, outcome: 'DUPLICATE' });
    const conflict = await h.gql(t.adminKey, RECORD, { input: { ...input, cost: '0.6' } });
    expect(conflict.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_CONFLICT');
    const [{ n }] = await h.sql('SELECT count(*)::int AS n FROM usage_events WHERE tenant_id = $1', [t.id]);
    expect(n).toBe(1);
  });

  it('N concurrent calls with one key give exactly one CREATED and the rest DUPLICATE', async () => {
    const t = await h.seed.tenant('race');
    const input = { idempotencyKey: 'same', kind: 'CALL', cost: '1.25' };
    const results = await Promise.all(Array.from({ length: 40 }, () => h.gql(t.adminKey, RECORD, { input })));
    expect(results.every((r) => !r.errors)).toBe(true);
    const outcomes = results.map((r) => r.data.recordUsage.outcome);
    expect(outcomes.filter((o) => o === 'CREATED')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'DUPLICATE')).toHaveLength(39);
    expect(new Set(results.map((r) => r.data.recordUsage.event.id)).size).toBe(1);
    const [roll] = await h.sql(
      'SELECT sum(requests)::int AS r, sum(cost)::text AS c FROM usage_rollups_hourly WHERE tenant_id = $1',
      [t.id],
    );
    expect(roll).toEqual({ r: 1, c: '1.250000000000' });
  });

  it('prices with the version in force at occurredAt, tenant override first; BYOK costs 0; caller cost wins', async () => {
    const t = await h.seed.tenant('pricing');
    const now = Date.now();
    const at = (minsAgo: number) => new Date(now - minsAgo * 60_000).toISOString();
    const v1 = await h.seed.price({
      provider: 'acme-ai',
      model: 'm1',
      inputPerMillion: '1',
      outputPerMillion: '2',
      effectiveFrom: at(600),
    });
    const v2 = await h.seed.price({
      provider: 'acme-ai',
      model: 'm1',
      inputPerMillion: '3',
      outputPerMillion: '4',
      effectiveFrom: at(300),
    });
    const rec = (key: string, extra: Record<string, unknown>) =>
      h.ok(t.adminKey, RECORD, {
        input: {
          idempotencyKey: key,
          kind: 'LLM',
          provider: 'acme-ai',
          model: 'm1',
          inputTokens: 1_000_000,
          outputTokens: 1_000_000,
          ...extra,
        },
      });
    expect((await rec('p1', { occurredAt: at(400) })).recordUsage.event).toMatchObject({
      cost: '3.000000000000',
      price: { id: v1.id },
    });
    expect((await rec('p2', { occurredAt: at(200) })).recordUsage.event).toMatchObject({
      cost: '7.000000000000',
      price: { id: v2.id },
    });
    // After p2 (at 200): an override may not take over usage the platform price already priced.
    const own = await h.seed.price(
      { provider: 'acme-ai', model: 'm1', inputPerMillion: '0.5', outputPerMillion: '0.5', effectiveFrom: at(150) },
      t.adminKey,
    );
    expect((await rec('p3', { occurredAt: at(100) })).recordUsage.event).toMatchObject({
      cost: '1.000000000000',
      price: { id: own.id },
    });
    expect((await rec('p4', { modelSource: 'BYOK' })).recordUsage.event).toMatchObject({
      cost: '0.000000000000',
      price: null,
    });
    expect((await rec('p5', { cost: '0.42' })).recordUsage.event).toMatchObject({
      cost: '0.420000000000',
      price: null,
    });
    const missing = await h.gql(t.adminKey, RECORD, {
      input: { idempotencyKey: 'p6', kind: 'LLM', model: 'unknown-model', inputTokens: 5 },
    });
    expect(missing.errors?.[0]?.extensions?.code).toBe('PRICE_NOT_FOUND');
    // the earlier version now ends where the later one starts
    const prices = await h.ok(t.adminKey, '{ prices(model: "m1") { id tenantId effectiveFrom effectiveTo } }');
    const platform = prices.prices.filter((p: { tenantId: string | null }) => p.tenantId === null);
    expect(platform.find((p: { id: string }) => p.id === v1.id).effectiveTo).toBe(v2.effectiveFrom);
  });
});

describe('recordUsageBatch', () => {
  it('judges each item alone and answers in input order', async () => {
    const t = await h.seed.tenant('batch');
    await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'old', kind: 'CALL', cost: '1' } });
    const items = [
      { idempotencyKey: 'b1', kind: 'CALL', cost: '1' },
      { idempotencyKey: 'b2', kind: 'LLM' },
      { idempotencyKey: 'old', kind: 'CALL', cost: '1' },
      { idempotencyKey: 'old', kind: 'CALL', cost: '2' },
      { idempotencyKey: 'b1', kind: 'CALL', cost: '1' },
      { idempotencyKey: 'b3', kind: 'CALL', model: 'nope' },
    ];
    const d = await h.ok(
      t.adminKey,
      `mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) { created duplicates rejected results { index outcome event { id idempotencyKey } error { code field } } } }`,
      { input: items },
    );
    const b = d.recordUsageBatch;
    expect(b.results.map((r: { outcome: string }) => r.outcome)).toEqual([
      'CREATED',
      'INVALID',
      'DUPLICATE',
      'CONFLICT',
      'DUPLICATE',
      'INVALID',
    ]);
    expect(b.results.map((r: { index: number }) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(b.results[1].error).toEqual({ code: 'BAD_USER_INPUT', field: ['model'] });
    expect(b.results[3].error.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(b.results[5].error.code).toBe('PRICE_NOT_FOUND');
    expect({ created: b.created, duplicates: b.duplicates, rejected: b.rejected }).toEqual({
      created: 1,
      duplicates: 2,
      rejected: 3,
    });
    const tooMany = await h.gql(
      t.adminKey,
      `mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) { created } }`,
      {
        input: Array.from({ length: 1001 }, (_, i) => ({ idempotencyKey: `x${i}`, kind: 'CALL', cost: '1' })),
      },
    );
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const empty = await h.gql(t.adminKey, `mutation { recordUsageBatch(input: []) { created } }`);
    expect(empty.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('reverseUsage', () => {
  it('appends one negating entry per original; rollups net to zero', async () => {
    const t = await h.seed.tenant('reverse');
    const ev = await h.ok(t.adminKey, RECORD, {
      input: { idempotencyKey: 'orig', kind: 'ASR', durationMs: 1500, cost: '0.3', subject: 'u1' },
    });
    const id = ev.recordUsage.event.id;
    const REV = `mutation($input: ReverseUsageInput!) { reverseUsage(input: $input) { outcome event { id cost durationMs requests: totalTokens reverses { id } } } }`;
    const r1 = await h.ok(t.adminKey, REV, { input: { eventId: id, idempotencyKey: 'rev-1', reason: 'refund' } });
    expect(r1.reverseUsage).toMatchObject({
      outcome: 'CREATED',
      event: { cost: '-0.300000000000', durationMs: -1500, reverses: { id } },
    });
    const again = await h.ok(t.adminKey, REV, { input: { eventId: id, idempotencyKey: 'rev-1', reason: 'refund' } });
    expect(again.reverseUsage).toMatchObject({ outcome: 'DUPLICATE', event: { id: r1.reverseUsage.event.id } });
    const twice = await h.gql(t.adminKey, REV, { input: { eventId: id, idempotencyKey: 'rev-2' } });
    expect(twice.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const ofReversal = await h.gql(t.adminKey, REV, {
      input: { eventId: r1.reverseUsage.event.id, idempotencyKey: 'rev-3' },
    });
    expect(ofReversal.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const day = 86_400_000;
    const range = { from: new Date(Date.now() - day).toISOString(), to: new Date(Date.now() + day).toISOString() };
    const s = await h.ok(t.adminKey, SUMMARY, { filter: range });
    expect(s.usageSummary.totals).toMatchObject({ requests: 0, asrMilliseconds: 0, cost: '0.000000000000' });
  });
});

describe('ledger', () => {
  it('is append-only in the database itself', async () => {
    const t = await h.seed.tenant('append-only');
    await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'a1', kind: 'CALL', cost: '1' } });
    await expect(h.sql('UPDATE usage_events SET cost = 0 WHERE tenant_id = $1', [t.id])).rejects.toThrow(/append-only/);
    await expect(h.sql('DELETE FROM usage_events WHERE tenant_id = $1', [t.id])).rejects.toThrow(/append-only/);
    await expect(h.sql('TRUNCATE usage_events CASCADE')).rejects.toThrow(/append-only/);
    const [{ c }] = await h.sql('SELECT cost::text AS c FROM usage_events WHERE tenant_id = $1', [t.id]);
    expect(c).toBe('1.000000000000');
  });

  it('stores what recording answered: time-ordered UUIDv7 ids and the commit recorded_at, metadata as stored', async () => {
    const t = await h.seed.tenant('ids');
    const before = Date.now();
    const batch = await h.ok(
      t.adminKey,
      `mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) { results { event { id recordedAt metadata } } } }`,
      {
        input: [
          { idempotencyKey: 'i1', kind: 'CALL', cost: '1', metadata: { b: 2, a: [1, { d: 4, c: 3 }] } },
          { idempotencyKey: 'i2', kind: 'CALL', cost: '1' },
        ],
      },
    );
    const single = await h.ok(
      t.adminKey,
      'mutation($input: RecordUsageInput!) { recordUsage(input: $input) { event { id recordedAt metadata } } }',
      { input: { idempotencyKey: 'i3', kind: 'CALL', cost: '1' } },
    );
    const after = Date.now();
    const answered = [
      ...batch.recordUsageBatch.results.map((r: { event: unknown }) => r.event),
      single.recordUsage.event,
    ] as { id: string; recordedAt: string; metadata?: unknown }[];
    for (const e of answered) {
      expect(e.id[14], e.id).toBe('7');
      const ms = Number.parseInt(e.id.slice(0, 8) + e.id.slice(9, 13), 16);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
    }
    // The later write's id sorts after the batch's (they are made in separate flushes).
    expect((answered[2]?.id as string) > (answered[0]?.id as string)).toBe(true);
    const stored = await h.sql(
      `SELECT id::text, recorded_at AS "recordedAt", metadata FROM usage_events WHERE tenant_id = $1 ORDER BY idempotency_key`,
      [t.id],
    );
    expect(stored.map((r) => r.id)).toEqual(answered.map((e) => e.id));
    expect(stored.map((r) => r.recordedAt.toISOString())).toEqual(answered.map((e) => e.recordedAt));
    expect(stored[0].metadata).toEqual(answered[0]?.metadata);
    expect(stored[1].metadata).toBeNull();
    expect(answered[1]?.metadata).toBeNull();
  });

  it('never loses what its entries reference: the tenant and the price version', async () => {
    const t = await h.seed.tenant('references');
    const idle = await h.seed.tenant('references-idle');
    const price = await h.seed.price({ provider: 'refs', model: 'refs-m', inputPerMillion: '1' });
    const rec = await h.ok(t.adminKey, RECORD, {
      input: { idempotencyKey: 'r1', kind: 'LLM', provider: 'refs', model: 'refs-m', inputTokens: 10 },
    });
    expect(rec.recordUsage.event.price.id).toBe(price.id);

    // A price version is audit history: never deleted, truncated or re-keyed; its dates may move.
    await expect(h.sql('DELETE FROM prices WHERE id = $1', [price.id])).rejects.toThrow(/kept for the ledger/);
    await expect(h.sql('TRUNCATE prices CASCADE')).rejects.toThrow(/kept for the ledger/);
    await expect(h.sql('UPDATE prices SET id = gen_random_uuid() WHERE id = $1', [price.id])).rejects.toThrow(
      /kept for the ledger/,
    );
    await h.sql(`UPDATE prices SET effective_to = now() + interval '1 year' WHERE id = $1`, [price.id]);

    // A tenant with entries cannot be deleted, re-keyed or moved to another zone (its daily
    // rollups are cut in its zone); renaming is fine.
    await expect(h.sql('DELETE FROM tenants WHERE id = $1', [t.id])).rejects.toThrow(/has ledger entries/);
    await expect(h.sql('UPDATE tenants SET id = gen_random_uuid() WHERE id = $1', [t.id])).rejects.toThrow(
      /has ledger entries/,
    );
    await expect(h.sql(`UPDATE tenants SET timezone = 'Asia/Tokyo' WHERE id = $1`, [t.id])).rejects.toThrow(
      /has ledger entries: UPDATE of its timezone/,
    );
    await h.sql(`UPDATE tenants SET name = 'renamed' WHERE id = $1`, [t.id]);
    const [row] = await h.sql(
      `SELECT e.tenant_id = t.id AS tenant_ok, e.price_id = p.id AS price_ok FROM usage_events e
         JOIN tenants t ON t.id = e.tenant_id JOIN prices p ON p.id = e.price_id WHERE e.id = $1`,
      [rec.recordUsage.event.id],
    );
    expect(row).toEqual({ tenant_ok: true, price_ok: true });
    // A tenant without entries is not held by the ledger (its keys still are by their own key).
    await h.sql(`UPDATE tenants SET timezone = 'Asia/Tokyo' WHERE id = $1`, [idle.id]);
    await expect(h.sql('UPDATE tenants SET id = gen_random_uuid() WHERE id = $1', [idle.id])).rejects.toThrow(
      /tenant ids do not change/,
    );
    await h.sql('DELETE FROM api_keys WHERE tenant_id = $1', [idle.id]);
    await h.sql('DELETE FROM tenants WHERE id = $1', [idle.id]);
    expect(await h.sql('SELECT 1 FROM tenants WHERE id = $1', [idle.id])).toEqual([]);
  });
});
