// The Pothos builder and its plugins. Defines no types: modules add theirs.
import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { AppError } from '../lib/errors';
import type { Context } from './context';

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  AuthScopes: { operator: boolean; ingest: boolean; read: boolean; admin: boolean };
  Scalars: {
    Decimal: { Input: string; Output: string };
    BigInt: { Input: bigint; Output: bigint | number | string };
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
}>({
  plugins: [ScopeAuthPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (ctx) => ({
      operator: ctx.principal.isOperator,
      ingest: ctx.principal.isOperator || ctx.principal.scopes.has('INGEST'),
      read: ctx.principal.isOperator || ctx.principal.scopes.has('READ'),
      admin: ctx.principal.isOperator || ctx.principal.scopes.has('ADMIN'),
    }),
    unauthorizedError: () => new AppError('FORBIDDEN', 'this key lacks the scope for that field'),
  },
});
