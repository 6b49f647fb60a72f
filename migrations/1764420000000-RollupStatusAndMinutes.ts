// Two changes to the rollups, for issue 12 ("usage depth"):
//
// 1. `status` (SUCCEEDED / FAILED) joins the key of every rollup level. Summaries filter and
//    group by it (UsageFilter.status, the STATUS dimension) and must answer failed calls'
//    tokens and cost apart from successful ones, which failed_requests alone cannot tell.
//    A row that mixed both cannot be split after the fact, so each level is rebuilt from the
//    ledger here (the tables are locked by the ALTER for the migration's duration; writers
//    wait, as they do for `npm run reconcile -- --rebuild`).
//
// 2. usage_rollups_minute_keys: minute rollups without subject, for MINUTE summaries (ranges
//    of at most 24 hours: requests and tokens per minute). Written in the same statement as
//    the ledger rows like every level, but short-lived: the writer adds only entries that
//    occurred in the last 8 days, the service deletes rows older than 8 days (it may DELETE
//    on this table only), and reads trust it for the last 7 days (the day between keeps any
//    transaction's timing apart from the pruning). No foreign key to tenants: rows are
//    derived from ledger rows, whose tenant exists and cannot go away (tenants_keep_ledger),
//    and a key check on every new minute row would cost the write path.
//
// Statements are spelled out: migrations are history and import nothing of the app.
import type { MigrationInterface, QueryRunner } from 'typeorm';

const MEASURES = `requests, failed_requests, input_tokens, output_tokens, cached_input_tokens,
  cache_write_input_tokens, reasoning_tokens, asr_ms, quantity, cost`;
const LEDGER_MEASURES = `sum(e.requests), sum(CASE WHEN e.status = 'FAILED' THEN e.requests ELSE 0 END),
  sum(e.input_tokens), sum(e.output_tokens), sum(e.cached_input_tokens), sum(e.cache_write_input_tokens),
  sum(e.reasoning_tokens), sum(CASE WHEN e.kind = 'ASR' THEN coalesce(e.duration_ms, 0) ELSE 0 END),
  coalesce(sum(CASE WHEN e.kind = 'CALL' THEN e.quantity ELSE 0 END), 0), sum(e.cost)`;

export class RollupStatusAndMinutes1764420000000 implements MigrationInterface {
  name = 'RollupStatusAndMinutes1764420000000';

  async up(q: QueryRunner): Promise<void> {
    const levels = [
      {
        table: 'usage_rollups_hourly',
        index: 'usage_rollups_hourly_key',
        key: 'tenant_id, hour, kind, currency, api_key_id, model, provider, subject',
        source:
          "e.tenant_id, date_trunc('hour', e.occurred_at, 'UTC'), e.kind, e.currency, e.api_key_id, e.model, e.provider, e.subject",
        from: 'usage_events e',
      },
      {
        table: 'usage_rollups_hourly_keys',
        index: 'usage_rollups_hourly_keys_key',
        key: 'tenant_id, hour, kind, currency, api_key_id, model, provider',
        source:
          "e.tenant_id, date_trunc('hour', e.occurred_at, 'UTC'), e.kind, e.currency, e.api_key_id, e.model, e.provider",
        from: 'usage_events e',
      },
      {
        table: 'usage_rollups_daily_keys',
        index: 'usage_rollups_daily_keys_key',
        key: 'tenant_id, day, kind, currency, api_key_id, model, provider',
        source:
          "e.tenant_id, date_trunc('day', e.occurred_at, z.timezone), e.kind, e.currency, e.api_key_id, e.model, e.provider",
        from: 'usage_events e JOIN tenants z ON z.id = e.tenant_id',
      },
    ];
    for (const l of levels) {
      await q.query(`ALTER TABLE ${l.table} ADD COLUMN status text CHECK (status IN ('SUCCEEDED', 'FAILED'))`);
      await q.query(`TRUNCATE ${l.table}`);
      await q.query(`DROP INDEX ${l.index}`);
      await q.query(`
        INSERT INTO ${l.table} (${l.key}, status, ${MEASURES})
        SELECT ${l.source}, e.status, ${LEDGER_MEASURES}
          FROM ${l.from}
         GROUP BY ${l.key
           .split(', ')
           .map((_, i) => i + 1)
           .join(', ')}, ${l.key.split(', ').length + 1}`);
      await q.query(`ALTER TABLE ${l.table} ALTER COLUMN status SET NOT NULL`);
      await q.query(`CREATE UNIQUE INDEX ${l.index} ON ${l.table} (${l.key}, status) NULLS NOT DISTINCT`);
    }

    await q.query(`
      CREATE TABLE usage_rollups_minute_keys (
        tenant_id uuid NOT NULL,
        minute timestamptz NOT NULL,
        api_key_id uuid,
        model text,
        provider text,
        kind text NOT NULL,
        currency text NOT NULL,
        status text NOT NULL CHECK (status IN ('SUCCEEDED', 'FAILED')),
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
        CONSTRAINT usage_rollups_minute_check CHECK (extract(epoch FROM minute)::numeric % 60 = 0)
      ) WITH (fillfactor = 70)`);
    await q.query(`
      CREATE UNIQUE INDEX usage_rollups_minute_keys_key ON usage_rollups_minute_keys
        (tenant_id, minute, kind, currency, api_key_id, model, provider, status) NULLS NOT DISTINCT`);
    // Pruning deletes by age across tenants.
    await q.query('CREATE INDEX usage_rollups_minute_keys_minute_idx ON usage_rollups_minute_keys (minute)');
    await q.query(`
      INSERT INTO usage_rollups_minute_keys (tenant_id, minute, kind, currency, api_key_id, model, provider, status, ${MEASURES})
      SELECT e.tenant_id, date_trunc('minute', e.occurred_at, 'UTC'), e.kind, e.currency, e.api_key_id, e.model, e.provider,
             e.status, ${LEDGER_MEASURES}
        FROM usage_events e
       WHERE e.occurred_at >= now() - interval '8 days'
       GROUP BY 1, 2, 3, 4, 5, 6, 7, 8`);
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
