// Compiled execution (graphql-jit) for the hot operations. Coercing the variables of a
// 500-event recordUsageBatch through graphql-js's generic input coercion was a quarter of the
// server's CPU per batch, and a subscription re-executes its selection for every push to
// every subscriber; graphql-jit compiles each document once into straight-line code.
//
// Only operations made of the high-volume mutations, or of subscriptions, are compiled: a
// dashboard's one-off queries would pay a compile each. When the compiled code refuses an
// operation before it starts (its variables), it is executed
// again the standard way, so bad input is answered with graphql-js's precise message and
// field path (the contract's `extensions.field`), exactly as without the compiler.
//
// A subscription's subscribe step is NOT graphql-jit's: its compiled subscribe hands the
// operation's variables to the field's subscribe resolver in place of the field's arguments,
// so `quotaAlerts(tenantId: "<other tenant>")` written inline (or through a variable of
// another name, a fragment or a default) was not seen at all. graphql-js resolves the
// arguments (createSourceEventStream, once per subscription); only the per-event execution
// of the selection, which runs for every push to every subscriber, is compiled.
import { useGraphQlJit } from '@envelop/graphql-jit';
import {
  createSourceEventStream,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  Kind,
  type OperationDefinitionNode,
} from 'graphql';
import { type CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';

export const HOT_MUTATIONS = new Set(['recordUsage', 'recordUsageBatch', 'authorizeUsage']);
/** Every push to every subscriber executes the subscription's selection: thousands per change. */
export const HOT_SUBSCRIPTIONS = new Set(['quotaUpdated', 'usageRecorded', 'quotaAlerts']);

const hotDocuments = new WeakMap<DocumentNode, Map<string, boolean>>();

/** True when the operation is a mutation or subscription whose every root field is a hot one. */
export function isHot(document: DocumentNode, operationName?: string | null): boolean {
  let byName = hotDocuments.get(document);
  if (!byName) {
    byName = new Map();
    hotDocuments.set(document, byName);
  }
  const key = operationName ?? '';
  let hot = byName.get(key);
  if (hot === undefined) {
    const ops = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    const op = operationName ? ops.find((o) => o.name?.value === operationName) : ops.length === 1 ? ops[0] : undefined;
    const fields =
      op?.operation === 'mutation' ? HOT_MUTATIONS : op?.operation === 'subscription' ? HOT_SUBSCRIPTIONS : null;
    hot =
      !!fields && !!op && op.selectionSet.selections.every((s) => s.kind === Kind.FIELD && fields.has(s.name.value));
    byName.set(key, hot);
  }
  return hot;
}

type Execute = (args: ExecutionArgs) => unknown;

export function useIngestJit(): Plugin {
  const jit = useGraphQlJit() as {
    onExecute: (p: { args: ExecutionArgs; setExecuteFn: (fn: Execute) => void }) => void;
  };
  /** The compiled function, falling back to the standard one when it refuses the operation up front. */
  const withFallback =
    (compiled: Execute, standard: Execute): Execute =>
    (a) => {
      // No data at all: refused before execution began (its variables).
      const settle = (result: unknown) => {
        const r = result as ExecutionResult;
        return r && typeof r === 'object' && !('data' in r) && r.errors?.length ? standard(a) : result;
      };
      const out = compiled(a);
      return out instanceof Promise ? out.then(settle) : settle(out);
    };
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (!isHot(args.document, args.operationName)) return;
      const standard = executeFn as Execute;
      let compiled: Execute = standard;
      jit.onExecute({ args, setExecuteFn: (fn) => (compiled = fn) });
      setExecuteFn(withFallback(compiled, standard) as never);
    },
    onSubscribe({ args, setSubscribeFn }) {
      if (!isHot(args.document, args.operationName)) return;
      const compiled = compiledSubscription(args);
      if (!compiled) return; // graphql-js's own subscribe, unchanged
      setSubscribeFn((async (a: ExecutionArgs) => {
        // Arguments, variables, fragments and defaults resolved by graphql-js; its errors
        // (FORBIDDEN from the resolver, bad variables) come back as a result, as standard.
        const stream = await createSourceEventStream(a);
        if (!isAsyncIterable(stream)) return stream;
        return mapEvents(stream, (event) => compiled.query(event, a.contextValue, a.variableValues ?? {}));
      }) as never);
    },
  };
}

const compiledSubscriptions = new WeakMap<DocumentNode, Map<string, CompiledQuery | null>>();

/** The selection of a subscription operation compiled once per document (null: not compilable). */
function compiledSubscription(args: ExecutionArgs): CompiledQuery | null {
  let byName = compiledSubscriptions.get(args.document);
  if (!byName) {
    byName = new Map();
    compiledSubscriptions.set(args.document, byName);
  }
  const key = args.operationName ?? '';
  let compiled = byName.get(key);
  if (compiled === undefined) {
    const c = compileQuery(args.schema, args.document, args.operationName ?? undefined);
    compiled = isCompiledQuery(c) ? c : null;
    byName.set(key, compiled);
  }
  return compiled;
}

const isAsyncIterable = (v: unknown): v is AsyncIterable<unknown> =>
  v != null && typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';

/** Each source event through `map`; return() and throw() reach the source at once. */
function mapEvents<T, R>(source: AsyncIterable<T>, map: (event: T) => R | Promise<R>): AsyncIterableIterator<R> {
  const it = source[Symbol.asyncIterator]();
  const step = async (r: IteratorResult<T>): Promise<IteratorResult<R>> =>
    r.done ? { done: true, value: undefined } : { done: false, value: await map(r.value) };
  return {
    next: () => it.next().then(step),
    return: async () => {
      await it.return?.();
      return { done: true, value: undefined };
    },
    throw: async (e?: unknown) => {
      if (it.throw) return step(await it.throw(e));
      throw e;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
