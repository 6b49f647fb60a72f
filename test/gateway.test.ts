// examples/gateway.ts end to end, driven by the official `openai` SDK as real apps drive it: a real
// Tally server, a local OpenAI-format upstream over real HTTP (plain and streamed Chat Completions
// and Responses, an answer cut off partway, a stream without usage), the gateway in between.
// Every call is checked in Tally's ledger (usageEvents): recorded exactly once, with exact numbers.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTallyClient, type TallyClient, type UsageEvent } from '@tally/client';
import Decimal from 'decimal.js';
import OpenAI, { APIError, BadRequestError, RateLimitError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway } from '../examples/gateway';
import { createHarness, type Harness, OPERATOR_KEY } from './support/harness';
import { sleep, until } from './support/wait';

let h: Harness;
let upstream: http.Server;
const gateways: http.Server[] = [];
let reader: TallyClient;
let tightReader: TallyClient;
let mainTenant: string;
let tightTenant: string;
let oa: OpenAI; // the main tenant's gateway, no retries
let tightBase: string;
const gatewayLogs: string[] = [];

// ------------------------------------------------------------ the upstream

const CHAT_USAGE = {
  prompt_tokens: 1200,
  completion_tokens: 300,
  total_tokens: 1500,
  prompt_tokens_details: { cached_tokens: 200 },
  completion_tokens_details: { reasoning_tokens: 50 },
};
// 1000 uncached x 0.15/M + 200 cached x 0.075/M + 300 output x 0.6/M
const CHAT_COST = '0.000345000000';
const CHAT_RECORDED = {
  inputTokens: 1200,
  outputTokens: 300,
  cachedInputTokens: 200,
  reasoningTokens: 50,
  cost: CHAT_COST,
};

const RESPONSES_USAGE = {
  input_tokens: 1000,
  input_tokens_details: { cached_tokens: 400 },
  output_tokens: 250,
  output_tokens_details: { reasoning_tokens: 100 },
  total_tokens: 1250,
};
// 600 uncached x 0.15/M + 400 cached x 0.075/M + 250 output x 0.6/M
const RESPONSES_RECORDED = {
  inputTokens: 1000,
  outputTokens: 250,
  cachedInputTokens: 400,
  reasoningTokens: 100,
  cost: '0.000270000000',
};

const SLOW_WORDS = Array.from({ length: 20 }, (_, i) => `w${i} `);
const upstreamSeen: { api: string; model: string; prompt: unknown; stream: boolean; includeUsage: boolean }[] = [];
let slowChunksSent = 0;
let cutAt = 0;

