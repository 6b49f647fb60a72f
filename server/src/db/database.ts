// The data layer's port. Services ask for a named unit of work and run SQL through it;
// only this file knows TypeORM's DataSource and QueryRunner. Every statement is named
// (`/* recordUsage:insertEvents */ ...`) so logs and pg_stat_statements read well.
import pg from 'pg';
import Cursor from 'pg-cursor';
import { DataSource, type Logger as OrmLogger, type QueryRunner } from 'typeorm';
import { migrations } from '../../../migrations/index';
import { StartupError } from '../lib/startup-error';
import { entities } from './entities';
import { pgCode } from './pg-errors';
import { named, type PoolState, PREPARE_REFUSED, send, sendAlone } from './prepared';
import { checkRuntimeRole, prepareRuntimeRole } from './runtime-role';

export { pgCode, pgConstraint } from './pg-errors';

export interface Sql {
  /** Runs one named statement and returns its rows. */
  query<T = Record<string, unknown>>(name: string, text: string, params?: unknown[], opts?: QueryOptions): Promise<T[]>;
}

export interface QueryOptions {
  /**
   * A statement of a hot path, with a fixed text: sent as a prepared statement, parsed once
   * per connection (and planned once, when PostgreSQL settles on a generic plan) instead of
   * per call. Never for a text that varies with the values (one prepared statement per text
   * and connection would pile up). See prepared.ts for poolers that cannot keep them.
   */
  prepare?: boolean;
}

export interface Database extends Sql {
  readonly dataSource: DataSource;
  /** Runs `fn` in one READ COMMITTED transaction; retried (whole) on deadlock or serialization failure. */
  transaction<T>(name: string, fn: (tx: Sql) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /**
   * Runs `fn` in one REPEATABLE READ READ ONLY transaction: all its statements read one
   * snapshot. `asOf` is the instant the answer is exact as of (see AS_OF_SQL for why).
   */
  snapshot<T>(name: string, fn: (tx: Sql, asOf: Date) => Promise<T>): Promise<T>;
  /**
   * One statement's rows from a server-side cursor, `batch` rows at a time, in a snapshot like
   * snapshot()'s; memory stays flat in the number of rows. The first batch is read before this
   * resolves (a failing statement fails here). The connection is held until the rows are read
   * to the end or close() is called (an abandoned iteration calls it): then the cursor is
   * closed, the transaction ends and the connection goes back to the pool.
   */
  stream<T>(name: string, text: string, params: unknown[], opts?: StreamOptions): Promise<RowStream<T>>;
  /** Whether `prepare` still prepares (false once a pooler refused a prepared statement). */
  preparing(): boolean;
  /** Statements sent since start, or only those named `name` (tests count them to prove there is no N+1). */
  queryCount(name?: string): number;
  ping(): Promise<boolean>;
  /** The connection pool right now (for metrics). */
  poolStats(): PoolStats;
  close(): Promise<void>;
}

export interface TransactionOptions {
  /**
   * Advisory lock keys taken shared, in this order, with BEGIN (the same round trip), held
   * until the transaction ends; statements of `fn` see everything committed before they
   * were granted. A module that takes them exclusively can so wait for such transactions.
   */
  sharedLocks?: readonly bigint[];
}

export interface StreamOptions {
  /** Rows per round trip (default 500). */
  batch?: number;
  /** 'array': each row a list of values in the statement's column order (no object per row). */
  rowMode?: 'array';
}

/** Rows of one statement, batch by batch, as of `asOf` (Database.stream). */
export interface RowStream<T> extends AsyncIterable<T[]> {
  readonly asOf: Date;
  /** Ends the stream early (idempotent): closes the cursor and releases the connection. */
  close(): Promise<void>;
}

export interface PoolStats {
  /** Connections open (in use or idle). */
  total: number;
  idle: number;
  /** Callers waiting for a connection. */
  waiting: number;
  max: number;
}

interface PgPool {
  connect(): Promise<pg.PoolClient>;
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options: { max: number };
}

const RETRYABLE_TX = new Set(['40P01', '40001']);

/** A statement's name as named() writes it at the head of its text. */
const NAME_RE = /^\/\* ([^ ]+) \*\//;

class CountingLogger implements OrmLogger {
  count = 0;
  /** Statements sent per name (names are fixed strings in the code: a bounded set). */
  readonly byName = new Map<string, number>();
  sent(name: string | undefined) {
    this.count++;
    if (name) this.byName.set(name, (this.byName.get(name) ?? 0) + 1);
  }
  logQuery(query: string) {
    this.sent(NAME_RE.exec(query)?.[1]);
  }
  logQueryError() {}
  logQuerySlow() {}
  logSchemaBuild() {}
  logMigration() {}
  log() {}
}

function runner(qr: QueryRunner, state: PoolState): Sql {
  // One connection runs one statement at a time: callers may issue several at once (Promise.all),
  // and they are sent in turn instead of relying on pg's deprecated implicit queue.
  let last: Promise<unknown> = Promise.resolve();
  return {
    query<T>(name: string, text: string, params: unknown[] = [], opts: QueryOptions = {}) {
      const exec = async () => {
        // Structured results: TypeORM otherwise answers UPDATE/DELETE with [rows, count].
        if (!opts.prepare || !state.preparing) return (await qr.query(named(name, text), params, true)).records as T[];
        // A refusal inside a transaction aborts it: transaction() runs it again, unprepared.
        return send<T>((await qr.connect()) as pg.ClientBase, state, name, text, params, true);
      };
      const run = last.then(exec, exec);
      last = run.catch(() => {});
      return run;
    },
  };
}

export function createDataSource(url: string, poolSize = 20): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities,
    migrations,
    migrationsTableName: 'typeorm_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    poolSize,
    applicationName: 'tally',
    // The service needs no extension (gen_random_uuid is built in), and its role may not create one.
    installExtensions: false,
    // No startup options and no session SETs: behind PgBouncer in transaction mode a session
    // is not ours (PgBouncer refuses `options` by default, and a SET would land on whichever
    // server connection ran it). What a statement needs is set in its transaction (BEGIN_TX)
    // or written into the statement (calendar math names its zone, 'UTC' included).
    extra: { max: poolSize, connectionTimeoutMillis: 10_000 },
  });
}

