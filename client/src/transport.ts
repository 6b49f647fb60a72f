// The untyped transport under the typed client: one POST per operation, errors mapped to
// TallyError, and retries with backoff for operations that are safe to repeat.
import type { TadaDocumentNode } from 'gql.tada';
import { print } from 'graphql';
import { type GraphQLErrorShape, TallyError } from './errors';

export interface TransportOptions {
  url: string;
  apiKey: string;
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  /** Attempts for retry-safe calls (recordUsage, recordUsageBatch); default 5. */
  maxAttempts?: number;
  /** First backoff in ms, doubled per attempt with jitter, capped at 5 s; default 100. */
  backoffMs?: number;
}

const printed = new WeakMap<object, string>();
const text = (doc: object) => {
  let s = printed.get(doc);
  if (!s) {
    s = print(doc as never);
    printed.set(doc, s);
  }
  return s;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Transport {
  constructor(private readonly o: TransportOptions) {}

  /** One operation; with `retry`, network failures, 5xx and retryable errors are retried with the SAME body. */
  async request<R, V>(doc: TadaDocumentNode<R, V>, variables: V | undefined, retry = false): Promise<R> {
    const body = JSON.stringify({ query: text(doc), variables });
    const attempts = retry ? (this.o.maxAttempts ?? 5) : 1;
    let last: TallyError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        return await this.once<R>(body);
      } catch (e) {
        last = e instanceof TallyError ? e : new TallyError('INTERNAL', String(e), { retryable: true, cause: e });
        if (!last.retryable || attempt === attempts) throw last;
        const base = Math.min(5000, (this.o.backoffMs ?? 100) * 2 ** (attempt - 1));
        await sleep(base / 2 + Math.random() * (base / 2));
      }
    }
    throw last as TallyError;
  }

  private async once<R>(body: string): Promise<R> {
    let res: Response;
    try {
      res = await (this.o.fetch ?? fetch)(this.o.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: `Bearer ${this.o.apiKey}`,
          ...this.o.headers,
        },
        body,
      });
    } catch (cause) {
      throw new TallyError('INTERNAL', `network error: ${(cause as Error).message}`, { retryable: true, cause });
    }
    let json: { data?: R; errors?: GraphQLErrorShape[] } | undefined;
    try {
      json = (await res.json()) as typeof json;
    } catch (cause) {
      throw new TallyError('INTERNAL', `unreadable answer (HTTP ${res.status})`, {
        retryable: res.status >= 500,
        status: res.status,
        cause,
      });
    }
    if (json?.errors?.length) {
      const err = TallyError.fromGraphQL(json.errors, res.status);
      if (res.status >= 500)
        throw new TallyError(err.code, err.message, { ...err, retryable: true, status: res.status });
      throw err;
    }
    if (res.status >= 500 || !json?.data)
      throw new TallyError('INTERNAL', `HTTP ${res.status}`, { retryable: res.status >= 500, status: res.status });
    return json.data;
  }
}
