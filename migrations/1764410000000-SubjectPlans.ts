// Per-subject plans and subject tokens (issue 12). Forward-only.
//
// Why it looks like this:
// - A membership with a subject gives one end user / device of the tenant its own plan; its
//   history is kept per (tenant, subject) exactly as a tenant's is (a new one ends the one in
//   force). NULL subject: the tenant's own plan.
// - A tenant may hold 100,000 subject memberships, so no statement about the tenant's own plan
//   may walk them: the old (tenant_id, starts_at) index becomes partial (subject IS NULL), and
//   subject memberships get their own indexes: by (tenant, subject) for "the plan of this
//   subject" (authorizeUsage, quotaStatus, alerts read only the subjects they are about) and
//   by (tenant, starts_at, id) for paging Tenant.subjectMemberships.
// - Subject tokens are stored like API keys: a visible prefix to look them up and a SHA-256
//   digest of the secret, never the secret. The minting ADMIN key is referenced with its
//   tenant (the composite key api_keys(tenant_id, id)), so a token can never name another
//   tenant's key; its revocation ends the token (authentication joins it).
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class SubjectPlans1764410000000 implements MigrationInterface {
  name = 'SubjectPlans1764410000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE memberships ADD COLUMN subject text
         CONSTRAINT memberships_subject_check CHECK (subject IS NULL OR length(subject) BETWEEN 1 AND 255)`,
    );
    await q.query('DROP INDEX memberships_tenant_idx');
    await q.query(
      'CREATE INDEX memberships_tenant_idx ON memberships (tenant_id, starts_at DESC) WHERE subject IS NULL',
    );
    await q.query('CREATE INDEX memberships_subject_idx ON memberships (tenant_id, subject, starts_at DESC)');
    await q.query(
      'CREATE INDEX memberships_subject_page_idx ON memberships (tenant_id, starts_at DESC, id DESC) WHERE subject IS NOT NULL',
    );
    await q.query(`
      CREATE TABLE subject_tokens (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants(id),
        api_key_id uuid,
        subject text NOT NULL CONSTRAINT subject_tokens_subject_check CHECK (length(subject) BETWEEN 1 AND 255),
        prefix text NOT NULL CONSTRAINT subject_tokens_prefix_key UNIQUE,
        secret_hash bytea NOT NULL,
        max_range_days integer CONSTRAINT subject_tokens_range_check CHECK (max_range_days > 0),
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT subject_tokens_key_fkey FOREIGN KEY (tenant_id, api_key_id) REFERENCES api_keys (tenant_id, id)
      )`);
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
