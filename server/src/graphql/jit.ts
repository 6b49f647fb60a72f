// Compiled execution (graphql-jit) for the hot operations. Coercing the variables of a
// 500-event recordUsageBatch through graphql-js's generic input coercion was a quarter of the
// server's CPU per batch, and a subscription re-executes its selection for every push to
// every subscriber; graphql-jit compiles each document once into straight-line code.
//
// Only operations made of the high-volume mutations, or of subscriptions, are compiled: a
// dashboard's one-off queries would pay a compile each. When the compiled code refuses an
// operation before it starts (its variables, or a subscription's source), it is executed
// again the standard way, so bad input is answered with graphql-js's precise message and
// field path (the contract's `extensions.field`), exactly as without the compiler.
import { useGraphQlJit } from '@envelop/graphql-jit';
import {
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  Kind,
  type OperationDefinitionNode,
} from 'graphql';
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
    onSubscribe: (p: { args: ExecutionArgs; setSubscribeFn: (fn: Execute) => void }) => void;
  };
  /** The compiled function, falling back to the standard one when it refuses the operation up front. */
  const withFallback =
    (compiled: Execute, standard: Execute): Execute =>
    (a) => {
      // No data at all: refused before execution began (variables, or a subscription's source).
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
    onSubscribe({ args, subscribeFn, setSubscribeFn }) {
      if (!isHot(args.document, args.operationName)) return;
      const standard = subscribeFn as Execute;
      let compiled: Execute = standard;
      jit.onSubscribe({ args, setSubscribeFn: (fn) => (compiled = fn) });
      setSubscribeFn(withFallback(compiled, standard) as never);
    },
  };
}
