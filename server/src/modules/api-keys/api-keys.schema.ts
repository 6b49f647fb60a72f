// GraphQL for API keys. The secret appears only in CreateApiKeyPayload, once.

import { scopeOf } from '../../auth/scope';
import type { ApiKeyRow } from '../../db/entities';
import { builder, deny } from '../../graphql/builder';
import { AppError } from '../../lib/errors';
import { TenantRef } from '../tenants/tenants.refs';
import { UsageTotalsRef } from '../usage/usage.refs';
import { UsageService } from '../usage/usage.service';
import { ApiKeyRef, ApiKeyScopeEnum } from './api-keys.refs';

ApiKeyRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    tenant: t.field({
      type: TenantRef,
      resolve: async (key, _, ctx) => {
        const tenant = await ctx.loaders.tenant.load(key.tenantId);
        if (!tenant) throw new AppError('INTERNAL', 'tenant missing');
        return tenant;
      },
    }),
    name: t.exposeString('name'),
    prefix: t.exposeString('prefix', {
      description: 'The non-secret start of the key, shown in lists, e.g. tly_3fa9c2d1.',
    }),
    scopes: t.field({ type: [ApiKeyScopeEnum], resolve: (key) => key.scopes as ('INGEST' | 'READ' | 'ADMIN')[] }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastUsedAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (key, _, ctx) => ctx.services.apiKeys.lastUsedAt(key),
    }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    usage: t.field({
      type: UsageTotalsRef,
      authScopes: { read: true },
      args: { from: t.arg({ type: 'DateTime', required: true }), to: t.arg({ type: 'DateTime', required: true }) },
      resolve: (key, { from, to }, ctx) => {
        UsageService.checkRange(from, to);
        return ctx.loaders.keyUsage.load({ key, from, to });
      },
    }),
  }),
});

export const CreateApiKeyPayloadRef = builder
  .objectRef<{ apiKey: ApiKeyRow; secret: string }>('CreateApiKeyPayload')
  .implement({
    fields: (t) => ({
      apiKey: t.field({ type: ApiKeyRef, resolve: (p) => p.apiKey }),
      secret: t.exposeString('secret', { description: 'Shown once.' }),
    }),
  });

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  fields: (t) => ({
    tenantId: t.id(),
    name: t.string({ required: true }),
    scopes: t.field({ type: [ApiKeyScopeEnum], required: true }),
  }),
});

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: CreateApiKeyPayloadRef,
    description: 'Tenant ADMIN or operator. The secret is returned once and stored only as a hash.',
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    authScopes: { admin: true },
    ...deny('creating API keys needs an ADMIN key'),
    resolve: (_, { input }, ctx) => ctx.services.apiKeys.create(scopeOf(ctx.principal), input),
  }),
  revokeApiKey: t.field({
    type: ApiKeyRef,
    args: { id: t.arg.id({ required: true }) },
    authScopes: { admin: true },
    ...deny('revoking API keys needs an ADMIN key'),
    resolve: (_, { id }, ctx) => ctx.services.apiKeys.revoke(scopeOf(ctx.principal), id),
  }),
}));
