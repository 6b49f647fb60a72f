// A rollup level by the tenant's local day, without subject. A 30-day chart by day (the
// dashboard's most common question) and a monthly quota window read one row per (day,
// group) instead of 24; the hourly levels still serve every hour that does not make a whole
// local day. `day` is the first instant of the local day in the tenant's zone, exactly
// date_trunc('day', occurred_at, zone), so it follows DST (23- and 25-hour days). Tenants
// never change zone (no code path updates tenants.timezone), so a day row stays a day.
// Written in the same statement as the ledger rows; reconcile checks it like the others.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class DailyRollups1764201600000 implements MigrationInterface {
  name = 'DailyRollups1764201600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE usage_rollups_daily_keys (
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        day timestamptz NOT NULL,
        api_key_id uuid,
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
        cost numeric(38,12) NOT NULL DEFAULT 0
      ) WITH (fillfactor = 70)`);
    await q.query(`
      CREATE UNIQUE INDEX usage_rollups_daily_keys_key ON usage_rollups_daily_keys
        (tenant_id, day, kind, currency, api_key_id, model, provider) NULLS NOT DISTINCT`);
    await q.query(`
      INSERT INTO usage_rollups_daily_keys (tenant_id, day, kind, currency, api_key_id, model, provider, requests, failed_requests,
        input_tokens, output_tokens, cached_input_tokens, cache_write_input_tokens, reasoning_tokens, asr_ms, quantity, cost)
      SELECT e.tenant_id, date_trunc('day', e.occurred_at, z.timezone), e.kind, e.currency, e.api_key_id, e.model, e.provider,
             sum(e.requests), sum(CASE WHEN e.status = 'FAILED' THEN e.requests ELSE 0 END), sum(e.input_tokens), sum(e.output_tokens),
             sum(e.cached_input_tokens), sum(e.cache_write_input_tokens), sum(e.reasoning_tokens),
             sum(CASE WHEN e.kind = 'ASR' THEN coalesce(e.duration_ms, 0) ELSE 0 END),
             coalesce(sum(CASE WHEN e.kind = 'CALL' THEN e.quantity ELSE 0 END), 0), sum(e.cost)
        FROM usage_events e JOIN tenants z ON z.id = e.tenant_id
       GROUP BY 1, 2, 3, 4, 5, 6, 7`);
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