/**
 * How every transaction begins: one simple-protocol query, so SET LOCAL costs no round trip.
 * UTC, so anything that does depend on the session zone cannot vary with the server's
 * default. JIT off: every statement here is short, and PostgreSQL's JIT (on by default where
 * LLVM is installed) fires on cost estimates alone; it spent 0.9 s compiling a usage summary
 * whose execution takes 5 ms.
 */
export const BEGIN_TX = "BEGIN; SET LOCAL TimeZone = 'UTC'; SET LOCAL jit = off";

/** A snapshot read: BEGIN_TX's settings, one snapshot for the whole transaction, no writes. */
export const BEGIN_SNAPSHOT =
  "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL TimeZone = 'UTC'; SET LOCAL jit = off";

/**
 * A snapshot read's first statement, and so the one that takes its snapshot (BEGIN and SET
 * take none). PostgreSQL takes it as the statement starts; clock_timestamp() is read while it
 * runs, so after: every entry the read counts committed before asOf. The other way round, an
 * entry that committed in the microseconds between the two instants is not counted although
 * it committed before asOf; every entry committed before the statement started is counted.
 * (statement_timestamp() would turn the guarantee around: it is taken before the snapshot,
 * so an entry committing in between would be counted although it committed after it; now()
 * is the BEGIN's, earlier still.) Rounded up to the millisecond, the DateTime's precision,
 * so the answer never claims an instant before the snapshot.
 */
const AS_OF_SQL = `SELECT date_trunc('milliseconds', t)
       + CASE WHEN date_trunc('milliseconds', t) = t THEN interval '0' ELSE interval '1 millisecond' END AS "asOf"
  FROM (SELECT clock_timestamp() AS t) x`;

/**
 * Opens the service's pool. With `migrate` (the default), `url` is the owner's (DATABASE_URL):
 * migrations and the runtime role's grants run as the owner on short-lived connections,
 * and the pool connects as the runtime role (`appUrl`, DATABASE_APP_URL, or the role Tally
 * creates; see runtime-role.ts). With `migrate: false`, the pool connects to `url` as it is
 * (operator commands such as reconcile, which run as the owner).
 */
