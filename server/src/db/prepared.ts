// Prepared statements for the hot paths (a statement sent with `{ prepare: true }`, see
// database.ts's QueryOptions): parsed, and once PostgreSQL settles on a generic plan planned,
// once per connection instead of per call. Measured on quota's statements: planning cost
// more than running them (docs/authorize-leases.md).
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { pgCode } from './pg-errors';

export const named = (name: string, text: string) => `/* ${name} */ ${text}`;

/**
 * A pooler between Tally and PostgreSQL that cannot keep prepared statements (PgBouncer
 * before 1.21 in transaction mode, or with max_prepared_statements = 0) hands a statement
 * parsed on one server connection to another: PostgreSQL then answers 26000 (no such
 * prepared statement) or 42P05 (the name is taken). Both come before anything executed,
 * so the call is sent again unnamed, and so is every later one on that pool.
 */
export const PREPARE_REFUSED = new Set(['26000', '42P05']);

/** Whether a pool still prepares, and how it counts statements sent (shared by its runners). */
export interface PoolState {
  preparing: boolean;
  sent: (name: string) => void;
}

/**
 * A prepared statement's name: the statement's name and a hash of its text, so one name
 * always means one text (two versions of Tally on one database, or behind one pooler, never
 * run each other's statement under a shared name). Within PostgreSQL's 63 bytes.
 */
const preparedNames = new Map<string, string>();
function preparedName(name: string, text: string): string {
  let n = preparedNames.get(text);
  if (!n) {
    n = `${name.replace(/[^A-Za-z0-9_:]/g, '').slice(0, 40)}_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
    preparedNames.set(text, n);
  }
  return n;
}

/**
 * A named statement on a pg client, prepared when asked and still allowed. Counted as sent
 * unless a pooler refused it (a refused Parse or Bind executes nothing).
 */
export async function send<T>(
  client: pg.ClientBase,
  state: PoolState,
  name: string,
  text: string,
  params: unknown[],
  prepare: boolean,
): Promise<T[]> {
  const q =
    prepare && state.preparing
      ? { name: preparedName(name, text), text: named(name, text), values: params }
      : { text: named(name, text), values: params };
  let refused = false;
  try {
    return (await client.query(q)).rows as T[];
  } catch (e) {
    refused = 'name' in q && PREPARE_REFUSED.has(pgCode(e) ?? '');
    if (refused) state.preparing = false;
    // As TypeORM's QueryFailedError carries them: the log takes the statement's name from the
    // text and only the parameters' shape (observability.ts loggableError).
    if (e && typeof e === 'object' && !('query' in e)) Object.assign(e, { query: q.text, parameters: params });
    throw e;
  } finally {
    if (!refused) state.sent(name);
  }
}

/**
 * A hot statement alone: straight on a connection of pg's pool (TypeORM's query runner costs
 * more than the statement's execution), prepared, and sent again unprepared if a pooler
 * refused it.
 */
export async function sendAlone<T>(
  pool: { connect(): Promise<pg.PoolClient> },
  state: PoolState,
  name: string,
  text: string,
  params: unknown[],
): Promise<T[]> {
  const client = await pool.connect();
  let broken: unknown;
  // A connection that fails while checked out (the server restarting) says so with an
  // 'error' event: heard here (unheard, it would end the process), and never handed out again.
  const onError = (e: Error) => {
    broken = e;
  };
  client.on('error', onError);
  try {
    try {
      return await send<T>(client, state, name, text, params, true);
    } catch (e) {
      if (!PREPARE_REFUSED.has(pgCode(e) ?? '')) throw e;
      return await send<T>(client, state, name, text, params, false);
    }
  } catch (e) {
    // The connection itself failed (no SQLSTATE): the pool must not hand it out again.
    if (!pgCode(e)) broken = e;
    throw e;
  } finally {
    client.off('error', onError);
    client.release(broken as Error | undefined);
  }
}
