// Quota's GraphQL object types and enums: plans, limits, memberships, quota status and items,
// alerts, reservations and their connections. The fields that serve them (queries, mutations,
// subscriptions, Tenant and ApiKey fields) are in quota.schema.ts.
import { builder } from '../../graphql/builder';
import { AppError } from '../../lib/errors';
import { Dec, fmt } from '../../lib/money';
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

export const LimitMetricEnum = builder.enumType('LimitMetric', { values: METRICS });
export const LimitPeriodEnum = builder.enumType('LimitPeriod', {
  description: "Calendar windows in the tenant's time zone; TOTAL never resets.",
  values: PERIODS,
});
export const LimitScopeEnum = builder.enumType('LimitScope', { values: SCOPES });
export const LimitActionEnum = builder.enumType('LimitAction', {
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

export const PlanRef = builder.objectRef<PlanRow>('Plan').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    code: t.exposeString('code'),
    name: t.exposeString('name'),
    limits: t.field({ type: [LimitRef], resolve: (p, _, ctx) => ctx.loaders.limitsOf.load(p.id) }),
  }),
});

export const MembershipRef = builder.objectRef<MembershipRow>('Membership').implement({
  fields: (t) => ({
    tenant: t.field({
      type: TenantRef,
      resolve: async (m, _, ctx) => (await ctx.loaders.tenant.load(m.tenantId)) ?? missing(),
    }),
    plan: t.field({
      type: PlanRef,
      resolve: async (m, _, ctx) => (await ctx.loaders.plan.load(m.planId)) ?? missing(),
    }),
    subject: t.exposeString('subject', { nullable: true, description: 'Set when the plan belongs to one subject.' }),
    startsAt: t.expose('startsAt', { type: 'DateTime' }),
    endsAt: t.expose('endsAt', { type: 'DateTime', nullable: true }),
  }),
});

export function missing(): never {
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

export const QuotaStatusRef = builder.objectRef<QuotaStatus>('QuotaStatus').implement({
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

export const QuotaAlertRef = builder.objectRef<AlertRow>('QuotaAlert').implement({
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

export const AuthorizeUsagePayloadRef = builder
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
export const QuotaAlertConnection = builder
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

const SubjectMembershipEdge = builder
  .objectRef<{ cursor: string; node: MembershipRow }>('SubjectMembershipEdge')
  .implement({
    fields: (t) => ({
      cursor: t.exposeString('cursor'),
      node: t.field({ type: MembershipRef, resolve: (e) => e.node }),
    }),
  });
export const SubjectMembershipConnection = builder
  .objectRef<{
    edges: { cursor: string; node: MembershipRow }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  }>('SubjectMembershipConnection')
  .implement({
    fields: (t) => ({
      edges: t.field({
        type: [SubjectMembershipEdge],
        complexity: { field: 1, multiplier: 1 },
        resolve: (c) => c.edges,
      }),
      pageInfo: t.field({ type: 'PageInfo' as never, resolve: (c) => c.pageInfo as never }),
    }),
  });
