// Every statement of the credits module, named. Money is numeric in SQL and text in rows.
// Wallets are locked by id order (lockWallets) and then read in further statements: under
// READ COMMITTED each later statement sees everything committed before the lock was granted.
import type { Sql } from '../../db/database';
import type { GrantRow, NewMovement, WalletRow } from './credits.types';

const WALLET = `w.id, w.tenant_id AS "tenantId", w.subject, w.currency, w.balance::text AS balance,
  w.low_balance_threshold::text AS "lowBalanceThreshold", w.low_balance_since AS "lowBalanceSince",
  w.depleted_since AS "depletedSince"`;

const GRANT = `g.id, g.tenant_id AS "tenantId", g.wallet_id AS "walletId", g.idempotency_key AS "idempotencyKey",
  g.fingerprint, g.amount::text AS amount, g.remaining::text AS remaining, g.priority, g.effective_at AS "effectiveAt",
  g.expires_at AS "expiresAt", g.reason, g.created_at AS "createdAt", g.voided_at AS "voidedAt", g.expired_at AS "expiredAt"`;

/** The burn order: priority, the soonest expiry (none last), the oldest. */
export const BURN_ORDER = 'g.priority, g.expires_at ASC NULLS LAST, g.created_at, g.id';

/** Which of `tenantIds` have any wallet (one index probe each). */
export async function tenantsWithWallets(sql: Sql, tenantIds: string[]): Promise<string[]> {
  const rows = await sql.query<{ t: string }>(
    'credits:tenantsWithWallets',
    'SELECT t FROM unnest($1::uuid[]) t WHERE EXISTS (SELECT 1 FROM wallets w WHERE w.tenant_id = t)',
    [tenantIds],
    // Asked once a second for the busy tenants without credits (together: lib/due-together.ts).
    { prepare: true },
  );
  return rows.map((r) => r.t);
}

const ownerWhere = (subject: string | null, n: number) =>
  subject === null ? 'w.tenant_id = $1 AND w.subject IS NULL' : `w.tenant_id = $1 AND w.subject = $${n}`;

/**
 * A wallet as read at `now`: the cached balance less the remainders of grants expired (whose
 * EXPIRY is not written yet) or not effective yet; reserved: its unexpired holds. `payer`: the
 * wallet that pays for the subject (its own when it has one, else the tenant's), in one read.
 */
export async function readWallet(
  sql: Sql,
  tenantId: string,
  subject: string | null,
  now: Date,
  payer = false,
): Promise<(WalletRow & { balanceNow: string; reserved: string }) | null> {
  const [row] = await sql.query<WalletRow & { balanceNow: string; reserved: string }>(
    'credits:readWallet',
    `SELECT ${WALLET},
       (w.balance - coalesce((SELECT sum(g.remaining) FROM credit_grants g
          WHERE g.wallet_id = w.id AND g.voided_at IS NULL AND g.expired_at IS NULL AND g.remaining > 0
            AND (g.expires_at <= $2 OR g.effective_at > $2)), 0))::text AS "balanceNow",
       coalesce((SELECT sum(h.amount) FROM wallet_holds h WHERE h.wallet_id = w.id AND h.expires_at > $2), 0)::text AS reserved
       FROM wallets w WHERE ${
         payer && subject !== null
           ? 'w.tenant_id = $1 AND (w.subject IS NULL OR w.subject = $3) ORDER BY w.subject NULLS LAST LIMIT 1'
           : ownerWhere(subject, 3)
       }`,
    subject === null ? [tenantId, now] : [tenantId, now, subject],
  );
  return row ?? null;
}

/** The state a WalletBook opens on, read after its wallets were locked. */
export interface LockedState {
  rows: WalletRow[];
  reserved: Map<string, string>;
  grants: GrantRow[];
}

/**
 * For a ledger flush, in one round trip (the credits_lock_flush function): the wallets of the
 * tenants' subjects among `subjects`, the tenants' own, and `ids`, locked in id order; then, in
 * a fresh snapshot, what lockedState reads of them.
 */
