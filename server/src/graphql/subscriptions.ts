// Subscription helpers: a revoked key's open subscriptions end, on every instance (the
// revocation is published through the same pub/sub port as everything else).
import type { Context } from './context';

/**
 * `source`, ended as soon as the caller's key is revoked. Over graphql-ws the socket itself
 * is closed on revocation (ws.ts), which ends every operation on it, so nothing is added
 * there; over SSE the subscription is watched through the shared Revocations registry. No
 * wrapper generator or race per event: revocation simply returns the source iterator.
 */
export function untilRevoked<T>(ctx: Context, source: AsyncIterable<T>): AsyncIterable<T> {
  const keyId = ctx.principal.key?.id;
  if (!keyId || ctx.viaSocket) return source;
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      const unwatch = ctx.revocations.watch(keyId, () => void it.return?.());
      const done = (r: IteratorResult<T>) => {
        if (r.done) unwatch();
        return r;
      };
      return {
        next: () =>
          it.next().then(done, (e) => {
            unwatch();
            throw e;
          }),
        return: async (value?: unknown) => {
          unwatch();
          return (await it.return?.(value)) ?? { done: true as const, value: undefined };
        },
        throw: async (e?: unknown) => {
          unwatch();
          if (it.throw) return it.throw(e);
          throw e;
        },
      };
    },
  };
}
