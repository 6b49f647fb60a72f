// CSV exports over real HTTP: GET /export/usage-events.csv and /export/usage-summary.csv,
// authenticated and filtered as GraphQL is, quoted by csv-stringify, money as exact text,
// errors before the first row as JSON with a contract code, and a client that goes away
// releases the cursor and its connection.
import http from 'node:http';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Server } from '../server/src/http';
import { rebuild } from '../server/src/modules/usage/usage.reconcile';
import { createHarness, type Harness, OPERATOR_KEY, RECORD, type SeededTenant, SUMMARY } from './support/harness';
import { until } from './support/wait';

let h: Harness;
let server: Server;
let base: string;
let acme: SeededTenant;
let other: SeededTenant;
const NOW = new Date();
const FROM = new Date(NOW.getTime() - 2 * 3_600_000).toISOString();
const TO = new Date(NOW.getTime() + 3_600_000).toISOString();

beforeAll(async () => {
  h = await createHarness('usage-export');
  server = await h.listen();
  base = `http://127.0.0.1:${server.port}`;
  acme = await h.seed.tenant('acme-export');
  other = await h.seed.tenant('other-export');
  const at = (minutesAgo: number) => new Date(NOW.getTime() - minutesAgo * 60_000).toISOString();
  const inputs = [
    { idempotencyKey: 'e1', kind: 'CALL', cost: '0.000000000001', subject: 'plain', occurredAt: at(50) },
    // characters CSV must quote, and ones it must not mangle
    { idempotencyKey: 'e2', kind: 'CALL', cost: '12.5', subject: 'a,b "c" d 👩‍💻', occurredAt: at(40) },
    {
      idempotencyKey: 'e3',
      kind: 'LLM',
      model: 'gpt-4o',
      cost: '3',
      inputTokens: 10,
      outputTokens: 5,
      status: 'FAILED',
      metadata: { note: 'x,y', n: 1 },
      occurredAt: at(30),
    },
    { idempotencyKey: 'e4', kind: 'CALL', cost: '1', subject: '=cmd|"/c calc"', occurredAt: at(20) },
  ];
  const ids: string[] = [];
  for (const input of inputs) ids.push((await h.ok(acme.adminKey, RECORD, { input })).recordUsage.event.id);
  // a reversal's reason may hold line breaks: the one ledger text that can
  await h.ok(acme.adminKey, 'mutation($input: ReverseUsageInput!) { reverseUsage(input: $input) { outcome } }', {
    input: { eventId: ids[3], idempotencyKey: 'r4', reason: 'line one\nline "two", three' },
  });
  await h.ok(other.adminKey, RECORD, { input: { idempotencyKey: 'o1', kind: 'CALL', cost: '99', occurredAt: at(10) } });
});
afterAll(async () => h?.close());

/** The id of e4 (the entry r4 reverses), from the export itself. */
const ids4 = (rows: Record<string, string>[]) => rows.find((r) => r.idempotencyKey === 'e4')?.id;

