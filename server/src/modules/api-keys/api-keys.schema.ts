// GraphQL for API keys and subject tokens. A secret appears only in CreateApiKeyPayload or
// SubjectToken, once.

import { scopeOf, wholeTenant } from '../../auth/scope';
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
        // A key's usage spans every subject: not for a subject token.
        wholeTenant(scopeOf(ctx.principal));
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

const SubjectTokenRef = builder
  .objectRef<{ token: string; subject: string; expiresAt: Date }>('SubjectToken')
  .implement({
    description:
      'A bearer token for one subject of one tenant: `Authorization: Bearer tsk_…` on HTTP and SSE, `connectionParams.authorization` on WebSocket, like a key. Shown once; stored only as a digest.',
    fields: (t) => ({
      token: t.exposeString('token', { description: 'Shown once.' }),
      subject: t.exposeString('subject'),
      expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    }),
  });

const CreateSubjectTokenInput = builder.inputType('CreateSubjectTokenInput', {
  fields: (t) => ({
    tenantId: t.id(),
    subject: t.string({ required: true }),
    expiresInSeconds: t.int({ defaultValue: 3600, description: '1 to 86400.' }),
    maxRangeDays: t.int({
      description:
        'When set, a query through this token may span at most this many days (BAD_USER_INPUT naming `to` beyond it). 1 to 400.',
    }),
  }),
});

builder.mutationFields((t) => ({
  createSubjectToken: t.field({
    type: SubjectTokenRef,
    description:
      "Tenant ADMIN, or operator with tenantId. A short-lived bearer token for one subject, for a tenant's own app to show an end user their usage: with it, usageSummary, usageEvents, quotaStatus, wallet and every subscription see only that subject (other filters still apply); every mutation and every other subject is FORBIDDEN. Refused after expiresAt, and once the ADMIN key that minted it is revoked.",
    args: { input: t.arg({ type: CreateSubjectTokenInput, required: true }) },
    authScopes: { admin: true },
    ...deny('minting subject tokens needs an ADMIN key'),
    resolve: (_, { input }, ctx) => ctx.services.apiKeys.createSubjectToken(scopeOf(ctx.principal), input),
  }),
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
