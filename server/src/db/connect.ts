// Where the database is: DATABASE_URL when set, else an embedded PostgreSQL under the
// data directory (started here, stopped by the caller). Used by start, migrate, reconcile.
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config';
import { StartupError } from '../lib/startup-error';
import { startEmbeddedPostgres } from './embedded';

export interface DatabaseLocation {
  url: string;
  embedded: boolean;
  /** The embedded cluster was already running (left by a crash, or another run of this checkout). */
  reused?: boolean;
  stop: () => Promise<void>;
}

export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (rows.length === 0) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

export async function locateDatabase(config: Config, log: (msg: string) => void = () => {}): Promise<DatabaseLocation> {
  if (config.databaseUrl) {
    await ensureNamedDatabase(config.databaseUrl, log);
    return { url: config.databaseUrl, embedded: false, stop: async () => {} };
  }
  const dir = path.join(config.dataDir, 'pg');
  const port = Number(process.env.TALLY_EMBEDDED_PG_PORT ?? 54329);
  log(`no DATABASE_URL: starting embedded PostgreSQL in ${dir}`);
  // Another process on the default port (a second checkout, say) is no reason to fail: this
  // checkout's own cluster is found by its postmaster.pid whatever port it took.
  const pgEmbedded = await startEmbeddedPostgres({ dir, port, anyPortIfTaken: true, onLog: log });
  log(`embedded PostgreSQL ready in ${pgEmbedded.dir} on 127.0.0.1:${pgEmbedded.port}`);
  await ensureDatabase(pgEmbedded.url('postgres'), 'tally');
  return { url: pgEmbedded.url('tally'), embedded: true, reused: pgEmbedded.reused, stop: pgEmbedded.stop };
}

/**
 * DATABASE_URL may name a database that does not exist yet: it is created (through the
 * `postgres` maintenance database, with the same credentials) when the user may, else the
 * start stops with one line saying so.
 */
async function ensureNamedDatabase(url: string, log: (msg: string) => void): Promise<void> {
  const probe = new pg.Client({ connectionString: url });
  try {
    await probe.connect();
    return;
  } catch (e) {
    if ((e as { code?: string }).code !== '3D000') throw e;
  } finally {
    await probe.end().catch(() => {});
  }
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.slice(1));
  u.pathname = '/postgres';
  try {
    await ensureDatabase(u.toString(), database);
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    throw new StartupError(
      `database "${database}" does not exist and DATABASE_URL's user "${decodeURIComponent(u.username)}" could not create it (${why}): create it (CREATE DATABASE ${database}) or point DATABASE_URL at an existing one`,
    );
  }
  log(`created database "${database}"`);
}
