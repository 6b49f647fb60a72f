// The request id, available anywhere below the HTTP handler (error masking included) without
// threading it through every call: the http server runs each request inside this scope.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

export const requestScope = new AsyncLocalStorage<{ id: string }>();

/** The caller's x-request-id when it is sane, else a new one. */
export const requestIdFrom = (given: string | null | undefined) =>
  given && /^[\w.:-]{1,100}$/.test(given) ? given : randomUUID();
