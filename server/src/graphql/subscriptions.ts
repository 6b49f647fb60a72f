// Subscription helpers: a live stream ends when its key is revoked (on any instance: the
// revocation is published through the same pub/sub port as everything else, and open
// streams' keys are re-checked; see key-recheck.ts), and ends LOUDLY when the pub/sub
// connection is lost: its last message is a retryable INTERNAL error, so the client
// subscribes again and gets a fresh first state instead of silently missing events.
import { expiryOf, revocableKeyOf } from '../auth/principal';
import { AppError } from '../lib/errors';
import type { Context } from './context';

/** The last item of a stream whose pub/sub connection was lost; its resolver throws `pubsubLost()`. */
export const PUBSUB_LOST: unique symbol = Symbol('pub/sub lost');
export type Live<T> = T | typeof PUBSUB_LOST | typeof SERVER_DRAINING;

export const pubsubLost = () =>
  new AppError(
    'INTERNAL',
    'live events were interrupted (the pub/sub connection was lost); subscribe again for a fresh state',
    undefined,
    { retryable: true },
  );

/** The last item of an SSE stream whose server began draining; its resolver throws `serverDraining()`. */
export const SERVER_DRAINING: unique symbol = Symbol('server draining');

export const serverDraining = () =>
  new AppError('INTERNAL', 'this server is shutting down; subscribe again for a fresh state', undefined, {
    retryable: true,
  });

/** A stream item as its resolver returns it: a loss or drain marker becomes its retryable error. */
export function liveValue<T>(v: Live<T>): T {
  if (v === PUBSUB_LOST) throw pubsubLost();
  if (v === SERVER_DRAINING) throw serverDraining();
  return v;
}

const noop = () => {};

/** The longest delay setTimeout keeps (about 24.8 days); a later expiry is re-armed by nobody, and needs none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `onExpired` once when the caller's token expires (on the services' clock), if it ever
 * does; returns the unwatch.
 */
export function watchExpiry(ctx: Pick<Context, 'principal' | 'services'>, onExpired: () => void): () => void {
  const at = expiryOf(ctx.principal);
  if (!at) return noop;
  const ms = at.getTime() - ctx.services.now().getTime();
  const timer = setTimeout(onExpired, Math.min(MAX_TIMER_MS, Math.max(0, ms)));
  timer.unref?.();
  return () => clearTimeout(timer);
}

/**
 * `source`, ended as soon as the caller's key (or the key that minted its subject token) is
 * revoked or its token expires, and ended with `PUBSUB_LOST` when the pub/sub connection is
 * lost. Refused at once (retryable) while pub/sub is down. Over graphql-ws the socket itself
 * is closed on revocation and expiry (ws.ts), which ends every operation on it; with
 * in-process pub/sub nothing can be lost; so a socket's stream on one process is returned as
 * is, with no wrapper per event.
 */
export function liveStream<T>(ctx: Context, source: AsyncIterable<T>): AsyncIterable<Live<T>> {
  const keyId = revocableKeyOf(ctx.principal);
  const health = ctx.pubsubHealth;
  const watchKey = !!keyId && !ctx.viaSocket;
  const watchExpires = !!expiryOf(ctx.principal) && !ctx.viaSocket;
  // An SSE stream also ends when the server starts draining; a socket is closed then (ws.ts).
  const watchDrain = !ctx.viaSocket;
  if (!watchKey && !watchExpires && !watchDrain && !health.canLose) return source;
  if (!health.healthy()) throw pubsubLost();
  return {
    [Symbol.asyncIterator]() {
      const it = source[Symbol.asyncIterator]();
      let lost = false;
      let drained = false;
      let told = false;
      const unwatch = watchKey && keyId ? ctx.revocations.watch(keyId, () => void it.return?.()) : noop;
      const unexpire = watchExpires ? watchExpiry(ctx, () => void it.return?.()) : noop;
      const unlost = health.onLost(() => {
        lost = true;
        void it.return?.();
      });
      const undrain = watchDrain
        ? ctx.revocations.watchDrain(() => {
            drained = true;
            void it.return?.();
          })
        : noop;
      const stop = () => {
        unwatch();
        unexpire();
        unlost();
        undrain();
      };
      const settle = (r: IteratorResult<T>): IteratorResult<Live<T>> => {
        if (!r.done) return r;
        stop();
        if ((lost || drained) && !told) {
          told = true;
          return { done: false, value: lost ? PUBSUB_LOST : SERVER_DRAINING };
        }
        return r;
      };
      return {
        next: () =>
          it.next().then(settle, (e) => {
            stop();
            throw e;
          }),
        return: async (value?: unknown) => {
          stop();
          told = true;
          return (await it.return?.(value)) ?? { done: true as const, value: undefined };
        },
        throw: async (e?: unknown) => {
          stop();
          if (it.throw) return it.throw(e);
          throw e;
        },
      };
    },
  };
}