const sse = (res: http.ServerResponse, data: unknown, event?: string) =>
  res.write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`);

function fakeUpstream() {
  return http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', async () => {
      const body = JSON.parse(raw);
      const api = req.url === '/v1/responses' ? 'responses' : 'chat';
      const prompt = api === 'chat' ? body.messages?.[0]?.content : body.input;
      upstreamSeen.push({
        api,
        model: body.model,
        prompt,
        stream: body.stream === true,
        includeUsage: body.stream_options?.include_usage === true,
      });
      const cut = async () => {
        await sleep(40); // what was written reaches the gateway; then the connection drops
        cutAt = Date.now();
        res.socket?.destroy();
      };
      if (api === 'responses') return responses(body, prompt, res);
      if (!body.stream) {
        if (prompt === 'cut') {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '400' });
          res.write('{"id":"chatcmpl-1","object":"chat.completion","choi');
          return cut();
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'chatcmpl-1',
            object: 'chat.completion',
            created: 1,
            model: `${body.model}-2024-07-18`.replace(/(-2024-07-18)+$/, '-2024-07-18'),
            choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
            usage: CHAT_USAGE,
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const slow = prompt === 'slow' || prompt === 'cut';
      const words = prompt === 'slow' ? SLOW_WORDS : prompt === 'cut' ? SLOW_WORDS.slice(0, 3) : ['Hel', 'lo', '!'];
      const chunk = (choices: unknown[], usage: unknown = null) => ({
        id: 'chatcmpl-2',
        object: 'chat.completion.chunk',
        created: 1,
        model: body.model,
        choices,
        usage,
      });
      for (const w of words) {
        sse(res, chunk([{ index: 0, delta: { content: w }, finish_reason: null }]));
        if (slow) {
          if (prompt === 'slow') slowChunksSent++;
          await sleep(40);
        }
      }
      if (prompt === 'cut') return cut();
      sse(res, chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
      if (prompt !== 'nousage' && body.stream_options?.include_usage) sse(res, chunk([], CHAT_USAGE));
      res.end('data: [DONE]\n\n');
    });
  });
}

async function responses(body: { model: string; stream?: boolean }, prompt: unknown, res: http.ServerResponse) {
  const message = (text: string) => ({
    type: 'message',
    id: 'msg_1',
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [] }],
  });
  const response = (status: string, output: unknown[], usage: unknown) => ({
    id: 'resp_1',
    object: 'response',
    created_at: 1,
    model: body.model,
    status,
    output,
    usage,
  });
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(response('completed', [message('hello')], RESPONSES_USAGE)));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  let seq = 0;
  sse(
    res,
    { type: 'response.created', sequence_number: seq++, response: response('in_progress', [], null) },
    'response.created',
  );
  for (const delta of ['Hel', 'lo']) {
    const e = { type: 'response.output_text.delta', sequence_number: seq++, item_id: 'msg_1', output_index: 0 };
    sse(res, { ...e, content_index: 0, delta, logprobs: [] }, 'response.output_text.delta');
  }
  if (prompt === 'cut') {
    await sleep(40);
    res.socket?.destroy();
    return;
  }
  const done = response('completed', [message('Hello')], RESPONSES_USAGE);
  sse(res, { type: 'response.completed', sequence_number: seq++, response: done }, 'response.completed');
  res.end();
}

// ------------------------------------------------------------ Tally, tenants and gateways

const listen = (s: http.Server) =>
  new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

async function gatewayFor(url: string, adminKey: string, upstreamUrl: string) {
  const ingest = await createTallyClient({ url, apiKey: adminKey }).createApiKey({ name: 'gw', scopes: ['INGEST'] });
  const gateway = createGateway({
    tally: createTallyClient({ url, apiKey: ingest.secret }),
    upstreamUrl,
    log: (m) => gatewayLogs.push(m),
  });
  gateways.push(gateway);
  return `http://127.0.0.1:${await listen(gateway)}/v1`;
}

beforeAll(async () => {
  h = await createHarness('gateway');
  const url = `http://127.0.0.1:${(await h.listen()).port}/graphql`;
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
    code: 'gw-main',
    name: 'Gateway',
    limits: [{ metric: 'REQUESTS', period: 'DAY', amount: '1000', action: 'BLOCK' }],
  });
  await op.upsertPlan({
    code: 'gw-tight',
    name: 'Tight',
    limits: [{ metric: 'COST', period: 'DAY', amount: '0.01', action: 'BLOCK' }],
  });
  const main = await op.createTenant({ name: 'gw', planCode: 'gw-main' });
  const tight = await op.createTenant({ name: 'gw-tight', planCode: 'gw-tight' });
  mainTenant = main.apiKey.tenant.id;
  tightTenant = tight.apiKey.tenant.id;
  reader = createTallyClient({ url, apiKey: main.secret });
  tightReader = createTallyClient({ url, apiKey: tight.secret });

  upstream = fakeUpstream();
  const upstreamUrl = `http://127.0.0.1:${await listen(upstream)}`;
  const mainBase = await gatewayFor(url, main.secret, upstreamUrl);
  tightBase = await gatewayFor(url, tight.secret, upstreamUrl);
  oa = new OpenAI({ baseURL: mainBase, apiKey: 'sk-unused', maxRetries: 0, timeout: 20_000 });
});

