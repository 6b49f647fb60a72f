// What a service may know about its caller: which tenant it acts for and, for a subject
// token, the one subject it may read and how long a range it may ask for; never the key's
// scopes (those are checked once, by each GraphQL field's authScopes). Resolvers build it with
// scopeOf(ctx.principal); services never see the Principal. Every rule of the form "this
// caller may only see X" is one of the helpers below, so each path that reads for a caller
// (GraphQL, subscriptions, CSV export) gets the same answer.
import { AppError, badInput, forbidden, notFound } from '../lib/errors';
import { isUuid } from '../lib/ids';
import type { Principal } from './principal';

/** The operator (acts on any tenant it names), one tenant's key, or a subject token of one tenant. */
export type TenantScope =
  | {
      readonly operator: true;
      readonly tenantId: null;
      readonly keyId: null;
      readonly subject: null;
      readonly maxRangeDays: null;
    }
  | {
      readonly operator: false;
      readonly tenantId: string;
      /** The calling key; null for a subject token. */
      readonly keyId: string | null;
      /** A subject token's subject: the only one this caller may read. */
      readonly subject: string | null;
      /** A subject token's cap on the span of any range it asks for. */
      readonly maxRangeDays: number | null;
    };

export const OPERATOR: TenantScope = { operator: true, tenantId: null, keyId: null, subject: null, maxRangeDays: null };

const DAY_MS = 86_400_000;

export function scopeOf(p: Principal): TenantScope {
  if (p.isOperator) return OPERATOR;
  return {
    operator: false,
    tenantId: p.tenantId as string,
    keyId: p.key?.id ?? null,
    subject: p.subject?.subject ?? null,
    maxRangeDays: p.subject?.maxRangeDays ?? null,
  };
}

/** The tenant an operation acts on: the key's own, or (operator) the one named. */
export function tenantIn(s: TenantScope, requested: string | null | undefined, field: string[]): string {
  if (s.operator) {
    if (!requested) throw badInput(field, 'operator keys must name the tenant (tenantId)');
    if (!isUuid(requested)) throw notFound('tenant', field);
    return requested;
  }
  if (requested && requested !== s.tenantId)
    throw forbidden(s.subject !== null ? 'this token belongs to another tenant' : 'this key belongs to another tenant');
  return s.tenantId;
}

/** The tenant a row must belong to: null (any) for the operator. */
export const ownerOf = (s: TenantScope): string | null => s.tenantId;

/** Whether the caller is the operator (which must name a tenant, and may name any). */
export const isOperator = (s: TenantScope): boolean => s.operator;

/**
 * The subject a read is about: a subject token's own whatever was asked (naming another one
 * is FORBIDDEN), else the one asked for (null: every subject).
 */
export function subjectIn(s: TenantScope, requested: string | null | undefined, field: string[]): string | null {
  if (s.subject === null) return requested ?? null;
  if (requested != null && requested !== s.subject)
    throw new AppError('FORBIDDEN', 'this subject token reads only its own subject', field);
  return s.subject;
}

/** Whether a row of `subject` may be shown to this caller (a subject token: only its own). */
export const sees = (s: TenantScope, subject: string | null | undefined): boolean =>
  s.subject === null || subject === s.subject;

/**
 * The span a subject token may ask for: over its maxRangeDays is BAD_USER_INPUT naming `to`
 * (an open end is too: the range must be bounded). No cap for other callers here; the usual
 * rules (to after from, 400 days) are the reader's.
 */
export function rangeIn(
  s: TenantScope,
  from: Date | null | undefined,
  to: Date | null | undefined,
  fields: { from: string[]; to: string[] },
): void {
  const days = s.maxRangeDays;
  if (days === null) return;
  const cap = `this token may read at most ${days} day${days === 1 ? '' : 's'} at once`;
  if (!from) throw badInput(fields.from, `${cap}: give from and to`);
  if (!to) throw badInput(fields.to, `${cap}: give from and to`);
  if (to.getTime() - from.getTime() > days * DAY_MS) throw badInput(fields.to, cap);
}

/**
 * A read whose answer spans every subject of the tenant (its API keys, one key's whole usage):
 * FORBIDDEN for a subject token.
 */
export function wholeTenant(s: TenantScope): void {
  if (s.subject !== null) throw forbidden('a subject token reads only its own subject');
}

/** A read of usage: the tenant it may read, the subject it is about, and its range checked for the caller. */
export function readIn(
  s: TenantScope,
  f: { tenantId?: string | null; subject?: string | null; from: Date; to: Date },
  prefix: string[],
): { tenantId: string; subject: string | null } {
  const tenantId = tenantIn(s, f.tenantId, [...prefix, 'tenantId']);
  const subject = subjectIn(s, f.subject, [...prefix, 'subject']);
  rangeIn(s, f.from, f.to, { from: [...prefix, 'from'], to: [...prefix, 'to'] });
  return { tenantId, subject };
}
