// Typed subscriptions as async iterators: graphql-ws over WebSocket (default), reconnecting
// with backoff, or GraphQL over SSE. `return()` (or `break` in a for-await) unsubscribes.
import type { TadaDocumentNode } from 'gql.tada';
import { print } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { type GraphQLErrorShape, TallyError } from './errors';

export interface SubscriptionOptions {
  /** 'ws' (default): graphql-ws over WebSocket; 'sse': GraphQL over Server-Sent Events. */
  transport?: 'ws' | 'sse';
  /** A WebSocket implementation where none is global (Node 20: the `ws` package, loaded by default). */
  webSocketImpl?: unknown;
  /** Reconnect attempts before giving up; default unlimited. */
  retryAttempts?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FINAL_CLOSE = new Set([4400, 4401, 4403, 4406]);

function toTallyError(e: unknown): TallyError {
  if (e instanceof TallyError) return e;
  if (Array.isArray(e)) return TallyError.fromGraphQL(e as GraphQLErrorShape[]);
  const code = (e as { code?: number })?.code;
  if (code === 4403 || code === 4401)
    return new TallyError('UNAUTHENTICATED', 'the server refused the API key', { retryable: false });
  return new TallyError('INTERNAL', `subscription failed: ${(e as Error)?.message ?? String(e)}`, {
    retryable: true,
    cause: e,
  });
}

export class Subscriptions {
  private ws: Promise<WsClient> | null = null;
  private sse: ReturnType<typeof createSseClient> | null = null;

  constructor(private readonly o: { url: string; apiKey: string; fetch?: typeof fetch } & SubscriptionOptions) {}

  private wsClient(): Promise<WsClient> {
    this.ws ??= (async () => {
      const impl =
        this.o.webSocketImpl ?? (globalThis as { WebSocket?: unknown }).WebSocket ?? (await import('ws')).WebSocket;
      return createWsClient({
        url: this.o.url.replace(/^http/, 'ws'),
        webSocketImpl: impl,
        connectionParams: { authorization: `Bearer ${this.o.apiKey}` },
        lazy: true,
        retryAttempts: this.o.retryAttempts ?? Number.POSITIVE_INFINITY,
        // A refused key is final; anything else (restarts, network) reconnects with backoff.
        shouldRetry: (e) => !FINAL_CLOSE.has((e as { code?: number })?.code ?? 0),
        retryWait: async (retries) => {
          const base = Math.min(30_000, 250 * 2 ** retries);
          await sleep(base / 2 + Math.random() * (base / 2));
        },
      });
    })();
    return this.ws;
  }

  iterate<R, V>(doc: TadaDocumentNode<R, V>, variables?: V): AsyncIterableIterator<R> {
    const payload = { query: print(doc), variables: (variables ?? {}) as Record<string, unknown> };
    if (this.o.transport === 'sse') {
      this.sse ??= createSseClient({
        url: this.o.url,
        headers: { authorization: `Bearer ${this.o.apiKey}` },
        ...(this.o.fetch ? { fetchFn: this.o.fetch } : {}),
      });
      return unwrap<R>(this.sse.iterate(payload));
    }
    const self = this;
    return (async function* () {
      const it = (await self.wsClient()).iterate(payload);
      yield* unwrap<R>(it);
    })();
  }

  async dispose(): Promise<void> {
    if (this.ws) await (await this.ws).dispose();
    this.sse?.dispose();
  }
}

async function* unwrap<R>(
  it: AsyncIterableIterator<{ data?: unknown; errors?: readonly unknown[] | null }>,
): AsyncIterableIterator<R> {
  try {
    for await (const r of it) {
      if (r.errors?.length) throw TallyError.fromGraphQL(r.errors as GraphQLErrorShape[]);
      yield r.data as R;
    }
  } catch (e) {
    throw toTallyError(e);
  } finally {
    await it.return?.();
  }
}
