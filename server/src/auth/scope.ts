// What a service may know about its caller: which tenant it acts for, never the key's scopes
// (those are checked once, by each GraphQL field's authScopes). Resolvers build it with
// scopeOf(ctx.principal); services never see the Principal.
import { badInput, forbidden, notFound } from '../lib/errors';
import { isUuid } from '../lib/ids';
import type { Principal } from './principal';

/** The operator (acts on any tenant it names), or one tenant's key. */
export type TenantScope =
  | { readonly operator: true; readonly tenantId: null; readonly keyId: null }
  | { readonly operator: false; readonly tenantId: string; readonly keyId: string | null };

export const OPERATOR: TenantScope = { operator: true, tenantId: null, keyId: null };

export function scopeOf(p: Principal): TenantScope {
  return p.isOperator ? OPERATOR : { operator: false, tenantId: p.tenantId as string, keyId: p.key?.id ?? null };
}

/** The tenant an operation acts on: the key's own, or (operator) the one named. */
export function tenantIn(s: TenantScope, requested: string | null | undefined, field: string[]): string {
  if (s.operator) {
    if (!requested) throw badInput(field, 'operator keys must name the tenant (tenantId)');
    if (!isUuid(requested)) throw notFound('tenant', field);
    return requested;
  }
  if (requested && requested !== s.tenantId) throw forbidden('this key belongs to another tenant');
  return s.tenantId;
}

/** The tenant a row must belong to: null (any) for the operator. */
export const ownerOf = (s: TenantScope): string | null => s.tenantId;