afterAll(async () => {
  for (const s of [...gateways, upstream]) {
    s?.closeAllConnections();
    await new Promise((r) => (s ? s.close(r) : r(null)));
  }
  await h?.close();
});

// ------------------------------------------------------------ reading the ledger

/** How many entries each caller's x-request-id should have, checked once more at the end. */
const expected = new Map<string, number>();
const tag = (id: string) => ({ headers: { 'x-request-id': id } });

async function ledger(tally = reader): Promise<UsageEvent[]> {
  const now = Date.now();
  const filter = { from: new Date(now - 86_400_000).toISOString(), to: new Date(now + 86_400_000).toISOString() };
  return (await tally.usageEvents({ filter, first: 500 })).edges.map((e) => e.node);
}
const clientIdOf = (e: UsageEvent) => (e.metadata as { clientRequestId?: string } | null)?.clientRequestId;

/** The entries recorded for a caller's x-request-id, once `n` are there. */
async function recorded(clientRequestId: string, n = 1, tally = reader): Promise<UsageEvent[]> {
  expected.set(clientRequestId, n);
  let found: UsageEvent[] = [];
  await until(
    async () => {
      found = (await ledger(tally)).filter((e) => clientIdOf(e) === clientRequestId);
      return found.length >= n;
    },
    `${n} entries for ${clientRequestId}`,
    10_000,
    25,
  );
  expect(found).toHaveLength(n);
  return found;
}

const tokensAndCost = (e: UsageEvent) => ({
  inputTokens: e.inputTokens,
  outputTokens: e.outputTokens,
  cachedInputTokens: e.cachedInputTokens,
  reasoningTokens: e.reasoningTokens,
  cost: e.cost,
});

/** The gateway's estimate: a token per 4 characters, priced at gpt-4o-mini's rates. */
const estimate = (promptJson: string, outputChars: number) => {
  const inputTokens = Math.ceil(promptJson.length / 4);
  const outputTokens = Math.ceil(outputChars / 4);
  const cost = new Decimal(inputTokens).mul('0.15').plus(new Decimal(outputTokens).mul('0.6')).div(1_000_000);
  return { inputTokens, outputTokens, cachedInputTokens: 0, reasoningTokens: 0, cost: cost.toFixed(12) };
};

async function drain<T>(stream: AsyncIterable<T>): Promise<{ items: T[]; error: unknown }> {
  const items: T[] = [];
  try {
    for await (const item of stream) items.push(item);
    return { items, error: null };
  } catch (error) {
    return { items, error };
  }
}

const hi = [{ role: 'user' as const, content: 'hi' }];

// ------------------------------------------------------------ Chat Completions

