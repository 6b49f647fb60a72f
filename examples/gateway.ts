// An example AI gateway in front of an OpenAI-compatible upstream, metered by Tally. Copy it.
//
// Serves POST /v1/chat/completions and POST /v1/responses, plain and streamed, so the official
// SDKs work against it unchanged. Per request:
//
// 1. Admit. The model must have a price: `quote` it (a dated name such as
//    gpt-4o-mini-2024-07-18 falls back to the price of gpt-4o-mini); a model Tally cannot price is
//    refused BEFORE the upstream is called, so nothing is served that cannot be billed and a COST
//    limit always applies. Then `authorizeUsage` reserves the prompt estimate plus the output the
//    caller allowed (max_completion_tokens / max_tokens / max_output_tokens) for the subject
//    (safety_identifier, else user). Denied: HTTP 429 in OpenAI's error format with
//    `x-should-retry: false`, so SDKs do not retry it.
// 2. Call the upstream. A chat stream always asks it for usage (stream_options.include_usage);
//    the usage chunk (`choices: []`) is passed on only to a client that asked for it.
// 3. Record exactly once, under the gateway's own request id (a fresh id per call, sent back in
//    `x-request-id`; the caller's x-request-id is kept as metadata.clientRequestId, never used as
//    the idempotency key), which settles the reservation:
//    - the upstream's own usage when it gave one;
//    - otherwise (no usage chunk, or an answer cut off) an estimate: the prompt estimate as input,
//      a token per 4 characters streamed as output, with metadata.usage = "estimated";
//    - status FAILED when the upstream broke off or reported a failure, with metadata.error.
//    A client that leaves mid-stream is still billed: the gateway reads the upstream to its end.
//    An upstream that breaks off mid-answer ends that one response with an error event; it never
//    takes the process, or anyone else's stream, down. An upstream that refused (4xx/5xx without
//    usage) did no billable work: the reservation is released and nothing is recorded.
//
//   TALLY_URL=http://localhost:4000/graphql TALLY_API_KEY=<INGEST key> \
//   UPSTREAM_URL=https://api.openai.com UPSTREAM_API_KEY=sk-... PORT=8080 npx tsx examples/gateway.ts
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import {
  createTallyClient,
  fromOpenAIUsage,
  type OpenAIUsage,
  type RecordUsageInput,
  type TallyClient,
  TallyError,
  type TokenFields,
} from '@tally/client';

export interface GatewayOptions {
  tally: TallyClient;
  upstreamUrl: string;
  upstreamApiKey?: string;
  provider?: string;
  /** Seconds a reservation is held while the upstream works. */
  reserveSeconds?: number;
  /** Output tokens reserved when the request sets no limit of its own. */
  defaultMaxOutputTokens?: number;
  /** Largest request body accepted (default 20 MiB); larger is HTTP 413. */
  maxBodyBytes?: number;
  /** Where the gateway reports what must not go unnoticed (default: console.error). */
  log?: (message: string) => void;
}

type Api = 'chat' | 'responses';
const ROUTES: Record<string, Api> = { '/v1/chat/completions': 'chat', '/v1/responses': 'responses' };

/** The request fields the gateway reads; everything else goes to the upstream untouched. */
interface RequestBody {
  model?: unknown;
  stream?: unknown;
  stream_options?: unknown;
  n?: unknown;
  max_tokens?: unknown;
  max_completion_tokens?: unknown;
  max_output_tokens?: unknown;
  safety_identifier?: unknown;
  user?: unknown;
  messages?: unknown;
  input?: unknown;
  instructions?: unknown;
  background?: unknown;
}

/** One admitted request. */
interface Call {
  api: Api;
  requestId: string;
  clientRequestId?: string;
  subject?: string;
  /** The model as asked, and the name Tally prices it under. */
  model: string;
  pricedModel: string;
  promptTokens: number;
  reservationId?: string;
  clientWantsUsage: boolean;
  clientGone: boolean;
  started: number;
}

