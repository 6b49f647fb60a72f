// Typed subscriptions as async iterators: graphql-ws over WebSocket (default), reconnecting
// with backoff, or GraphQL over SSE. `return()` (or `break` in a for-await, or the call's
// AbortSignal) unsubscribes. graphql-sse, and `ws` where no WebSocket is global (Node 20), are
// loaded only when used, so neither weighs on a program (or a browser bundle) that does not.
import { print } from '@0no-co/graphql.web';
import type { TadaDocumentNode } from 'gql.tada';
import type { Client as SseClient } from 'graphql-sse';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws/client';
import { type GraphQLErrorShape, TallyError } from './errors';
import { DEFAULT_TIMEOUT_MS } from './transport';

export interface SubscriptionOptions {
  /** 'ws' (default): graphql-ws over WebSocket; 'sse': GraphQL over Server-Sent Events. */
  transport?: 'ws' | 'sse' | undefined;
  /** A WebSocket implementation where none is global (Node 20: the `ws` package, loaded by default). */
  webSocketImpl?: unknown;
  /** Reconnect attempts before giving up; default unlimited. */
  retryAttempts?: number | undefined;
  /**
   * Called when the server ended a subscription with a retryable error (its pub/sub
   * connection was lost, so events may have been missed) and the iterator subscribes again:
   * quotaUpdated then yields a fresh current state; for usageRecorded and quotaAlerts, read
   * usageEvents / quotaAlertHistory for the gap if it matters.
   */
  onResubscribe?: ((error: TallyError) => void) | undefined;
}

/** What a subscription accepts as its last argument. */
export interface SubscribeOptions {
  /** Ends the subscription (as `return()` does) when it fires. */
  signal?: AbortSignal | undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The wait before reconnect attempt `retries` (0, 1, ...): 125-250 ms, doubling with jitter up
 * to half of `capMs` to all of it. The same for both transports: graphql-sse's own default
 * starts at 1.3-4 s and doubles from there, so an SSE subscriber could stay deaf for several
 * seconds after a restart that took one.
 */
const reconnectWait = (retries: number, capMs = 30_000) => {
  const base = Math.min(capMs, 250 * 2 ** retries);
  return sleep(base / 2 + Math.random() * (base / 2));
};
const FINAL_CLOSE = new Set([4400, 4401, 4403, 4406]);

function toTallyError(e: unknown): TallyError {
  if (e instanceof TallyError) return e;
  if (Array.isArray(e)) return TallyError.fromGraphQL(e as GraphQLErrorShape[]);
  const code = (e as { code?: number })?.code;
  if (code === 4403 || code === 4401)
    return new TallyError('UNAUTHENTICATED', 'the server refused the API key', { retryable: false });
  if (code === 4504)
    return new TallyError('TIMEOUT', 'the server did not acknowledge the WebSocket connection in time', {
      retryable: true,
      cause: e,
    });
  return new TallyError('INTERNAL', `subscription failed: ${(e as Error)?.message ?? String(e)}`, {
    retryable: true,
    cause: e,
  });
}

export class Subscriptions {
  private ws: Promise<WsClient> | null = null;
  private sse: Promise<SseClient> | null = null;

  constructor(
    private readonly o: {
      url: string;
      apiKey: string;
      fetch?: typeof fetch | undefined;
      /** How long a new WebSocket connection may wait for the server's connection_ack. */
      timeoutMs?: number | undefined;
    } & SubscriptionOptions,
  ) {}

  private wsClient(): Promise<WsClient> {
    this.ws ??= (async () => {
      const impl =
        this.o.webSocketImpl ?? (globalThis as { WebSocket?: unknown }).WebSocket ?? (await import('ws')).WebSocket;
      return createWsClient({
        url: this.o.url.replace(/^http/, 'ws'),
        webSocketImpl: impl,
        connectionParams: { authorization: `Bearer ${this.o.apiKey}` },
        lazy: true,
        // A server that takes the socket and never acknowledges it: close (4504) and reconnect.
        connectionAckWaitTimeout: this.o.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        retryAttempts: this.o.retryAttempts ?? Number.POSITIVE_INFINITY,
        // A refused key is final; anything else (restarts, network) reconnects with backoff.
        shouldRetry: (e) => !FINAL_CLOSE.has((e as { code?: number })?.code ?? 0),
        retryWait: (retries) => reconnectWait(retries),
      });
    })();
    return this.ws;
  }

