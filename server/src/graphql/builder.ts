// The Pothos builder and its plugins. Defines no types: modules add theirs.
import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import ScopeAuthPlugin, { type AuthFailure } from '@pothos/plugin-scope-auth';
import { ABUSE_LIMITS } from '../config';
import { AppError, forbidden } from '../lib/errors';
import type { Context } from './context';

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  AuthScopes: { operator: boolean; ingest: boolean; read: boolean; admin: boolean; anyKey: boolean };
  Scalars: {
    ID: { Input: string; Output: string | number };
    Decimal: { Input: string; Output: string };
    BigInt: { Input: bigint; Output: bigint | number | string };
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
}>({
  plugins: [ScopeAuthPlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  // Cost is computed with the request's variables, so `first: 500` costs the same written
  // inline or passed as a variable (graphql-armor's cost limit reads only literals).
  complexity: {
    defaultComplexity: 1,
    defaultListMultiplier: 10,
    limit: { complexity: ABUSE_LIMITS.maxCost },
    complexityError: (kind, result) =>
      new AppError(
        'QUERY_TOO_COMPLEX',
        `query ${kind} ${result.complexity} is over the limit of ${result.maxComplexity}`,
      ),
  },
  scopeAuth: {
    authScopes: (ctx) => ({
      operator: ctx.principal.isOperator,
      ingest: ctx.principal.isOperator || ctx.principal.scopes.has('INGEST'),
      read: ctx.principal.isOperator || ctx.principal.scopes.has('READ'),
      admin: ctx.principal.isOperator || ctx.principal.scopes.has('ADMIN'),
      // Every operation's caller is authenticated before it runs (app.ts): a field any key may use.
      anyKey: true,
    }),
    // Checked on subscribe (once per subscription), not on every pushed event.
    authorizeOnSubscribe: true,
    // A root field names the scope it needs; a field may give its own message (unauthorizedError).
    // A subject token only reads: every mutation says so.
    unauthorizedError: (_, ctx, info, { failure }) => {
      const scope = onlyScope(failure);
      if (ctx.principal.kind === 'subject' && isRoot(info.parentType.name))
        return forbidden('a subject token may only read its own subject');
      return isRoot(info.parentType.name) && scope && scope !== 'operator'
        ? forbidden(`this operation needs a key with the ${scope.toUpperCase()} scope`)
        : new AppError('FORBIDDEN', 'this key lacks the scope for that field');
    },
  },
});

/** The one scope a field asked for (`authScopes: { read: true }` fails as `$any` of one). */
function onlyScope(f: AuthFailure): string | null {
  if (f.kind === 'AuthScope') return f.scope;
  if ((f.kind === 'AnyAuthScopes' || f.kind === 'AllAuthScopes') && f.failures.length === 1)
    return onlyScope(f.failures[0] as AuthFailure);
  return null;
}

const isRoot = (type: string) => type === 'Query' || type === 'Mutation' || type === 'Subscription';

/** A field's own FORBIDDEN message when its authScopes fail: `...deny('only the operator ...')`. */
export const deny = (message: string) => ({ unauthorizedError: () => forbidden(message) });
