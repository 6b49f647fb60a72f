// Abuse limits and hardening: query depth / aliases / tokens (rejected before any resolver
// runs), request body size over real HTTP, production mode (no introspection, no GraphiQL),
// errors that never leak internals, no cookie auth, and the health / metrics endpoints.
import http from 'node:http';
import { Lexer, Source, TokenKind } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../server/src/app';
import { ABUSE_LIMITS, loadConfig } from '../server/src/config';
import { ERROR_CODES } from '../server/src/lib/errors';
import { postTo, productionApp } from './support/apps';
import {
  createHarness,
  type GqlResult,
  type Harness,
  OPERATOR_KEY,
  RECORD,
  type SeededTenant,
} from './support/harness';

// The contract's error codes (contract.graphql, end of file).
const CONTRACT_CODES = new Set<string>(ERROR_CODES);
/** Text that would betray SQL, the driver, the ORM or a stack trace in a client-facing message. */
const INTERNALS =
  /\b(SELECT|INSERT|UPDATE|DELETE)\b|\bFROM\s+(usage_\w+|api_keys|tenants|prices)\b|relation "|violates|syntax error at|QueryFailedError|TypeORM|invalid byte sequence|node_modules|\bat \w+ \(|\.ts:\d+/i;

let h: Harness;
let t: SeededTenant;
let read: { secret: string; id: string };

