// Leases of headroom (issue 15, docs/authorize-leases.md): an instance holds a slice of a BLOCK
// limit item's free headroom and admits authorizations against it without the tenant's lock.
// Why it looks like this:
// - One row per slice, owned by one instance (instance_id), with an expiry: a dead
//   instance's slice stops counting at expires_at; whoever decides next for the tenant deletes it.
// - limit_id NULL is the instance's sentinel for the tenant (amount 0): its existence says
//   "the limits this instance saw are still the tenant's"; a plan or limit change deletes every
//   lease of the tenants it touches, the sentinel included.
// - amount only ever moves by the owner's relative updates (and to reservations, in one
//   statement); the CHECK is the last guard against a slice below zero.
// - No foreign key to limits: a retired limit's leases simply stop being read.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class QuotaLeases1764430000000 implements MigrationInterface {
  name = 'QuotaLeases1764430000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE quota_leases (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        limit_id uuid,
        scope_key text NOT NULL DEFAULT '',
        period_start timestamptz,
        instance_id text NOT NULL CHECK (length(instance_id) BETWEEN 1 AND 100),
        amount numeric(38,12) NOT NULL DEFAULT 0 CHECK (amount >= 0),
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX quota_leases_tenant_idx ON quota_leases (tenant_id, limit_id)');
    await q.query('CREATE INDEX quota_leases_instance_idx ON quota_leases (instance_id)');
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
