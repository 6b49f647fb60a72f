// GraphQL for plans, limits, memberships, quota status, authorizations, alerts and the live
// quota subscriptions. Resolvers authorize, map arguments and call the quota service.

import { tenantOf } from '../../auth/principal';
import { scopeOf } from '../../auth/scope';
import { builder, deny } from '../../graphql/builder';
import { type Live, liveStream, liveValue } from '../../graphql/subscriptions';
import { AppError } from '../../lib/errors';
import { Dec, fmt } from '../../lib/money';
import { ApiKeyRef } from '../api-keys/api-keys.refs';
import { TenantRef } from '../tenants/tenants.refs';
import { UsageTotalsRef } from '../usage/usage.refs';
import { emptyTotals } from '../usage/usage.summary';
import type { Totals } from '../usage/usage.types';
import {
  type AlertRow,
  type LimitRow,
  METRICS,
  type MembershipRow,
  PERIODS,
  type PlanRow,
  type QuotaItem,
  type QuotaStatus,
  type ReservationRow,
  SCOPES,
} from './quota.types';

const LimitMetricEnum = builder.enumType('LimitMetric', { values: METRICS });
const LimitPeriodEnum = builder.enumType('LimitPeriod', {
  description: "Calendar windows in the tenant's time zone; TOTAL never resets.",
  values: PERIODS,
});
const LimitScopeEnum = builder.enumType('LimitScope', { values: SCOPES });
const LimitActionEnum = builder.enumType('LimitAction', {
  values: {
    BLOCK: { description: 'Hard limit: authorizeUsage denies once it is reached.' },
    ALERT: { description: 'Soft limit: only alerts.' },
  },
});

export const LimitRef = builder.objectRef<LimitRow>('Limit').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    metric: t.field({ type: LimitMetricEnum, resolve: (l) => l.metric }),
    period: t.field({ type: LimitPeriodEnum, resolve: (l) => l.period }),
    scope: t.field({ type: LimitScopeEnum, resolve: (l) => l.scope }),
    amount: t.expose('amount', { type: 'Decimal', resolve: (l: LimitRow) => fmt(new Dec(l.amount)) } as never),
    action: t.field({ type: LimitActionEnum, resolve: (l) => l.action }),
    thresholds: t.exposeIntList('thresholds', {
      description: 'Percentages of amount at which a QuotaAlert fires, once per window each, e.g. [50, 80, 100].',
    }),
  }),
});

const PlanRef = builder.objectRef<PlanRow>('Plan').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    code: t.exposeString('code'),
    name: t.exposeString('name'),
    limits: t.field({ type: [LimitRef], resolve: (p, _, ctx) => ctx.loaders.limitsOf.load(p.id) }),
  }),
});

const MembershipRef = builder.objectRef<MembershipRow>('Membership').implement({
  fields: (t) => ({
    tenant: t.field({
      type: TenantRef,
      resolve: async (m, _, ctx) => (await ctx.loaders.tenant.load(m.tenantId)) ?? missing(),
    }),
    plan: t.field({
      type: PlanRef,
      resolve: async (m, _, ctx) => (await ctx.loaders.plan.load(m.planId)) ?? missing(),
    }),
    startsAt: t.expose('startsAt', { type: 'DateTime' }),
    endsAt: t.expose('endsAt', { type: 'DateTime', nullable: true }),
  }),
});

function missing(): never {
  throw new AppError('INTERNAL', 'referenced row missing');
}

const QuotaItemRef = builder.objectRef<QuotaItem>('QuotaItem').implement({
  fields: (t) => ({
    limit: t.field({ type: LimitRef, resolve: (i) => i.limit }),
    scopeId: t.exposeString('scopeId', {
      nullable: true,
      description: 'The API key id or subject the item counts, null for TENANT scope.',
    }),
    periodStart: t.expose('periodStart', { type: 'DateTime', nullable: true }),
    periodEnd: t.expose('periodEnd', { type: 'DateTime', nullable: true }),
    used: t.expose('used', { type: 'Decimal' }),
    reserved: t.expose('reserved', { type: 'Decimal', description: 'Held by open reservations.' }),
    remaining: t.expose('remaining', { type: 'Decimal', description: 'amount - used - reserved, never below 0.' }),
    exceeded: t.exposeBoolean('exceeded', {
      description: 'used >= amount (reservations alone never make an item exceeded).',
    }),
  }),
});

