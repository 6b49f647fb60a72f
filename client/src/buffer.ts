// A gateway-side buffer: record() calls are gathered and sent as recordUsageBatch (on
// maxItems or after maxDelayMs, whichever first); each caller's promise resolves with its
// own item's result. Nothing is dropped silently: a failed flush rejects every caller in it.
// The batch call retries with the same idempotency keys, so a retry never double counts.
import type { ResultOf, VariablesOf } from 'gql.tada';
import type { RecordUsageBatchMutation } from './documents';
import { TallyError } from './errors';

type Input = VariablesOf<typeof RecordUsageBatchMutation>['input'][number];
export type BatchResult = ResultOf<typeof RecordUsageBatchMutation>['recordUsageBatch']['results'][number];

export interface UsageBufferOptions {
  /** Flush when this many items are waiting (1 to 1000); default 100. */
  maxItems?: number | undefined;
  /** Flush this long after the first waiting item; default 50 ms. */
  maxDelayMs?: number | undefined;
  /** Deadline of each flush (its recordUsageBatch call, retries included); default the client's timeoutMs. */
  timeoutMs?: number | undefined;
}

export interface UsageBuffer {
  record(input: Input): Promise<BatchResult>;
  flush(): Promise<void>;
  /** Flushes what is waiting and refuses further records. */
  close(): Promise<void>;
  readonly pending: number;
}

export function createUsageBuffer(
  send: (items: Input[]) => Promise<BatchResult[]>,
  opts: UsageBufferOptions = {},
): UsageBuffer {
  const maxItems = Math.min(1000, Math.max(1, opts.maxItems ?? 100));
  const maxDelayMs = Math.max(0, opts.maxDelayMs ?? 50);
  let waiting: { input: Input; resolve: (r: BatchResult) => void; reject: (e: unknown) => void }[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;
  const inflight = new Set<Promise<void>>();

  const flush = async (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = null;
    const batch = waiting;
    waiting = [];
    if (!batch.length) return;
    const p = (async () => {
      try {
        const results = await send(batch.map((b) => b.input));
        batch.forEach((b, i) => {
          const r = results[i];
          if (r) b.resolve(r);
          else b.reject(new TallyError('INTERNAL', 'the batch answer has no result for this item'));
        });
      } catch (e) {
        for (const b of batch) b.reject(e);
      }
    })();
    inflight.add(p);
    await p;
    inflight.delete(p);
  };

  return {
    record(input) {
      if (closed)
        return Promise.reject(new TallyError('BAD_USER_INPUT', 'the usage buffer is closed', { retryable: false }));
      return new Promise<BatchResult>((resolve, reject) => {
        waiting.push({ input, resolve, reject });
        if (waiting.length >= maxItems) void flush();
        else if (!timer) timer = setTimeout(() => void flush(), maxDelayMs);
      });
    },
    flush,
    async close() {
      closed = true;
      await flush();
      await Promise.all(inflight);
    },
    get pending() {
      return waiting.length;
    },
  };
}
