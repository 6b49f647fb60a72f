// GraphQL metrics from inside the yoga/envelop pipeline: the bounded label of each HTTP request,
// errors by contract code, active subscriptions and open SSE streams.
//
// A request is labelled by the root field of its operation only once that operation has been
// parsed, validated against the schema and authenticated (execute and subscribe run only then),
// and the field is checked against the schema again; aliases, operation names and anything
// else a client writes never become a label. Before that point the label is fixed:
// `unauthenticated`, `invalid` (unparsable, failed validation, unknown operation) or `other`
// (not a GraphQL request: GraphiQL, CORS preflight).
import {
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { countErrors, type Metrics } from '../observability';

export const FIXED_OPERATION_LABELS = ['unauthenticated', 'invalid', 'multiple', 'other'] as const;

const META_FIELDS = new Set(['__typename', '__schema', '__type']);
const labels = new WeakMap<DocumentNode, Map<string, string>>();

/** The root field an operation selects, `multiple` for several, `invalid` when there is no such operation. */
export function rootFieldLabel(schema: GraphQLSchema, document: DocumentNode, operationName?: string | null): string {
  let byName = labels.get(document);
  if (!byName) {
    byName = new Map();
    labels.set(document, byName);
  }
  const key = operationName ?? '';
  let label = byName.get(key);
  if (label === undefined) {
    label = computeLabel(schema, document, operationName);
    byName.set(key, label);
  }
  return label;
}

function computeLabel(schema: GraphQLSchema, document: DocumentNode, operationName?: string | null): string {
  const ops = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const op = operationName ? ops.find((o) => o.name?.value === operationName) : ops.length === 1 ? ops[0] : undefined;
  if (!op) return 'invalid';
  const root =
    op.operation === 'query'
      ? schema.getQueryType()
      : op.operation === 'mutation'
        ? schema.getMutationType()
        : schema.getSubscriptionType();
  const fragments = new Map(
    document.definitions
      .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
      .map((f) => [f.name.value, f]),
  );
  const names = new Set<string>();
  const spread = new Set<string>();
  const walk = (set: SelectionSetNode) => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) names.add(s.name.value);
      else if (s.kind === Kind.INLINE_FRAGMENT) walk(s.selectionSet);
      else if (!spread.has(s.name.value)) {
        spread.add(s.name.value);
        const f = fragments.get(s.name.value);
        if (f) walk(f.selectionSet);
      }
    }
  };
  walk(op.selectionSet);
  if (names.size > 1) return 'multiple';
  const [name] = names;
  if (!name || !root) return 'invalid';
  return Object.hasOwn(root.getFields(), name) || META_FIELDS.has(name) ? name : 'invalid';
}

/** `source`, calling `onDone` once when it ends however it ends, and `onValue` per value. */
function whenDone<T>(source: AsyncIterable<T>, onDone: () => void, onValue?: (v: T) => void): AsyncIterableIterator<T> {
  const it = source[Symbol.asyncIterator]();
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    onDone();
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () =>
      it.next().then(
        (r) => {
          if (r.done) finish();
          else onValue?.(r.value);
          return r;
        },
        (e) => {
          finish();
          throw e;
        },
      ),
    return: (value?: unknown) => {
      finish();
      return it.return ? it.return(value) : Promise.resolve({ done: true as const, value: value as T });
    },
    throw: (e?: unknown) => {
      finish();
      return it.throw ? it.throw(e) : Promise.reject(e);
    },
  };
}

const acceptsEventStream = (request: Request | undefined) =>
  request?.headers.get('accept')?.includes('text/event-stream') ?? false;

/**
 * Labels `requests` (their `operation`, read by the request log and the request metrics), and
 * counts errors, subscriptions and SSE streams. Errors over HTTP are counted as the response
 * is formed (after masking); over graphql-ws, ws.ts counts what it sends.
 */
export function useOperationMetrics(requests: WeakMap<Request, { operation: string }>, metrics: Metrics): Plugin {
  const label = (args: ExecutionArgs) => {
    const op = rootFieldLabel(args.schema, args.document, args.operationName);
    const request = (args.contextValue as { request?: Request } | undefined)?.request;
    const s = request && requests.get(request);
    if (s) s.operation = op;
    return op;
  };
  return {
    onParams({ request }) {
      const s = requests.get(request);
      if (s) s.operation = 'invalid';
    },
    onExecute({ args }) {
      label(args);
    },
    onSubscribe({ args }) {
      const field = label(args);
      const ctx = args.contextValue as { viaSocket?: boolean; request?: Request };
      const transport = ctx.viaSocket ? 'ws' : acceptsEventStream(ctx.request) ? 'sse' : 'http';
      return {
        onSubscribeResult({ result, setResult }) {
          if (!isAsyncIterable(result)) return;
          const gauge = metrics.subscriptions.labels(field, transport);
          gauge.inc();
          setResult(whenDone(result, () => gauge.dec()));
        },
      };
    },
    onResultProcess({ request, result, setResult }) {
      if (isAsyncIterable(result)) {
        const sse = acceptsEventStream(request);
        if (sse) metrics.sse.inc();
        setResult(
          whenDone(
            result,
            () => sse && metrics.sse.dec(),
            (r) => countErrors(metrics, r.errors),
          ),
        );
        return;
      }
      const s = requests.get(request);
      for (const r of Array.isArray(result) ? result : [result]) {
        const errors = (r as ExecutionResult | undefined)?.errors;
        countErrors(metrics, errors);
        // Refused before anything ran because of who is calling (never labelled by execute).
        if (s?.operation === 'invalid' && errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED'))
          s.operation = 'unauthenticated';
      }
    },
  };
}
