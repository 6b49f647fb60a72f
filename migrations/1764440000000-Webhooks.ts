// Webhooks (issue 16): endpoints per tenant, a transactional outbox of deliveries, and the log
// of every attempt. Why it looks like this:
// - webhook_endpoints.secret is stored as it is (not a digest): it signs every delivery, so
//   the service must read it back. It is shown to the caller once, when made or rotated.
// - An endpoint is deleted softly (deleted_at): its deliveries and their attempts stay as the
//   record of what was sent; a deleted or disabled endpoint's pending deliveries are not sent.
// - webhook_deliveries is the outbox: one row per event per endpoint, inserted in the
//   transaction that made the event. The unique (tenant_id, endpoint_id, event_type, event_key)
//   (tenant first, as every unique key, for distribution by tenant) makes a
//   second emit of one fact a no-op. event_id (the webhook-id header) is fixed at insert, so
//   every retry carries the same one. Due rows are found per endpoint (the partial index on
//   (endpoint_id, next_attempt_at) of PENDING rows), so one endpoint's backlog is never scanned
//   to reach another's. A worker claims a due row by moving next_attempt_at past
//   the attempt's deadline with a fresh claim token (FOR UPDATE SKIP LOCKED picks the rows),
//   so one instance sends each attempt and a crashed sender's row comes due again.
// - webhook_attempts is append-only, enforced here like usage_events: the history of what was
//   tried is never rewritten.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Webhooks1764440000000 implements MigrationInterface {
  name = 'Webhooks1764440000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE webhook_endpoints (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
        event_types text[] NOT NULL DEFAULT '{}',
        enabled boolean NOT NULL DEFAULT true,
        secret text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
      )`);
    await q.query(
      'CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id) WHERE deleted_at IS NULL',
    );
    await q.query(`
      CREATE TABLE webhook_deliveries (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        endpoint_id uuid NOT NULL REFERENCES webhook_endpoints(id),
        event_id text NOT NULL DEFAULT ('msg_' || replace(gen_random_uuid()::text, '-', '')),
        event_type text NOT NULL,
        event_key text NOT NULL CHECK (length(event_key) BETWEEN 1 AND 300),
        occurred_at timestamptz NOT NULL,
        data jsonb NOT NULL,
        status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
        attempts int NOT NULL DEFAULT 0,
        round_start int NOT NULL DEFAULT 0,
        claim uuid,
        next_attempt_at timestamptz,
        last_attempt_at timestamptz,
        last_response_status int,
        -- milliseconds, as the page cursors carry them: a cursor cut to the millisecond must
        -- not fall between two rows of one millisecond (a page would skip them)
        created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
        CONSTRAINT webhook_deliveries_event_key UNIQUE (tenant_id, endpoint_id, event_type, event_key),
        CONSTRAINT webhook_deliveries_pending_due CHECK ((status = 'PENDING') = (next_attempt_at IS NOT NULL))
      )`);
    await q.query(
      `CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'PENDING'`,
    );
    await q.query(
      'CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC)',
    );
    await q.query(`
      CREATE TABLE webhook_attempts (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        delivery_id uuid NOT NULL REFERENCES webhook_deliveries(id),
        attempt int NOT NULL,
        at timestamptz NOT NULL,
        duration_ms int NOT NULL,
        outcome text NOT NULL,
        response_status int,
        error text CHECK (length(error) <= 300)
      )`);
    await q.query('CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt)');
    await q.query(`
      CREATE FUNCTION webhook_attempts_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'webhook_attempts is append-only: % is not allowed', TG_OP
          USING ERRCODE = 'restrict_violation';
      END $$`);
    await q.query(`
      CREATE TRIGGER webhook_attempts_no_update_delete BEFORE UPDATE OR DELETE ON webhook_attempts
        FOR EACH ROW EXECUTE FUNCTION webhook_attempts_append_only()`);
    await q.query(`
      CREATE TRIGGER webhook_attempts_no_truncate BEFORE TRUNCATE ON webhook_attempts
        FOR EACH STATEMENT EXECUTE FUNCTION webhook_attempts_append_only()`);
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