export async function openDatabase(
  url: string,
  opts: { poolSize?: number; migrate?: boolean; appUrl?: string } = {},
): Promise<Database> {
  const runtimeUrl = opts.migrate !== false ? (await migrateAsOwner(url, opts.appUrl)).runtimeUrl : url;
  const dataSource = createDataSource(runtimeUrl, opts.poolSize);
  const logger = new CountingLogger();
  // Replace the logger after construction: TypeORM calls logQuery for every statement it sends.
  (dataSource as unknown as { logger: OrmLogger }).logger = logger;
  await dataSource.initialize().catch((e) => {
    // A wrong DATABASE_APP_URL password (or a pg_hba.conf without a line for the role);
    // PgBouncer says it with 08P01.
    const code = pgCode(e);
    if (code === '28P01' || code === '28000' || (code === '08P01' && /authentication/.test((e as Error).message)))
      throw new StartupError(
        `the service's role "${decodeURIComponent(new URL(runtimeUrl).username)}" cannot log in: ${(e as Error).message} (check DATABASE_APP_URL)`,
      );
    throw e;
  });
  const db = wrap(dataSource, logger);
  if (opts.migrate !== false) {
    try {
      await checkRuntimeRole(db);
    } catch (err) {
      await db.close();
      throw err;
    }
  }
  return db;
}

/** As the owner (`url`): pending migrations, then the runtime role and its grants. */
export async function migrateAsOwner(url: string, appUrl?: string): Promise<{ applied: string[]; runtimeUrl: string }> {
  // Instances starting at once migrate one at a time: the first holds this lock (in an open
  // transaction, so it stays on one server connection even behind PgBouncer), the others
  // wait and then find nothing pending.
  const lock = new pg.Client({ connectionString: url });
  await lock.connect();
  const owner = createDataSource(url, 1);
  try {
    await lock.query("BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('tally:migrate', 0))");
    await owner.initialize();
    const applied = await owner.runMigrations({ transaction: 'each' });
    const runtimeUrl = await prepareRuntimeRole(owner, url, appUrl);
    return { applied: applied.map((m) => m.name), runtimeUrl };
  } finally {
    if (owner.isInitialized) await owner.destroy();
    await lock.query('COMMIT').catch(() => {});
    await lock.end();
  }
}