describe('chat completions through the SDK', () => {
  it('a plain request: answered, recorded once under the gateway own request id, subject from safety_identifier', async () => {
    const { data, request_id } = await oa.chat.completions
      .create({ model: 'gpt-4o-mini', messages: hi, user: 'legacy-user', safety_identifier: 'u-1' }, tag('plain-1'))
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('hello');
    const [event] = await recorded('plain-1');
    expect(request_id).toMatch(/^req_[0-9a-f]{32}$/);
    expect(event?.idempotencyKey).toBe(request_id);
    expect(event).toMatchObject({ ...CHAT_RECORDED, status: 'SUCCEEDED', subject: 'u-1', model: 'gpt-4o-mini' });
    expect(event?.price).not.toBeNull();
    // The upstream answered with the dated name: kept, not billed under it.
    expect(event?.metadata).toEqual({ clientRequestId: 'plain-1', upstreamModel: 'gpt-4o-mini-2024-07-18' });
    const [open] = await h.sql(
      'SELECT count(*)::int AS n FROM reservations WHERE tenant_id = $1 AND settled_at IS NULL AND released_at IS NULL',
      [mainTenant],
    );
    expect(open.n).toBe(0);
  });

  it('user is the subject when there is no safety_identifier', async () => {
    await oa.chat.completions.create({ model: 'gpt-4o-mini', messages: hi, user: 'u-2' }, tag('user-2'));
    expect((await recorded('user-2'))[0]?.subject).toBe('u-2');
  });

  it('the caller x-request-id is not the idempotency key: the same header twice is served and billed twice', async () => {
    const first = await oa.chat.completions
      .create({ model: 'gpt-4o-mini', messages: hi }, tag('same-id'))
      .withResponse();
    const second = await oa.chat.completions
      .create({ model: 'gpt-4o-mini', messages: hi }, tag('same-id'))
      .withResponse();
    expect(first.request_id).not.toBe(second.request_id);
    const events = await recorded('same-id', 2);
    expect(events.map((e) => e.idempotencyKey).sort()).toEqual([first.request_id, second.request_id].sort());
    for (const e of events) expect(tokensAndCost(e)).toEqual(CHAT_RECORDED);
  });

  it('a stream for a client that did not ask for usage: no usage chunk reaches it, every chunk has a choice', async () => {
    const stream = await oa.chat.completions.create(
      { model: 'gpt-4o-mini', messages: hi, stream: true },
      tag('stream-no-usage-asked'),
    );
    const { items, error } = await drain(stream);
    expect(error).toBeNull();
    // What apps do with every chunk; a `choices: []` chunk would throw here.
    expect(items.map((c) => c.choices[0]!.delta.content ?? '').join('')).toBe('Hello!');
    expect(items.every((c) => c.usage == null)).toBe(true);
    expect(upstreamSeen.at(-1)).toMatchObject({ stream: true, includeUsage: true }); // the gateway still asked
    const [event] = await recorded('stream-no-usage-asked');
    expect(event).toMatchObject({ ...CHAT_RECORDED, status: 'SUCCEEDED' });
  });

  it('a stream for a client that asked for usage gets the usage chunk', async () => {
    const stream = await oa.chat.completions.create(
      { model: 'gpt-4o-mini', messages: hi, stream: true, stream_options: { include_usage: true } },
      tag('stream-usage-asked'),
    );
    const { items } = await drain(stream);
    expect(items.at(-1)).toMatchObject({ choices: [], usage: CHAT_USAGE });
    expect(items.filter((c) => c.usage)).toHaveLength(1);
    expect(await recorded('stream-usage-asked')).toMatchObject([{ ...CHAT_RECORDED, status: 'SUCCEEDED' }]);
  });

  it('a client that aborts mid-stream is still billed, with the upstream usage', async () => {
    const abort = new AbortController();
    slowChunksSent = 0;
    const stream = await oa.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'slow' }], stream: true },
      { ...tag('aborted'), signal: abort.signal },
    );
    let seen = 0;
    for await (const _ of stream) {
      if (++seen === 2) abort.abort();
    }
    expect(seen).toBe(2);
    expect(slowChunksSent).toBeLessThan(SLOW_WORDS.length); // aborted while the upstream was still producing
    const [event] = await recorded('aborted');
    expect(slowChunksSent).toBe(SLOW_WORDS.length); // the gateway read the upstream to its end
    expect(event).toMatchObject({ ...CHAT_RECORDED, status: 'SUCCEEDED' });
  });

  it('an upstream that cuts one stream off: that client gets an error, the gateway lives, concurrent streams complete, all are recorded', async () => {
    const slow = (i: number) =>
      oa.chat.completions
        .create(
          { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'slow' }], stream: true },
          tag(`healthy-${i}`),
        )
        .then(drain)
        .then((r) => ({ ...r, endedAt: Date.now() }));
    const healthy = [slow(1), slow(2)];
    const cutMessages = [{ role: 'user' as const, content: 'cut' }];
    const cut = await drain(
      await oa.chat.completions.create(
        { model: 'gpt-4o-mini', messages: cutMessages, stream: true },
        tag('cut-stream'),
      ),
    );
    expect(cut.items.map((c) => c.choices[0]?.delta.content).join('')).toBe('w0 w1 w2 ');
    expect(cut.error).toBeInstanceOf(APIError);
    expect((cut.error as APIError).code).toBe('upstream_error');

    for (const done of await Promise.all(healthy)) {
      expect(done.error).toBeNull();
      expect(done.items.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(SLOW_WORDS.join(''));
      expect(done.endedAt).toBeGreaterThan(cutAt); // they were running when the other one was cut
    }
    for (const i of [1, 2]) {
      expect(await recorded(`healthy-${i}`)).toMatchObject([{ ...CHAT_RECORDED, status: 'SUCCEEDED' }]);
    }
    // The cut one: FAILED, with what the gateway knows (its prompt, 9 characters streamed).
    const [failed] = await recorded('cut-stream');
    expect(failed?.status).toBe('FAILED');
    expect(tokensAndCost(failed!)).toEqual(estimate(JSON.stringify(cutMessages), 'w0 w1 w2 '.length));
    expect(failed?.metadata).toMatchObject({ clientRequestId: 'cut-stream', usage: 'estimated' });
    expect((failed?.metadata as { error?: string } | null)?.error).toMatch(/^upstream broke off: terminated/);

    // The same for a plain answer cut off: the SDK sees a 502, the gateway still serves.
    const plainCut = await oa.chat.completions
      .create({ model: 'gpt-4o-mini', messages: cutMessages }, tag('cut-plain'))
      .catch((e: unknown) => e);
    expect(plainCut).toBeInstanceOf(APIError);
    expect((plainCut as APIError).status).toBe(502);
    const [plainFailed] = await recorded('cut-plain');
    expect(plainFailed?.status).toBe('FAILED');
    expect(tokensAndCost(plainFailed!)).toEqual(estimate(JSON.stringify(cutMessages), 0));
    const after = await oa.chat.completions.create({ model: 'gpt-4o-mini', messages: hi }, tag('after-cut'));
    expect(after.choices[0]?.message.content).toBe('hello');
    await recorded('after-cut');
  });

  it('a stream without a usage chunk is recorded with an estimate of what was streamed, marked estimated', async () => {
    const messages = [{ role: 'user' as const, content: 'nousage' }];
    const stream = await oa.chat.completions.create(
      { model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } },
      tag('no-usage'),
    );
    const { items, error } = await drain(stream);
    expect(error).toBeNull();
    expect(items.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hello!');
    const [event] = await recorded('no-usage');
    expect(event?.status).toBe('SUCCEEDED');
    expect(tokensAndCost(event!)).toEqual(estimate(JSON.stringify(messages), 'Hello!'.length));
    expect(Number(event?.cost)).toBeGreaterThan(0);
    expect(event?.metadata).toEqual({ clientRequestId: 'no-usage', usage: 'estimated' });
  });
});