  private sseClient(): Promise<SseClient> {
    this.sse ??= import('graphql-sse').then(({ createClient: createSseClient }) =>
      createSseClient({
        url: this.o.url,
        headers: { authorization: `Bearer ${this.o.apiKey}` },
        retryAttempts: this.o.retryAttempts ?? Number.POSITIVE_INFINITY,
        retry: (retries) => reconnectWait(retries),
        // A refused key is final. graphql-sse retries every non-2xx answer as a network
        // error, so a 401/403 is handed over as a stream that carries the server's errors
        // (the iterator then throws them as a TallyError); 5xx and dropped connections are
        // retried with graphql-sse's randomised backoff.
        fetchFn: async (input: RequestInfo | URL, init?: RequestInit) => {
          const res = await (this.o.fetch ?? fetch)(input, init);
          if (res.status !== 401 && res.status !== 403) return res;
          const text = await res.text().catch(() => '');
          let errors: GraphQLErrorShape[] = [
            { message: 'the server refused the API key', extensions: { code: 'UNAUTHENTICATED' } },
          ];
          try {
            const data = /^data:\s*(\{.*\})\s*$/m.exec(text)?.[1] ?? text;
            const parsed = JSON.parse(data) as { errors?: GraphQLErrorShape[] };
            if (parsed.errors?.length) errors = parsed.errors;
          } catch {}
          return new Response(`event: next\ndata: ${JSON.stringify({ errors })}\n\nevent: complete\ndata:\n\n`, {
            status: 200,
            headers: { 'content-type': 'text/event-stream' },
          });
        },
      }),
    );
    return this.sse;
  }

  iterate<R, V>(doc: TadaDocumentNode<R, V>, variables?: V, opts: SubscribeOptions = {}): AsyncIterableIterator<R> {
    const payload = { query: print(doc), variables: (variables ?? {}) as Record<string, unknown> };
    const open =
      this.o.transport === 'sse'
        ? async () => (await this.sseClient()).iterate(payload)
        : async () => (await this.wsClient()).iterate(payload);
    const it = unwrap<R>(open, this.o);
    const signal = opts.signal;
    if (signal) {
      if (signal.aborted) void it.return?.();
      else signal.addEventListener('abort', () => void it.return?.(), { once: true });
    }
    return it;
  }

  async dispose(): Promise<void> {
    if (this.ws) await (await this.ws).dispose();
    if (this.sse) (await this.sse).dispose();
  }
}

/** The server ended the subscription with a retryable error (e.g. its pub/sub connection was lost). */
const resumable = (errors: readonly unknown[]) =>
  (errors[0] as GraphQLErrorShape | undefined)?.extensions?.retryable === true;

/**
 * Results -> data, errors -> TallyError. Written by hand rather than as an async generator so
 * that return() reaches the transport at once, even while a next() is waiting for an event.
 * A subscription the server ends with a retryable error is opened again (with backoff), so
 * the caller sees a reconnect and, for quotaUpdated, a fresh first state, not an error.
 */
function unwrap<R>(
  open: () => Promise<AsyncIterableIterator<{ data?: unknown; errors?: readonly unknown[] | null }>>,
  opts: Pick<SubscriptionOptions, 'retryAttempts' | 'onResubscribe'> = {},
): AsyncIterableIterator<R> {
  let inner: ReturnType<typeof open> | null = null;
  let finished = false;
  /** Re-subscriptions since the last value. */
  let attempts = 0;
  const maxAttempts = opts.retryAttempts ?? Number.POSITIVE_INFINITY;
  const source = () => {
    inner ??= open();
    return inner;
  };
  const close = async () => {
    finished = true;
    if (inner) await (await inner).return?.();
  };
  return {
    async next(): Promise<IteratorResult<R>> {
      for (;;) {
        if (finished) return { done: true, value: undefined };
        try {
          const r = await (await source()).next();
          if (finished || r.done) {
            finished = true;
            return { done: true, value: undefined };
          }
          if (r.value.errors?.length) {
            const err = TallyError.fromGraphQL(r.value.errors as GraphQLErrorShape[]);
            if (!resumable(r.value.errors) || attempts >= maxAttempts) throw err;
            attempts++;
            const old = inner;
            inner = null;
            void old?.then((it) => it.return?.()).catch(() => {});
            opts.onResubscribe?.(err);
            await reconnectWait(attempts - 1, 5_000);
            continue;
          }
          attempts = 0;
          return { done: false, value: r.value.data as R };
        } catch (e) {
          await close().catch(() => {});
          throw toTallyError(e);
        }
      }
    },
    async return(): Promise<IteratorResult<R>> {
      await close();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