export async function lockFlush(
  tx: Sql,
  tenantIds: string[],
  subjects: string[],
  ids: string[],
  now: Date,
  also: string[],
): Promise<LockedState> {
  const rows = await tx.query<{
    w_id: string;
    w_tenant: string;
    w_subject: string | null;
    w_currency: string;
    w_balance: string;
    w_threshold: string | null;
    w_low: Date | null;
    w_depleted: Date | null;
    w_reserved: string | null;
    g_id: string | null;
    g_key: string;
    g_fingerprint: string;
    g_amount: string;
    g_remaining: string;
    g_priority: number;
    g_effective: Date;
    g_expires: Date | null;
    g_reason: string | null;
    g_created: Date;
    g_voided: Date | null;
    g_expired: Date | null;
  }>(
    'credits:lockFlush',
    'SELECT * FROM credits_lock_flush($1::uuid[], $2::text[], $3::uuid[], $4, $5::uuid[])',
    [tenantIds, subjects, ids, now, also],
    // Every ledger write of a tenant with a wallet runs it (and writeMoves).
    { prepare: true },
  );
  const out: LockedState = { rows: [], reserved: new Map(), grants: [] };
  for (const r of rows) {
    if (out.rows.at(-1)?.id !== r.w_id) {
      out.rows.push({
        id: r.w_id,
        tenantId: r.w_tenant,
        subject: r.w_subject,
        currency: r.w_currency,
        balance: r.w_balance,
        lowBalanceThreshold: r.w_threshold,
        lowBalanceSince: r.w_low,
        depletedSince: r.w_depleted,
      });
      if (r.w_reserved != null) out.reserved.set(r.w_id, r.w_reserved);
    }
    if (r.g_id != null)
      out.grants.push({
        id: r.g_id,
        tenantId: r.w_tenant,
        walletId: r.w_id,
        idempotencyKey: r.g_key,
        fingerprint: r.g_fingerprint,
        amount: r.g_amount,
        remaining: r.g_remaining,
        priority: r.g_priority,
        effectiveAt: r.g_effective,
        expiresAt: r.g_expires,
        reason: r.g_reason,
        createdAt: r.g_created,
        voidedAt: r.g_voided,
        expiredAt: r.g_expired,
      });
  }
  return out;
}

/** Wallets by id, locked in id order. */
export async function lockWalletsById(tx: Sql, ids: string[]): Promise<WalletRow[]> {
  return tx.query<WalletRow>(
    'credits:lockWalletsById',
    `SELECT ${WALLET} FROM wallets w WHERE w.id = ANY($1::uuid[]) ORDER BY w.id FOR UPDATE`,
    [ids],
  );
}

/** One wallet of a tenant (subject null: the tenant's own), locked. */
export async function lockWallet(tx: Sql, tenantId: string, subject: string | null): Promise<WalletRow | null> {
  const [row] = await tx.query<WalletRow>(
    'credits:lockWallet',
    `SELECT ${WALLET} FROM wallets w WHERE ${ownerWhere(subject, 2)} FOR UPDATE`,
    subject === null ? [tenantId] : [tenantId, subject],
  );
  return row ?? null;
}

/**
 * The wallet that pays for (tenant, subject), locked: the subject's when it has one, else the
 * tenant's; one round trip. Only the row returned is locked (LIMIT sits above the row lock).
 */
export async function lockPayer(tx: Sql, tenantId: string, subject: string | null): Promise<WalletRow | null> {
  const [row] = await tx.query<WalletRow>(
    'credits:lockPayer',
    `SELECT ${WALLET} FROM wallets w WHERE w.tenant_id = $1 AND (w.subject IS NULL OR w.subject = $2::text)
      ORDER BY w.subject NULLS LAST LIMIT 1 FOR UPDATE`,
    [tenantId, subject],
  );
  return row ?? null;
}

export async function insertWallet(tx: Sql, tenantId: string, subject: string | null, currency: string) {
  await tx.query(
    'credits:insertWallet',
    `INSERT INTO wallets (tenant_id, subject, currency) VALUES ($1, $2, $3)
     ON CONFLICT (tenant_id, subject) DO NOTHING`,
    [tenantId, subject, currency],
  );
}

/**
 * After the lock, in one statement: each locked wallet's unexpired holds, and its grants that
 * may still move (unvoided, unexpired, with a remainder) plus `also` (whatever their state).
 */
