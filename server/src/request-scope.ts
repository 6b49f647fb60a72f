// The request id: chosen once per HTTP request (the caller's x-request-id when it is sane, else
// a new one), handed to yoga in the request's own header, kept per request by the request log
// (app.ts) and in the GraphQL context, and tagged onto every error an operation ends with
// (useRequestIds), so the masking of unexpected errors (graphql/contract-errors.ts) logs and
// answers with it. Not AsyncLocalStorage: on Node 20 it gives every promise of every request an
// async hook (an `await` cost three times as much in a micro-benchmark here), which was paid by
// every answer for the rare one that fails.
import { randomUUID } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';

/** The caller's x-request-id when it is sane, else a new one. */
export const requestIdFrom = (given: string | null | undefined) =>
  given && /^[\w.:-]{1,100}$/.test(given) ? given : randomUUID();

/** Errors (and what they wrap) -> the id of the request they ended. */
const ids = new WeakMap<object, string>();

/** Marks errors, and the errors they wrap, as ending the request `id`. */
export function tagErrors(errors: readonly unknown[] | null | undefined, id: string | null | undefined): void {
  if (!id || !errors) return;
  for (let e = 0; e < errors.length; e++)
    for (let x = errors[e], depth = 0; x && typeof x === 'object' && depth < 5; depth++) {
      ids.set(x, id);
      x = (x as { originalError?: unknown }).originalError;
    }
}

/** The id of the request an error ended (tagged by useRequestIds), when known. */
export function requestIdOf(error: unknown): string | undefined {
  return error && typeof error === 'object' ? ids.get(error) : undefined;
}

type ErrorsOf = { result: unknown };
const errorsOf = (r: unknown) => (r && typeof r === 'object' ? (r as { errors?: unknown[] }).errors : undefined);

/**
 * Tags what an operation ends with (each event of a stream too), and what the context's
 * construction threw, with its request's id; it runs before yoga's masking (user plugins come
 * first). `idOfContext` reads the id from a context (the built one, or the initial one holding
 * the request when building it failed).
 */
export function useRequestIds(idOfContext: (context: object) => string | undefined): Plugin {
  const tag =
    (id: string | undefined) =>
    ({ result }: ErrorsOf) => {
      if (result && typeof result === 'object' && Symbol.asyncIterator in result)
        return { onNext: ({ result: r }: ErrorsOf) => tagErrors(errorsOf(r), id) };
      tagErrors(errorsOf(result), id);
      return undefined;
    };
  return {
    onPluginInit({ registerContextErrorHandler }) {
      registerContextErrorHandler(({ context, error }) => tagErrors([error], idOfContext(context)));
    },
    onExecute: ({ args }) => ({
      onExecuteDone: tag(idOfContext(args.contextValue as object)) as never,
    }),
    onSubscribe: ({ args }) => {
      const id = idOfContext(args.contextValue as object);
      return {
        onSubscribeResult: tag(id) as never,
        onSubscribeError: ({ error }) => tagErrors([error], id),
      };
    },
  };
}
