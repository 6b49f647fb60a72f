// One PostgreSQL for the whole run: DATABASE_URL's server when set, else an embedded one
// (fsync off: test data is disposable). Each test file creates its own database in it.
// The app runs as a runtime role that does not own the tables (the service's own setup, see
// server/src/db/runtime-role.ts), here one shared by every test database: `tally_test_app`.
// With TALLY_TEST_PGBOUNCER=1 the app's connections go through a PgBouncer in transaction
// mode (npm run test:pgbouncer); migrations and the tests' own SQL connect directly.
// Also the `tally` bin, built once per run from client/tsdown.config.ts's own CLI entry (what
// the package ships as dist/cli.js) into a folder of the run's: the CLI tests spawn it with
// plain node, no tsx (test/support/tally-cli.ts).
import { rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { build } from 'tsdown';
import type { TestProject } from 'vitest/node';
import { cliBuild } from '../../client/tsdown.config';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../../server/src/db/embedded';
import { type PgBouncer, startPgBouncer } from './pgbouncer';

export const TEST_APP_ROLE = 'tally_test_app';
const TEST_APP_PASSWORD = 'tally-test-app';

let embedded: EmbeddedDatabase | null = null;
let bouncer: PgBouncer | null = null;
let dir: string | null = null;
let cliDir: string | null = null;

export default async function setup(project: TestProject) {
  project.provide('tallyBin', await buildCli());
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    // A directory per run, so parallel runs on one machine never share a cluster.
    dir = `.data/test-pg/run-${process.pid}`;
    await rm(dir, { recursive: true, force: true });
    embedded = await startEmbeddedPostgres({ dir, fast: true });
    dir = embedded.dir; // moved elsewhere when, as root, the postgres user cannot enter the checkout
    adminUrl = embedded.url('postgres');
  }
  await ensureAppRole(adminUrl);
  const app = new URL(adminUrl);
  app.username = TEST_APP_ROLE;
  app.password = TEST_APP_PASSWORD;
  if (process.env.TALLY_TEST_PGBOUNCER) {
    const target = new URL(adminUrl);
    bouncer = await startPgBouncer({
      host: target.hostname,
      port: Number(target.port || 5432),
      users: { [TEST_APP_ROLE]: TEST_APP_PASSWORD },
    });
    app.hostname = '127.0.0.1';
    app.port = String(bouncer.port);
  }
  project.provide('pgAdminUrl', adminUrl);
  project.provide('pgAppUrl', app.toString());
  return async () => {
    await bouncer?.stop();
    await embedded?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    if (cliDir) await rm(cliDir, { recursive: true, force: true });
  };
}

/**
 * Builds the `tally` bin (about 0.2 s: no type declarations) into .data/test-cli/run-<pid>/,
 * not into client/dist, which the package test's `npm pack` cleans and rebuilds while other
 * files run. From there Node resolves the bin's dependencies in the repo's node_modules.
 */
async function buildCli(): Promise<string> {
  const root = path.resolve(import.meta.dirname, '../..');
  cliDir = path.join(root, '.data', 'test-cli', `run-${process.pid}`);
  await rm(cliDir, { recursive: true, force: true });
  await build({ ...cliBuild, config: false, cwd: path.join(root, 'client'), outDir: cliDir, logLevel: 'warn' });
  return path.join(cliDir, 'cli.js');
}

/** The test runtime role: a plain login role; each test database grants it what the service needs. */
async function ensureAppRole(adminUrl: string) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const { rows } = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [TEST_APP_ROLE]);
    await c.query(
      `${rows.length ? 'ALTER' : 'CREATE'} ROLE ${TEST_APP_ROLE} WITH LOGIN NOSUPERUSER PASSWORD '${TEST_APP_PASSWORD}'`,
    );
  } catch (e) {
    // Two runs on one server may race to create it; the loser finds it there.
    if ((e as { code?: string }).code !== '23505' && (e as { code?: string }).code !== '42710') throw e;
  } finally {
    await c.end();
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    /** The runtime role's URL on the test server (through PgBouncer when TALLY_TEST_PGBOUNCER is set), database left to set. */
    pgAppUrl: string;
    /** The built `tally` bin (a plain-node ESM file) for this run. */
    tallyBin: string;
  }
}
