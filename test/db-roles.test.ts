// The database protects the ledger from the service itself: the app runs as a runtime role
// that does not own the tables (the harness's, or the one Tally creates when DATABASE_URL's
// user may create roles), with INSERT and SELECT on the ledger and nothing that could rewrite
// it or a price version that entries used.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../server/src/db/database';
import { RUNTIME_GRANTS } from '../server/src/db/runtime-role';
import { appUrlFor, createHarness, freshDatabase, type Harness, RECORD, withDatabase } from './support/harness';
import { asApp, sqlFailure } from './support/sql-failure';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('db-roles');
});
afterAll(async () => h?.close());

/** The SQLSTATE a statement run by the app's own database handle fails with (null: it succeeded). */
async function failure(db: Database, text: string, params: unknown[] = []): Promise<string | null> {
  const f = await sqlFailure(asApp(db, text, params));
  return f && (f.code ?? f.message);
}

/** Every way to rewrite history, tried by the app's own role: each is refused by PostgreSQL. */
async function expectLedgerProtected(db: Database, tenantId: string) {
  const [entry] = await h.sql('SELECT id, cost::text FROM usage_events WHERE tenant_id = $1', [tenantId]);
  const [price] = await h.sql('SELECT id FROM prices LIMIT 1');
  const denied = '42501'; // insufficient_privilege
  expect(await failure(db, 'ALTER TABLE usage_events DISABLE TRIGGER ALL')).toBe(denied);
  expect(await failure(db, 'ALTER TABLE usage_events DISABLE TRIGGER usage_events_no_update_delete')).toBe(denied);
  expect(await failure(db, 'SET session_replication_role = replica')).toBe(denied);
  expect(await failure(db, 'SET LOCAL session_replication_role = replica')).toBe(denied);
  expect(await failure(db, 'UPDATE usage_events SET cost = 0 WHERE id = $1', [entry.id])).toBe(denied);
  expect(await failure(db, 'DELETE FROM usage_events WHERE id = $1', [entry.id])).toBe(denied);
  expect(await failure(db, 'TRUNCATE usage_events')).toBe(denied);
  expect(await failure(db, 'DROP TABLE usage_events')).toBe(denied);
  expect(await failure(db, 'DROP TRIGGER usage_events_no_update_delete ON usage_events')).toBe(denied);
  expect(await failure(db, 'UPDATE prices SET input_per_million = 0 WHERE id = $1', [price.id])).toBe(denied);
  expect(await failure(db, 'UPDATE prices SET currency = $2 WHERE id = $1', [price.id, 'EUR'])).toBe(denied);
  expect(await failure(db, 'UPDATE prices SET effective_from = now() WHERE id = $1', [price.id])).toBe(denied);
  expect(await failure(db, 'DELETE FROM prices WHERE id = $1', [price.id])).toBe(denied);
  expect(await failure(db, 'UPDATE api_keys SET secret_hash = secret_hash')).toBe(denied);
  expect(await failure(db, 'UPDATE tenants SET timezone = timezone')).toBe(denied);
  expect(await failure(db, 'CREATE ROLE t_escalate SUPERUSER')).toBe(denied);
  expect(await failure(db, 'SELECT * FROM runtime_role_secret')).toBe(denied);
  expect(await failure(db, 'UPDATE operator_key SET key_hash = key_hash')).toBe(denied);
  // ...and the entry is still what was recorded
  const [after] = await h.sql('SELECT cost::text FROM usage_events WHERE id = $1', [entry.id]);
  expect(after.cost).toBe(entry.cost);
}

