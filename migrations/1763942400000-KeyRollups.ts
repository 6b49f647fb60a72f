// A second hourly rollup level without `subject`. End users (subjects) are high-cardinality,
// so the subject-level rollup can approach the ledger's size for a tenant with many users;
// summaries and quotas that neither filter nor group by subject read this smaller level.
// Both levels are written in the same statement as the ledger rows; reconcile checks both.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class KeyRollups1763942400000 implements MigrationInterface {
  name = 'KeyRollups1763942400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE usage_rollups_hourly_keys (
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        hour timestamptz NOT NULL,
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
        cost numeric(38,12) NOT NULL DEFAULT 0,
        CONSTRAINT usage_rollups_hourly_keys_hour_check CHECK (extract(epoch FROM hour)::numeric % 3600 = 0)
      )`);
    await q.query(`
      CREATE UNIQUE INDEX usage_rollups_hourly_keys_key ON usage_rollups_hourly_keys
        (tenant_id, hour, kind, currency, api_key_id, model, provider) NULLS NOT DISTINCT`);
    await q.query(
      `CREATE INDEX usage_rollups_hourly_keys_key_idx ON usage_rollups_hourly_keys (tenant_id, api_key_id, hour)`,
    );
    await q.query(`
      INSERT INTO usage_rollups_hourly_keys (tenant_id, hour, kind, currency, api_key_id, model, provider, requests, failed_requests,
        input_tokens, output_tokens, cached_input_tokens, cache_write_input_tokens, reasoning_tokens, asr_ms, quantity, cost)
      SELECT tenant_id, hour, kind, currency, api_key_id, model, provider, sum(requests), sum(failed_requests), sum(input_tokens),
             sum(output_tokens), sum(cached_input_tokens), sum(cache_write_input_tokens), sum(reasoning_tokens), sum(asr_ms), sum(quantity), sum(cost)
        FROM usage_rollups_hourly GROUP BY tenant_id, hour, kind, currency, api_key_id, model, provider`);
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
