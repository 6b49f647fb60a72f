// GraphQL for the price book and quotes.
import { scopeOf } from '../../auth/scope';
import { builder } from '../../graphql/builder';
import { UsageKindEnum } from '../usage/usage.refs';
import { PriceRef } from './pricing.refs';

PriceRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    tenantId: t.exposeID('tenantId', {
      nullable: true,
      description: "Null for the platform price book; set for a tenant's own override.",
    }),
    provider: t.exposeString('provider'),
    model: t.exposeString('model'),
    currency: t.exposeString('currency'),
    inputPerMillion: t.expose('inputPerMillion', { type: 'Decimal', nullable: true }),
    outputPerMillion: t.expose('outputPerMillion', { type: 'Decimal', nullable: true }),
    cachedInputPerMillion: t.expose('cachedInputPerMillion', { type: 'Decimal', nullable: true }),
    cacheWriteInputPerMillion: t.expose('cacheWriteInputPerMillion', { type: 'Decimal', nullable: true }),
    perRequest: t.expose('perRequest', { type: 'Decimal', nullable: true }),
    perSecond: t.expose('perSecond', { type: 'Decimal', nullable: true, description: 'ASR: per second of audio.' }),
    perUnit: t.expose('perUnit', { type: 'Decimal', nullable: true, description: 'CALL: per unit.' }),
    effectiveFrom: t.expose('effectiveFrom', { type: 'DateTime' }),
    effectiveTo: t.expose('effectiveTo', { type: 'DateTime', nullable: true }),
  }),
});

const QuoteRef = builder
  .objectRef<{ cost: string; currency: string; price: import('../../db/entities').PriceRow | null }>('Quote')
  .implement({
    fields: (t) => ({
      cost: t.expose('cost', { type: 'Decimal' }),
      currency: t.exposeString('currency'),
      price: t.field({ type: PriceRef, nullable: true, resolve: (q) => q.price }),
    }),
  });

const QuoteInput = builder.inputType('QuoteInput', {
  fields: (t) => ({
    tenantId: t.id({
      description: 'Operator only: price with this tenant’s overrides (default: the platform price book).',
    }),
    kind: t.field({ type: UsageKindEnum, required: true }),
    provider: t.string(),
    model: t.string(),
    inputTokens: t.int({ defaultValue: 0 }),
    outputTokens: t.int({ defaultValue: 0 }),
    cachedInputTokens: t.int({ defaultValue: 0 }),
    cacheWriteInputTokens: t.int({ defaultValue: 0 }),
    durationMs: t.int(),
    quantity: t.field({ type: 'Decimal' }),
    at: t.field({ type: 'DateTime' }),
  }),
});

const SetPriceInput = builder.inputType('SetPriceInput', {
  fields: (t) => ({
    tenantId: t.id(),
    provider: t.string({ required: true }),
    model: t.string({ required: true }),
    currency: t.string({
      defaultValue: 'USD',
      description:
        "A tenant override must be in the tenant's currency (else BAD_USER_INPUT naming `currency`). A platform price may be in any currency: it prices usage of tenants billed in it, and usage of a tenant billed in another currency that it would price is refused by recordUsage and quote (BAD_USER_INPUT naming `currency`); nothing is converted. Every rate is at most 1000000000000000 (10^15).",
    }),
    inputPerMillion: t.field({ type: 'Decimal' }),
    outputPerMillion: t.field({ type: 'Decimal' }),
    cachedInputPerMillion: t.field({ type: 'Decimal' }),
    cacheWriteInputPerMillion: t.field({ type: 'Decimal' }),
    perRequest: t.field({ type: 'Decimal' }),
    perSecond: t.field({ type: 'Decimal' }),
    perUnit: t.field({ type: 'Decimal' }),
    effectiveFrom: t.field({
      type: 'DateTime',
      description: 'Default now. Versions never overlap: a new one ends the one before it.',
    }),
  }),
});

builder.queryFields((t) => ({
  prices: t.field({
    type: [PriceRef],
    description: 'Price versions; with `at`, only the version in force at that instant.',
    args: {
      provider: t.arg.string(),
      model: t.arg.string(),
      at: t.arg({ type: 'DateTime' }),
      tenantId: t.arg.id({ description: "Operator only: include this tenant's overrides." }),
    },
    authScopes: { read: true },
    resolve: (_, args, ctx) => ctx.services.pricing.list(scopeOf(ctx.principal), args),
  }),
  quote: t.field({
    type: QuoteRef,
    description: 'What a piece of usage would cost, without recording it. Any scope may ask.',
    authScopes: { anyKey: true },
    args: { input: t.arg({ type: QuoteInput, required: true }) },
    resolve: (_, { input }, ctx) => ctx.services.pricing.quote(scopeOf(ctx.principal), input),
  }),
}));

builder.mutationFields((t) => ({
  setPrice: t.field({
    type: PriceRef,
    description:
      "Operator without tenantId: the platform price book. Operator with tenantId, or tenant ADMIN (tenantId defaults to its own): that tenant's override. Adds a price version; earlier versions stay for audit.",
    args: { input: t.arg({ type: SetPriceInput, required: true }) },
    authScopes: { admin: true },
    resolve: (_, { input }, ctx) => ctx.services.pricing.setPrice(scopeOf(ctx.principal), input),
  }),
}));
