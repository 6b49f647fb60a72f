// examples/gateway.ts end to end: a real Tally server, a local fake OpenAI-compatible
// upstream (plain and streamed answers with usage), the gateway in between, and clients.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTallyClient } from 'tally/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createGateway } from '../examples/gateway';
import { createHarness, type Harness, OPERATOR_KEY } from './support/harness';

let h: Harness;
let upstream: http.Server;
let gateway: http.Server;
let gatewayUrl: string;
let tenantId: string;
let slowChunks = 0;
const upstreamSeen: { stream: boolean; includeUsage: boolean }[] = [];

const usage = {
  prompt_tokens: 1200,
  completion_tokens: 300,
  prompt_tokens_details: { cached_tokens: 200 },
  completion_tokens_details: { reasoning_tokens: 50 },
};

function fakeUpstream() {
  return http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', async () => {
      const body = JSON.parse(raw) as {
        stream?: boolean;
        stream_options?: { include_usage?: boolean };
        model: string;
        messages: { content: string }[];
      };
      upstreamSeen.push({ stream: !!body.stream, includeUsage: !!body.stream_options?.include_usage });
      const slow = body.messages[0]?.content === 'slow';
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'cmpl-1',
            object: 'chat.completion',
            model: body.model,
            choices: [{ index: 0, message: { role: 'assistant', content: 'hello' } }],
            usage,
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const words = slow ? Array.from({ length: 20 }, (_, i) => `w${i} `) : ['Hel', 'lo', '!'];
      for (const w of words) {
        res.write(
          `data: ${JSON.stringify({ id: 'cmpl-2', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: w } }], usage: null })}\n\n`,
        );
        if (slow) {
          slowChunks++;
          await new Promise((r) => setTimeout(r, 40));
        }
      }
      res.write(`data: ${JSON.stringify({ id: 'cmpl-2', object: 'chat.completion.chunk', choices: [], usage })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
}

const listen = (s: http.Server) =>
  new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

beforeAll(async () => {
  h = await createHarness('gateway');
  const tallyServer = await h.listen();
  const url = `http://127.0.0.1:${tallyServer.port}/graphql`;
  const op = createTallyClient({ url, apiKey: OPERATOR_KEY });
  await op.setPrice({
    provider: 'openai',
    model: 'gpt-4o-mini',
    inputPerMillion: '0.15',
    cachedInputPerMillion: '0.075',
    outputPerMillion: '0.6',
    effectiveFrom: '2020-01-01T00:00:00Z',
  });
  await op.upsertPlan({
    code: 'gw',
    name: 'Gateway',
    limits: [{ metric: 'REQUESTS', period: 'DAY', amount: '4', action: 'BLOCK' }],
  });
  const t = await op.createTenant({ name: 'gw', planCode: 'gw' });
  tenantId = t.apiKey.tenant.id;
  const admin = createTallyClient({ url, apiKey: t.secret });
  const ingest = await admin.createApiKey({ name: 'gateway', scopes: ['INGEST'] });
  upstream = fakeUpstream();
  const upstreamPort = await listen(upstream);
  gateway = createGateway({
    tally: createTallyClient({ url, apiKey: ingest.secret }),
    upstreamUrl: `http://127.0.0.1:${upstreamPort}`,
  });
  gatewayUrl = `http://127.0.0.1:${await listen(gateway)}/v1/chat/completions`;
});
afterAll(async () => {
  gateway?.closeAllConnections();
  upstream?.closeAllConnections();
  await new Promise((r) => gateway?.close(r));
  await new Promise((r) => upstream?.close(r));
  await h?.close();
});

const ask = (requestId: string, body: Record<string, unknown>, signal?: AbortSignal) =>
  fetch(gatewayUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify(body),
    signal,
  });

async function eventFor(requestId: string, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const [row] = await h.sql(
      `SELECT input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost::text AS cost, subject FROM usage_events
        WHERE tenant_id = $1 AND idempotency_key = $2`,
      [tenantId, requestId],
    );
    if (row) return row;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no usage recorded for ${requestId}`);
}

// 1000 uncached x 0.15/M + 200 cached x 0.075/M + 300 output x 0.6/M
const COST = '0.000345000000';
const recorded = { input_tokens: 1200, output_tokens: 300, cached_input_tokens: 200, reasoning_tokens: 50, cost: COST };

it('a plain request: proxied, recorded under its request id, reservation settled', async () => {
  const res = await ask('req-plain', {
    model: 'gpt-4o-mini',
    user: 'u-1',
    messages: [{ role: 'user', content: 'hi' }],
  });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe(
    'hello',
  );
  expect(await eventFor('req-plain')).toEqual({ ...recorded, subject: 'u-1' });
  const [open] = await h.sql(
    'SELECT count(*)::int AS n FROM reservations WHERE tenant_id = $1 AND settled_at IS NULL AND released_at IS NULL',
    [tenantId],
  );
  expect(open.n).toBe(0);
});

it('a streamed request: the client gets every chunk, usage comes from the final chunk', async () => {
  const res = await ask('req-stream', {
    model: 'gpt-4o-mini',
    stream: true,
    messages: [{ role: 'user', content: 'hi' }],
  });
  const text = await res.text();
  expect(text).toContain('Hel');
  expect(text).toContain('[DONE]');
  expect(upstreamSeen.at(-1)).toEqual({ stream: true, includeUsage: true });
  expect(await eventFor('req-stream')).toMatchObject(recorded);
});

it('a client that aborts mid-stream is still billed', async () => {
  const abort = new AbortController();
  const res = await ask(
    'req-abort',
    { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'slow' }] },
    abort.signal,
  );
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  abort.abort();
  await reader.read().catch(() => {});
  expect(slowChunks).toBeLessThan(20); // aborted while the upstream was still producing
  expect(await eventFor('req-abort')).toMatchObject(recorded);
});

it('answers 429 once the BLOCK limit is reached, and records nothing for it', async () => {
  // Three requests so far; the plan allows 4 a day.
  expect((await ask('req-4', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);
  await eventFor('req-4');
  const denied = await ask('req-5', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  expect(denied.status).toBe(429);
  expect(((await denied.json()) as { error: { type: string } }).error.type).toBe('insufficient_quota');
  const [n] = await h.sql('SELECT count(*)::int AS n FROM usage_events WHERE tenant_id = $1', [tenantId]);
  expect(n.n).toBe(4);
});
