// Who is calling: the operator, one tenant's API key with its scopes (ADMIN implies READ and
// INGEST), or a subject token: a short-lived bearer that reads one subject of one tenant.
// Services never see a Principal: resolvers turn it into a TenantScope (scope.ts), and the
// scope helpers there decide which tenant, subject and range an operation may touch.
import type { ApiKeyRow } from '../db/entities';

export const API_KEY_SCOPES = ['INGEST', 'READ', 'ADMIN'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** What a subject token grants: reads of one subject, for a while. */
export interface SubjectGrant {
  subject: string;
  /** A query may span at most this many days (null: the usual 400). */
  maxRangeDays: number | null;
  expiresAt: Date;
  /** The ADMIN key that minted it: its revocation ends the token. Null when the operator did. */
  mintedBy: string | null;
}

export type PrincipalKind = 'operator' | 'key' | 'subject';

export interface Principal {
  kind: PrincipalKind;
  isOperator: boolean;
  /** The calling API key (kind 'key' only). */
  key: ApiKeyRow | null;
  tenantId: string | null;
  /** Effective scopes (ADMIN expanded); a subject token reads (READ) and nothing else. */
  scopes: Set<ApiKeyScope>;
  /** Set for kind 'subject'. */
  subject: SubjectGrant | null;
}

export const OPERATOR_PRINCIPAL: Principal = {
  kind: 'operator',
  isOperator: true,
  key: null,
  tenantId: null,
  scopes: new Set(API_KEY_SCOPES),
  subject: null,
};

export function principalForKey(row: ApiKeyRow): Principal {
  const scopes = new Set(row.scopes as ApiKeyScope[]);
  if (scopes.has('ADMIN')) {
    scopes.add('READ');
    scopes.add('INGEST');
  }
  return { kind: 'key', isOperator: false, key: row, tenantId: row.tenantId, scopes, subject: null };
}

export function principalForSubjectToken(tenantId: string, grant: SubjectGrant): Principal {
  return { kind: 'subject', isOperator: false, key: null, tenantId, scopes: new Set(['READ']), subject: grant };
}

/** The key whose revocation ends this caller's sockets and streams: its own, or the one that minted its token. */
export const revocableKeyOf = (p: Principal): string | null => p.key?.id ?? p.subject?.mintedBy ?? null;

/** When this caller stops being accepted (a subject token), or null. */
export const expiryOf = (p: Principal): Date | null => p.subject?.expiresAt ?? null;
