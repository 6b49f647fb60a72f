// The first schema: tenants, API keys, the price book, the append-only usage ledger and
// its hourly rollups. Forward-only; never edit once merged, add a new migration instead.
//
// Why it looks like this:
// - usage_events is THE usage. A trigger makes it append-only in the database itself, so
//   no code path (or console session) can update or delete an entry; corrections are
//   reversal entries (reverses_id), at most one per original.
// - (tenant_id, idempotency_key) is unique forever; `fingerprint` (sha-256 of the
//   normalised input) tells a retry (DUPLICATE) from a reuse (IDEMPOTENCY_CONFLICT).
// - usage_rollups_hourly is written in the same transaction as the ledger rows. Its key
//   uses NULLS NOT DISTINCT so one upsert target covers rows without key/subject/model.
// - Money and fractional quantities are numeric(38,12): exact, 12 decimals (rates per
//   million tokens and per-second prices need them), 26 integer digits of headroom.
// - Every tenant-owned table carries tenant_id and every unique key includes it, so the
//   schema can be distributed by tenant_id (Citus) without change; the ledger's primary
//   key is its id alone only so an operator can address an entry without its tenant.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Init1763769600000 implements MigrationInterface {
  name = 'Init1763769600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tenants (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        timezone text NOT NULL DEFAULT 'UTC',
        created_at timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        name text NOT NULL,
        prefix text NOT NULL,
        secret_hash bytea NOT NULL,
        scopes text[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        revoked_at timestamptz,
        CONSTRAINT api_keys_prefix_key UNIQUE (prefix),
        CONSTRAINT api_keys_tenant_id_id_key UNIQUE (tenant_id, id)
      )`);

    await q.query(`
      CREATE TABLE prices (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid REFERENCES tenants(id),
        provider text NOT NULL,
        model text NOT NULL,
        currency text NOT NULL,
        input_per_million numeric(38,12),
        output_per_million numeric(38,12),
        cached_input_per_million numeric(38,12),
        cache_write_input_per_million numeric(38,12),
        per_request numeric(38,12),
        per_second numeric(38,12),
        per_unit numeric(38,12),
        effective_from timestamptz NOT NULL,
        effective_to timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT prices_window_check CHECK (effective_to IS NULL OR effective_to > effective_from)
      )`);
    await q.query(
      `CREATE UNIQUE INDEX prices_version_key ON prices (tenant_id, provider, model, effective_from) NULLS NOT DISTINCT`,
    );
    await q.query(`CREATE INDEX prices_model_idx ON prices (model, provider, effective_from)`);

    await q.query(`
      CREATE TABLE usage_events (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        idempotency_key text NOT NULL,
        fingerprint bytea NOT NULL,
        api_key_id uuid,
        subject text,
        kind text NOT NULL CHECK (kind IN ('LLM', 'ASR', 'CALL')),
        provider text,
        model text,
        model_source text NOT NULL CHECK (model_source IN ('VENDOR', 'BYOK')),
        status text NOT NULL CHECK (status IN ('SUCCEEDED', 'FAILED')),
        requests smallint NOT NULL CHECK (requests IN (1, -1)),
        input_tokens integer NOT NULL,
        output_tokens integer NOT NULL,
        cached_input_tokens integer NOT NULL,
        cache_write_input_tokens integer NOT NULL,
        reasoning_tokens integer NOT NULL,
        duration_ms integer,
        quantity numeric(38,12),
        cost numeric(38,12) NOT NULL,
        currency text NOT NULL,
        price_id uuid REFERENCES prices(id),
        latency_ms integer,
        session_id text,
        metadata jsonb,
        occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        reverses_id uuid REFERENCES usage_events(id),
        reason text,
        CONSTRAINT usage_events_idempotency_key UNIQUE (tenant_id, idempotency_key)
      )`);
    await q.query(`CREATE INDEX usage_events_tenant_time_idx ON usage_events (tenant_id, occurred_at DESC, id DESC)`);
    await q.query(
      `CREATE UNIQUE INDEX usage_events_reversal_key ON usage_events (tenant_id, reverses_id) WHERE reverses_id IS NOT NULL`,
    );
    await q.query(`
      CREATE FUNCTION usage_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'usage_events is append-only: % is not allowed (append a reversal instead)', TG_OP
          USING ERRCODE = 'restrict_violation';
      END $$`);
    await q.query(`
      CREATE TRIGGER usage_events_no_update_delete BEFORE UPDATE OR DELETE ON usage_events
        FOR EACH ROW EXECUTE FUNCTION usage_events_append_only()`);
    await q.query(`
      CREATE TRIGGER usage_events_no_truncate BEFORE TRUNCATE ON usage_events
        FOR EACH STATEMENT EXECUTE FUNCTION usage_events_append_only()`);

    await q.query(`
      CREATE TABLE usage_rollups_hourly (
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        hour timestamptz NOT NULL,
        api_key_id uuid,
        subject text,
        model text,
        provider text,
        kind text NOT NULL,
        currency text NOT NULL,
        requests bigint NOT NULL DEFAULT 0,
        failed_requests bigint NOT NULL DEFAULT 0,
        input_tokens bigint NOT NULL DEFAULT 0,
        output_tokens bigint NOT NULL DEFAULT 0,
        cached_input_tokens bigint NOT NULL DEFAULT 0,
        cache_write_input_tokens bigint NOT NULL DEFAULT 0,
        reasoning_tokens bigint NOT NULL DEFAULT 0,
        asr_ms bigint NOT NULL DEFAULT 0,
        quantity numeric(38,12) NOT NULL DEFAULT 0,
        cost numeric(38,12) NOT NULL DEFAULT 0,
        CONSTRAINT usage_rollups_hour_check CHECK (extract(epoch FROM hour)::numeric % 3600 = 0)
      )`);
    await q.query(`
      CREATE UNIQUE INDEX usage_rollups_hourly_key ON usage_rollups_hourly
        (tenant_id, hour, kind, currency, api_key_id, model, provider, subject) NULLS NOT DISTINCT`);
    await q.query(`CREATE INDEX usage_rollups_hourly_key_idx ON usage_rollups_hourly (tenant_id, api_key_id, hour)`);
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
