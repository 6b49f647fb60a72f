// GraphQL for tenants and the viewer. Resolvers authorize, map arguments and call services.

import { rangeIn, scopeOf, subjectIn, tenantIn, wholeTenant } from '../../auth/scope';
import type { TenantRow } from '../../db/entities';
import { builder, deny } from '../../graphql/builder';
import { ApiKeyRef } from '../api-keys/api-keys.refs';
import { CreateApiKeyPayloadRef } from '../api-keys/api-keys.schema';
import { UsageTotalsRef } from '../usage/usage.refs';
import { UsageService } from '../usage/usage.service';
import { TenantRef } from './tenants.refs';

TenantRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    timezone: t.exposeString('timezone', {
      description: 'IANA zone used for DAY / MONTH windows and calendar buckets. Default UTC.',
    }),
    currency: t.exposeString('currency', {
      description:
        'The one currency the tenant is billed in (ISO 4217). Usage whose cost, supplied or priced, is in another currency is refused with BAD_USER_INPUT naming `currency`.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    apiKeys: t.field({
      type: [ApiKeyRef],
      authScopes: { read: true },
      args: { includeRevoked: t.arg.boolean({ defaultValue: false }) },
      resolve: (tenant, args, ctx) => {
        wholeTenant(scopeOf(ctx.principal));
        return ctx.services.apiKeys.listForTenant(tenant.id, args.includeRevoked ?? false);
      },
    }),
    usage: t.field({
      type: UsageTotalsRef,
      authScopes: { read: true },
      args: { from: t.arg({ type: 'DateTime', required: true }), to: t.arg({ type: 'DateTime', required: true }) },
      description: "The tenant's usage over [from, to); a subject token's: its subject's.",
      resolve: (tenant, { from, to }, ctx) => {
        const scope = scopeOf(ctx.principal);
        UsageService.checkRange(from, to);
        rangeIn(scope, from, to, { from: ['from'], to: ['to'] });
        const subject = subjectIn(scope, null, ['subject']);
        return ctx.services.usage.tenantTotals(tenant.id, tenant.timezone, from, to, tenant.currency, subject);
      },
    }),
  }),
});

const ViewerRef = builder.objectRef<ReturnType<typeof scopeOf>>('Viewer').implement({
  fields: (t) => ({
    apiKey: t.field({
      type: ApiKeyRef,
      nullable: true,
      resolve: (s, _, ctx) => (s.keyId ? ctx.loaders.apiKey.load(s.keyId) : null),
    }),
    tenant: t.field({
      type: TenantRef,
      nullable: true,
      resolve: (s, _, ctx) => (s.tenantId ? ctx.loaders.tenant.load(s.tenantId) : null),
    }),
    isOperator: t.boolean({ resolve: (s) => s.operator }),
    subject: t.exposeString('subject', {
      nullable: true,
      description: 'A subject token: the one subject it reads (null for keys).',
    }),
  }),
});

const TenantEdge = builder.objectRef<{ cursor: string; node: TenantRow }>('TenantEdge').implement({
  fields: (t) => ({ cursor: t.exposeString('cursor'), node: t.field({ type: TenantRef, resolve: (e) => e.node }) }),
});
const TenantConnection = builder
  .objectRef<{
    edges: { cursor: string; node: TenantRow }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  }>('TenantConnection')
  .implement({
    fields: (t) => ({
      // tenants already multiplies by `first`; the page is not counted twice.
      edges: t.field({ type: [TenantEdge], complexity: { field: 1, multiplier: 1 }, resolve: (c) => c.edges }),
      pageInfo: t.field({ type: 'PageInfo' as never, resolve: (c) => c.pageInfo as never }),
    }),
  });

builder.queryFields((t) => ({
  tenants: t.field({
    type: TenantConnection,
    description:
      'Operator only. Every tenant, newest first (createdAt, then id, descending), cursor pagination; first over 500 is BAD_USER_INPUT.',
    args: { first: t.arg.int({ defaultValue: 50 }), after: t.arg.string() },
    complexity: (args) => ({ field: 1, multiplier: Math.max(1, Math.min(args.first ?? 50, 500)) }),
    authScopes: { operator: true },
    ...deny('only the operator lists tenants'),
    resolve: (_, args, ctx) => ctx.services.tenants.page(args.first ?? 50, args.after),
  }),
  viewer: t.field({
    type: ViewerRef,
    description: 'The calling API key, and through it its tenant.',
    authScopes: { anyKey: true },
    resolve: (_, __, ctx) => scopeOf(ctx.principal),
  }),
  tenant: t.field({
    type: TenantRef,
    nullable: true,
    description: 'Operator keys may read any tenant; tenant keys only their own (another id: FORBIDDEN).',
    args: { id: t.arg.id({ required: true }) },
    authScopes: { read: true },
    resolve: (_, { id }, ctx) => ctx.loaders.tenant.load(tenantIn(scopeOf(ctx.principal), id, ['id'])),
  }),
}));

const CreateTenantInput = builder.inputType('CreateTenantInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    timezone: t.string({ defaultValue: 'UTC' }),
    planCode: t.string(),
    currency: t.string({
      defaultValue: 'USD',
      description:
        'ISO 4217 code of the one currency the tenant is billed in; fixed once the tenant has usage. A platform price in another currency cannot price its usage (BAD_USER_INPUT naming `currency`); its own overrides must be in it.',
    }),
  }),
});

builder.mutationFields((t) => ({
  createTenant: t.field({
    type: CreateApiKeyPayloadRef,
    description: "Operator only. Returns the tenant's first ADMIN key secret, shown once.",
    args: { input: t.arg({ type: CreateTenantInput, required: true }) },
    authScopes: { operator: true },
    ...deny('only the operator creates tenants'),
    resolve: (_, { input }, ctx) => ctx.services.tenants.create(input),
  }),
}));