/** What the upstream did, as far as the gateway could see. */
interface Outcome {
  ok: boolean;
  /** The upstream's own usage, when it reported one. */
  usage: OpenAIUsage | null;
  /** The answer arrived whole (not cut off). */
  completed: boolean;
  /** The upstream said, inside a 2xx answer, that it failed. */
  failed: boolean;
  /** Characters of generated text seen, for the estimate when usage is missing. */
  outputChars: number;
  upstreamModel?: string;
  error?: string;
}

interface OpenAIErrorBody {
  message: string;
  type: string;
  code: string | null;
  param: string | null;
}

export function createGateway(o: GatewayOptions): http.Server {
  const log = o.log ?? ((m: string) => console.error(m));
  return http.createServer((req, res) => {
    // Nothing thrown while serving one request may reach the process (an unhandled rejection
    // would end every other request with it).
    serve(o, log, req, res).catch((e: unknown) => {
      log(`gateway: ${req.method} ${req.url}: ${(e as Error).message}`);
      if (!res.headersSent) sendError(res, 500, error('the gateway failed', 'server_error', 'gateway_error'));
      else res.destroy();
    });
  });
}

async function serve(o: GatewayOptions, log: (m: string) => void, req: http.IncomingMessage, res: http.ServerResponse) {
  const provider = o.provider ?? 'openai';
  const path = (req.url ?? '').split('?')[0] ?? '';
  const api = ROUTES[path];
  if (req.method !== 'POST' || !api)
    return sendError(res, 404, error(`no route ${req.method} ${path}`, 'invalid_request_error', 'unknown_url'));

  let body: RequestBody;
  try {
    body = JSON.parse(await readBody(req, o.maxBodyBytes ?? 20 * 1024 * 1024));
  } catch (e) {
    const tooLarge = e instanceof BodyTooLarge;
    return sendError(
      res,
      tooLarge ? 413 : 400,
      error(`body: ${(e as Error).message}`, 'invalid_request_error', tooLarge ? 'request_too_large' : 'invalid_json'),
    );
  }
  if (!isObject(body)) return sendError(res, 400, error('the body must be a JSON object', 'invalid_request_error'));
  if (typeof body.model !== 'string' || !body.model)
    return sendError(
      res,
      400,
      error('model is required', 'invalid_request_error', 'missing_required_parameter', 'model'),
    );
  if (api === 'responses' && body.background === true)
    return sendError(
      res,
      400,
      error('background responses are not metered by this gateway', 'invalid_request_error', null, 'background'),
    );

  const stream = body.stream === true;
  const maxOutput =
    positiveInt(body.max_completion_tokens) ??
    positiveInt(body.max_tokens) ??
    positiveInt(body.max_output_tokens) ??
    o.defaultMaxOutputTokens ??
    1024;
  const outputTokens = maxOutput * (api === 'chat' ? (positiveInt(body.n) ?? 1) : 1);
  const prompt = api === 'chat' ? (body.messages ?? []) : [body.instructions ?? null, body.input ?? null];
  const call: Call = {
    api,
    requestId: `req_${randomUUID().replaceAll('-', '')}`,
    clientRequestId: header(req, 'x-request-id')?.slice(0, 200),
    subject: nonEmpty(body.safety_identifier) ?? nonEmpty(body.user) ?? header(req, 'x-user'),
    model: body.model,
    pricedModel: body.model,
    promptTokens: tokensOf(JSON.stringify(prompt).length),
    clientWantsUsage: isObject(body.stream_options) && body.stream_options.include_usage === true,
    clientGone: false,
    started: Date.now(),
  };
  res.on('close', () => {
    call.clientGone = !res.writableFinished;
  });

  // 1. Admit: a price, then a reservation.
  try {
    const priced = await priceOf(o.tally, provider, call.model, call.promptTokens, outputTokens);
    if (!priced)
      return sendError(
        res,
        400,
        error(
          `model ${call.model} has no price, so it is not served`,
          'invalid_request_error',
          'model_not_priced',
          'model',
        ),
        { 'x-should-retry': 'false' },
      );
    call.pricedModel = priced.model;
    const auth = await o.tally.authorizeUsage({
      subject: call.subject,
      estimate: {
        requests: 1,
        tokens: call.promptTokens + outputTokens,
        inputTokens: call.promptTokens,
        outputTokens,
        cost: priced.cost,
      },
      reserveSeconds: o.reserveSeconds ?? 120,
    });
    if (!auth.allowed) {
      const d = auth.deniedBy;
      const why = d
        ? `quota exceeded: the ${d.limit.scope} ${d.limit.metric} ${d.limit.period} limit of ${d.limit.amount} (used ${d.used}, reserved ${d.reserved})`
        : 'quota exceeded: insufficient balance';
      return sendError(res, 429, error(why, 'insufficient_quota', 'insufficient_quota'), { 'x-should-retry': 'false' });
    }
    call.reservationId = auth.reservation?.id;
  } catch (e) {
    if (e instanceof TallyError && e.code === 'BAD_USER_INPUT')
      return sendError(res, 400, error(e.message, 'invalid_request_error', 'invalid_value', e.field?.at(-1) ?? null));
    return sendError(
      res,
      503,
      error(`metering unavailable: ${(e as Error).message}`, 'server_error', 'metering_unavailable'),
    );
  }

  // 2. Call the upstream.
  const upstreamBody =
    api === 'chat' && stream
      ? {
          ...body,
          stream_options: { ...(isObject(body.stream_options) ? body.stream_options : {}), include_usage: true },
        }
      : body;
  let upstream: Response;
  try {
    upstream = await fetch(`${o.upstreamUrl}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(o.upstreamApiKey ? { authorization: `Bearer ${o.upstreamApiKey}` } : {}),
      },
      body: JSON.stringify(upstreamBody),
    });
  } catch (e) {
    await release(o, call);
    return sendError(
      res,
      502,
      error(`upstream unreachable: ${(e as Error).message}`, 'server_error', 'upstream_error'),
    );
  }
  const isStream = upstream.ok && (upstream.headers.get('content-type') ?? '').includes('text/event-stream');
  const outcome = isStream ? await relayStream(call, upstream, res) : await relayPlain(call, upstream, res);

  // 3. Record what happened.
  await record(o, log, provider, call, outcome);
}

/** The price name for `model` and the cost of the estimate, or null when Tally has no price for it. */
async function priceOf(
  tally: TallyClient,
  provider: string,
  model: string,
  inputTokens: number,
  outputTokens: number,
): Promise<{ model: string; cost: string } | null> {
  // gpt-4o-mini-2024-07-18 -> gpt-4o-mini, claude-3-5-sonnet-20241022 -> claude-3-5-sonnet, gpt-4-0613 -> gpt-4.
  const undated = model.replace(/-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$/, '');
  for (const name of undated === model ? [model] : [model, undated]) {
    try {
      const q = await tally.quote({ kind: 'LLM', provider, model: name, inputTokens, outputTokens });
      return { model: name, cost: q.cost };
    } catch (e) {
      if (!(e instanceof TallyError && e.code === 'PRICE_NOT_FOUND')) throw e;
    }
  }
  return null;
}

async function relayPlain(call: Call, upstream: Response, res: http.ServerResponse): Promise<Outcome> {
  let text: string;
  try {
    text = await upstream.text();
  } catch (e) {
    sendError(res, 502, error('the upstream broke off its answer', 'server_error', 'upstream_error'));
    return { ok: upstream.ok, usage: null, completed: false, failed: true, outputChars: 0, error: brokeOff(e) };
  }
  const passOn: Record<string, string> = {};
  for (const h of ['retry-after', 'x-should-retry']) {
    const v = upstream.headers.get(h);
    if (v) passOn[h] = v;
  }
  if (!call.clientGone) {
    res.writeHead(upstream.status, {
      'content-type': upstream.headers.get('content-type') ?? 'application/json',
      'x-request-id': call.requestId,
      ...passOn,
    });
    res.end(text);
  }
  let answer: {
    model?: unknown;
    usage?: OpenAIUsage | null;
    status?: unknown;
    choices?: unknown;
    output?: unknown;
  } | null = null;
  try {
    answer = JSON.parse(text);
  } catch {}
  return {
    ok: upstream.ok,
    usage: answer?.usage ?? null,
    completed: true,
    failed: answer?.status === 'failed',
    outputChars: JSON.stringify(answer?.choices ?? answer?.output ?? '').length,
    upstreamModel: typeof answer?.model === 'string' ? answer.model : undefined,
  };
}

async function relayStream(call: Call, upstream: Response, res: http.ServerResponse): Promise<Outcome> {
  const out: Outcome = { ok: true, usage: null, completed: false, failed: false, outputChars: 0 };
  if (!call.clientGone)
    res.writeHead(upstream.status, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-request-id': call.requestId,
    });
  // Writes wait while the client's socket is full; once the client has left, nothing is written
  // but the upstream is still read to its end: its last event carries the usage.
  const send = async (text: string) => {
    if (call.clientGone || res.destroyed) return;
    if (!res.write(text)) await drained(res);
  };
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const bytes of upstream.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(bytes, { stream: true });
      for (let end = /\r?\n\r?\n/.exec(buffer); end; end = /\r?\n\r?\n/.exec(buffer)) {
        const event = buffer.slice(0, end.index);
        buffer = buffer.slice(end.index + end[0].length);
        const passed = inspectEvent(call, event, out);
        if (passed !== null) await send(`${passed}\n\n`);
      }
    }
    buffer += decoder.decode();
    const passed = buffer.trim() ? inspectEvent(call, buffer, out) : null;
    if (passed !== null) await send(`${passed}\n\n`);
    out.completed = true;
  } catch (e) {
    // The upstream broke off (`TypeError: terminated`): tell this client, in the stream's own
    // format (the SDKs raise it as an APIError), and record what is known.
    out.error = brokeOff(e);
    const failure = error('the upstream broke off the answer', 'server_error', 'upstream_error');
    await send(
      call.api === 'responses'
        ? `event: error\ndata: ${JSON.stringify({ type: 'error', code: failure.code, message: failure.message, param: null, error: failure })}\n\n`
        : `data: ${JSON.stringify({ error: failure })}\n\n`,
    );
  }
  if (!call.clientGone && !res.destroyed) res.end();
  return out;
}

interface ChatChunk {
  model?: unknown;
  choices?: { delta?: Record<string, unknown> | null }[] | null;
  usage?: OpenAIUsage | null;
  error?: unknown;
}
interface ResponsesEvent {
  type?: unknown;
  delta?: unknown;
  response?: { model?: unknown; usage?: OpenAIUsage | null } | null;
  error?: unknown;
}

/** Notes what one SSE event says into `out`; returns the event to pass on, or null to drop it. */
function inspectEvent(call: Call, event: string, out: Outcome): string | null {
  const data = event
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trimStart())
    .join('\n');
  if (!data || data === '[DONE]') return event;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return event;
  }
  if (!isObject(parsed)) return event;
  if (parsed.error) out.failed = true;

  if (call.api === 'responses') {
    const e = parsed as ResponsesEvent;
    if (typeof e.delta === 'string') out.outputChars += e.delta.length;
    if (e.response?.usage) out.usage = e.response.usage;
    if (typeof e.response?.model === 'string') out.upstreamModel = e.response.model;
    if (e.type === 'response.failed' || e.type === 'error') out.failed = true;
    return event;
  }

  const chunk = parsed as ChatChunk;
  if (typeof chunk.model === 'string') out.upstreamModel = chunk.model;
  for (const choice of chunk.choices ?? []) out.outputChars += deltaChars(choice.delta);
  if (!chunk.usage) return event;
  out.usage = chunk.usage;
  if (call.clientWantsUsage) return event;
  // The client did not ask for usage: the usage-only chunk would break code that reads
  // chunk.choices[0], so it is not passed on; usage on a chunk with choices is blanked.
  if (!chunk.choices?.length) return null;
  return `data: ${JSON.stringify({ ...chunk, usage: null })}`;
}

/** Characters of generated text in a chat delta: content, refusal, reasoning, tool arguments. */
function deltaChars(delta: Record<string, unknown> | null | undefined): number {
  if (!delta) return 0;
  let chars = 0;
  for (const key of ['content', 'refusal', 'reasoning_content', 'reasoning']) {
    const v = delta[key];
    if (typeof v === 'string') chars += v.length;
  }
  if (Array.isArray(delta.tool_calls))
    for (const t of delta.tool_calls as { function?: { name?: unknown; arguments?: unknown } }[]) {
      if (typeof t.function?.name === 'string') chars += t.function.name.length;
      if (typeof t.function?.arguments === 'string') chars += t.function.arguments.length;
    }
  return chars;
}

async function record(
  o: GatewayOptions,
  log: (m: string) => void,
  provider: string,
  call: Call,
  out: Outcome,
): Promise<void> {
  // The upstream refused (no usage, not 2xx): no billable work happened.
  if (!out.usage && !out.ok) return release(o, call);
  const tokens: TokenFields = out.usage
    ? fromOpenAIUsage(out.usage)
    : { ...fromOpenAIUsage(null), inputTokens: call.promptTokens, outputTokens: tokensOf(out.outputChars) };
  const metadata: Record<string, string | boolean> = {};
  if (call.clientRequestId) metadata.clientRequestId = call.clientRequestId;
  if (call.model !== call.pricedModel) metadata.requestedModel = call.model;
  if (out.upstreamModel && out.upstreamModel !== call.model) metadata.upstreamModel = out.upstreamModel.slice(0, 200);
  if (!out.usage) metadata.usage = 'estimated';
  if (out.error) metadata.error = out.error;
  const input: RecordUsageInput = {
    idempotencyKey: call.requestId,
    kind: 'LLM',
    provider,
    model: call.pricedModel,
    subject: call.subject,
    status: out.ok && out.completed && !out.failed ? 'SUCCEEDED' : 'FAILED',
    latencyMs: Date.now() - call.started,
    reservationId: call.reservationId,
    metadata,
    ...tokens,
  };
  // The model was priced when the request was admitted and prices are never withdrawn, so this
  // recording is priced too.
  await o.tally.recordUsage(input).catch((e: unknown) => {
    // recordUsage already retried; a real gateway would spool the item to disk here.
    const code = e instanceof TallyError ? `${e.code} ` : '';
    log(`usage for ${call.requestId} not recorded: ${code}${(e as Error).message}`);
  });
}

const release = async (o: GatewayOptions, call: Call) => {
  if (call.reservationId) await o.tally.releaseReservation(call.reservationId).catch(() => {});
};

class BodyTooLarge extends Error {}

function readBody(req: http.IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= maxBytes) return parts.push(c);
      // The rest is read and dropped (so that the 413 reaches the client); the first excess rejects.
      parts.length = 0;
      reject(new BodyTooLarge(`larger than ${maxBytes} bytes`));
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

const drained = (res: http.ServerResponse) =>
  new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });

const error = (message: string, type: string, code: string | null = null, param: string | null = null) =>
  ({ message, type, code, param }) satisfies OpenAIErrorBody;

/** An error in OpenAI's format: `{ error: { message, type, param, code } }`. */
function sendError(
  res: http.ServerResponse,
  status: number,
  body: OpenAIErrorBody,
  headers: Record<string, string> = {},
) {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ error: body }));
}

/** A rough token count: about 4 characters a token in English text. */
const tokensOf = (chars: number) => Math.ceil(chars / 4);
const brokeOff = (e: unknown) => `upstream broke off: ${String((e as Error)?.message ?? e).slice(0, 200)}`;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const positiveInt = (v: unknown) => (Number.isSafeInteger(v) && (v as number) > 0 ? (v as number) : undefined);
const nonEmpty = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
const header = (req: http.IncomingMessage, name: string) => nonEmpty(req.headers[name]);

// Run as a program: npx tsx examples/gateway.ts
if (import.meta.url === `file://${process.argv[1]}`) {
  const tally = createTallyClient({
    url: process.env.TALLY_URL ?? 'http://localhost:4000/graphql',
    apiKey: process.env.TALLY_API_KEY ?? '',
  });
  const server = createGateway({
    tally,
    upstreamUrl: process.env.UPSTREAM_URL ?? 'https://api.openai.com',
    upstreamApiKey: process.env.UPSTREAM_API_KEY,
  });
  const port = Number(process.env.PORT ?? 8080);
  server.listen(port, () => console.log(`gateway on http://localhost:${port}/v1 (chat/completions, responses)`));
}
