// Prepaid credits (issue 16, server/src/modules/credits/README.md). Why it looks like this:
// - wallets: one per tenant (subject NULL) or per subject of a tenant, made by its first grant.
//   `balance` is a cache of the sum of the wallet's movements, kept in the transaction that
//   writes them (the reconcile command checks and rebuilds it). The low-balance / depleted
//   state (low_balance_since, depleted_since) is changed only under the wallet's row lock, in
//   the transaction that moved `available`, so each crossing fires once across instances.
// - credit_grants: money in, idempotent per (tenant_id, idempotency_key) like the ledger;
//   `remaining` is a cache of the sum of the grant's movements.
// - wallet_movements: the wallet's own ledger, append-only in the database (a trigger, as for
//   usage_events): GRANT, DEBIT, CREDIT_BACK, EXPIRY, VOID. A DEBIT or CREDIT_BACK without a
//   grant is the part of an entry's cost no grant covered (the balance below zero).
// - wallet_holds: the estimates authorizations hold against a wallet, keyed by the quota
//   reservation's id, counted while unexpired; deleted when an entry settles the reservation
//   or it is released.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Credits1764450000000 implements MigrationInterface {
  name = 'Credits1764450000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE wallets (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        subject text CHECK (length(subject) BETWEEN 1 AND 255),
        currency text NOT NULL,
        balance numeric(38,12) NOT NULL DEFAULT 0,
        low_balance_threshold numeric(38,12) CHECK (low_balance_threshold >= 0),
        low_balance_since timestamptz,
        depleted_since timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE UNIQUE INDEX wallets_owner ON wallets (tenant_id, subject) NULLS NOT DISTINCT');
    await q.query(`
      CREATE TABLE credit_grants (
        id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        wallet_id uuid NOT NULL REFERENCES wallets(id),
        idempotency_key text NOT NULL,
        fingerprint text NOT NULL,
        amount numeric(38,12) NOT NULL CHECK (amount > 0),
        remaining numeric(38,12) NOT NULL CHECK (remaining >= 0),
        priority integer NOT NULL,
        effective_at timestamptz NOT NULL,
        expires_at timestamptz CHECK (expires_at > effective_at),
        reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        voided_at timestamptz,
        expired_at timestamptz,
        CONSTRAINT credit_grants_idempotency_key UNIQUE (tenant_id, idempotency_key)
      )`);
    await q.query(
      `CREATE INDEX credit_grants_live_idx ON credit_grants (wallet_id, priority, expires_at, created_at)
        WHERE voided_at IS NULL AND expired_at IS NULL`,
    );
    await q.query('CREATE INDEX credit_grants_wallet_idx ON credit_grants (wallet_id, created_at)');
    await q.query(`
      CREATE TABLE wallet_movements (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id uuid NOT NULL,
        wallet_id uuid NOT NULL REFERENCES wallets(id),
        grant_id uuid REFERENCES credit_grants(id),
        event_id uuid,
        kind text NOT NULL CHECK (kind IN ('GRANT', 'DEBIT', 'CREDIT_BACK', 'EXPIRY', 'VOID')),
        amount numeric(38,12) NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX wallet_movements_wallet_idx ON wallet_movements (wallet_id, grant_id)');
    await q.query(
      'CREATE INDEX wallet_movements_event_idx ON wallet_movements (tenant_id, event_id) WHERE event_id IS NOT NULL',
    );
    await q.query(`
      CREATE FUNCTION wallet_movements_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'wallet_movements is append-only: % is not allowed (append a movement instead)', TG_OP
          USING ERRCODE = 'restrict_violation';
      END $$`);
    await q.query(`
      CREATE TRIGGER wallet_movements_no_update_delete BEFORE UPDATE OR DELETE ON wallet_movements
        FOR EACH ROW EXECUTE FUNCTION wallet_movements_append_only()`);
    await q.query(`
      CREATE TRIGGER wallet_movements_no_truncate BEFORE TRUNCATE ON wallet_movements
        FOR EACH STATEMENT EXECUTE FUNCTION wallet_movements_append_only()`);
    await q.query(`
      CREATE TABLE wallet_holds (
        reservation_id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL,
        wallet_id uuid NOT NULL REFERENCES wallets(id),
        amount numeric(38,12) NOT NULL CHECK (amount >= 0),
        expires_at timestamptz NOT NULL
      )`);
    await q.query('CREATE INDEX wallet_holds_wallet_idx ON wallet_holds (wallet_id, expires_at)');
    // A ledger flush's wallets, locked in id order, then (a new snapshot: everything committed
    // before the locks were granted) their holds and movable grants: one round trip, since the
    // wallet row is the hot row and every round trip under its lock is paid by each flush.
    await q.query(`
      CREATE FUNCTION credits_lock_flush(p_tenants uuid[], p_subjects text[], p_ids uuid[], p_now timestamptz, p_also uuid[])
      RETURNS TABLE (w_id uuid, w_tenant uuid, w_subject text, w_currency text, w_balance text, w_threshold text,
                     w_low timestamptz, w_depleted timestamptz, w_reserved text, g_id uuid, g_key text, g_fingerprint text,
                     g_amount text, g_remaining text, g_priority integer, g_effective timestamptz, g_expires timestamptz,
                     g_reason text, g_created timestamptz, g_voided timestamptz, g_expired timestamptz)
      LANGUAGE plpgsql VOLATILE AS $$
      DECLARE
        locked uuid[];
      BEGIN
        SELECT array_agg(x.id) INTO locked FROM (
          SELECT w.id FROM wallets w
           WHERE (w.tenant_id = ANY(p_tenants) AND (w.subject IS NULL OR w.subject = ANY(p_subjects))) OR w.id = ANY(p_ids)
           ORDER BY w.id FOR UPDATE) x;
        RETURN QUERY
          SELECT w.id, w.tenant_id, w.subject, w.currency, w.balance::text, w.low_balance_threshold::text,
                 w.low_balance_since, w.depleted_since,
                 (SELECT sum(h.amount)::text FROM wallet_holds h WHERE h.wallet_id = w.id AND h.expires_at > p_now),
                 g.id, g.idempotency_key, g.fingerprint, g.amount::text, g.remaining::text, g.priority, g.effective_at,
                 g.expires_at, g.reason, g.created_at, g.voided_at, g.expired_at
            FROM wallets w
            LEFT JOIN credit_grants g ON g.wallet_id = w.id
                 AND ((g.voided_at IS NULL AND g.expired_at IS NULL AND g.remaining > 0) OR g.id = ANY(p_also))
           WHERE w.id = ANY(locked)
           ORDER BY w.id, g.priority, g.expires_at ASC NULLS LAST, g.created_at, g.id;
      END $$`);
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
