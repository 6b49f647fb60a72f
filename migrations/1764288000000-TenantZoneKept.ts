// The daily rollup level cuts a tenant's usage into days of its zone, so the zone of a
// tenant with ledger entries must not change underneath it (the app has no code path that
// changes it; this makes the database refuse a hand-made change too). A tenant without
// entries may still change zone. Same trigger as LedgerReferences, one more rule.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class TenantZoneKept1764288000000 implements MigrationInterface {
  name = 'TenantZoneKept1764288000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION tenants_keep_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.timezone = OLD.timezone THEN RETURN NEW; END IF;
        IF EXISTS (SELECT 1 FROM usage_events WHERE tenant_id = OLD.id) THEN
          RAISE EXCEPTION 'tenant % has ledger entries: % of its %', OLD.id, TG_OP,
            CASE WHEN TG_OP = 'DELETE' THEN 'row' WHEN NEW.id <> OLD.id THEN 'id' ELSE 'timezone' END
            USING ERRCODE = 'restrict_violation';
        END IF;
        -- no entries: deleting and changing zone are fine, a new id is not (keys and limits point to it)
        IF TG_OP = 'UPDATE' AND NEW.id <> OLD.id THEN
          RAISE EXCEPTION 'tenant ids do not change' USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
      END $$`);
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