const get = (path: string, key: string | null, query: Record<string, string>) =>
  fetch(`${base}${path}?${new URLSearchParams(query)}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

async function csv(path: string, key: string, query: Record<string, string>) {
  const res = await get(path, key, query);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return { res, text, rows: parse(text, { columns: true }) as Record<string, string>[] };
}

async function refused(path: string, key: string | null, query: Record<string, string>) {
  const res = await get(path, key, query);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as { errors: { message: string; extensions: { code: string; field?: string[] } }[] };
  return { status: res.status, ...(body.errors[0]?.extensions ?? {}), message: body.errors[0]?.message };
}

describe('GET /export/usage-events.csv', () => {
  it('streams every entry of the filter oldest first, named after UsageEvent, quoted, money exact', async () => {
    const { res, text, rows } = await csv('/export/usage-events.csv', acme.adminKey, { from: FROM, to: TO });
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="usage-events-\d{8}T\d{6}Z-\d{8}T\d{6}Z\.csv"$/,
    );
    expect(new Date(res.headers.get('x-tally-as-of') as string).getTime()).toBeGreaterThan(NOW.getTime() - 60_000);
    expect(text.split('\n')[0]).toBe(
      'id,idempotencyKey,tenantId,apiKeyId,subject,kind,provider,model,modelSource,status,inputTokens,outputTokens,cachedInputTokens,cacheWriteInputTokens,reasoningTokens,totalTokens,durationMs,quantity,cost,currency,priceId,latencyMs,sessionId,metadata,occurredAt,recordedAt,reversesId,reason',
    );
    expect(rows.map((r) => r.idempotencyKey)).toEqual(['e1', 'e2', 'e3', 'e4', 'r4']);
    expect(rows.map((r) => r.cost)).toEqual([
      '0.000000000001',
      '12.500000000000',
      '3.000000000000',
      '1.000000000000',
      '-1.000000000000',
    ]);
    expect(rows[1]?.subject).toBe('a,b "c" d 👩‍💻');
    expect(text).toContain('"a,b ""c"" d 👩‍💻"');
    expect(rows[4]).toMatchObject({ reversesId: ids4(rows), reason: 'line one\nline "two", three' });
    expect(text).toContain('"line one\nline ""two"", three"');
    // exact, not spreadsheet-escaped: what was recorded is what is exported
    expect(rows[3]?.subject).toBe('=cmd|"/c calc"');
    expect(rows[2]).toMatchObject({ status: 'FAILED', model: 'gpt-4o', totalTokens: '15', tenantId: acme.id });
    expect(JSON.parse(rows[2]?.metadata as string)).toEqual({ note: 'x,y', n: 1 });
    expect(rows[0]).toMatchObject({
      apiKeyId: acme.adminKeyId,
      quantity: '1.000000000000',
      metadata: '',
      reversesId: '',
    });
    expect(rows[0]?.occurredAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('applies the filters as usageEvents does: status, subject, kind', async () => {
    const failed = await csv('/export/usage-events.csv', acme.adminKey, { from: FROM, to: TO, status: 'FAILED' });
    expect(failed.rows.map((r) => r.idempotencyKey)).toEqual(['e3']);
    const plain = await csv('/export/usage-events.csv', acme.adminKey, { from: FROM, to: TO, subject: 'plain' });
    expect(plain.rows.map((r) => r.idempotencyKey)).toEqual(['e1']);
    const none = await csv('/export/usage-events.csv', acme.adminKey, { from: FROM, to: TO, kind: 'ASR' });
    expect(none.rows).toEqual([]);
    expect(none.text.split('\n')[0]).toMatch(/^id,idempotencyKey,/);
  });

  it('a tenant key sees only its tenant; the operator must name one', async () => {
    const reader = await acme.key(['READ']);
    const mine = await csv('/export/usage-events.csv', reader.secret, { from: FROM, to: TO });
    expect(mine.rows).toHaveLength(5);
    expect(
      await refused('/export/usage-events.csv', reader.secret, { from: FROM, to: TO, tenantId: other.id }),
    ).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect(await refused('/export/usage-events.csv', OPERATOR_KEY, { from: FROM, to: TO })).toMatchObject({
      status: 400,
      code: 'BAD_USER_INPUT',
      field: ['tenantId'],
    });
    const theirs = await csv('/export/usage-events.csv', OPERATOR_KEY, { from: FROM, to: TO, tenantId: other.id });
    expect(theirs.rows.map((r) => r.idempotencyKey)).toEqual(['o1']);
  });

  it('refuses before the first row with a JSON body and a contract code', async () => {
    const ingest = await acme.key(['INGEST']);
    const path = '/export/usage-events.csv';
    expect(await refused(path, null, { from: FROM, to: TO })).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    expect(await refused(path, 'tly_nope', { from: FROM, to: TO })).toMatchObject({
      status: 401,
      code: 'UNAUTHENTICATED',
    });
    expect(await refused(path, ingest.secret, { from: FROM, to: TO })).toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
      message: 'this operation needs a key with the READ scope',
    });
    const long = { from: '2025-01-01T00:00:00Z', to: '2026-02-05T00:00:00.001Z' }; // 400 days and 1 ms
    expect(await refused(path, acme.adminKey, long)).toMatchObject({
      status: 400,
      code: 'BAD_USER_INPUT',
      field: ['to'],
    });
    expect(await refused(path, acme.adminKey, { to: TO })).toMatchObject({ status: 400, field: ['from'] });
    expect(await refused(path, acme.adminKey, { from: '2026-02-30T00:00:00Z', to: TO })).toMatchObject({
      status: 400,
      field: ['from'],
    });
    expect(await refused(path, acme.adminKey, { from: FROM, to: TO, kind: 'SMS' })).toMatchObject({
      status: 400,
      field: ['kind'],
    });
    expect(await refused(path, acme.adminKey, { from: FROM, to: TO, fromm: 'x' })).toMatchObject({
      status: 400,
      field: ['fromm'],
    });
    expect(await refused(path, acme.adminKey, { from: FROM, to: TO, apiKeyId: other.adminKeyId })).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
      field: ['apiKeyId'],
    });
    expect(await refused(path, acme.adminKey, { from: FROM, to: TO, subject: 'a\u0000b' })).toMatchObject({
      status: 400,
      field: ['subject'],
    });
    const post = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${acme.adminKey}` },
    });
    expect(post.status).toBe(405);
  });
});

