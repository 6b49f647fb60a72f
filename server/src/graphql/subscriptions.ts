// Subscription helpers: a revoked key's open subscriptions end, on every instance (the
// revocation is published through the same pub/sub port as everything else).
import { Repeater } from 'graphql-yoga';
import type { Context } from './context';

export function untilRevoked<T>(ctx: Context, source: AsyncIterable<T>): AsyncIterable<T> {
  const keyId = ctx.principal.key?.id;
  if (!keyId) return source;
  return new Repeater<T>(async (push, stop) => {
    const revoked = ctx.pubsub.subscribe('key:revoked', keyId)[Symbol.asyncIterator]();
    const it = source[Symbol.asyncIterator]();
    const stopped = stop.then(() => ({ done: true as const, value: undefined }));
    void revoked.next().then(() => stop());
    try {
      for (;;) {
        const next = await Promise.race([it.next(), stopped]);
        if (next.done) break;
        await push(next.value as T);
      }
    } finally {
      stop();
      await it.return?.();
      await revoked.return?.();
    }
  });
}