export async function lockedState(
  tx: Sql,
  walletIds: string[],
  now: Date,
  also: string[] = [],
): Promise<{ reserved: Map<string, string>; grants: GrantRow[] }> {
  const rows = await tx.query<GrantRow & { wallet: string; reserved: string | null }>(
    'credits:lockedState',
    `SELECT w.id AS wallet, r.s AS reserved, ${GRANT}
       FROM unnest($1::uuid[]) w(id)
       LEFT JOIN LATERAL (SELECT sum(h.amount)::text AS s FROM wallet_holds h
                           WHERE h.wallet_id = w.id AND h.expires_at > $2) r ON true
       LEFT JOIN credit_grants g ON g.wallet_id = w.id
            AND ((g.voided_at IS NULL AND g.expired_at IS NULL AND g.remaining > 0) OR g.id = ANY($3::uuid[]))
      ORDER BY w.id, ${BURN_ORDER}`,
    [walletIds, now, also],
  );
  const reserved = new Map<string, string>();
  const grants: GrantRow[] = [];
  for (const { wallet, reserved: r, ...g } of rows) {
    if (r != null) reserved.set(wallet, r);
    if (g.id != null) grants.push(g);
  }
  return { reserved, grants };
}

/**
 * One statement for everything a WalletBook moved: the movements (one multi-row INSERT), the
 * grants touched and the wallet rows (each once), as data-modifying CTEs of one UPDATE.
 */
export async function writeMoves(
  tx: Sql,
  ms: NewMovement[],
  gs: { id: string; remaining: string; voidedAt: Date | null; expiredAt: Date | null }[],
  ws: {
    id: string;
    balance: string;
    lowBalanceThreshold: string | null;
    lowBalanceSince: Date | null;
    depletedSince: Date | null;
  }[],
  now: Date,
): Promise<void> {
  if (!ms.length && !gs.length && !ws.length) return;
  await tx.query(
    'credits:writeMoves',
    `WITH m AS (
       INSERT INTO wallet_movements (tenant_id, wallet_id, grant_id, event_id, kind, amount, at)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::numeric[], $7::timestamptz[])
     ), g AS (
       UPDATE credit_grants g SET remaining = v.remaining, voided_at = v.voided_at, expired_at = v.expired_at
         FROM unnest($8::uuid[], $9::numeric[], $10::timestamptz[], $11::timestamptz[]) v(id, remaining, voided_at, expired_at)
        WHERE g.id = v.id
     )
     UPDATE wallets w SET balance = v.balance, low_balance_threshold = v.threshold, low_balance_since = v.low,
            depleted_since = v.depleted, updated_at = $17
       FROM unnest($12::uuid[], $13::numeric[], $14::numeric[], $15::timestamptz[], $16::timestamptz[])
            v(id, balance, threshold, low, depleted)
      WHERE w.id = v.id`,
    [
      ms.map((m) => m.tenantId),
      ms.map((m) => m.walletId),
      ms.map((m) => m.grantId),
      ms.map((m) => m.eventId),
      ms.map((m) => m.kind),
      ms.map((m) => m.amount),
      ms.map((m) => m.at),
      gs.map((g) => g.id),
      gs.map((g) => g.remaining),
      gs.map((g) => g.voidedAt),
      gs.map((g) => g.expiredAt),
      ws.map((w) => w.id),
      ws.map((w) => w.balance),
      ws.map((w) => w.lowBalanceThreshold),
      ws.map((w) => w.lowBalanceSince),
      ws.map((w) => w.depletedSince),
      now,
    ],
    { prepare: true },
  );
}

export async function grantByKey(sql: Sql, tenantId: string, key: string): Promise<GrantRow | null> {
  const [row] = await sql.query<GrantRow>(
    'credits:grantByKey',
    `SELECT ${GRANT} FROM credit_grants g WHERE g.tenant_id = $1 AND g.idempotency_key = $2`,
    [tenantId, key],
  );
  return row ?? null;
}

export async function grantById(sql: Sql, id: string): Promise<GrantRow | null> {
  const [row] = await sql.query<GrantRow>('credits:grantById', `SELECT ${GRANT} FROM credit_grants g WHERE g.id = $1`, [
    id,
  ]);
  return row ?? null;
}

