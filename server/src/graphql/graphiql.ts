// GraphiQL at /graphql (not in production), served entirely by Tally: the page and its
// assets come inline from @graphql-yoga/render-graphiql (no CDN), loaded on first use only.
// It opens without a key: the headers editor holds `Authorization: Bearer ` to complete,
// the first tab says where the key comes from, and the schema's introspection (the only
// thing GraphiQL asks before a key is set) is answered without one.
import { execute, type GraphQLSchema, Kind, type OperationDefinitionNode, parse, validate } from 'graphql';
import type { GraphiQLOptions, Plugin } from 'graphql-yoga';

const HINT = `# Welcome to Tally's GraphiQL.
#
# Every request needs a key: put it after "Bearer " in the Headers tab below.
#  - A tenant's first ADMIN key is returned once by createTenant (an operator call:
#    \`npm run tally -- tenants create\`, or the createTenant mutation with the operator
#    key, TALLY_OPERATOR_KEY).
#  - More keys: the createApiKey mutation, or the dashboard's Keys page (/).
#  - A subject token (one end user's read-only view): createSubjectToken.

query Me {
  viewer { isOperator subject tenant { id name timezone } apiKey { name scopes } }
}
`;

export const graphiqlOptions: GraphiQLOptions = {
  title: 'Tally GraphiQL',
  headers: JSON.stringify({ Authorization: 'Bearer ' }),
  defaultQuery: HINT,
  defaultEditorToolsVisibility: 'headers',
  subscriptionsProtocol: 'WS',
};

let page: Promise<string> | null = null;
/** The GraphiQL page, with its scripts and styles inline (rendered once). */
export function renderGraphiQL(opts: GraphiQLOptions): Promise<string> {
  page ??= import('@graphql-yoga/render-graphiql').then((m) => m.renderGraphiQL(opts));
  return page;
}

/** Top-level fields all introspection (`__schema`, `__type`, `__typename`): safe without a key. */
function introspectionOnly(query: string): ReturnType<typeof parse> | null {
  try {
    const doc = parse(query);
    const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    const ok =
      ops.length === 1 &&
      ops[0]?.operation === 'query' &&
      ops[0].selectionSet.selections.every((s) => s.kind === Kind.FIELD && s.name.value.startsWith('__'));
    return ok ? doc : null;
  } catch {
    return null;
  }
}

/** Answers an introspection-only query sent without a key (development only, as GraphiQL is). */
export function useKeylessIntrospection(schema: GraphQLSchema): Plugin {
  return {
    onParams({ params, request, setResult }) {
      if (/^Bearer\s+\S+$/i.test((request.headers.get('authorization') ?? '').trim())) return;
      if (typeof params.query !== 'string') return;
      const doc = introspectionOnly(params.query);
      if (!doc || validate(schema, doc).length) return;
      setResult(execute({ schema, document: doc, variableValues: params.variables }) as never);
    },
  };
}
