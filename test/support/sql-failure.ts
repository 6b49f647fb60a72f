// How a statement fails in PostgreSQL, for tests of what the database refuses (roles,
// triggers): the SQLSTATE and message, or null when it succeeded.
import { type Database, pgCode } from '../../server/src/db/database';

export async function sqlFailure(run: () => Promise<unknown>): Promise<{ code?: string; message: string } | null> {
  try {
    await run();
    return null;
  } catch (e) {
    return { code: pgCode(e), message: String((e as Error).message) };
  }
}

/** `text` run by the app's own database handle (its runtime role), in a transaction. */
export const asApp =
  (db: Database, text: string, params: unknown[] = []) =>
  () =>
    db.transaction('test:attempt', (tx) => tx.query('test:attempt', text, params));
