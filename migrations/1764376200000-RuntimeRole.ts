// The service runs under a runtime role that does not own the tables (see
// server/src/db/runtime-role.ts); this migration adds what that split needs, both tables
// readable by the owner only unless the runtime grants say otherwise:
// - operator_key: the operator key's SHA-256, one row. Instances of one database agree on
//   the operator key because they all read it here; the first instance to start writes it.
//   The runtime role may only read it, so SQL run as the service cannot mint an operator.
// - runtime_role_secret: the generated password of the runtime role Tally creates itself
//   when DATABASE_URL's user may create roles (every instance reads the same one, so no
//   instance locks another out). The runtime role gets no right on it.
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class RuntimeRole1764376200000 implements MigrationInterface {
  name = 'RuntimeRole1764376200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE operator_key (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        key_hash bytea NOT NULL CHECK (length(key_hash) = 32),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE runtime_role_secret (
        role text PRIMARY KEY,
        password text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(): Promise<void> {
    throw new Error('migrations are forward-only');
  }
}
