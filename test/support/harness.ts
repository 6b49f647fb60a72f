// The test harness: a fresh database per test file (migrated from empty), the real app,
// requests through yoga.fetch (in process) or a real HTTP server, an injectable clock, and
// a fluent seed that reads like the product: seed.tenant('acme').key('INGEST').
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { type App, createApp } from '../../server/src/app';
import { type Config, loadConfig } from '../../server/src/config';
import { ensureDatabase } from '../../server/src/db/connect';
import { type Database, openDatabase } from '../../server/src/db/database';
import { type Server, serve } from '../../server/src/http';
import { createLogger } from '../../server/src/observability';

export const OPERATOR_KEY = 'tly_op_test-operator-key-0123456789abcdefghij';

export interface GqlResult<T = any> {
  data?: T;
  errors?: {
    message: string;
    path?: string[];
    extensions?: { code?: string; field?: string[]; [k: string]: unknown };
  }[];
  status: number;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * A new empty database on the test server, named after the test file (the owner's URL).
 * Its default zone is Pacific/Chatham (UTC+12:45 or +13:45), so anything the service computes
 * in the session's zone instead of UTC or the tenant's shows; the tests' own SQL (h.sql) runs in UTC.
 */
export async function freshDatabase(label: string): Promise<string> {
  const admin = inject('pgAdminUrl');
  const name = `t_${label.replace(/\W+/g, '_').slice(0, 30)}_${randomBytes(4).toString('hex')}`.toLowerCase();
  await ensureDatabase(admin, name);
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`ALTER DATABASE ${name} SET TimeZone = 'Pacific/Chatham'`).finally(() => c.end());
  return withDatabase(admin, name);
}

/** The service's runtime role on database `url` (through PgBouncer under npm run test:pgbouncer). */
export function appUrlFor(url: string): string {
  return withDatabase(inject('pgAppUrl'), new URL(url).pathname.slice(1));
}

export class Clock {
  private offset = 0;
  private fixed: Date | null = null;
  now = () => (this.fixed ? new Date(this.fixed) : new Date(Date.now() + this.offset));
  set(t: Date | string) {
    this.fixed = new Date(t);
  }
  real() {
    this.fixed = null;
  }
}

export interface Harness {
  app: App;
  db: Database;
  url: string;
  clock: Clock;
  gql<T = any>(key: string | null, query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>>;
  /** gql() that fails the test on any error and returns data. */
  ok<T = any>(key: string | null, query: string, variables?: Record<string, unknown>): Promise<T>;
  sql<T = any>(text: string, params?: unknown[]): Promise<T[]>;
  /** A Database handle as the tables' owner, for operator commands (reconcile's rebuild) the service's role may not run. */
  ownerDb(): Promise<Database>;
  seed: Seed;
  listen(): Promise<Server>;
  close(): Promise<void>;
}

export async function createHarness(
  label: string,
  opts: { poolSize?: number; logger?: ReturnType<typeof createLogger>; config?: Partial<Config> } = {},
): Promise<Harness> {
  const url = await freshDatabase(label);
  // The app runs as the runtime role; migrations and its grants run as the owner (url).
  const db = await openDatabase(url, { poolSize: opts.poolSize ?? 10, appUrl: appUrlFor(url) });
  const clock = new Clock();
  const defaults = loadConfig({});
  // The webhook worker polls the database: off unless a test turns it on (statement counts stay exact).
  const config = {
    ...defaults,
    operatorKey: OPERATOR_KEY,
    lastUsedFlushMs: 3_600_000,
    webhooks: { ...defaults.webhooks, worker: false },
    ...opts.config,
  };
  const app = createApp({
    db,
    config,
    now: clock.now,
    logger: opts.logger ?? createLogger(process.env.TEST_LOG ?? 'silent'),
  });
  const servers: Server[] = [];
  // The tests' own SQL: as the owner, directly, in UTC.
  const raw = new pg.Pool({ connectionString: url, max: 2, options: '-c TimeZone=UTC' });

  let owner: Promise<Database> | null = null;
  const gql: Harness['gql'] = async (key, query, variables) => {
    const res = await app.yoga.fetch('http://tally.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { ...((await res.json()) as object), status: res.status };
  };
  const ok: Harness['ok'] = async (key, query, variables) => {
    const r = await gql(key, query, variables);
    if (r.errors?.length) throw new Error(`unexpected GraphQL errors: ${JSON.stringify(r.errors)}`);
    return r.data;
  };
  const h: Harness = {
    app,
    db,
    url,
    clock,
    gql,
    ok,
    sql: async (text, params) => (await raw.query(text, params)).rows,
    ownerDb: () => {
      owner ??= openDatabase(url, { poolSize: 2, migrate: false });
      return owner;
    },
    seed: undefined as unknown as Seed,
    async listen() {
      const s = await serve(app, db, { port: 0, host: '127.0.0.1', maxBodyBytes: config.maxBodyBytes });
      servers.push(s);
      return s;
    },
    async close() {
      for (const s of servers) await s.stop(1000);
      await app.close();
      await db.close();
      if (owner) await (await owner).close();
      await raw.end();
    },
  };
  h.seed = new Seed(h);
  return h;
}

export interface SeededTenant {
  id: string;
  name: string;
  timezone: string;
  adminKey: string;
  adminKeyId: string;
  /** Creates another key of this tenant and returns its secret and id. */
  key(scopes: ('INGEST' | 'READ' | 'ADMIN')[], name?: string): Promise<{ secret: string; id: string }>;
}

export class Seed {
  constructor(private readonly h: Harness) {}

  async tenant(name = 'acme', timezone = 'UTC'): Promise<SeededTenant> {
    const d = await this.h.ok(
      OPERATOR_KEY,
      `mutation($input: CreateTenantInput!) { createTenant(input: $input) { secret apiKey { id tenant { id name timezone } } } }`,
      { input: { name, timezone } },
    );
    const t = d.createTenant.apiKey.tenant;
    const h = this.h;
    return {
      ...t,
      adminKey: d.createTenant.secret,
      adminKeyId: d.createTenant.apiKey.id,
      async key(scopes, keyName = scopes.join('+').toLowerCase()) {
        const k = await h.ok(
          d.createTenant.secret,
          `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id } } }`,
          { input: { name: keyName, scopes } },
        );
        return { secret: k.createApiKey.secret, id: k.createApiKey.apiKey.id };
      },
    };
  }

  async price(input: Record<string, unknown>, key = OPERATOR_KEY) {
    const d = await this.h.ok(
      key,
      `mutation($input: SetPriceInput!) { setPrice(input: $input) { id effectiveFrom effectiveTo } }`,
      {
        input: { effectiveFrom: '2020-01-01T00:00:00Z', ...input },
      },
    );
    return d.setPrice as { id: string; effectiveFrom: string; effectiveTo: string | null };
  }
}

export const RECORD = `mutation Record($input: RecordUsageInput!) {
  recordUsage(input: $input) { outcome event { id cost currency totalTokens occurredAt price { id } apiKey { id } } }
}`;

export const SUMMARY = `query Summary($filter: UsageFilter!, $groupBy: [UsageDimension!], $granularity: Granularity) {
  usageSummary(filter: $filter, groupBy: $groupBy, granularity: $granularity) {
    totals { requests failedRequests inputTokens outputTokens cachedInputTokens cacheWriteInputTokens reasoningTokens totalTokens asrMilliseconds quantity cost currency }
    buckets { start apiKey { id } subject model provider kind
      totals { requests failedRequests inputTokens outputTokens cachedInputTokens cacheWriteInputTokens reasoningTokens totalTokens asrMilliseconds quantity cost currency } }
  }
}`;
