// Who is calling: the operator, or one tenant's API key with its scopes. ADMIN implies READ
// and INGEST. Every tenant-scoped operation resolves its tenant through tenantOf(), so a
// tenant key can never name another tenant and an operator must always name one.
import type { ApiKeyRow } from '../db/entities';
import { scopeOf, tenantIn } from './scope';

export const API_KEY_SCOPES = ['INGEST', 'READ', 'ADMIN'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export interface Principal {
  isOperator: boolean;
  key: ApiKeyRow | null;
  tenantId: string | null;
  /** Effective scopes (ADMIN expanded). */
  scopes: Set<ApiKeyScope>;
}

export function principalForKey(row: ApiKeyRow): Principal {
  const scopes = new Set(row.scopes as ApiKeyScope[]);
  if (scopes.has('ADMIN')) {
    scopes.add('READ');
    scopes.add('INGEST');
  }
  return { isOperator: false, key: row, tenantId: row.tenantId, scopes };
}

/** The tenant an operation acts on: the key's own, or (operator) the one named. */
export function tenantOf(p: Principal, requested: string | null | undefined, field: string[]): string {
  return tenantIn(scopeOf(p), requested, field);
}
