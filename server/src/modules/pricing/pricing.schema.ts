// GraphQL for the price book and quotes.
import { scopeOf } from '../../auth/scope';
import type { PriceTierRow } from '../../db/entities';
import { builder } from '../../graphql/builder';
import { toUserError } from '../../lib/errors';
import { UserErrorRef } from '../usage/usage.payloads.schema';
import { UsageKindEnum } from '../usage/usage.refs';
import type { ItemResult } from './pricing.book';
import { PriceRef } from './pricing.refs';
import { MAX_PRICES, type SetPricesResult } from './pricing.service';

const TIER_DESCRIPTION =
  'Rates that replace the base rates for a call whose inputTokens exceed aboveInputTokens (e.g. prices above 200k input tokens). The highest tier the call exceeds applies to the whole call; a rate the tier leaves unset keeps the base rate.';

const PriceTierRef = builder.objectRef<PriceTierRow>('PriceTier').implement({
  description: TIER_DESCRIPTION,
  fields: (t) => ({
    aboveInputTokens: t.exposeInt('aboveInputTokens'),
    inputPerMillion: t.expose('inputPerMillion', { type: 'Decimal', nullable: true }),
    outputPerMillion: t.expose('outputPerMillion', { type: 'Decimal', nullable: true }),
    cachedInputPerMillion: t.expose('cachedInputPerMillion', { type: 'Decimal', nullable: true }),
    cacheWriteInputPerMillion: t.expose('cacheWriteInputPerMillion', { type: 'Decimal', nullable: true }),
  }),
});

const PriceTierInput = builder.inputType('PriceTierInput', {
  description: `${TIER_DESCRIPTION} aboveInputTokens must be greater than 0 and differ between the tiers of a price; give at least one rate.`,
  fields: (t) => ({
    aboveInputTokens: t.int({ required: true }),
    inputPerMillion: t.field({ type: 'Decimal' }),
    outputPerMillion: t.field({ type: 'Decimal' }),
    cachedInputPerMillion: t.field({ type: 'Decimal' }),
    cacheWriteInputPerMillion: t.field({ type: 'Decimal' }),
  }),
});

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
    tiers: t.field({
      type: [PriceTierRef],
      description: 'By aboveInputTokens, lowest first; empty when the base rates apply to every call.',
      resolve: (p) => p.tiers ?? [],
    }),
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
      description:
        'Default now. Versions never overlap: a new one ends the one before it. An effectiveFrom at or before the occurredAt of an entry already priced by the version it would cut short is BAD_USER_INPUT naming `effectiveFrom`: the price book never contradicts what an entry was charged.',
    }),
    tiers: t.field({ type: [PriceTierInput], description: 'Rates above an input size (default: none).' }),
  }),
});

const SetPricesInput = builder.inputType('SetPricesInput', {
  fields: (t) => ({
    prices: t.field({ type: [SetPriceInput], required: true, description: `At most ${MAX_PRICES}.` }),
  }),
});

const SetPriceOutcomeEnum = builder.enumType('SetPriceOutcome', {
  values: {
    CREATED: { description: 'A new version was added.' },
    UNCHANGED: {
      description:
        'The version in force at effectiveFrom already has exactly this currency, these rates and tiers: nothing was added; price is that version.',
    },
    INVALID: { description: 'The item was refused (see error); nothing of the batch was written.' },
    NOT_WRITTEN: { description: 'The item was valid, but another item was refused: nothing of the batch was written.' },
  } satisfies Record<ItemResult['outcome'], unknown>,
});

const SetPriceResultRef = builder.objectRef<ItemResult & { index: number }>('SetPriceResult').implement({
  fields: (t) => ({
    index: t.exposeInt('index'),
    outcome: t.field({ type: SetPriceOutcomeEnum, resolve: (r) => r.outcome }),
    price: t.field({ type: PriceRef, nullable: true, resolve: (r) => ('price' in r ? r.price : null) }),
    error: t.field({
      type: UserErrorRef,
      nullable: true,
      description: 'Why the item was refused; field starts with ["input", "prices", "<index>"].',
      resolve: (r) => (r.outcome === 'INVALID' ? toUserError(r.error) : null),
    }),
  }),
});

const SetPricesPayloadRef = builder.objectRef<SetPricesResult>('SetPricesPayload').implement({
  fields: (t) => ({
    created: t.exposeInt('created', { description: 'Versions added.' }),
    unchanged: t.exposeInt('unchanged', { description: 'Items whose version in force already said exactly that.' }),
    rejected: t.exposeInt('rejected', { description: 'Items refused; when above 0, nothing was written.' }),
    results: t.field({ type: [SetPriceResultRef], description: 'One per item, in order.', resolve: (p) => p.results }),
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
      "Operator without tenantId: the platform price book. Operator with tenantId, or tenant ADMIN (tenantId defaults to its own): that tenant's override. Adds a price version; earlier versions stay for audit. When the version in force at effectiveFrom already has exactly this currency, these rates and tiers, nothing is added and that version is returned.",
    args: { input: t.arg({ type: SetPriceInput, required: true }) },
    authScopes: { admin: true },
    resolve: (_, { input }, ctx) => ctx.services.pricing.setPrice(scopeOf(ctx.principal), input),
  }),
  setPrices: t.field({
    type: SetPricesPayloadRef,
    description: `setPrice for up to ${MAX_PRICES} prices in one transaction: every item written, or, when any item is refused, none (each refused item is reported with its index). A batch may name each price (tenant, provider, model) once.`,
    args: { input: t.arg({ type: SetPricesInput, required: true }) },
    authScopes: { admin: true },
    extensions: { judgeItems: 'input.prices' },
    resolve: (_, { input }, ctx) => ctx.services.pricing.setPrices(scopeOf(ctx.principal), input.prices),
  }),
}));
