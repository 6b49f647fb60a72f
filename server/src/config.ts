// Runtime settings, read once from the environment. Every knob has a safe default so
// `npm start` works on a machine that has only Node.js.
import { z } from 'zod';
import { StartupError } from './lib/startup-error';
import type { LeaseOptions } from './modules/quota/quota.leases';
import type { GroupCommitOptions } from './modules/usage/group-commit';
import { DEFAULT_RETRY_SCHEDULE_MS, type WebhookOptions } from './modules/webhooks/webhooks.options';

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: z.string().optional(),
  DATABASE_APP_URL: z.string().optional(),
  REDIS_URL: z.string().optional(),
  TALLY_OPERATOR_KEY: z.string().optional(),
  TALLY_DATA_DIR: z.string().default('.data'),
  NODE_ENV: z.string().default('development'),
  LOG_LEVEL: z.string().default('info'),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(20),
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(8 * 1024 * 1024),
  AUTH_CACHE_MS: z.coerce.number().int().min(0).default(5000),
  LAST_USED_FLUSH_MS: z.coerce.number().int().min(10).default(30_000),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  GROUP_COMMIT_MAX_ITEMS: z.coerce.number().int().min(1).max(10_000).default(1000),
  GROUP_COMMIT_MAX_DELAY_MS: z.coerce.number().min(0).max(1000).default(1),
  GROUP_COMMIT_MAX_CONCURRENT: z.coerce.number().int().min(1).max(64).default(2),
  INGEST_QUEUE_MAX: z.coerce.number().int().min(1).default(50_000),
  INGEST_QUEUE_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  QUOTA_LEASES: z.enum(['on', 'off']).default('on'),
  QUOTA_LEASE_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
  QUOTA_LEASE_HORIZON_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
  QUOTA_LEASE_SHARE: z.coerce.number().gt(0).max(1).default(0.25),
  QUOTA_LEASE_MIN_RATE: z.coerce.number().min(0).default(2),
  RESERVATION_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(7),
  WEBHOOK_ALLOW_PRIVATE_ADDRESSES: z.enum(['true', 'false']).default('false'),
  WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .regex(/^(\d+(,\d+)*)?$/, 'a comma-separated list of milliseconds, e.g. 100,200')
    .optional(),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(10_000),
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  WEBHOOK_POLL_MS: z.coerce.number().int().min(10).max(600_000).default(1000),
  WEBHOOK_WORKER: z.enum(['on', 'off']).default('on'),
});

export interface Config {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  /** The service's own role (not the tables' owner); absent: Tally creates one when DATABASE_URL's user may. */
  databaseAppUrl: string | undefined;
  redisUrl: string | undefined;
  operatorKey: string | undefined;
  /** The operator key's SHA-256 as kept in the database (set at start, see operator-key.ts); used instead of operatorKey. */
  operatorKeyHash?: Buffer;
  dataDir: string;
  production: boolean;
  logLevel: string;
  poolSize: number;
  maxBodyBytes: number;
  /** How long a verified API key is trusted before it is looked up again (revocation on other instances takes at most this long). */
  authCacheMs: number;
  lastUsedFlushMs: number;
  shutdownGraceMs: number;
  /** Group commit of recordUsage calls (see modules/usage/group-commit.ts). */
  groupCommit: GroupCommitOptions;
  /** authorizeUsage on leases of headroom (docs/authorize-leases.md, modules/quota/quota.leases.ts). */
  leases: LeaseOptions;
  /** Days a reservation is kept after it expired, then deleted (0: kept forever); modules/quota/README.md. */
  reservationRetentionDays: number;
  /** Webhook delivery (modules/webhooks/README.md). */
  webhooks: WebhookOptions;
  /** Abuse limits; pinned here and asserted in tests. */
  limits: { maxDepth: number; maxAliases: number; maxTokens: number; maxCost: number; maxDirectives: number };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = Env.safeParse(env);
  // A bad setting is the operator's to fix: one line naming each, not a validation dump.
  if (!parsed.success)
    throw new StartupError(
      `invalid settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL || undefined,
    databaseAppUrl: e.DATABASE_APP_URL || undefined,
    redisUrl: e.REDIS_URL || undefined,
    operatorKey: e.TALLY_OPERATOR_KEY || undefined,
    dataDir: e.TALLY_DATA_DIR,
    production: e.NODE_ENV === 'production',
    logLevel: e.LOG_LEVEL,
    poolSize: e.DB_POOL_SIZE,
    maxBodyBytes: e.MAX_BODY_BYTES,
    authCacheMs: e.AUTH_CACHE_MS,
    lastUsedFlushMs: e.LAST_USED_FLUSH_MS,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    groupCommit: {
      maxItems: e.GROUP_COMMIT_MAX_ITEMS,
      maxDelayMs: e.GROUP_COMMIT_MAX_DELAY_MS,
      maxConcurrent: e.GROUP_COMMIT_MAX_CONCURRENT,
      maxQueued: e.INGEST_QUEUE_MAX,
      queueTimeoutMs: e.INGEST_QUEUE_TIMEOUT_MS,
    },
    leases: {
      enabled: e.QUOTA_LEASES === 'on',
      lifetimeMs: e.QUOTA_LEASE_MS,
      horizonMs: e.QUOTA_LEASE_HORIZON_MS,
      share: e.QUOTA_LEASE_SHARE,
      minRate: e.QUOTA_LEASE_MIN_RATE,
    },
    reservationRetentionDays: e.RESERVATION_RETENTION_DAYS,
    webhooks: {
      allowPrivateAddresses: e.WEBHOOK_ALLOW_PRIVATE_ADDRESSES === 'true',
      retryScheduleMs: e.WEBHOOK_RETRY_SCHEDULE
        ? e.WEBHOOK_RETRY_SCHEDULE.split(',').map(Number)
        : [...DEFAULT_RETRY_SCHEDULE_MS],
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      concurrency: e.WEBHOOK_CONCURRENCY,
      pollMs: e.WEBHOOK_POLL_MS,
      worker: e.WEBHOOK_WORKER === 'on',
    },
    limits: { ...ABUSE_LIMITS },
  };
}

/**
 * maxCost counts 1 per field, list sub-selections x10, and usageEvents' edges x `first`:
 * a full page of 500 events with their key, tenant and price (about 30,000) fits; deeply
 * nested unbounded lists do not. Depth, aliases, tokens and directives are graphql-armor's.
 */
export const ABUSE_LIMITS = {
  maxDepth: 10,
  maxAliases: 15,
  maxTokens: 2000,
  maxCost: 50_000,
  maxDirectives: 20,
} as const;