function wrap(dataSource: DataSource, logger: CountingLogger): Database {
  // pg's Pool behind TypeORM's postgres driver (absent once destroyed).
  const pool = () => (dataSource.driver as unknown as { master?: PgPool }).master;
  const state: PoolState = { preparing: true, sent: (name) => logger.sent(name) };
  return {
    dataSource,
    preparing: () => state.preparing,
    async query<T>(name: string, text: string, params: unknown[] = [], opts: QueryOptions = {}) {
      if (!opts.prepare || !state.preparing) {
        const qr = dataSource.createQueryRunner();
        try {
          return await runner(qr, state).query<T>(name, text, params);
        } finally {
          await qr.release();
        }
      }
      const p = pool();
      if (!p) throw new Error('the database is closed');
      return sendAlone<T>(p, state, name, text, params);
    },
    async transaction<T>(name: string, fn: (tx: Sql) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
      // bigint values only, so the keys can travel inline in the one simple-protocol query.
      const locks = opts.sharedLocks?.length
        ? `; SELECT pg_advisory_xact_lock_shared(k) FROM unnest('{${opts.sharedLocks.map((k) => BigInt.asIntN(64, k)).join(',')}}'::bigint[]) WITH ORDINALITY AS l(k, n) ORDER BY n`
        : '';
      for (let attempt = 1; ; attempt++) {
        const qr = dataSource.createQueryRunner();
        try {
          await qr.connect();
          await qr.query(`/* ${name}:begin */ ${BEGIN_TX}${locks}`);
          const out = await fn(runner(qr, state));
          await qr.query(`/* ${name}:commit */ COMMIT`);
          return out;
        } catch (err) {
          await qr.query('ROLLBACK').catch(() => {});
          const code =
            (err as { driverError?: { code?: string }; code?: string }).driverError?.code ??
            (err as { code?: string }).code;
          if (code && RETRYABLE_TX.has(code) && attempt < 5) continue;
          // A pooler refused a prepared statement: the pool no longer prepares; once more.
          if (code && PREPARE_REFUSED.has(code) && !state.preparing && attempt < 5) continue;
          throw err;
        } finally {
          await qr.release();
        }
      }
    },
    async snapshot<T>(name: string, fn: (tx: Sql, asOf: Date) => Promise<T>): Promise<T> {
      const qr = dataSource.createQueryRunner();
      try {
        await qr.connect();
        await qr.query(`/* ${name}:begin */ ${BEGIN_SNAPSHOT}`);
        const tx = runner(qr, state);
        const [{ asOf }] = (await tx.query<{ asOf: Date }>(`${name}:asOf`, AS_OF_SQL)) as [{ asOf: Date }];
        const out = await fn(tx, asOf);
        await qr.query(`/* ${name}:commit */ COMMIT`);
        return out;
      } catch (err) {
        await qr.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        await qr.release();
      }
    },
    async stream<T>(name: string, text: string, params: unknown[], opts: StreamOptions = {}): Promise<RowStream<T>> {
      const batch = opts.batch ?? 500;
      const qr = dataSource.createQueryRunner();
      let cursor: Cursor<T> | null = null;
      let closing: Promise<void> | null = null;
      /** The batch being read: close() lets it land first (a cursor closes between reads). */
      let reading: Promise<T[]> | null = null;
      const close = () => {
        closing ??= (async () => {
          await reading?.catch(() => {});
          // A cursor whose rows were all read (or whose query failed) may refuse to close: the
          // transaction ends either way, and a connection whose session is unknown is destroyed.
          let clean = await (cursor?.close() ?? Promise.resolve()).then(
            () => true,
            () => false,
          );
          if (clean)
            clean = await qr.query(`/* ${name}:end */ ROLLBACK`).then(
              () => true,
              () => false,
            );
          // (an error makes pg's pool destroy the connection instead of reusing it)
          const pgRunner = qr as unknown as { releasePostgresConnection?: (err?: Error) => Promise<void> };
          if (clean || !pgRunner.releasePostgresConnection) await qr.release();
          else await pgRunner.releasePostgresConnection(new Error('stream ended uncleanly'));
        })();
        return closing;
      };
      try {
        const client = (await qr.connect()) as pg.PoolClient;
        await qr.query(`/* ${name}:begin */ ${BEGIN_SNAPSHOT}`);
        const [{ asOf }] = (await runner(qr, state).query<{ asOf: Date }>(`${name}:asOf`, AS_OF_SQL)) as [
          { asOf: Date },
        ];
        logger.sent(name);
        cursor = client.query(new Cursor<T>(named(name, text), params, opts.rowMode ? { rowMode: opts.rowMode } : {}));
        let next: T[] | null = await cursor.read(batch);
        return {
          asOf,
          close,
          [Symbol.asyncIterator]: () => ({
            async next(): Promise<IteratorResult<T[]>> {
              try {
                let rows = next;
                next = null;
                if (!rows && !closing) {
                  reading = (cursor as Cursor<T>).read(batch);
                  rows = await reading;
                  reading = null;
                }
                rows ??= [];
                if (rows.length) return { done: false, value: rows };
                await close();
                return { done: true, value: undefined };
              } catch (err) {
                await close();
                throw err;
              }
            },
            async return(): Promise<IteratorResult<T[]>> {
              await close();
              return { done: true, value: undefined };
            },
          }),
        };
      } catch (err) {
        await close();
        throw err;
      }
    },
    queryCount: (name) => (name === undefined ? logger.count : (logger.byName.get(name) ?? 0)),
    poolStats() {
      const p = pool();
      return {
        total: p?.totalCount ?? 0,
        idle: p?.idleCount ?? 0,
        waiting: p?.waitingCount ?? 0,
        max: p?.options.max ?? 0,
      };
    },
    async ping() {
      try {
        await dataSource.query('/* readyz */ SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      if (dataSource.isInitialized) await dataSource.destroy();
    },
  };
}

/**
 * The database's clock now (to the millisecond, rounded down), as a statement of `sql`: in a
 * READ COMMITTED transaction, every entry committed before it is seen by the statements after.
 */
export async function clockIn(sql: Sql, name: string): Promise<Date> {
  const [r] = await sql.query<{ t: Date }>(name, 'SELECT clock_timestamp() AS t');
  return (r as { t: Date }).t;
}

/** The PostgreSQL error code behind a TypeORM/pg error, if any. */