/** A new grant (null: the key was taken meanwhile). */
export async function insertGrant(
  tx: Sql,
  g: Omit<GrantRow, 'remaining' | 'createdAt' | 'voidedAt' | 'expiredAt'> & { createdAt: Date },
): Promise<GrantRow | null> {
  const [row] = await tx.query<GrantRow>(
    'credits:insertGrant',
    `INSERT INTO credit_grants AS g (id, tenant_id, wallet_id, idempotency_key, fingerprint, amount, remaining, priority,
            effective_at, expires_at, reason, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11)
     ON CONFLICT ON CONSTRAINT credit_grants_idempotency_key DO NOTHING
     RETURNING ${GRANT}`,
    [
      g.id,
      g.tenantId,
      g.walletId,
      g.idempotencyKey,
      g.fingerprint,
      g.amount,
      g.priority,
      g.effectiveAt,
      g.expiresAt,
      g.reason,
      g.createdAt,
    ],
  );
  return row ?? null;
}

/** The grants of wallets, newest first; without `spent`, only those that still hold money at `now`. */
export async function grantsOf(sql: Sql, walletIds: readonly string[], spent: boolean, now: Date): Promise<GrantRow[]> {
  return sql.query<GrantRow>(
    'credits:grantsOf',
    `SELECT ${GRANT} FROM credit_grants g
      WHERE g.wallet_id = ANY($1::uuid[])
        AND ($2 OR (g.voided_at IS NULL AND g.expired_at IS NULL AND g.remaining > 0
                    AND (g.expires_at IS NULL OR g.expires_at > $3)))
      ORDER BY g.created_at DESC, g.id DESC`,
    [walletIds, spent, now],
  );
}

/** The DEBIT movements of entries (what a reversal credits back). */
export async function debitsOf(
  sql: Sql,
  tenantIds: string[],
  eventIds: string[],
): Promise<{ walletId: string; grantId: string | null; eventId: string; amount: string }[]> {
  return sql.query(
    'credits:debitsOf',
    `SELECT wallet_id AS "walletId", grant_id AS "grantId", event_id AS "eventId", amount::text AS amount
       FROM wallet_movements
      WHERE tenant_id = ANY($1::uuid[]) AND event_id = ANY($2::uuid[]) AND kind = 'DEBIT' ORDER BY id`,
    [tenantIds, eventIds],
  );
}

export async function insertHold(
  tx: Sql,
  h: { reservationId: string; tenantId: string; walletId: string; amount: string; expiresAt: Date },
): Promise<void> {
  await tx.query(
    'credits:insertHold',
    `INSERT INTO wallet_holds (reservation_id, tenant_id, wallet_id, amount, expires_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (reservation_id) DO NOTHING`,
    [h.reservationId, h.tenantId, h.walletId, h.amount, h.expiresAt],
  );
}

/** Deletes the holds of reservations; answers the tenants whose wallets they held. */
export async function deleteHolds(sql: Sql, reservationIds: string[]): Promise<string[]> {
  if (!reservationIds.length) return [];
  const rows = await sql.query<{ t: string }>(
    'credits:deleteHolds',
    'DELETE FROM wallet_holds WHERE reservation_id = ANY($1::uuid[]) RETURNING tenant_id AS t',
    [reservationIds],
  );
  return [...new Set(rows.map((r) => r.t))];
}

/** Expired holds are only garbage (never counted): anyone deletes them. */
export async function pruneHolds(sql: Sql, now: Date): Promise<void> {
  await sql.query('credits:pruneHolds', 'DELETE FROM wallet_holds WHERE expires_at <= $1', [now]);
}

/** Wallets with a grant past its expiry whose EXPIRY movement is not written yet. */
export async function walletsToExpire(sql: Sql, now: Date, limit: number): Promise<string[]> {
  const rows = await sql.query<{ w: string }>(
    'credits:walletsToExpire',
    `SELECT DISTINCT g.wallet_id AS w FROM credit_grants g
      WHERE g.voided_at IS NULL AND g.expired_at IS NULL AND g.remaining > 0 AND g.expires_at <= $1 LIMIT $2`,
    [now, limit],
  );
  return rows.map((r) => r.w);
}