const QuotaStatusRef = builder.objectRef<QuotaStatus>('QuotaStatus').implement({
  fields: (t) => ({
    tenantId: t.exposeID('tenantId'),
    apiKeyId: t.exposeID('apiKeyId', { nullable: true }),
    subject: t.exposeString('subject', { nullable: true }),
    blocked: t.exposeBoolean('blocked', {
      description: 'True when any BLOCK item is exceeded: authorizeUsage will deny.',
    }),
    items: t.field({ type: [QuotaItemRef], resolve: (s) => s.items }),
    asOf: t.expose('asOf', { type: 'DateTime', description: 'The instant this status is exact as of.' }),
  }),
});

const QuotaAlertRef = builder.objectRef<AlertRow>('QuotaAlert').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    tenantId: t.exposeID('tenantId'),
    apiKeyId: t.exposeID('apiKeyId', { nullable: true }),
    subject: t.exposeString('subject', { nullable: true }),
    limit: t.field({
      type: LimitRef,
      resolve: async (a, _, ctx) => (await ctx.loaders.limit.load(a.limitId)) ?? missing(),
    }),
    threshold: t.exposeInt('threshold'),
    used: t.expose('used', { type: 'Decimal', resolve: (a: AlertRow) => fmt(new Dec(a.used)) } as never),
    periodStart: t.expose('periodStart', { type: 'DateTime', nullable: true }),
    crossedAt: t.expose('crossedAt', { type: 'DateTime' }),
  }),
});

const reservationTotals = (r: ReservationRow): Totals => {
  const t = emptyTotals();
  t.requests = BigInt(r.requests);
  t.inputTokens = BigInt(r.inputTokens);
  t.outputTokens = BigInt(r.outputTokens);
  t.totalTokens = BigInt(r.tokens);
  t.asrMilliseconds = BigInt(new Dec(r.asrSeconds).times(1000).toFixed(0));
  t.cost = fmt(new Dec(r.cost));
  return t;
};

const ReservationRef = builder.objectRef<ReservationRow>('Reservation').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    estimate: t.field({ type: UsageTotalsRef, resolve: reservationTotals }),
  }),
});

const AuthorizeUsagePayloadRef = builder
  .objectRef<{ allowed: boolean; deniedBy: QuotaItem | null; reservation: ReservationRow | null; quota: QuotaStatus }>(
    'AuthorizeUsagePayload',
  )
  .implement({
    fields: (t) => ({
      allowed: t.exposeBoolean('allowed'),
      deniedBy: t.field({
        type: QuotaItemRef,
        nullable: true,
        description: 'The exceeded limit when denied.',
        resolve: (p) => p.deniedBy,
      }),
      reservation: t.field({ type: ReservationRef, nullable: true, resolve: (p) => p.reservation }),
      quota: t.field({ type: QuotaStatusRef, resolve: (p) => p.quota }),
    }),
  });

const QuotaAlertEdge = builder.objectRef<{ cursor: string; node: AlertRow }>('QuotaAlertEdge').implement({
  fields: (t) => ({ cursor: t.exposeString('cursor'), node: t.field({ type: QuotaAlertRef, resolve: (e) => e.node }) }),
});
const QuotaAlertConnection = builder
  .objectRef<{
    edges: { cursor: string; node: AlertRow }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  }>('QuotaAlertConnection')
  .implement({
    fields: (t) => ({
      edges: t.field({ type: [QuotaAlertEdge], complexity: { field: 1, multiplier: 1 }, resolve: (c) => c.edges }),
      pageInfo: t.field({ type: 'PageInfo' as never, resolve: (c) => c.pageInfo as never }),
    }),
  });