describe('GET /export/usage-summary.csv', () => {
  it('one row per bucket: start, the grouped dimensions in the order asked, then every UsageTotals field', async () => {
    const { text, rows } = await csv('/export/usage-summary.csv', acme.adminKey, {
      from: FROM,
      to: TO,
      groupBy: 'STATUS,KIND',
      granularity: 'HOUR',
    });
    expect(text.split('\n')[0]).toBe(
      'start,status,kind,requests,failedRequests,inputTokens,outputTokens,cachedInputTokens,cacheWriteInputTokens,reasoningTokens,totalTokens,asrMilliseconds,quantity,cost,currency',
    );
    const gql = await h.ok(acme.adminKey, SUMMARY, {
      filter: { from: FROM, to: TO },
      groupBy: ['STATUS', 'KIND'],
      granularity: 'HOUR',
    });
    type Bucket = { start: string; kind: string; totals: Record<string, string | number> };
    const buckets = (gql.usageSummary.buckets as Bucket[]).map((b) => ({
      start: b.start,
      kind: b.kind,
      requests: String(b.totals.requests),
      totalTokens: String(b.totals.totalTokens),
      cost: b.totals.cost,
    }));
    expect(
      rows.map((r) => ({
        start: r.start,
        kind: r.kind,
        requests: r.requests,
        totalTokens: r.totalTokens,
        cost: r.cost,
      })),
    ).toEqual(buckets);
    expect(rows.find((r) => r.status === 'FAILED')).toMatchObject({
      kind: 'LLM',
      failedRequests: '1',
      cost: '3.000000000000',
    });
  });

  it('without granularity start is empty; MINUTE over 24 hours is refused naming granularity', async () => {
    const { rows } = await csv('/export/usage-summary.csv', acme.adminKey, { from: FROM, to: TO, groupBy: 'MODEL' });
    expect(rows.map((r) => [r.start, r.model, r.requests])).toEqual([
      ['', '', '2'], // e1, e2, e4 and r4, the reversal of e4 (requests -1)
      ['', 'gpt-4o', '1'],
    ]);
    const day = { from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00.001Z', granularity: 'MINUTE' };
    expect(await refused('/export/usage-summary.csv', acme.adminKey, day)).toMatchObject({
      status: 400,
      code: 'BAD_USER_INPUT',
      field: ['granularity'],
    });
    expect(
      await refused('/export/usage-summary.csv', acme.adminKey, { from: FROM, to: TO, groupBy: 'MODEL,COLOUR' }),
    ).toMatchObject({ status: 400, field: ['groupBy'] });
  });
});

describe('a client that goes away', () => {
  it('ends the cursor and gives the connection back to the pool', async () => {
    const big = await h.seed.tenant('big-export');
    await h.sql(
      `INSERT INTO usage_events (id, tenant_id, idempotency_key, fingerprint, kind, model_source, status, requests,
         input_tokens, output_tokens, cached_input_tokens, cache_write_input_tokens, reasoning_tokens, cost, currency, occurred_at)
       SELECT gen_random_uuid(), $1, 'g' || g, '\\x00', 'CALL', 'VENDOR', 'SUCCEEDED', 1, 0, 0, 0, 0, 0, 0.5, 'USD',
              now() - interval '1 hour' + g * interval '1 millisecond'
         FROM generate_series(1, 200000) g`,
      [big.id],
    );
    await rebuild(await h.ownerDb(), big.id); // its rollups, as the writer would have written them
    const active = async () =>
      (
        await h.sql(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND query LIKE '%usageExport:events%' AND state <> 'idle'`,
        )
      )[0].n as number;
    const url = `${base}/export/usage-events.csv?${new URLSearchParams({ from: FROM, to: TO })}`;
    const received = await new Promise<number>((resolve, reject) => {
      const req = http.get(url, { headers: { authorization: `Bearer ${big.adminKey}` } }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          // well into the stream (and so while the cursor is open), the client goes away
          if (bytes > 256 * 1024) {
            req.destroy();
            resolve(bytes);
          }
        });
        res.on('error', () => {});
      });
      req.on('error', (e) => {
        if (!req.destroyed) reject(e);
      });
    });
    expect(received).toBeGreaterThan(256 * 1024);
    await until(async () => (await active()) === 0, 'the cursor closed', 10_000);
    await until(() => h.db.poolStats().total === h.db.poolStats().idle, 'every connection back in the pool', 10_000);
    // and the pool still serves
    expect((await h.ok(big.adminKey, SUMMARY, { filter: { from: FROM, to: TO } })).usageSummary.totals.requests).toBe(
      200000,
    );
  });
});