// ------------------------------------------------------------ prices

describe('models and prices', () => {
  it('a dated model name is billed at its base price, the asked name kept', async () => {
    const c = await oa.chat.completions.create({ model: 'gpt-4o-mini-2024-07-18', messages: hi }, tag('dated'));
    expect(c.choices[0]?.message.content).toBe('hello');
    expect(upstreamSeen.at(-1)?.model).toBe('gpt-4o-mini-2024-07-18'); // the upstream got what was asked
    const [event] = await recorded('dated');
    expect(event).toMatchObject({ ...CHAT_RECORDED, model: 'gpt-4o-mini', status: 'SUCCEEDED' });
    expect(event?.price).not.toBeNull();
    expect(event?.metadata).toEqual({ clientRequestId: 'dated', requestedModel: 'gpt-4o-mini-2024-07-18' });
  });

  it('a model without a price is refused before the upstream is called: nothing is served unbilled', async () => {
    const seen = upstreamSeen.length;
    const refused = await oa.chat.completions
      .create({ model: 'mystery-model', messages: hi }, tag('unpriced'))
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BadRequestError);
    expect(refused).toMatchObject({ status: 400, code: 'model_not_priced', param: 'model' });
    expect(upstreamSeen.length).toBe(seen);
    expect((await ledger()).filter((e) => clientIdOf(e) === 'unpriced')).toEqual([]);
    expected.set('unpriced', 0);
  });
});

