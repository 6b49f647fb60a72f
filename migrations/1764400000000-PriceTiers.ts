// Prices above an input size (issue 12): Gemini 2.5 Pro costs twice as much per token once a
// call's prompt exceeds 200k tokens, GPT-5.4 above 272k, Qwen in four steps. A tier holds the
// rates that replace a version's base rates for a call whose inputTokens exceed its
// aboveInputTokens (the highest such tier applies to the whole call).
//
// Why a table of its own and not a jsonb column on prices: rates stay numeric(38,12) with the
// same checks as every other rate, and one (version, threshold) is one row. A tier belongs
// to one price version and, like it, is never changed: ledger entries reference the version,
// and the cost they carry was computed from its base rates and tiers, so the service role may
// only INSERT and SELECT them and a trigger refuses UPDATE, DELETE and TRUNCATE to everyone.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class PriceTiers1764400000000 implements MigrationInterface {
  name = 'PriceTiers1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE price_tiers (
        price_id uuid NOT NULL REFERENCES prices(id),
        above_input_tokens integer NOT NULL CONSTRAINT price_tiers_above_check CHECK (above_input_tokens > 0),
        input_per_million numeric(38,12) CHECK (input_per_million >= 0),
        output_per_million numeric(38,12) CHECK (output_per_million >= 0),
        cached_input_per_million numeric(38,12) CHECK (cached_input_per_million >= 0),
        cache_write_input_per_million numeric(38,12) CHECK (cache_write_input_per_million >= 0),
        CONSTRAINT price_tiers_pkey PRIMARY KEY (price_id, above_input_tokens),
        CONSTRAINT price_tiers_rate_check CHECK (
          num_nonnulls(input_per_million, output_per_million, cached_input_per_million, cache_write_input_per_million) > 0)
      )`);
    await q.query(`
      CREATE FUNCTION price_tiers_kept() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'price tiers are kept with their version for the ledger: % is not allowed', TG_OP
          USING ERRCODE = 'restrict_violation';
      END $$`);
    await q.query(`
      CREATE TRIGGER price_tiers_kept BEFORE UPDATE OR DELETE ON price_tiers
        FOR EACH ROW EXECUTE FUNCTION price_tiers_kept()`);
    await q.query(`
      CREATE TRIGGER price_tiers_no_truncate BEFORE TRUNCATE ON price_tiers
        FOR EACH STATEMENT EXECUTE FUNCTION price_tiers_kept()`);
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
