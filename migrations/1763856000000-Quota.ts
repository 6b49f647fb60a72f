// Plans, limits, memberships, reservations and quota alerts. Forward-only.
//
// Why it looks like this:
// - Limits are never edited in place: upsertPlan and setApiKeyLimits keep an identical
//   limit's row (so its alert history continues) and retire the others (active = false).
//   Alerts keep pointing at the limit that fired them.
// - quota_alerts has one row per (limit, scope, window, threshold): the unique key is what
//   makes "exactly once" hold across concurrent writers and instances. NULLS NOT DISTINCT,
//   because TOTAL limits have no window start.
// - Reservations are never swept: a reservation counts only while it is open (not settled,
//   not released, expires_at in the future), so expiry needs no cron to stay correct.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Quota1763856000000 implements MigrationInterface {
  name = 'Quota1763856000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE plans (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        code text NOT NULL,
        name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT plans_code_key UNIQUE (code)
      )`);
    await q.query(`
      CREATE TABLE limits (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        plan_id uuid REFERENCES plans(id),
        tenant_id uuid REFERENCES tenants(id),
        api_key_id uuid REFERENCES api_keys(id),
        metric text NOT NULL CHECK (metric IN ('COST', 'TOKENS', 'INPUT_TOKENS', 'OUTPUT_TOKENS', 'ASR_SECONDS', 'REQUESTS')),
        period text NOT NULL CHECK (period IN ('DAY', 'MONTH', 'TOTAL')),
        scope text NOT NULL CHECK (scope IN ('TENANT', 'API_KEY', 'SUBJECT')),
        amount numeric(38,12) NOT NULL CHECK (amount > 0),
        action text NOT NULL CHECK (action IN ('BLOCK', 'ALERT')),
        thresholds integer[] NOT NULL,
        position integer NOT NULL DEFAULT 0,
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT limits_owner_check CHECK ((plan_id IS NULL) <> (api_key_id IS NULL)),
        CONSTRAINT limits_key_tenant_check CHECK (api_key_id IS NULL OR tenant_id IS NOT NULL)
      )`);
    await q.query(`CREATE INDEX limits_plan_idx ON limits (plan_id, position) WHERE active`);
    await q.query(`CREATE INDEX limits_key_idx ON limits (api_key_id, position) WHERE active`);
    await q.query(`
      CREATE TABLE memberships (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        plan_id uuid NOT NULL REFERENCES plans(id),
        starts_at timestamptz NOT NULL,
        ends_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT memberships_window_check CHECK (ends_at IS NULL OR ends_at > starts_at)
      )`);
    await q.query(`CREATE INDEX memberships_tenant_idx ON memberships (tenant_id, starts_at DESC)`);
    await q.query(`
      CREATE TABLE reservations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        api_key_id uuid,
        subject text,
        cost numeric(38,12) NOT NULL DEFAULT 0,
        tokens bigint NOT NULL DEFAULT 0,
        input_tokens bigint NOT NULL DEFAULT 0,
        output_tokens bigint NOT NULL DEFAULT 0,
        asr_seconds numeric(38,12) NOT NULL DEFAULT 0,
        requests bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        settled_at timestamptz,
        released_at timestamptz,
        event_id uuid
      )`);
    await q.query(
      `CREATE INDEX reservations_open_idx ON reservations (tenant_id, expires_at) WHERE settled_at IS NULL AND released_at IS NULL`,
    );
    await q.query(`
      CREATE TABLE quota_alerts (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        limit_id uuid NOT NULL REFERENCES limits(id),
        scope_key text NOT NULL,
        api_key_id uuid,
        subject text,
        period_start timestamptz,
        threshold integer NOT NULL,
        used numeric(38,12) NOT NULL,
        crossed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE UNIQUE INDEX quota_alerts_once ON quota_alerts (tenant_id, limit_id, scope_key, period_start, threshold) NULLS NOT DISTINCT`);
    await q.query(`CREATE INDEX quota_alerts_tenant_time_idx ON quota_alerts (tenant_id, crossed_at DESC, id DESC)`);
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