// ------------------------------------------------------------ limits

describe('limits', () => {
  it('reserves max_completion_tokens, answers 429 in OpenAI format, and the SDK does not retry it', async () => {
    let hits = 0;
    const gateway = gateways[1]!;
    const count = () => hits++;
    gateway.on('request', count);
    try {
      const sdk = new OpenAI({ baseURL: tightBase, apiKey: 'sk-unused', maxRetries: 2 });
      // 100,000 output tokens at 0.6/M is 0.06 over a 0.01 COST limit: denied before any spend.
      const started = Date.now();
      const denied = await sdk.chat.completions
        .create({ model: 'gpt-4o-mini', messages: hi, max_completion_tokens: 100_000 }, tag('denied'))
        .catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(RateLimitError);
      const e = denied as RateLimitError;
      expect({ status: e.status, code: e.code, type: e.type, param: e.param }).toEqual({
        status: 429,
        code: 'insufficient_quota',
        type: 'insufficient_quota',
        param: null,
      });
      expect(e.message).toContain('COST DAY limit of 0.01');
      expect(e.headers.get('x-should-retry')).toBe('false');
      expect(hits).toBe(1);
      expect(Date.now() - started).toBeLessThan(2_000);
      expected.set('denied', 0);

      // 1,000 allowed output tokens fit: served, and the reservation held exactly that.
      await sdk.chat.completions.create(
        { model: 'gpt-4o-mini', messages: hi, max_completion_tokens: 1000 },
        tag('allowed'),
      );
      const [event] = await recorded('allowed', 1, tightReader);
      const [held] = await h.sql(
        'SELECT input_tokens::int, output_tokens::int, settled_at IS NOT NULL AS settled FROM reservations WHERE tenant_id = $1 AND event_id = $2',
        [tightTenant, event?.id],
      );
      expect(held).toEqual({
        input_tokens: Math.ceil(JSON.stringify(hi).length / 4),
        output_tokens: 1000,
        settled: true,
      });
      expect((await ledger(tightReader)).filter((x) => clientIdOf(x) === 'denied')).toEqual([]);
    } finally {
      gateway.off('request', count);
    }
  });
});

// ------------------------------------------------------------ the Responses API

describe('the Responses API through the SDK', () => {
  it('plain: answered, usage with input_tokens_details and output_tokens_details recorded', async () => {
    const { data, request_id } = await oa.responses
      .create({ model: 'gpt-4o-mini', input: 'hi', safety_identifier: 'u-r' }, tag('responses-plain'))
      .withResponse();
    expect(data.output_text).toBe('hello');
    const [event] = await recorded('responses-plain');
    expect(event).toMatchObject({ ...RESPONSES_RECORDED, status: 'SUCCEEDED', subject: 'u-r' });
    expect(event?.idempotencyKey).toBe(request_id);
    expect(upstreamSeen.at(-1)).toMatchObject({ api: 'responses', prompt: 'hi', stream: false });
  });

  it('streamed: every event reaches the client, usage comes from response.completed', async () => {
    const stream = await oa.responses.create(
      { model: 'gpt-4o-mini', input: 'hi', stream: true },
      tag('responses-stream'),
    );
    const { items, error } = await drain(stream);
    expect(error).toBeNull();
    expect(items.map((e) => e.type)).toEqual([
      'response.created',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.completed',
    ]);
    const completed = items.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.response.usage).toEqual(RESPONSES_USAGE);
    const [event] = await recorded('responses-stream');
    expect(event).toMatchObject({ ...RESPONSES_RECORDED, status: 'SUCCEEDED' });
  });

  it('streamed and cut off: an error event for the client, FAILED with an estimate in the ledger', async () => {
    const stream = await oa.responses.create(
      { model: 'gpt-4o-mini', input: 'cut', stream: true },
      tag('responses-cut'),
    );
    const { items, error } = await drain(stream);
    expect(items.map((e) => e.type)).toEqual([
      'response.created',
      'response.output_text.delta',
      'response.output_text.delta',
    ]);
    expect(error).toBeInstanceOf(APIError);
    const [event] = await recorded('responses-cut');
    expect(event?.status).toBe('FAILED');
    expect(tokensAndCost(event!)).toEqual(estimate(JSON.stringify([null, 'cut']), 'Hello'.length));
  });

  it('background responses are refused (their usage would arrive after the call): 400, nothing sent upstream', async () => {
    const seen = upstreamSeen.length;
    const refused = await oa.responses
      .create({ model: 'gpt-4o-mini', input: 'hi', background: true }, tag('background'))
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 400, param: 'background' });
    expect(upstreamSeen.length).toBe(seen);
    expected.set('background', 0);
  });
});