/** Every error of every response must carry a contract code and reveal no internals. */
function checkErrors(r: { errors?: GqlResult['errors'] }) {
  for (const e of r.errors ?? []) {
    expect(CONTRACT_CODES.has(e.extensions?.code as string), `code of ${JSON.stringify(e)}`).toBe(true);
    expect(e.message, JSON.stringify(e)).not.toMatch(INTERNALS);
    expect(JSON.stringify(e.extensions ?? {})).not.toMatch(/stack|QueryFailedError|driverError/i);
  }
}
async function gql(key: string | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult> {
  const r = await h.gql(key, query, variables);
  checkErrors(r);
  return r;
}
const codeOf = (r: GqlResult) => r.errors?.[0]?.extensions?.code;
const ledgerRows = async (idempotencyKeyLike: string) =>
  (
    await h.sql('SELECT count(*)::int AS n FROM usage_events WHERE tenant_id = $1 AND idempotency_key LIKE $2', [
      t.id,
      idempotencyKeyLike,
    ])
  )[0].n as number;

beforeAll(async () => {
  h = await createHarness('abuse');
  t = await h.seed.tenant('abuse');
  read = await t.key(['READ']);
});
afterAll(async () => h?.close());

/** { viewer { tenant { apiKeys { tenant { ... { id } } } } } } whose leaf sits at `depth`. */
function deepViewer(depth: number): string {
  const chain = ['viewer'];
  for (let i = 2; i < depth; i++) chain.push(i % 2 === 0 ? 'tenant' : 'apiKeys');
  return `{ ${chain.join(' { ')} { id }${' }'.repeat(chain.length - 1)} }`;
}

/** recordUsage(...) { event { reverses { ... { id } } } } whose leaf sits at `depth`. */
function deepRecord(idempotencyKey: string, depth: number): string {
  const chain = ['event'];
  for (let i = 3; i < depth; i++) chain.push('reverses');
  return `mutation { recordUsage(input: { idempotencyKey: "${idempotencyKey}", kind: CALL, cost: "1" }) { outcome ${chain.join(' { ')} { id }${' }'.repeat(chain.length - 1)} } }`;
}

describe('pinned abuse limits', () => {
  it('are exactly the numbers in config', () => {
    expect(ABUSE_LIMITS).toEqual({ maxDepth: 10, maxAliases: 15, maxTokens: 2000, maxCost: 50_000, maxDirectives: 20 });
    const c = loadConfig({});
    expect(c.limits).toEqual(ABUSE_LIMITS);
    expect(c.maxBodyBytes).toBe(8 * 1024 * 1024);
    expect(c.production).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production' }).production).toBe(true);
  });
});

describe('query depth', () => {
  it('accepts depth 10 and rejects depth 11 with QUERY_TOO_COMPLEX', async () => {
    const ok = await gql(read.secret, deepViewer(ABUSE_LIMITS.maxDepth));
    expect(ok.errors).toBeUndefined();
    expect(ok.data.viewer.tenant.apiKeys.length).toBeGreaterThan(0);
    const deep = await gql(read.secret, deepViewer(ABUSE_LIMITS.maxDepth + 1));
    expect(codeOf(deep)).toBe('QUERY_TOO_COMPLEX');
    expect(deep.data ?? null).toBeNull();
    const deeper = await gql(read.secret, deepViewer(30));
    expect(codeOf(deeper)).toBe('QUERY_TOO_COMPLEX');
  });

  it('rejects a too-deep recordUsage before any resolver runs: no ledger row, no SQL beyond the auth lookup', async () => {
    const ingest = await t.key(['INGEST'], 'deep'); // never used yet: its auth lookup is not cached
    const before = h.db.queryCount();
    const r = await gql(ingest.secret, deepRecord('deep-11', ABUSE_LIMITS.maxDepth + 1));
    expect(h.db.queryCount() - before).toBeLessThanOrEqual(1);
    expect(codeOf(r)).toBe('QUERY_TOO_COMPLEX');
    expect(r.data ?? null).toBeNull();
    expect(await ledgerRows('deep-%')).toBe(0);
    // The same mutation at the limit does run and write, so the depth alone made the difference.
    const atLimit = await gql(ingest.secret, deepRecord('deep-10', ABUSE_LIMITS.maxDepth));
    expect(atLimit.errors).toBeUndefined();
    expect(atLimit.data.recordUsage.outcome).toBe('CREATED');
    expect(await ledgerRows('deep-%')).toBe(1);
  });
});

describe('aliases', () => {
  const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: viewer { isOperator }`).join(' ')} }`;
  const aliasedRecord = (prefix: string, n: number) =>
    `mutation { ${Array.from(
      { length: n },
      (_, i) => `r${i}: recordUsage(input: { idempotencyKey: "${prefix}-${i}", kind: CALL, cost: "1" }) { outcome }`,
    ).join(' ')} }`;

  it('accepts 15 aliases and rejects 16 with QUERY_TOO_COMPLEX', async () => {
    const ok = await gql(read.secret, aliased(ABUSE_LIMITS.maxAliases));
    expect(ok.errors).toBeUndefined();
    expect(Object.keys(ok.data)).toHaveLength(15);
    const over = await gql(read.secret, aliased(ABUSE_LIMITS.maxAliases + 1));
    expect(codeOf(over)).toBe('QUERY_TOO_COMPLEX');
    expect(over.data ?? null).toBeNull();
    // aliases hidden in a fragment count too
    const frag = await gql(
      read.secret,
      `{ ...F } fragment F on Query { ${Array.from({ length: 16 }, (_, i) => `f${i}: viewer { isOperator }`).join(' ')} }`,
    );
    expect(codeOf(frag)).toBe('QUERY_TOO_COMPLEX');
  });

  it('rejects 16 aliased recordUsage before any resolver runs; 15 all write', async () => {
    const ingest = await t.key(['INGEST'], 'aliases');
    const before = h.db.queryCount();
    const r = await gql(ingest.secret, aliasedRecord('al16', 16));
    expect(h.db.queryCount() - before).toBeLessThanOrEqual(1);
    expect(codeOf(r)).toBe('QUERY_TOO_COMPLEX');
    expect(await ledgerRows('al16-%')).toBe(0);
    const ok = await gql(ingest.secret, aliasedRecord('al15', 15));
    expect(ok.errors).toBeUndefined();
    expect(Object.values(ok.data).every((x) => (x as { outcome: string }).outcome === 'CREATED')).toBe(true);
    expect(await ledgerRows('al15-%')).toBe(15);
  });
});

describe('tokens', () => {
  /** Lexical tokens of a document, as the parser counts them (end of file excluded). */
  const countTokens = (q: string) => {
    const lexer = new Lexer(new Source(q));
    let n = 0;
    while (lexer.advance().kind !== TokenKind.EOF) n++;
    return n;
  };
  /** A valid usageSummary whose groupBy list pads the document to exactly `n` tokens (each enum value is one). */
  const tokens = (n: number) => {
    const doc = (k: number) =>
      `query($filter: UsageFilter!) { usageSummary(filter: $filter, groupBy: [${'KIND '.repeat(k)}]) { totals { requests } } }`;
    const q = doc(n - countTokens(doc(0)));
    expect(countTokens(q)).toBe(n);
    return q;
  };
  const filter = () => ({
    from: new Date(Date.now() - 86_400_000).toISOString(),
    to: new Date(Date.now() + 86_400_000).toISOString(),
  });

  it('accepts 2,000 tokens and rejects 2,001 with QUERY_TOO_COMPLEX', async () => {
    const ok = await gql(read.secret, tokens(ABUSE_LIMITS.maxTokens), { filter: filter() });
    expect(ok.errors).toBeUndefined();
    expect(ok.data.usageSummary.totals).toBeDefined();
    const over = await gql(read.secret, tokens(ABUSE_LIMITS.maxTokens + 1), { filter: filter() });
    expect(codeOf(over)).toBe('QUERY_TOO_COMPLEX');
    expect(over.data ?? null).toBeNull();
    const huge = await gql(read.secret, tokens(50_000), { filter: filter() });
    expect(codeOf(huge)).toBe('QUERY_TOO_COMPLEX');
  });

  it('rejects a recordUsage of more than 2,000 tokens before any resolver runs', async () => {
    const ingest = await t.key(['INGEST'], 'tokens');
    const before = h.db.queryCount();
    const r = await gql(
      ingest.secret,
      `mutation { recordUsage(input: { idempotencyKey: "tok-1", kind: CALL, cost: "1" }) { outcome ${'__typename '.repeat(2000)}} }`,
    );
    expect(h.db.queryCount() - before).toBeLessThanOrEqual(1);
    expect(codeOf(r)).toBe('QUERY_TOO_COMPLEX');
    expect(await ledgerRows('tok-%')).toBe(0);
  });
});

describe('cost', () => {
  // The cost of a page must not depend on whether first is a literal or a variable (graphql-armor's
  // cost limit read only literals; the schema's complexity plugin reads both).
  it('treats a contract-valid usageEvents(first: 500) the same whether first is a literal or a variable', async () => {
    const filter = {
      from: new Date(Date.now() - 86_400_000).toISOString(),
      to: new Date(Date.now() + 86_400_000).toISOString(),
    };
    const viaVariable = await gql(
      read.secret,
      'query($filter: UsageFilter!, $first: Int) { usageEvents(filter: $filter, first: $first) { edges { node { id } } } }',
      { filter, first: 500 },
    );
    expect(viaVariable.errors).toBeUndefined();
    const literal = await gql(
      read.secret,
      'query($filter: UsageFilter!) { usageEvents(filter: $filter, first: 500) { edges { node { id } } } }',
      { filter },
    );
    expect(literal.errors, JSON.stringify(literal.errors)).toBeUndefined();
    expect(literal.data).toEqual(viaVariable.data);
  });

  it('rejects a query over the cost limit with QUERY_TOO_COMPLEX, and accepts a smaller one', async () => {
    // Lists multiply their sub-selection by 10: two levels of apiKeys cost about 800 per
    // alias; four levels (still within depth, alias and token limits) cost over 50,000.
    const W = 'id name prefix scopes createdAt revokedAt lastUsedAt';
    const two = `viewer { tenant { apiKeys { ${W} tenant { apiKeys { ${W} } } } } }`;
    const four = `viewer { tenant { apiKeys { ${W} tenant { apiKeys { ${W} tenant { apiKeys { ${W} tenant { apiKeys { ${W} } } } } } } } } }`;
    const q = (one: string, n: number) => `{ ${Array.from({ length: n }, (_, i) => `v${i}: ${one}`).join(' ')} }`;
    const small = await gql(read.secret, q(two, 15));
    expect(small.errors).toBeUndefined();
    expect(small.data.v14.tenant.apiKeys.length).toBeGreaterThan(0);
    const ingest = await t.key(['INGEST'], 'cost');
    const before = h.db.queryCount();
    const r = await gql(ingest.secret, q(four, 1));
    expect(h.db.queryCount() - before).toBeLessThanOrEqual(1);
    expect(codeOf(r)).toBe('QUERY_TOO_COMPLEX');
    expect(r.data ?? null).toBeNull();
  });
});

describe('request body size over HTTP', () => {
  let port: number;
  beforeAll(async () => {
    port = (await h.listen()).port;
  });

  /** A raw HTTP POST to /graphql; resolves with status and body, or with the socket error. */
  function post(
    body: Buffer | Buffer[],
    headers: Record<string, string | number>,
  ): Promise<{ status: number; body: string } | { error: string }> {
    return new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/graphql', method: 'POST', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => resolve({ error: e.message }));
      });
      req.on('error', (e) => resolve({ error: e.message }));
      if (Array.isArray(body)) {
        // Chunked: write piece by piece, stop early if the server already answered or hung up.
        let i = 0;
        const next = () => {
          if (i >= body.length || req.destroyed) return req.end();
          const ok = req.write(body[i++]);
          if (ok) setImmediate(next);
          else req.once('drain', next);
        };
        next();
      } else req.end(body);
    });
  }

  const validQuery = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${read.secret}` },
      body: JSON.stringify({ query: '{ viewer { isOperator apiKey { id } } }' }),
    });
    const json = (await res.json()) as GqlResult;
    checkErrors(json);
    return { status: res.status, json };
  };

  it('answers 413 to a POST over maxBodyBytes (content-length) and keeps answering', async () => {
    const limit = loadConfig({}).maxBodyBytes;
    const pad = 'x'.repeat(limit + 1 - 40);
    const body = Buffer.from(JSON.stringify({ query: '{ viewer { isOperator } }', pad }));
    expect(body.length).toBeGreaterThan(limit);
    const r = await post(body, {
      'content-type': 'application/json',
      'content-length': body.length,
      authorization: `Bearer ${read.secret}`,
    });
    expect('status' in r ? r.status : r).toBe(413);
    if ('status' in r) {
      const parsed = JSON.parse(r.body) as GqlResult;
      checkErrors(parsed);
    }
    const after = await validQuery();
    expect(after.status).toBe(200);
    expect(after.json.data.viewer).toEqual({ isOperator: false, apiKey: { id: read.id } });
  });

  it('accepts a POST just under the limit (the limit is not simply "any large body")', async () => {
    const body = Buffer.from(
      JSON.stringify({ query: '{ viewer { isOperator } }', extensions: { pad: 'y'.repeat(1024 * 1024) } }),
    );
    const r = await post(body, {
      'content-type': 'application/json',
      'content-length': body.length,
      authorization: `Bearer ${read.secret}`,
    });
    expect('status' in r && r.status).toBe(200);
    if ('status' in r) expect((JSON.parse(r.body) as GqlResult).data).toEqual({ viewer: { isOperator: false } });
  });

  it('refuses a chunked POST (no content-length) over the limit, and keeps answering', async () => {
    const limit = loadConfig({}).maxBodyBytes;
    const piece = Buffer.alloc(512 * 1024, 0x20); // whitespace: valid JSON padding
    const pieces = [
      Buffer.from('{"query":"{ viewer { isOperator } }"'),
      ...Array.from({ length: Math.ceil(limit / piece.length) + 4 }, () => piece),
      Buffer.from('}'),
    ];
    const r = await post(pieces, {
      'content-type': 'application/json',
      'transfer-encoding': 'chunked',
      authorization: `Bearer ${read.secret}`,
    });
    // Refused: either the 413 arrives, or the server hangs up on the upload; never a GraphQL answer.
    if ('status' in r) {
      expect(r.status).toBe(413);
    } else {
      expect(r.error).toMatch(/ECONNRESET|EPIPE|socket hang up|aborted/i);
    }
    const after = await validQuery();
    expect(after.status).toBe(200);
    expect(after.json.data.viewer.apiKey.id).toBe(read.id);
  });

  it('accepts a small chunked POST, so the chunked path itself works', async () => {
    const body = Buffer.from(JSON.stringify({ query: '{ viewer { apiKey { id } } }' }));
    const r = await post([body.subarray(0, 10), body.subarray(10)], {
      'content-type': 'application/json',
      'transfer-encoding': 'chunked',
      authorization: `Bearer ${read.secret}`,
    });
    expect('status' in r && r.status).toBe(200);
    if ('status' in r) expect((JSON.parse(r.body) as GqlResult).data).toEqual({ viewer: { apiKey: { id: read.id } } });
  });

  it('serves /healthz, /readyz and Prometheus /metrics with request and usage counters', async () => {
    await gql(t.adminKey, RECORD, { input: { idempotencyKey: 'metrics-1', kind: 'CALL', cost: '1' } });
    await gql(t.adminKey, RECORD, { input: { idempotencyKey: 'metrics-1', kind: 'CALL', cost: '1' } });
    await validQuery();
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await metrics.text();
    expect(text).toContain('# TYPE tally_graphql_requests_total counter');
    expect(text).toContain('# TYPE tally_usage_items_total counter');
    expect(text).toMatch(/^tally_graphql_requests_total\{[^}]*status="200"[^}]*\} [1-9]\d*$/m);
    expect(text).toMatch(/^tally_usage_items_total\{outcome="CREATED"\} [1-9]\d*$/m);
    expect(text).toMatch(/^tally_usage_items_total\{outcome="DUPLICATE"\} [1-9]\d*$/m);
  });
});

describe('production mode', () => {
  let prod: App;
  beforeAll(() => {
    prod = productionApp(h.db);
  });
  afterAll(async () => prod?.close());
  const post = async (app: App, query: string) => {
    const json = await postTo(app, read.secret, query);
    checkErrors(json);
    return json;
  };
  const graphiql = (app: App) =>
    app.yoga.fetch('http://tally.test/graphql', { method: 'GET', headers: { accept: 'text/html' } });

  it('refuses introspection in production and allows it in development', async () => {
    const INTROSPECT = '{ __schema { types { name } } }';
    const devSchema = await post(h.app, INTROSPECT);
    expect(devSchema.errors).toBeUndefined();
    expect(devSchema.data.__schema.types.map((x: { name: string }) => x.name)).toContain('UsageEvent');
    const prodSchema = await post(prod, INTROSPECT);
    expect(prodSchema.errors?.length).toBeGreaterThan(0);
    expect(prodSchema.data?.__schema ?? null).toBeNull();
    expect(JSON.stringify(prodSchema)).not.toContain('UsageEvent');
    const prodType = await post(prod, '{ __type(name: "UsageEvent") { fields { name } } }');
    expect(prodType.errors?.length).toBeGreaterThan(0);
    expect(JSON.stringify(prodType)).not.toContain('idempotencyKey');
    // ordinary queries still work in production
    const viewer = await post(prod, '{ viewer { apiKey { id } } }');
    expect(viewer.data).toEqual({ viewer: { apiKey: { id: read.id } } });
  });

  it('serves GraphiQL only in development', async () => {
    const dev = await graphiql(h.app);
    expect(dev.status).toBe(200);
    expect(dev.headers.get('content-type')).toMatch(/text\/html/);
    expect((await dev.text()).toLowerCase()).toContain('graphiql');
    const p = await graphiql(prod);
    const body = await p.text();
    expect(p.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
    expect(body.toLowerCase()).not.toContain('graphiql');
  });

  it('does not suggest field names in production', async () => {
    const dev = await post(h.app, '{ viewr { isOperator } }');
    expect(dev.errors?.[0]?.message).toMatch(/Did you mean/);
    const p = await post(prod, '{ viewr { isOperator } }');
    expect(p.errors?.length).toBeGreaterThan(0);
    expect(p.errors?.[0]?.message).not.toMatch(/Did you mean|viewer/);
  });
});

describe('errors never leak internals', () => {
  it('a malformed ID is NOT_FOUND (or null), never INTERNAL', async () => {
    const r = await gql(OPERATOR_KEY, 'query($id: ID!) { tenant(id: $id) { id name } }', { id: 'not-a-uuid' });
    if (r.errors) expect(codeOf(r)).toBe('NOT_FOUND');
    else expect(r.data.tenant).toBeNull();
    expect(JSON.stringify(r)).not.toMatch(INTERNALS);
    const missing = await gql(OPERATOR_KEY, 'query($id: ID!) { tenant(id: $id) { id } }', {
      id: '00000000-0000-4000-8000-000000000000',
    });
    if (missing.errors) expect(codeOf(missing)).toBe('NOT_FOUND');
    else expect(missing.data.tenant).toBeNull();
  });

  const day = 86_400_000;
  const range = () => ({
    from: new Date(Date.now() - day).toISOString(),
    to: new Date(Date.now() + day).toISOString(),
  });
  const CASES: { name: string; key: () => string; query: string; vars: () => Record<string, unknown>; code: string }[] =
    [
      {
        name: 'revokeApiKey(id: malformed)',
        key: () => OPERATOR_KEY,
        query: 'mutation($id: ID!) { revokeApiKey(id: $id) { id } }',
        vars: () => ({ id: "1' OR '1'='1" }),
        code: 'NOT_FOUND',
      },
      {
        name: 'reverseUsage(eventId: malformed)',
        key: () => t.adminKey,
        query: 'mutation($input: ReverseUsageInput!) { reverseUsage(input: $input) { outcome } }',
        vars: () => ({ input: { eventId: "x'; DROP TABLE usage_events; --", idempotencyKey: 'r-x' } }),
        code: 'NOT_FOUND',
      },
      {
        name: 'usageEvents(filter.tenantId: malformed) as operator',
        key: () => OPERATOR_KEY,
        query: 'query($filter: UsageFilter!) { usageEvents(filter: $filter) { edges { cursor } } }',
        vars: () => ({ filter: { tenantId: 'not-a-uuid', ...range() } }),
        code: 'NOT_FOUND',
      },
      {
        name: 'usageEvents(filter.apiKeyId: malformed)',
        key: () => read.secret,
        query: 'query($filter: UsageFilter!) { usageEvents(filter: $filter) { edges { cursor } } }',
        vars: () => ({ filter: { apiKeyId: 'zzz', ...range() } }),
        code: 'NOT_FOUND',
      },
      {
        name: 'usageEvents(after: garbage)',
        key: () => read.secret,
        query:
          'query($filter: UsageFilter!, $after: String) { usageEvents(filter: $filter, after: $after) { edges { cursor } } }',
        vars: () => ({ filter: range(), after: '%%%not-a-cursor' }),
        code: 'BAD_USER_INPUT',
      },
      {
        name: 'usageSummary(filter.tenantId: unknown uuid) as operator',
        key: () => OPERATOR_KEY,
        query: 'query($filter: UsageFilter!) { usageSummary(filter: $filter) { totals { requests } } }',
        vars: () => ({ filter: { tenantId: '00000000-0000-4000-8000-000000000000', ...range() } }),
        code: 'NOT_FOUND',
      },
      {
        name: 'recordUsage(apiKeyId: malformed)',
        key: () => t.adminKey,
        query: RECORD,
        vars: () => ({ input: { idempotencyKey: 'leak-1', apiKeyId: 'nope', kind: 'CALL', cost: '1' } }),
        code: 'NOT_FOUND',
      },
      {
        name: 'recordUsage(cost: not a number)',
        key: () => t.adminKey,
        query: RECORD,
        vars: () => ({ input: { idempotencyKey: 'leak-2', kind: 'CALL', cost: 'abc' } }),
        code: 'BAD_USER_INPUT',
      },
      {
        name: 'recordUsage(cost: too large for the column)',
        key: () => t.adminKey,
        query: RECORD,
        vars: () => ({ input: { idempotencyKey: 'leak-3', kind: 'CALL', cost: '1'.padEnd(60, '0') } }),
        code: 'BAD_USER_INPUT',
      },
      {
        name: 'recordUsage(occurredAt: not a date)',
        key: () => t.adminKey,
        query: RECORD,
        vars: () => ({ input: { idempotencyKey: 'leak-4', kind: 'CALL', cost: '1', occurredAt: 'yesterday' } }),
        code: 'BAD_USER_INPUT',
      },
      {
        name: 'recordUsage(inputTokens: over Int)',
        key: () => t.adminKey,
        query: RECORD,
        vars: () => ({ input: { idempotencyKey: 'leak-5', kind: 'LLM', model: 'm', inputTokens: 2 ** 31 } }),
        code: 'BAD_USER_INPUT',
      },
      {
        name: 'createApiKey(tenantId: malformed) as operator',
        key: () => OPERATOR_KEY,
        query: 'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }',
        vars: () => ({ input: { tenantId: 'not-a-uuid', name: 'k', scopes: ['READ'] } }),
        code: 'NOT_FOUND',
      },
      {
        name: 'createApiKey(tenantId: unknown uuid) as operator',
        key: () => OPERATOR_KEY,
        query: 'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }',
        vars: () => ({ input: { tenantId: '00000000-0000-4000-8000-000000000000', name: 'k', scopes: ['READ'] } }),
        code: 'NOT_FOUND',
      },
      {
        name: 'setPrice(tenantId: malformed) as operator',
        key: () => OPERATOR_KEY,
        query: 'mutation($input: SetPriceInput!) { setPrice(input: $input) { id } }',
        vars: () => ({ input: { tenantId: 'nope', provider: 'p', model: 'm', perRequest: '1' } }),
        code: 'BAD_USER_INPUT',
      },
      {
        name: 'setPrice(rate: too large for the column)',
        key: () => OPERATOR_KEY,
        query: 'mutation($input: SetPriceInput!) { setPrice(input: $input) { id } }',
        vars: () => ({ input: { provider: 'p', model: 'm', perRequest: '9'.repeat(40) } }),
        code: 'BAD_USER_INPUT',
      },
      {
        name: 'prices(at: not a date)',
        key: () => read.secret,
        query: 'query($at: DateTime) { prices(at: $at) { id } }',
        vars: () => ({ at: '2026-13-45T99:00:00Z' }),
        code: 'BAD_USER_INPUT',
      },
      {
        name: 'createTenant(timezone: unknown)',
        key: () => OPERATOR_KEY,
        query: 'mutation($input: CreateTenantInput!) { createTenant(input: $input) { secret } }',
        vars: () => ({ input: { name: 'tz', timezone: 'Mars/Olympus_Mons' } }),
        code: 'BAD_USER_INPUT',
      },
      {
        name: 'createTenant(name: too long)',
        key: () => OPERATOR_KEY,
        query: 'mutation($input: CreateTenantInput!) { createTenant(input: $input) { secret } }',
        vars: () => ({ input: { name: 'n'.repeat(201) } }),
        code: 'BAD_USER_INPUT',
      },
      {
        name: 'unknown field',
        key: () => read.secret,
        query: '{ viewer { secretHash } }',
        vars: () => ({}),
        code: 'BAD_USER_INPUT',
      },
      {
        name: 'syntax error',
        key: () => read.secret,
        query: '{ viewer { ',
        vars: () => ({}),
        code: 'BAD_USER_INPUT',
      },
    ];

  for (const c of CASES) {
    it(`${c.name}: ${c.code}, no internals`, async () => {
      const r = await gql(c.key(), c.query, c.vars());
      expect(codeOf(r), JSON.stringify(r)).toBe(c.code);
      expect(JSON.stringify(r)).not.toMatch(INTERNALS);
    });
  }

  // PostgreSQL refuses U+0000 in text and JSON; each stored string is checked first, so the
  // caller gets BAD_USER_INPUT naming the field rather than an INTERNAL from the driver.
  const NUL_CASES: {
    name: string;
    key: () => string;
    query: string;
    vars: () => Promise<Record<string, unknown>> | Record<string, unknown>;
    field: string[];
  }[] = [
    {
      name: 'createTenant(name with NUL)',
      key: () => OPERATOR_KEY,
      query: 'mutation($input: CreateTenantInput!) { createTenant(input: $input) { secret } }',
      vars: () => ({ input: { name: 'a\u0000b' } }),
      field: ['input', 'name'],
    },
    {
      name: 'createTenant(timezone with NUL)',
      key: () => OPERATOR_KEY,
      query: 'mutation($input: CreateTenantInput!) { createTenant(input: $input) { secret } }',
      vars: () => ({ input: { name: 'nul-tz', timezone: 'UTC\u0000' } }),
      field: ['input', 'timezone'],
    },
    {
      name: 'createApiKey(name with NUL)',
      key: () => t.adminKey,
      query: 'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }',
      vars: () => ({ input: { name: 'a\u0000b', scopes: ['READ'] } }),
      field: ['input', 'name'],
    },
    {
      name: 'recordUsage(metadata string with NUL)',
      key: () => t.adminKey,
      query: RECORD,
      vars: () => ({ input: { idempotencyKey: 'nul-meta', kind: 'CALL', cost: '1', metadata: { note: 'a\u0000b' } } }),
      field: ['input', 'metadata'],
    },
    {
      name: 'reverseUsage(reason with NUL)',
      key: () => t.adminKey,
      query: 'mutation($input: ReverseUsageInput!) { reverseUsage(input: $input) { outcome } }',
      vars: async () => {
        const ev = await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'nul-orig', kind: 'CALL', cost: '1' } });
        return { input: { eventId: ev.recordUsage.event.id, idempotencyKey: 'nul-r', reason: 'a\u0000b' } };
      },
      field: ['input', 'reason'],
    },
  ];
  for (const c of NUL_CASES) {
    it(`${c.name}: BAD_USER_INPUT, not INTERNAL`, async () => {
      const r = await h.gql(c.key(), c.query, await c.vars());
      expect(codeOf(r), JSON.stringify(r)).not.toBe('INTERNAL');
      expect(r.errors?.[0]?.extensions?.code, JSON.stringify(r)).toBe('BAD_USER_INPUT');
      expect(r.errors?.[0]?.extensions?.field).toEqual(c.field);
      checkErrors(r);
    });
  }
});

describe('authentication', () => {
  it('never uses cookies: a Cookie header without Authorization is UNAUTHENTICATED', async () => {
    for (const cookie of [
      `authorization=Bearer ${read.secret}`,
      `token=${read.secret}; session=${read.secret}`,
      `Authorization=${encodeURIComponent(`Bearer ${read.secret}`)}`,
    ]) {
      const res = await h.app.yoga.fetch('http://tally.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie },
        body: JSON.stringify({ query: '{ viewer { isOperator apiKey { id } } }' }),
      });
      const json = (await res.json()) as GqlResult;
      checkErrors(json);
      expect(json.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(res.status).toBe(401);
      expect(JSON.stringify(json)).not.toContain(read.id);
    }
    // the same key as a bearer token works, so the cookie really was ignored
    const ok = await gql(read.secret, '{ viewer { apiKey { id } } }');
    expect(ok.data.viewer.apiKey.id).toBe(read.id);
  });
});
