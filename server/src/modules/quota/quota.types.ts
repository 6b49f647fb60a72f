// Shapes of the quota module: plans, limits, memberships, reservations, alerts, status.
export const METRICS = ['COST', 'TOKENS', 'INPUT_TOKENS', 'OUTPUT_TOKENS', 'ASR_SECONDS', 'REQUESTS'] as const;
export type LimitMetric = (typeof METRICS)[number];
export const PERIODS = ['DAY', 'MONTH', 'TOTAL'] as const;
export type LimitPeriod = (typeof PERIODS)[number];
export const SCOPES = ['TENANT', 'API_KEY', 'SUBJECT'] as const;
export type LimitScope = (typeof SCOPES)[number];
export const ACTIONS = ['BLOCK', 'ALERT'] as const;
export type LimitAction = (typeof ACTIONS)[number];

export interface PlanRow {
  id: string;
  code: string;
  name: string;
}

export interface LimitRow {
  id: string;
  planId: string | null;
  tenantId: string | null;
  apiKeyId: string | null;
  metric: LimitMetric;
  period: LimitPeriod;
  scope: LimitScope;
  amount: string;
  action: LimitAction;
  thresholds: number[];
  position: number;
}

export interface MembershipRow {
  id: string;
  tenantId: string;
  planId: string;
  /** Set when the plan belongs to one subject of the tenant (its own plan); null: the tenant's. */
  subject: string | null;
  startsAt: Date;
  endsAt: Date | null;
}

export interface ReservationRow {
  id: string;
  tenantId: string;
  apiKeyId: string | null;
  subject: string | null;
  cost: string;
  tokens: string;
  inputTokens: string;
  outputTokens: string;
  asrSeconds: string;
  requests: string;
  expiresAt: Date;
}

/** What a reservation holds, per metric (exact decimals as text). */
export type ReservedAmounts = Pick<
  ReservationRow,
  'cost' | 'tokens' | 'inputTokens' | 'outputTokens' | 'asrSeconds' | 'requests'
>;

export interface AlertRow {
  id: string;
  tenantId: string;
  limitId: string;
  apiKeyId: string | null;
  subject: string | null;
  periodStart: Date | string | null;
  threshold: number;
  used: string;
  crossedAt: Date | string;
}

export interface QuotaItem {
  limit: LimitRow;
  /** The usage the item counts: the whole tenant ({}), one key, one subject, or one subject through one key. */
  counts: ScopeIds;
  scopeId: string | null;
  periodStart: Date | null;
  periodEnd: Date | null;
  used: string;
  reserved: string;
  remaining: string;
  exceeded: boolean;
}

export interface QuotaStatus {
  tenantId: string;
  apiKeyId: string | null;
  subject: string | null;
  blocked: boolean;
  items: QuotaItem[];
  /** The instant the status is exact as of (quota.status.ts). */
  asOf: Date;
}

export interface LimitInput {
  metric: string;
  period: string;
  scope?: string | null;
  amount: string;
  action?: string | null;
  thresholds?: number[] | null;
}

export interface Estimate {
  cost?: string | null;
  tokens?: number | null;
  inputTokens?: number | null;
  outputTokens?: number | null;
  asrSeconds?: string | null;
  requests?: number | null;
  /** With model (and provider): a wallet prices the token estimate like quote when no cost is given. */
  provider?: string | null;
  model?: string | null;
}

/** A scope inside one tenant: the whole tenant, one key, or one subject. */
export interface ScopeIds {
  apiKeyId?: string | null;
  subject?: string | null;
}

/** A limit as stored, without its id (what replaceLimits compares and inserts). */
export interface NewLimit {
  metric: string;
  period: string;
  scope: string;
  amount: string;
  action: string;
  thresholds: number[];
  position: number;
}

/** The state a reservation named by an entry is in, read under its row lock. */
export interface ReservationStateRow {
  id: string;
  tenantId: string;
  eventId: string | null;
  state: 'OPEN' | 'SETTLED' | 'RELEASED' | 'EXPIRED';
}

export interface NewReservation {
  id: string;
  tenantId: string;
  apiKeyId: string | null;
  subject: string | null;
  est: ReservedAmounts;
  expiresAt: Date;
}

export interface NewAlert {
  tenantId: string;
  limitId: string;
  scopeKey: string;
  apiKeyId: string | null;
  subject: string | null;
  periodStart: Date | null;
  threshold: number;
  used: string;
}

/** A limit in force for a scope, and the subject whose own plan it comes from (null: the tenant's plan or a key's). */
export type LimitInForce = LimitRow & { forSubject: string | null };