it('a subject Tally refuses (over 255 characters) is a 400 naming it, before the upstream is called', async () => {
  const seen = upstreamSeen.length;
  const refused = await oa.chat.completions
    .create({ model: 'gpt-4o-mini', messages: hi, safety_identifier: 'u'.repeat(300) }, tag('long-subject'))
    .catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(BadRequestError);
  expect(refused).toMatchObject({ status: 400, code: 'invalid_value', param: 'subject' });
  expect(upstreamSeen.length).toBe(seen);
  expected.set('long-subject', 0);
});

it('a body that is not JSON is 400, one over maxBodyBytes 413, both in OpenAI format, before any spend', async () => {
  const small = createGateway({
    tally: reader,
    upstreamUrl: 'http://127.0.0.1:9',
    maxBodyBytes: 1000,
    log: (m) => gatewayLogs.push(m),
  });
  gateways.push(small);
  const base = `http://127.0.0.1:${await listen(small)}/v1/chat/completions`;
  const post = async (body: string) => {
    const res = await fetch(base, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: res.status, error: ((await res.json()) as { error: { code: string; type: string } }).error };
  };
  expect(await post('{"model":')).toMatchObject({
    status: 400,
    error: { code: 'invalid_json', type: 'invalid_request_error' },
  });
  expect(
    await post(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(5000) }] })),
  ).toMatchObject({ status: 413, error: { code: 'request_too_large', type: 'invalid_request_error' } });
  expect(await post(JSON.stringify(['not', 'an', 'object']))).toMatchObject({ status: 400 });
  expect(await post(JSON.stringify({ messages: [] }))).toMatchObject({
    status: 400,
    error: { code: 'missing_required_parameter' },
  });
});

it('unknown routes answer 404 in OpenAI format', async () => {
  const res = await fetch(`${oa.baseURL}/models`);
  expect(res.status).toBe(404);
  expect(await res.json()).toEqual({
    error: { message: 'no route GET /v1/models', type: 'invalid_request_error', code: 'unknown_url', param: null },
  });
});

it('in the end: every call recorded exactly once, no reservation left open, nothing logged', async () => {
  await sleep(100); // a second recording of anything would have landed by now
  const all = [...(await ledger()), ...(await ledger(tightReader))];
  const counts = new Map<string, number>();
  for (const e of all) counts.set(clientIdOf(e) ?? '', (counts.get(clientIdOf(e) ?? '') ?? 0) + 1);
  for (const [id, n] of expected) expect([id, counts.get(id) ?? 0]).toEqual([id, n]);
  expect(all.length).toBe([...expected.values()].reduce((a, b) => a + b, 0));
  expect(new Set(all.map((e) => e.idempotencyKey)).size).toBe(all.length);
  const [open] = await h.sql(
    'SELECT count(*)::int AS n FROM reservations WHERE tenant_id = ANY($1) AND settled_at IS NULL AND released_at IS NULL',
    [[mainTenant, tightTenant]],
  );
  expect(open.n).toBe(0);
  expect(gatewayLogs).toEqual([]);
});
