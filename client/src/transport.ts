// The untyped transport under the typed client: one POST per operation, errors mapped to
// TallyError, a deadline on every call, and retries with backoff (p-retry) for operations that
// are safe to repeat, always with the same body.
import { print } from '@0no-co/graphql.web';
import type { TadaDocumentNode } from 'gql.tada';
import pRetry from 'p-retry';
import { type GraphQLErrorShape, TallyError } from './errors';

/** What every call accepts as its last argument. */
export interface CallOptions {
  /**
   * The most this call may take, retries and their waits included; then it fails with
   * TallyError TIMEOUT (retryable). Default: the client's `timeoutMs`, 10 000 ms.
   */
  timeoutMs?: number | undefined;
  /** Aborts the call at once (and every retry it would make) with TallyError ABORTED. */
  signal?: AbortSignal | undefined;
}

export interface TransportOptions {
  url: string;
  apiKey: string;
  fetch?: typeof fetch | undefined;
  headers?: Record<string, string> | undefined;
  /** Default deadline of every call in ms, retries included; default 10 000. */
  timeoutMs?: number | undefined;
  /** Attempts for retry-safe calls (recordUsage, recordUsageBatch); default 5. */
  maxAttempts?: number | undefined;
  /** First backoff in ms, doubled per attempt with jitter, capped at 5 s; default 100. */
  backoffMs?: number | undefined;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

const printed = new WeakMap<object, string>();
const text = (doc: object) => {
  let s = printed.get(doc);
  if (!s) {
    s = print(doc as never);
    printed.set(doc, s);
  }
  return s;
};

/** The most useful line of a failed fetch: undici says "fetch failed" and keeps the reason in `cause`. */
function networkCause(e: unknown): string {
  const err = e as { message?: string; cause?: { message?: string; code?: string; errors?: { message?: string }[] } };
  const c = err?.cause;
  const inner = c?.message || c?.errors?.map((x) => x.message).join('; ') || c?.code;
  return inner || err?.message || String(e);
}

/**
 * A call's deadline and the caller's signal as one AbortSignal, whose reason is the TallyError
 * to reject with: ABORTED when the caller's signal fired, TIMEOUT when the deadline passed
 * (naming the last failed attempt, if any, as its cause).
 */
class Deadline {
  private readonly ctl = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;
  private readonly started = Date.now();
  /** The last failed attempt of a retried call. */
  last: TallyError | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly outer: AbortSignal | undefined,
  ) {
    this.timer = setTimeout(() => this.ctl.abort(this.timeout()), timeoutMs);
    if (outer?.aborted) this.aborted();
    else outer?.addEventListener('abort', this.aborted, { once: true });
  }

  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  private readonly aborted = () =>
    this.ctl.abort(
      new TallyError('ABORTED', 'the call was aborted by its signal', { retryable: false, cause: this.outer?.reason }),
    );

  timeout(): TallyError {
    const last = this.last ? ` (last attempt: ${this.last.message})` : '';
    return new TallyError('TIMEOUT', `no answer from Tally within ${this.timeoutMs} ms${last}`, {
      retryable: true,
      cause: this.last,
    });
  }

  /** The error a failed call rejects with. */
  failure(e: unknown): TallyError {
    if (this.signal.aborted && this.signal.reason instanceof TallyError) return this.signal.reason;
    // p-retry gives up at maxRetryTime a moment before the timer fires: that is the deadline too.
    const late = Date.now() - this.started >= this.timeoutMs;
    if (late && e instanceof TallyError && e.retryable && e === this.last) return this.timeout();
    return e instanceof TallyError ? e : new TallyError('INTERNAL', String(e), { retryable: true, cause: e });
  }

  done() {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.aborted);
  }
}

export class Transport {
  constructor(private readonly o: TransportOptions) {}

  /**
   * One operation under a deadline (the call's or the client's timeoutMs, retries included).
   * With `retry`, network failures, 5xx and retryable errors are retried with the SAME body,
   * with backoff, until the attempts or the deadline run out.
   */
  async request<R, V>(
    doc: TadaDocumentNode<R, V>,
    variables: V | undefined,
    call: CallOptions & { retry?: boolean } = {},
  ): Promise<R> {
    const body = JSON.stringify({ query: text(doc), variables });
    const timeoutMs = call.timeoutMs ?? this.o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const deadline = new Deadline(timeoutMs, call.signal);
    const { signal } = deadline;
    try {
      if (signal.aborted) throw signal.reason;
      if (!call.retry) return await this.once<R>(body, signal);
      return await pRetry(() => this.once<R>(body, signal), {
        retries: Math.max(0, (this.o.maxAttempts ?? 5) - 1),
        minTimeout: this.o.backoffMs ?? 100,
        factor: 2,
        maxTimeout: 5000,
        randomize: true,
        maxRetryTime: timeoutMs,
        signal,
        onFailedAttempt: ({ error }) => {
          if (error instanceof TallyError) deadline.last = error;
        },
        shouldRetry: ({ error }) => error instanceof TallyError && error.retryable && !signal.aborted,
      });
    } catch (e) {
      throw deadline.failure(e);
    } finally {
      deadline.done();
    }
  }

  private async once<R>(body: string, signal: AbortSignal): Promise<R> {
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
        signal,
      });
    } catch (cause) {
      if (signal.aborted) throw signal.reason;
      throw new TallyError('INTERNAL', `network error: POST ${this.o.url} failed: ${networkCause(cause)}`, {
        retryable: true,
        cause,
      });
    }
    let json: { data?: R; errors?: GraphQLErrorShape[] } | undefined;
    try {
      json = (await res.json()) as typeof json;
    } catch (cause) {
      if (signal.aborted) throw signal.reason;
      throw new TallyError('INTERNAL', `unreadable answer (HTTP ${res.status}) from ${this.o.url}`, {
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
      throw new TallyError('INTERNAL', `HTTP ${res.status} from ${this.o.url}`, {
        retryable: res.status >= 500,
        status: res.status,
      });
    return json.data;
  }
}
