// Every statement the api-keys module runs, named, and nothing else: no rules, no checks, no
// cache, no events (api-keys.service.ts decides; this file only reads and writes api_keys).
// Each function takes the Sql to run on, so a caller inside a transaction passes its `tx` and
// one outside passes the database. One function is one statement: the authentication path
// (keyByPrefix on a cache miss) costs exactly what it did inline.
import type { Sql } from '../../db/database';
import type { ApiKeyRow } from '../../db/entities';

const KEY_COLUMNS = `id, tenant_id AS "tenantId", name, prefix, secret_hash AS "secretHash", scopes,
  created_at AS "createdAt", last_used_at AS "lastUsedAt", revoked_at AS "revokedAt"`;

/** The key with this visible prefix, revoked or not (authentication compares the digest). */
export async function keyByPrefix(sql: Sql, prefix: string): Promise<ApiKeyRow | null> {
  const [row] = await sql.query<ApiKeyRow>(
    'auth:keyByPrefix',
    `SELECT ${KEY_COLUMNS} FROM api_keys WHERE prefix = $1`,
    [prefix],
    // Every request's key, once per AUTH_CACHE_MS.
    { prepare: true },
  );
  return row ?? null;
}

/** The keys among `ids` that exist and are not revoked, whole: the authentication cache's renewal. */
export function liveKeysByIds(sql: Sql, ids: readonly string[]): Promise<ApiKeyRow[]> {
  return sql.query<ApiKeyRow>(
    'auth:liveKeysByIds',
    `SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL`,
    [ids],
    // The busy keys of an instance, together, about twice per AUTH_CACHE_MS.
    { prepare: true },
  );
}

/** The ids among `ids` of keys that exist and are not revoked. */
export function liveKeyIds(sql: Sql, ids: readonly string[]): Promise<{ id: string }[]> {
  return sql.query<{ id: string }>(
    'auth:liveKeys',
    'SELECT id FROM api_keys WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL',
    [ids],
  );
}

/** lastUsedAt for many keys in one statement; never moves a value backwards. */
export async function flushLastUsed(sql: Sql, entries: readonly (readonly [string, Date])[]): Promise<void> {
  await sql.query(
    'auth:flushLastUsed',
    `UPDATE api_keys k SET last_used_at = v.t
       FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, t)
      WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.t)`,
    [entries.map(([id]) => id), entries.map(([, t]) => t.toISOString())],
  );
}

/** The new key, or null when its prefix is taken (the caller draws another). */
export async function insertKey(
  sql: Sql,
  key: { tenantId: string; name: string; prefix: string; hash: Buffer; scopes: string[] },
): Promise<ApiKeyRow | null> {
  const [row] = await sql.query<ApiKeyRow>(
    'apiKeys:insert',
    `INSERT INTO api_keys (tenant_id, name, prefix, secret_hash, scopes) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (prefix) DO NOTHING RETURNING ${KEY_COLUMNS}`,
    [key.tenantId, key.name, key.prefix, key.hash, key.scopes],
  );
  return row ?? null;
}

/** Revokes key `id` (in `tenantId` unless null), keeping the first revocation time; null when not found. */
export async function revokeKey(sql: Sql, id: string, tenantId: string | null): Promise<ApiKeyRow | null> {
  const [row] = await sql.query<ApiKeyRow>(
    'apiKeys:revoke',
    `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
      WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) RETURNING ${KEY_COLUMNS}`,
    [id, tenantId],
  );
  return row ?? null;
}

export function keysByIds(sql: Sql, ids: readonly string[]): Promise<ApiKeyRow[]> {
  return sql.query<ApiKeyRow>('apiKeys:byIds', `SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = ANY($1::uuid[])`, [ids]);
}

/** Key `id` with its tenant (in `tenantId` unless null), or null. */
export async function keyOwner(
  sql: Sql,
  id: string,
  tenantId: string | null,
): Promise<{ id: string; tenantId: string } | null> {
  const [key] = await sql.query<{ id: string; tenantId: string }>(
    'apiKeys:owner',
    'SELECT id, tenant_id AS "tenantId" FROM api_keys WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)',
    [id, tenantId],
  );
  return key ?? null;
}

export function keysOfTenant(sql: Sql, tenantId: string, includeRevoked: boolean): Promise<ApiKeyRow[]> {
  return sql.query<ApiKeyRow>(
    'apiKeys:list',
    `SELECT ${KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND ($2 OR revoked_at IS NULL) ORDER BY created_at, id`,
    [tenantId, includeRevoked],
  );
}

// ------------------------------------------------------------------ subject tokens

/** A subject token as authentication reads it, with whether the key that minted it is revoked. */
export interface SubjectTokenRow {
  tenantId: string;
  apiKeyId: string | null;
  subject: string;
  secretHash: Buffer;
  maxRangeDays: number | null;
  expiresAt: Date;
  keyRevoked: boolean;
}

/** The token with this visible prefix, expired or not (authentication compares the digest and the clock). */
export async function tokenByPrefix(sql: Sql, prefix: string): Promise<SubjectTokenRow | null> {
  const [row] = await sql.query<SubjectTokenRow>(
    'auth:tokenByPrefix',
    `SELECT t.tenant_id AS "tenantId", t.api_key_id AS "apiKeyId", t.subject, t.secret_hash AS "secretHash",
            t.max_range_days AS "maxRangeDays", t.expires_at AS "expiresAt", k.revoked_at IS NOT NULL AS "keyRevoked"
       FROM subject_tokens t LEFT JOIN api_keys k ON k.id = t.api_key_id WHERE t.prefix = $1`,
    [prefix],
  );
  return row ?? null;
}

/** A new token; false when its prefix is taken (the caller draws another). */
export async function insertToken(
  sql: Sql,
  t: {
    tenantId: string;
    apiKeyId: string | null;
    subject: string;
    prefix: string;
    hash: Buffer;
    maxRangeDays: number | null;
    expiresAt: Date;
  },
): Promise<boolean> {
  const rows = await sql.query(
    'subjectTokens:insert',
    `INSERT INTO subject_tokens (tenant_id, api_key_id, subject, prefix, secret_hash, max_range_days, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (prefix) DO NOTHING RETURNING id`,
    [t.tenantId, t.apiKeyId, t.subject, t.prefix, t.hash, t.maxRangeDays, t.expiresAt],
  );
  return rows.length > 0;
}

/** Deletes up to `limit` tokens that expired before `before`; how many went. */
export async function pruneTokens(sql: Sql, before: Date, limit: number): Promise<number> {
  const rows = await sql.query(
    'subjectTokens:prune',
    `DELETE FROM subject_tokens WHERE id IN (SELECT id FROM subject_tokens WHERE expires_at < $1 LIMIT $2) RETURNING id`,
    [before, limit],
  );
  return rows.length;
}
