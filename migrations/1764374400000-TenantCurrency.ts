// A tenant is billed in one currency (issue 10, item 7). Before this, an entry whose cost was
// in another currency broke every summary of its range and was added into COST quotas as if
// it were the same money. Now the service refuses such usage, and the currency it compares
// against lives here. Existing tenants become USD, except a tenant whose usage so far is all
// in one other currency: it keeps that one, so its next entry is not refused. The currency
// cannot change once the tenant has ledger entries (the service caches it as immutable, and
// rollups and alerts are sums in it); the existing trigger gets that one more rule.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class TenantCurrency1764374400000 implements MigrationInterface {
  name = 'TenantCurrency1764374400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE tenants ADD COLUMN currency text NOT NULL DEFAULT 'USD' CONSTRAINT tenants_currency_check CHECK (currency ~ '^[A-Z]{3}$')`,
    );
    // The daily rollups hold one row per (tenant, day, ..., currency): far fewer than the ledger.
    await q.query(`
      UPDATE tenants t SET currency = c.currency
        FROM (SELECT tenant_id, min(currency) AS currency FROM usage_rollups_daily_keys
               GROUP BY tenant_id HAVING count(DISTINCT currency) = 1) c
       WHERE c.tenant_id = t.id AND c.currency <> 'USD' AND c.currency ~ '^[A-Z]{3}$'`);
    await q.query(`
      CREATE OR REPLACE FUNCTION tenants_keep_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.timezone = OLD.timezone AND NEW.currency = OLD.currency THEN
          RETURN NEW;
        END IF;
        IF EXISTS (SELECT 1 FROM usage_events WHERE tenant_id = OLD.id) THEN
          RAISE EXCEPTION 'tenant % has ledger entries: % of its %', OLD.id, TG_OP,
            CASE WHEN TG_OP = 'DELETE' THEN 'row' WHEN NEW.id <> OLD.id THEN 'id'
                 WHEN NEW.timezone <> OLD.timezone THEN 'timezone' ELSE 'currency' END
            USING ERRCODE = 'restrict_violation';
        END IF;
        -- no entries: deleting and changing zone or currency are fine, a new id is not
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
