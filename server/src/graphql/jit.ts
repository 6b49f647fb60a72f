// Compiled execution (graphql-jit) for the ingest hot path. Coercing the variables of a
// 500-event recordUsageBatch through graphql-js's generic input coercion was a quarter of the
// server's CPU per batch; graphql-jit compiles each document once into straight-line code.
//
// Only operations made of the high-volume mutations are compiled: a dashboard's one-off
// queries would pay a compile each, and nothing else is hot. When the compiled code refuses
// the variables (before any resolver ran), the request is executed again the standard way,
// so bad input is answered with graphql-js's precise message and field path (the contract's
// `extensions.field`), exactly as without the compiler.
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

const hotDocuments = new WeakMap<DocumentNode, Map<string, boolean>>();

/** True when the operation to run is a mutation whose every root field is a hot one. */
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
    hot =
      op?.operation === 'mutation' &&
      op.selectionSet.selections.every((s) => s.kind === Kind.FIELD && HOT_MUTATIONS.has(s.name.value));
    byName.set(key, hot);
  }
  return hot;
}

type Execute = (args: ExecutionArgs) => unknown;

export function useIngestJit(): Plugin {
  const jit = useGraphQlJit() as {
    onExecute: (p: { args: ExecutionArgs; setExecuteFn: (fn: Execute) => void }) => void;
  };
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (!isHot(args.document, args.operationName)) return;
      const standard = executeFn as Execute;
      let compiled: Execute = standard;
      jit.onExecute({ args, setExecuteFn: (fn) => (compiled = fn) });
      setExecuteFn(((a: ExecutionArgs) => {
        // No data at all: the variables were refused before execution began.
        const settle = (result: unknown) => {
          const r = result as ExecutionResult;
          return r && !('data' in r) && r.errors?.length ? standard(a) : result;
        };
        const out = compiled(a);
        return out instanceof Promise ? out.then(settle) : settle(out);
      }) as never);
    },
  };
}