const LimitInputRef = builder.inputType('LimitInput', {
  fields: (t) => ({
    metric: t.field({ type: LimitMetricEnum, required: true }),
    period: t.field({ type: LimitPeriodEnum, required: true }),
    scope: t.field({ type: LimitScopeEnum, defaultValue: 'TENANT' }),
    amount: t.field({ type: 'Decimal', required: true }),
    action: t.field({ type: LimitActionEnum, defaultValue: 'BLOCK' }),
    thresholds: t.intList({ defaultValue: [80, 100] }),
  }),
});

const UsageEstimateInput = builder.inputType('UsageEstimateInput', {
  fields: (t) => ({
    cost: t.field({ type: 'Decimal' }),
    tokens: t.int(),
    inputTokens: t.int(),
    outputTokens: t.int(),
    asrSeconds: t.field({ type: 'Decimal' }),
    requests: t.int({ defaultValue: 1 }),
  }),
});

const AuthorizeUsageInput = builder.inputType('AuthorizeUsageInput', {
  fields: (t) => ({
    tenantId: t.id(),
    apiKeyId: t.id(),
    subject: t.string(),
    estimate: t.field({ type: UsageEstimateInput, required: true }),
    reserveSeconds: t.int({
      defaultValue: 0,
      description: '0: check only. Otherwise hold the estimate this long (max 3600).',
    }),
  }),
});

const UpsertPlanInput = builder.inputType('UpsertPlanInput', {
  fields: (t) => ({
    code: t.string({ required: true }),
    name: t.string({ required: true }),
    limits: t.field({ type: [LimitInputRef], required: true }),
  }),
});
const AssignPlanInput = builder.inputType('AssignPlanInput', {
  fields: (t) => ({
    tenantId: t.id({ required: true }),
    planCode: t.string({ required: true }),
    startsAt: t.field({ type: 'DateTime' }),
  }),
});
const SetApiKeyLimitsInput = builder.inputType('SetApiKeyLimitsInput', {
  fields: (t) => ({ apiKeyId: t.id({ required: true }), limits: t.field({ type: [LimitInputRef], required: true }) }),
});

builder.objectFields(TenantRef, (t) => ({
  membership: t.field({
    type: MembershipRef,
    nullable: true,
    resolve: (tenant, _, ctx) => ctx.services.quota.membershipAt(tenant.id, ctx.services.now()),
  }),
  quota: t.field({
    type: QuotaStatusRef,
    authScopes: { read: true },
    resolve: (tenant, _, ctx) => ctx.services.quota.status(tenant, null, null),
  }),
}));

builder.objectFields(ApiKeyRef, (t) => ({
  limits: t.field({ type: [LimitRef], resolve: (k, _, ctx) => ctx.loaders.limitsOf.load(k.id) }),
}));

builder.queryFields((t) => ({
  quotaStatus: t.field({
    type: QuotaStatusRef,
    description: 'Usage against every limit that applies to the tenant (and to the key / subject when given).',
    args: { tenantId: t.arg.id(), apiKeyId: t.arg.id(), subject: t.arg.string() },
    authScopes: { read: true },
    resolve: async (_, args, ctx) => {
      const s = await ctx.services.quota.scopeFor(tenantOf(ctx.principal, args.tenantId, ['tenantId']), args);
      return ctx.services.quota.status(s.tenant, s.apiKeyId, s.subject);
    },
  }),
  plans: t.field({
    type: [PlanRef],
    authScopes: { anyKey: true },
    resolve: (_, __, ctx) => ctx.services.quota.plans(scopeOf(ctx.principal)),
  }),
  quotaAlerts: t.field({
    type: QuotaAlertConnection,
    description:
      'Stored threshold crossings, newest first (crossedAt, then id), cursor pagination; first over 500 is BAD_USER_INPUT.',
    args: {
      tenantId: t.arg.id(),
      from: t.arg({ type: 'DateTime' }),
      to: t.arg({ type: 'DateTime' }),
      first: t.arg.int({ defaultValue: 50 }),
      after: t.arg.string(),
    },
    complexity: (args) => ({ field: 1, multiplier: Math.max(1, Math.min(args.first ?? 50, 500)) }),
    authScopes: { read: true },
    resolve: (_, args, ctx) => ctx.services.quota.alerts(tenantOf(ctx.principal, args.tenantId, ['tenantId']), args),
  }),
}));

