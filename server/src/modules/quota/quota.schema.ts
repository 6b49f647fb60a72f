// GraphQL for plans, limits, memberships, quota status, authorizations, alerts and the live
// quota subscriptions. Resolvers authorize, map arguments and call the quota service.

import { filter, pipe } from 'graphql-yoga';
import { rangeIn, scopeOf, sees, tenantIn } from '../../auth/scope';
import { builder, deny } from '../../graphql/builder';
import { type Live, liveStream, liveValue } from '../../graphql/subscriptions';
import { ApiKeyRef } from '../api-keys/api-keys.refs';
import { TenantRef } from '../tenants/tenants.refs';
import {
  AuthorizeUsagePayloadRef,
  LimitActionEnum,
  LimitMetricEnum,
  LimitPeriodEnum,
  LimitRef,
  LimitScopeEnum,
  MembershipRef,
  missing,
  PlanRef,
  QuotaAlertConnection,
  QuotaAlertRef,
  QuotaStatusRef,
  SubjectMembershipConnection,
} from './quota.objects.schema';
import type { AlertRow, QuotaStatus } from './quota.types';

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
    provider: t.string({
      description: 'With model: the price a wallet checks the token estimate at, when cost is not given.',
    }),
    model: t.string({
      description: "When cost is not given and a wallet pays: the tokens are priced like quote at this model's price.",
    }),
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
    subject: t.string({
      description:
        "With a subject, the plan applies to that end user / device only: every limit of the plan counts that subject's usage, and replaces, for that subject, the SUBJECT-scope limits of the tenant's own plan. TENANT-scope limits of the tenant's plan still apply to the tenant as a whole. An API_KEY-scope limit of it counts the subject's usage through each key.",
    }),
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
    resolve: (tenant, _, ctx) =>
      ctx.services.quota.status(ctx.services.quota.tenantScope(scopeOf(ctx.principal), tenant)),
  }),
  subjectMemberships: t.field({
    type: SubjectMembershipConnection,
    description:
      'Plans assigned to single subjects (end users, devices) of this tenant, not ended yet (in force or to come), newest start first; first over 500 is BAD_USER_INPUT. A subject token sees only its own.',
    args: { first: t.arg.int({ defaultValue: 50 }), after: t.arg.string(), subject: t.arg.string() },
    complexity: (args) => ({ field: 1, multiplier: Math.max(1, Math.min(args.first ?? 50, 500)) }),
    authScopes: { read: true },
    resolve: (tenant, args, ctx) => ctx.services.quota.subjectMemberships(scopeOf(ctx.principal), tenant.id, args),
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
    resolve: async (_, args, ctx) =>
      ctx.services.quota.status(await ctx.services.quota.scopeFor(scopeOf(ctx.principal), args)),
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
    resolve: (_, args, ctx) => {
      const scope = scopeOf(ctx.principal);
      rangeIn(scope, args.from, args.to, { from: ['from'], to: ['to'] });
      return ctx.services.quota.alerts(scope, tenantIn(scope, args.tenantId, ['tenantId']), args);
    },
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
    description: "Operator only. With input.subject, that subject's own plan (see AssignPlanInput.subject).",
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
      const s = await ctx.services.quota.scopeFor(scopeOf(ctx.principal), args);
      const feed = ctx.feed.watch(s.tenant.id, JSON.stringify([s.apiKeyId, s.subject, s.subjectOnly]), () =>
        ctx.services.quota.status(s),
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
      const scope = scopeOf(ctx.principal);
      const alerts = ctx.pubsub.subscribe('quota:alert', tenantIn(scope, args.tenantId, ['tenantId']));
      // A subject token hears only its subject's alerts.
      return liveStream(
        ctx,
        scope.subject === null
          ? alerts
          : pipe(
              alerts,
              filter((a) => sees(scope, a.subject)),
            ),
      );
    },
    resolve: (a: Live<AlertRow>) => liveValue(a),
  }),
}));
