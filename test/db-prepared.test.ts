// Statements sent with { prepare: true } (db/database.ts): a hot statement is parsed once per pool connection, and
// a pooler that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode)
// costs one refused call, sent again unnamed, never a failed one. The refusal is provoked on
// real PostgreSQL the way such a pooler causes it: the connection no longer has the statement
// the client parsed there (26000), or already has one by that name (42P05).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../server/src/db/database';
import { freshDatabase } from './support/harness';

const TEXT = 'SELECT $1::int + 1 AS n';

/** A fresh database behind a pool of one connection (every call lands where the previous one parsed), for a describe block. */
function oneConnection(label: string, setUp?: (db: Database) => Promise<unknown>): () => Database {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase(await freshDatabase(label), { poolSize: 1, migrate: false });
    await setUp?.(db);
  });
  afterAll(() => db.close());
  return () => db;
}

/** TEXT's prepared statements on that connection, and how often each ran. */
const preparedOnServer = async (db: Database) =>
  (
    await db.query<{ name: string; calls: string }>(
      'test:prepared',
      'SELECT name, generic_plans + custom_plans AS calls FROM pg_prepared_statements',
    )
  ).filter((r) => r.name.startsWith('test:add_'));

describe('prepared statements', () => {
  const connection = oneConnection('prepared');
  let db: Database;
  beforeAll(() => {
    db = connection();
  });

  it('parses once per connection and answers each call with its own parameters', async () => {
    for (let i = 0; i < 7; i++)
      expect(await db.query('test:add', TEXT, [i], { prepare: true })).toEqual([{ n: i + 1 }]);
    const on = await preparedOnServer(db);
    expect(on).toHaveLength(1);
    // The name says which text it is (a hash of it), so another text never runs under it.
    expect(on[0]?.name).toMatch(/^test:add_[0-9a-f]{16}$/);
    expect(Number(on[0]?.calls)).toBe(7);
    expect(db.preparing()).toBe(true);
  });

  it('reports a statement error as it is, and keeps preparing', async () => {
    await expect(db.query('test:add', TEXT, ['not a number'], { prepare: true })).rejects.toMatchObject({
      code: '22P02',
    });
    expect(await db.query('test:add', TEXT, [41], { prepare: true })).toEqual([{ n: 42 }]);
    expect(db.preparing()).toBe(true);
  });

  it('falls back to unnamed statements when the connection lost what was parsed there (26000)', async () => {
    await db.query('test:deallocate', 'DEALLOCATE ALL');
    const before = db.queryCount();
    // The client still believes the statement is parsed there and sends only Bind: refused,
    // then sent again unnamed; the caller sees the answer.
    expect(await db.query('test:add', TEXT, [1], { prepare: true })).toEqual([{ n: 2 }]);
    expect(db.preparing()).toBe(false);
    expect(await db.query('test:add', TEXT, [2], { prepare: true })).toEqual([{ n: 3 }]);
    // Counted: the two answered (the refused one executed nothing).
    expect(db.queryCount() - before).toBe(2);
    expect(await preparedOnServer(db)).toHaveLength(0);
  });
});

describe('prepared statements, a name already taken on the connection (42P05)', () => {
  const connection = oneConnection('prepared-taken');

  it('falls back to unnamed statements and answers', async () => {
    const db = connection();
    // What the client will name TEXT, learnt from a first call, then taken behind its back
    // the way another client's Parse through a pooler takes it.
    expect(await db.query('test:add', TEXT, [1], { prepare: true })).toEqual([{ n: 2 }]);
    const [{ name }] = (await preparedOnServer(db)) as [{ name: string; calls: string }];
    await db.query('test:deallocate', 'DEALLOCATE ALL');
    await db.query('test:take', `PREPARE "${name}" AS SELECT 1`);
    // pg remembers per connection what it parsed there; a client new to this server
    // connection (as behind a pooler) has no record, so it sends Parse, which collides.
    const client = (await (
      db.dataSource.driver as unknown as { master: { connect(): Promise<{ release(): void }> } }
    ).master.connect()) as unknown as { connection: { parsedStatements: Record<string, string> }; release(): void };
    client.connection.parsedStatements = {};
    client.release();
    expect(await db.query('test:add', TEXT, [5], { prepare: true })).toEqual([{ n: 6 }]);
    expect(db.preparing()).toBe(false);
  });
});

describe('prepared statements in a transaction', () => {
  const connection = oneConnection('prepared-tx', (db) => db.query('test:table', 'CREATE TABLE written (n int)'));

  it('prepares there too, and a refusal runs the whole transaction again, unprepared, writing once', async () => {
    const db = connection();
    const write = (tag: number) =>
      db.transaction('test:tx', async (tx) => {
        runs++;
        await tx.query('test:insert', 'INSERT INTO written VALUES ($1)', [tag]);
        return tx.query<{ n: number }>('test:add', TEXT, [tag], { prepare: true });
      });
    let runs = 0;
    expect(await write(1)).toEqual([{ n: 2 }]);
    expect(runs).toBe(1);
    expect(db.preparing()).toBe(true);
    await db.query('test:deallocate', 'DEALLOCATE ALL');
    // Refused after the INSERT: that attempt rolls back, the next one commits.
    expect(await write(10)).toEqual([{ n: 11 }]);
    expect(runs).toBe(3);
    expect(db.preparing()).toBe(false);
    const rows = await db.query<{ n: number }>('test:read', 'SELECT n FROM written ORDER BY n');
    expect(rows).toEqual([{ n: 1 }, { n: 10 }]);
  });
});