builder.mutationFields((t) => ({
  authorizeUsage: t.field({
    type: AuthorizeUsagePayloadRef,
    description:
      'Pre-flight check for a gateway: may this spend happen? With reserveSeconds > 0 the estimate is held so that concurrent calls cannot overspend; recordUsage with the reservationId settles it.',
    args: { input: t.arg({ type: AuthorizeUsageInput, required: true }) },
    authScopes: { ingest: true },
    resolve: (_, { input }, ctx) => ctx.services.quota.authorize(scopeOf(ctx.principal), input),
  }),
  releaseReservation: t.boolean({
    description: "True when released; unknown, expired, settled or another tenant's: RESERVATION_INVALID.",
    args: { id: t.arg.id({ required: true }) },
    authScopes: { ingest: true },
    resolve: async (_, args, ctx) => {
      await ctx.services.quota.release(scopeOf(ctx.principal), args.id);
      return true;
    },
  }),
  upsertPlan: t.field({
    type: PlanRef,
    description: 'Operator only.',
    args: { input: t.arg({ type: UpsertPlanInput, required: true }) },
    authScopes: { operator: true },
    ...deny('only the operator manages plans'),
    resolve: (_, { input }, ctx) => ctx.services.quota.upsertPlan(input),
  }),
  assignPlan: t.field({
    type: MembershipRef,
    description: 'Operator only.',
    args: { input: t.arg({ type: AssignPlanInput, required: true }) },
    authScopes: { operator: true },
    ...deny('only the operator assigns plans'),
    resolve: (_, { input }, ctx) => ctx.services.quota.assignPlan(input),
  }),
  setApiKeyLimits: t.field({
    type: ApiKeyRef,
    description: "Tenant ADMIN or operator: replaces the key's own limits.",
    args: { input: t.arg({ type: SetApiKeyLimitsInput, required: true }) },
    authScopes: { admin: true },
    resolve: async (_, { input }, ctx) => {
      const keyId = await ctx.services.quota.setApiKeyLimits(scopeOf(ctx.principal), input);
      return (await ctx.loaders.apiKey.load(keyId)) ?? missing();
    },
  }),
}));

builder.subscriptionFields((t) => ({
  quotaUpdated: t.field({
    type: QuotaStatusRef,
    description:
      'The current state at once on subscribe, then after every change of usage or reservations that touches this scope (coalesced: at most one push per scope per 250 ms).',
    args: { tenantId: t.arg.id(), apiKeyId: t.arg.id(), subject: t.arg.string() },
    authScopes: { read: true },
    subscribe: async (_, args, ctx) => {
      const s = await ctx.services.quota.scopeFor(tenantOf(ctx.principal, args.tenantId, ['tenantId']), args);
      const feed = ctx.feed.watch(s.tenant.id, `${s.apiKeyId ?? ''}|${s.subject ?? ''}`, () =>
        ctx.services.quota.status(s.tenant, s.apiKeyId, s.subject),
      );
      return liveStream(ctx, feed);
    },
    resolve: (s: Live<QuotaStatus>) => liveValue(s),
  }),
  quotaAlerts: t.field({
    type: QuotaAlertRef,
    description:
      'Each threshold crossing, exactly once per limit, scope, window and threshold, across all server instances. Usage counts in the window of its occurredAt.',
    args: { tenantId: t.arg.id() },
    authScopes: { read: true },
    subscribe: (_, args, ctx) => {
      const tenantId = tenantOf(ctx.principal, args.tenantId, ['tenantId']);
      return liveStream(ctx, ctx.pubsub.subscribe('quota:alert', tenantId));
    },
    resolve: (a: Live<AlertRow>) => liveValue(a),
  }),
}));