describe('the runtime role', () => {
  it('cannot disable the ledger triggers, replicate around them, rewrite entries or reprice a version', async () => {
    const t = await h.seed.tenant('roles');
    await h.seed.price({ provider: 'openai', model: 'gpt-x', currency: 'USD', inputPerMillion: '2' });
    await h.ok(t.adminKey, RECORD, {
      input: { idempotencyKey: 'r1', kind: 'LLM', provider: 'openai', model: 'gpt-x', inputTokens: 1000 },
    });
    const [me] = await h.db.query<{ u: string }>('test:who', 'SELECT current_user AS u');
    const [owner] = await h.sql("SELECT tableowner AS o FROM pg_tables WHERE tablename = 'usage_events'");
    expect(me?.u).not.toBe(owner.o);
    await expectLedgerProtected(h.db, t.id);
  });

  it('still does everything the service does: a new price version closes the previous one (effective_to)', async () => {
    const t = await h.seed.tenant('versions');
    await h.seed.price({ provider: 'acme', model: 'm1', currency: 'USD', inputPerMillion: '1' });
    await h.seed.price({
      provider: 'acme',
      model: 'm1',
      currency: 'USD',
      inputPerMillion: '3',
      effectiveFrom: '2021-01-01T00:00:00Z',
    });
    const rows = await h.sql(
      "SELECT input_per_million::text AS r, effective_to FROM prices WHERE model = 'm1' ORDER BY effective_from",
    );
    expect(rows.map((r) => [r.r, r.effective_to?.toISOString() ?? null])).toEqual([
      ['1.000000000000', '2021-01-01T00:00:00.000Z'],
      ['3.000000000000', null],
    ]);
    const k = await t.key(['INGEST', 'READ']);
    const rec = await h.ok(k.secret, RECORD, {
      input: { idempotencyKey: 'v1', kind: 'LLM', provider: 'acme', model: 'm1', inputTokens: 1_000_000 },
    });
    expect(rec.recordUsage.event.cost).toBe('3.000000000000');
  });

  it('lists every table of the schema in RUNTIME_GRANTS (a new migration must say what the service may do)', async () => {
    const tables = await h.sql("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    expect(tables.map((r) => r.t).filter((t) => !(t in RUNTIME_GRANTS))).toEqual([]);
  });
});

describe('the runtime role Tally creates', () => {
  it('when DATABASE_URL may create roles: <database>_app, shared by every instance of that database', async () => {
    const url = await freshDatabase('own-role');
    const a = await openDatabase(url, { poolSize: 2 });
    const b = await openDatabase(url, { poolSize: 2 }); // a second instance reads the same password
    try {
      const name = `${new URL(url).pathname.slice(1)}_app`;
      for (const db of [a, b]) {
        const [me] = await db.query<{ u: string }>('test:who', 'SELECT current_user AS u');
        expect(me?.u).toBe(name);
      }
      // a's connections still work after b started (b did not change the password under a)
      const fresh = await openDatabase(url, { poolSize: 1, migrate: false });
      await fresh.close();
      const [n] = await a.transaction('test:n', (tx) =>
        tx.query<{ n: number }>('n', 'SELECT count(*)::int AS n FROM tenants'),
      );
      expect(n?.n).toBe(0);
      const denied = async (db: Database, text: string) =>
        (await sqlFailure(() => db.query('test:attempt', text)))?.code ?? null;
      expect(await denied(a, 'ALTER TABLE usage_events DISABLE TRIGGER ALL')).toBe('42501');
      expect(await denied(b, 'SET session_replication_role = replica')).toBe('42501');
      expect(await denied(a, 'DELETE FROM usage_events')).toBe('42501');
      expect(await denied(b, 'SELECT password FROM runtime_role_secret')).toBe('42501');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('two instances starting at once on an empty database both start (one migrates, the other waits)', async () => {
    const url = await freshDatabase('racing-starts');
    const dbs = await Promise.all([1, 2, 3].map(() => openDatabase(url, { poolSize: 1 })));
    try {
      for (const db of dbs) {
        const [n] = await db.query<{ n: number }>('test:n', 'SELECT count(*)::int AS n FROM typeorm_migrations');
        expect(n?.n).toBeGreaterThan(0);
      }
    } finally {
      for (const db of dbs) await db.close();
    }
  });

  it("when DATABASE_URL's user may not create roles: one line saying what to create and to set DATABASE_APP_URL", async () => {
    const url = await freshDatabase('no-createrole');
    const owner = `t_owner_${randomBytes(3).toString('hex')}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${owner} LOGIN PASSWORD 'pw'`);
      await admin.query(`GRANT CREATE ON SCHEMA public TO ${owner}`);
    } finally {
      await admin.end();
    }
    const ownerUrl = new URL(url);
    ownerUrl.username = owner;
    ownerUrl.password = 'pw';
    const err = await openDatabase(ownerUrl.toString(), { poolSize: 1 }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.name).toBe('StartupError');
    expect(err?.message).toMatch(/may not create roles: create a role for the service \(CREATE ROLE tally_app LOGIN/);
    expect(err?.message).toContain('DATABASE_APP_URL=');
    expect(err?.message).not.toContain('\n');

    // DATABASE_APP_URL naming the owner itself is refused too
    const same = await openDatabase(ownerUrl.toString(), { poolSize: 1, appUrl: ownerUrl.toString() }).then(
      () => null,
      (e: Error) => e,
    );
    expect(same?.message).toMatch(/is DATABASE_URL's user, which owns the tables/);
    // ...and a DATABASE_APP_URL whose role does not exist gets the statement to create it
    const ghost = withDatabase(`postgres://t_ghost_app:x@${ownerUrl.host}/postgres`, new URL(url).pathname.slice(1));
    const missing = await openDatabase(ownerUrl.toString(), { poolSize: 1, appUrl: ghost }).then(
      () => null,
      (e: Error) => e,
    );
    expect(missing?.message).toContain(`create it with CREATE ROLE "t_ghost_app" LOGIN PASSWORD`);
  });

  it('a DATABASE_APP_URL with a wrong password: one line naming the role and the setting', async () => {
    const wrong = new URL(appUrlFor(h.url));
    wrong.password = 'not-the-password';
    const err = await openDatabase(h.url, { poolSize: 1, appUrl: wrong.toString() }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.name).toBe('StartupError');
    expect(err?.message).toMatch(/^the service's role "tally_test_app" cannot log in: .*\(check DATABASE_APP_URL\)$/);
  });
});
