// An example AI gateway in front of an OpenAI-compatible upstream, metered by Tally.
//
// Per request: authorize with a reservation (429 when a BLOCK limit would be exceeded),
// call the upstream (plain or streamed), then record the real usage with the request id as
// idempotency key, which settles the reservation. A client that disconnects mid-stream is
// still billed for what the upstream produced: the gateway keeps reading the upstream to
// its end (and its usage chunk). If the upstream fails, the reservation is released.
//
//   TALLY_URL=http://localhost:4000/graphql TALLY_API_KEY=<INGEST key> \
//   UPSTREAM_URL=https://api.openai.com UPSTREAM_API_KEY=sk-... PORT=8080 npx tsx examples/gateway.ts
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { createTallyClient, fromOpenAIUsage, type OpenAIUsage, type TallyClient, TallyError } from 'tally/client';

export interface GatewayOptions {
  tally: TallyClient;
  upstreamUrl: string;
  upstreamApiKey?: string;
  provider?: string;
  /** Seconds a reservation is held while the upstream works. */
  reserveSeconds?: number;
}

const readBody = (req: http.IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      s += c;
    });
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });

const openAiError = (res: http.ServerResponse, status: number, message: string, type: string) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type } }));
};

export function createGateway(o: GatewayOptions): http.Server {
  const provider = o.provider ?? 'openai';
  return http.createServer(async (req, res) => {
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/chat/completions'))
      return openAiError(res, 404, 'not found', 'invalid_request_error');
    const requestId = (req.headers['x-request-id'] as string | undefined) ?? `req_${randomUUID()}`;
    const started = Date.now();
    let body: {
      model?: string;
      stream?: boolean;
      max_tokens?: number;
      user?: string;
      messages?: unknown[];
      stream_options?: unknown;
    };
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return openAiError(res, 400, 'body is not JSON', 'invalid_request_error');
    }
    const model = body.model ?? 'unknown';
    const subject = body.user ?? (req.headers['x-user'] as string | undefined);

    // 1. Authorize, holding an estimate (prompt size as a rough token count + max_tokens).
    const promptTokens = Math.ceil(JSON.stringify(body.messages ?? []).length / 4);
    const outputTokens = body.max_tokens ?? 1024;
    let reservationId: string | undefined;
    try {
      const quote = await o.tally
        .quote({ kind: 'LLM', provider, model, inputTokens: promptTokens, outputTokens })
        .catch(() => null);
      const auth = await o.tally.authorizeUsage({
        subject,
        estimate: {
          requests: 1,
          tokens: promptTokens + outputTokens,
          inputTokens: promptTokens,
          outputTokens,
          cost: quote?.cost,
        },
        reserveSeconds: o.reserveSeconds ?? 120,
      });
      if (!auth.allowed) {
        const d = auth.deniedBy;
        return openAiError(
          res,
          429,
          `quota exceeded: ${d?.limit.metric} ${d?.limit.period} limit of ${d?.limit.amount}`,
          'insufficient_quota',
        );
      }
      reservationId = auth.reservation?.id;
    } catch (e) {
      return openAiError(res, 503, `metering unavailable: ${(e as Error).message}`, 'server_error');
    }

    // 2. Call the upstream; for streams, ask it to include usage in the last chunk.
    const upstreamBody = body.stream ? { ...body, stream_options: { include_usage: true } } : body;
    let upstream: Response;
    try {
      upstream = await fetch(`${o.upstreamUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(o.upstreamApiKey ? { authorization: `Bearer ${o.upstreamApiKey}` } : {}),
        },
        body: JSON.stringify(upstreamBody),
      });
    } catch (e) {
      if (reservationId) await o.tally.releaseReservation(reservationId).catch(() => {});
      return openAiError(res, 502, `upstream unreachable: ${(e as Error).message}`, 'server_error');
    }

    let usage: OpenAIUsage | null = null;
    if (!body.stream || !upstream.body) {
      const text = await upstream.text();
      try {
        usage = (JSON.parse(text) as { usage?: OpenAIUsage }).usage ?? null;
      } catch {}
      res.writeHead(upstream.status, { 'content-type': 'application/json', 'x-request-id': requestId });
      res.end(text);
    } else {
      res.writeHead(upstream.status, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        'x-request-id': requestId,
      });
      let clientGone = false;
      res.on('close', () => {
        clientGone = !res.writableFinished;
      });
      const decoder = new TextDecoder();
      let buffer = '';
      // Read the upstream to its end even after the client left: its last chunk carries the usage.
      for await (const chunk of upstream.body as unknown as AsyncIterable<Uint8Array>) {
        if (!clientGone) res.write(chunk);
        buffer += decoder.decode(chunk, { stream: true });
        let i = buffer.indexOf('\n\n');
        while (i >= 0) {
          const event = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          for (const line of event.split('\n')) {
            const data = line.startsWith('data:') ? line.slice(5).trim() : '';
            if (data && data !== '[DONE]') {
              try {
                const parsed = JSON.parse(data) as { usage?: OpenAIUsage | null };
                if (parsed.usage) usage = parsed.usage;
              } catch {}
            }
          }
          i = buffer.indexOf('\n\n');
        }
      }
      if (!clientGone) res.end();
    }

    // 3. Record what happened (idempotent on the request id; settles the reservation).
    if (!usage && upstream.status >= 400) {
      if (reservationId) await o.tally.releaseReservation(reservationId).catch(() => {});
      return;
    }
    try {
      await o.tally.recordUsage({
        idempotencyKey: requestId,
        kind: 'LLM',
        provider,
        model,
        subject,
        status: upstream.ok ? 'SUCCEEDED' : 'FAILED',
        latencyMs: Date.now() - started,
        reservationId,
        ...fromOpenAIUsage(usage ?? {}),
      });
    } catch (e) {
      // recordUsage already retried; a real gateway would spool the item to disk here.
      console.error(
        `usage for ${requestId} not recorded: ${e instanceof TallyError ? e.code : ''} ${(e as Error).message}`,
      );
    }
  });
}

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
  server.listen(port, () => console.log(`gateway on http://localhost:${port}/v1/chat/completions`));
}
