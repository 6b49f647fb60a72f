// The printed schema is the contract: it must be current, hold every contract name this
// build owns, and the migrations must build exactly what the entities describe.
import { existsSync, readFileSync } from 'node:fs';
import { buildSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../server/src/db/database';
import { printedSchema, schema } from '../server/src/schema';
import { contractGaps } from './support/contract-check';
import { freshDatabase } from './support/harness';

const CONTRACT = new URL('./contract/contract.graphql', import.meta.url);
const SHARED_CONTRACT = new URL('../../shared/contract.graphql', import.meta.url);
const PRINTED = new URL('../schema/schema.graphql', import.meta.url);

/** The whole contract: every block's issue has landed, so every name must be built. */
const ownedContract = () => readFileSync(CONTRACT, 'utf8');

describe('schema', () => {
  it('schema/schema.graphql is the current printed schema (run `npm run schema` when this fails)', () => {
    expect(readFileSync(PRINTED, 'utf8')).toBe(printedSchema());
  });

  it('holds every contract name', () => {
    expect(contractGaps(ownedContract(), schema)).toEqual([]);
    // the printed file answers the same (it is what clients read)
    expect(contractGaps(ownedContract(), buildSchema(readFileSync(PRINTED, 'utf8')))).toEqual([]);
  });

  it('the vendored contract is the shared one, when the shared folder is present', () => {
    if (!existsSync(SHARED_CONTRACT)) return expect(existsSync(CONTRACT)).toBe(true);
    expect(readFileSync(CONTRACT, 'utf8')).toBe(readFileSync(SHARED_CONTRACT, 'utf8'));
  });

  it('catches a rename: a schema without a contract name has a gap', () => {
    const renamed = readFileSync(PRINTED, 'utf8').replace(
      /(input RecordUsageInput \{[^}]*?)idempotencyKey: String!/,
      '$1requestKey: String!',
    );
    expect(contractGaps(readFileSync(CONTRACT, 'utf8'), buildSchema(renamed))).toContain(
      'missing input field RecordUsageInput.idempotencyKey',
    );
  });
});

describe('migrations', () => {
  let db: Awaited<ReturnType<typeof openDatabase>>;
  beforeAll(async () => {
    db = await openDatabase(await freshDatabase('migrations'), { poolSize: 2 });
  });
  afterAll(async () => db?.close());

  it('run on an empty database and build exactly what the entities describe', async () => {
    const tables = await db.query<{ t: string }>(
      't',
      "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    );
    expect(tables.map((r) => r.t)).toEqual([
      'api_keys',
      'credit_grants',
      'limits',
      'memberships',
      'operator_key',
      'plans',
      'price_tiers',
      'prices',
      'quota_alerts',
      'quota_leases',
      'reservations',
      'runtime_role_secret',
      'subject_tokens',
      'tenants',
      'typeorm_migrations',
      'usage_events',
      'usage_rollups_daily_keys',
      'usage_rollups_hourly',
      'usage_rollups_hourly_keys',
      'usage_rollups_minute_keys',
      'wallet_holds',
      'wallet_movements',
      'wallets',
      'webhook_attempts',
      'webhook_deliveries',
      'webhook_endpoints',
    ]);
    const pending = await db.dataSource.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
    expect(await db.dataSource.showMigrations()).toBe(false);
  });

  it('transactions run in UTC with JIT off whatever the server default, with no session state (PgBouncer)', async () => {
    // freshDatabase's default zone is Pacific/Chatham; the settings are the transaction's own
    const [row] = await db.transaction('tz', (tx) =>
      tx.query<{ tz: string; jit: string }>(
        'tz',
        "SELECT current_setting('TimeZone') AS tz, current_setting('jit') AS jit",
      ),
    );
    expect(row).toEqual({ tz: 'UTC', jit: 'off' });
    const [session] = await db.query<{ tz: string }>('tz', "SELECT current_setting('TimeZone') AS tz");
    expect(session?.tz).toBe('Pacific/Chatham');
  });
});
