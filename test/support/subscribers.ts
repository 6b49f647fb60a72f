// Raw subscribers for tests about the wire: graphql-ws clients that never retry (a refused
// connection or a closed socket shows at once) and SSE streams read chunk by chunk. Each
// records every message with the time it arrived. closeSubscribers() in afterAll ends them all.
import { type Client, createClient } from 'graphql-ws';
import { WebSocket } from 'ws';

export interface Msg {
  data?: any;
  errors?: { message: string; extensions?: { code?: string; retryable?: boolean; [k: string]: unknown } }[];
}

const clients: Client[] = [];
const streams: AbortController[] = [];

/** Disposes every client and aborts every stream this file opened. */
export async function closeSubscribers() {
  for (const s of streams.splice(0)) s.abort();
  await Promise.all(clients.splice(0).map((c) => c.dispose()));
}

/** ws://… of a server's GraphQL endpoint, from its port or its http:// base. */
export const wsUrl = (server: number | string) =>
  typeof server === 'number' ? `ws://127.0.0.1:${server}/graphql` : `${server.replace(/^http/, 'ws')}/graphql`;
const httpUrl = (server: number | string) =>
  typeof server === 'number' ? `http://127.0.0.1:${server}/graphql` : `${server}/graphql`;

/** A graphql-ws client that does not retry; `lazy: false` connects at once. */
export function wsClient(
  server: number | string,
  key: string | null,
  opts: { lazy?: boolean; onClosed?: (code: number) => void; onConnected?: () => void } = {},
): Client {
  const client = createClient({
    url: wsUrl(server),
    webSocketImpl: WebSocket,
    connectionParams: key ? { authorization: `Bearer ${key}` } : {},
    retryAttempts: 0,
    lazy: opts.lazy ?? true,
    // A non-lazy client whose socket the server closes (a revoked key) reports it here;
    // graphql-ws's default prints the whole CloseEvent. The tests read `closed` instead.
    onNonLazyError: () => {},
    on: { closed: (e) => opts.onClosed?.((e as { code: number }).code), connected: () => opts.onConnected?.() },
  });
  clients.push(client);
  return client;
}

/** One graphql-ws subscription, recording everything it receives and when. */
export class WsSub {
  results: { msg: Msg; at: number }[] = [];
  completed = false;
  error: unknown = null;
  readonly dispose: () => void;
  constructor(client: Client, query: string, variables?: Record<string, unknown>) {
    this.dispose = client.subscribe<any>(
      { query, variables },
      {
        next: (msg) => this.results.push({ msg: msg as Msg, at: performance.now() }),
        error: (e) => {
          this.error = e;
        },
        complete: () => {
          this.completed = true;
        },
      },
    );
  }
  get data(): any[] {
    return this.results.filter((r) => r.msg.data).map((r) => r.msg.data);
  }
  get ended() {
    return this.completed || this.error !== null;
  }
  /** Ended because its key was revoked: completed, or its socket closed with 4403. */
  get endedByRevocation() {
    return this.completed || (this.error as { code?: number } | null)?.code === 4403;
  }
  /** Errors from a `next` with errors, or from an `error` message (an array of errors). */
  get errors(): NonNullable<Msg['errors']> {
    const fromNext = this.results.flatMap((r) => r.msg.errors ?? []);
    const fromError = Array.isArray(this.error) ? (this.error as NonNullable<Msg['errors']>) : [];
    return [...fromNext, ...fromError];
  }
  get errorCodes(): (string | undefined)[] {
    return this.errors.map((e) => e.extensions?.code);
  }
}

/** One subscription over SSE (POST with accept: text/event-stream), recording every `data:` payload and the raw text. */
export class SseSub {
  results: { msg: Msg; at: number }[] = [];
  text = '';
  ended = false;
  status = 0;
  private readonly ctrl = new AbortController();
  readonly done: Promise<void>;
  constructor(server: number | string, key: string, query: string, variables?: Record<string, unknown>) {
    streams.push(this.ctrl);
    this.done = this.run(httpUrl(server), key, query, variables).catch(() => {
      this.ended = true;
    });
  }
  private async run(url: string, key: string, query: string, variables?: Record<string, unknown>) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
      signal: this.ctrl.signal,
    });
    this.status = res.status;
    if (!res.body) throw new Error('no body');
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const s = decoder.decode(chunk, { stream: true });
      this.text += s;
      buffer += s;
      let cut = buffer.indexOf('\n\n');
      while (cut >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('\n');
        if (data) this.results.push({ msg: JSON.parse(data) as Msg, at: performance.now() });
        cut = buffer.indexOf('\n\n');
      }
    }
    // A plain JSON answer (not an event stream) carries the result whole.
    if (buffer.trim().startsWith('{')) this.results.push({ msg: JSON.parse(buffer) as Msg, at: performance.now() });
    this.ended = true;
  }
  get data(): any[] {
    return this.results.filter((r) => r.msg.data).map((r) => r.msg.data);
  }
  get errorCodes(): (string | undefined)[] {
    return this.results.flatMap((r) => r.msg.errors ?? []).map((e) => e.extensions?.code);
  }
  close() {
    this.ctrl.abort();
  }
}
