// GraphQL for the ledger: recording, reversals, the event list and summaries.
import { filter, pipe } from 'graphql-yoga';
import { isOperator, scopeOf, sees, tenantIn } from '../../auth/scope';
import { builder } from '../../graphql/builder';
import { type Live, liveStream, liveValue } from '../../graphql/subscriptions';
import { AppError, notFound } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { ApiKeyRef } from '../api-keys/api-keys.refs';
import { PriceRef } from '../pricing/pricing.refs';
import { TenantRef } from '../tenants/tenants.refs';
import { revivePublished } from './usage.columns';
import { RecordUsageBatchPayload, RecordUsagePayload } from './usage.payloads.schema';
import { ModelSourceEnum, UsageEventRef, UsageKindEnum, UsageStatusEnum, UsageTotalsRef } from './usage.refs';
import type { SummaryRow } from './usage.summary';
import type { PublishedEvent } from './usage.topics';
import type { EventRow, Totals, UsageKind } from './usage.types';
import { DIMENSIONS, GRANULARITIES } from './usage.types';
import { RECORD_DEFAULTS } from './usage.validation';

// Usage's own enums; the ones other modules name are in usage.refs.ts.
const GRANULARITY_NOTES: Partial<Record<(typeof GRANULARITIES)[number], string>> = {
  MINUTE:
    'Minute buckets, for requests-per-minute and tokens-per-minute charts. Only for ranges of at most 24 hours; a longer range is BAD_USER_INPUT naming `granularity`.',
};
const DIMENSION_NOTES: Partial<Record<(typeof DIMENSIONS)[number], string>> = {
  STATUS: 'Group by UsageStatus (succeeded / failed calls).',
};
const GranularityEnum = builder.enumType('Granularity', {
  values: Object.fromEntries(GRANULARITIES.map((g) => [g, { description: GRANULARITY_NOTES[g] }])) as Record<
    (typeof GRANULARITIES)[number],
    { description?: string }
  >,
});
const UsageDimensionEnum = builder.enumType('UsageDimension', {
  values: Object.fromEntries(DIMENSIONS.map((d) => [d, { description: DIMENSION_NOTES[d] }])) as Record<
    (typeof DIMENSIONS)[number],
    { description?: string }
  >,
});

UsageTotalsRef.implement({
  fields: (t) => ({
    requests: t.expose('requests', { type: 'BigInt' }),
    failedRequests: t.expose('failedRequests', { type: 'BigInt' }),
    inputTokens: t.expose('inputTokens', { type: 'BigInt' }),
    outputTokens: t.expose('outputTokens', { type: 'BigInt' }),
    cachedInputTokens: t.expose('cachedInputTokens', { type: 'BigInt' }),
    cacheWriteInputTokens: t.expose('cacheWriteInputTokens', { type: 'BigInt' }),
    reasoningTokens: t.expose('reasoningTokens', { type: 'BigInt' }),
    totalTokens: t.expose('totalTokens', { type: 'BigInt' }),
    asrMilliseconds: t.expose('asrMilliseconds', { type: 'BigInt' }),
    quantity: t.expose('quantity', {
      type: 'Decimal',
      description: 'CALL units only (an event without quantity counts 1).',
    }),
    cost: t.expose('cost', { type: 'Decimal' }),
    currency: t.exposeString('currency'),
  }),
});

UsageEventRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    idempotencyKey: t.exposeString('idempotencyKey'),
    tenant: t.field({
      type: TenantRef,
      resolve: async (e, _, ctx) => (await ctx.loaders.tenant.load(e.tenantId)) ?? fail('tenant missing'),
    }),
    apiKey: t.field({
      type: ApiKeyRef,
      nullable: true,
      resolve: (e, _, ctx) => (e.apiKeyId ? ctx.loaders.apiKey.load(e.apiKeyId) : null),
    }),
    subject: t.exposeString('subject', {
      nullable: true,
      description: 'The end user, device or customer inside the tenant.',
    }),
    kind: t.field({ type: UsageKindEnum, resolve: (e) => e.kind }),
    provider: t.exposeString('provider', { nullable: true }),
    model: t.exposeString('model', { nullable: true }),
    modelSource: t.field({ type: ModelSourceEnum, resolve: (e) => e.modelSource }),
    status: t.field({ type: UsageStatusEnum, resolve: (e) => e.status }),
    inputTokens: t.exposeInt('inputTokens'),
    outputTokens: t.exposeInt('outputTokens'),
    cachedInputTokens: t.exposeInt('cachedInputTokens', {
      description: "Part of inputTokens read from the provider's prompt cache.",
    }),
    cacheWriteInputTokens: t.exposeInt('cacheWriteInputTokens', {
      description: "Part of inputTokens written to the provider's prompt cache.",
    }),
    reasoningTokens: t.exposeInt('reasoningTokens', {
      description: 'Part of outputTokens spent on reasoning; informational, priced as output.',
    }),
    totalTokens: t.int({ description: 'inputTokens + outputTokens.', resolve: (e) => e.inputTokens + e.outputTokens }),
    durationMs: t.exposeInt('durationMs', { nullable: true }),
    quantity: t.expose('quantity', { type: 'Decimal', nullable: true }),
    cost: t.expose('cost', { type: 'Decimal' }),
    currency: t.exposeString('currency'),
    price: t.field({
      type: PriceRef,
      nullable: true,
      description: 'The price version that produced cost; null when the caller supplied cost.',
      resolve: (e, _, ctx) => (e.priceId ? ctx.loaders.price.load(e.priceId) : null),
    }),
    latencyMs: t.exposeInt('latencyMs', { nullable: true }),
    sessionId: t.exposeString('sessionId', { nullable: true }),
    metadata: t.expose('metadata', { type: 'JSON', nullable: true }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime' }),
    recordedAt: t.expose('recordedAt', { type: 'DateTime' }),
    reverses: t.field({
      type: UsageEventRef,
      nullable: true,
      description: 'Set on a reversal entry: the entry it cancels.',
      resolve: (e, _, ctx) => (e.reversesId ? ctx.loaders.event.load(e.reversesId) : null),
    }),
    reason: t.exposeString('reason', { nullable: true, description: 'Set on a reversal entry: why.' }),
  }),
});

function fail(message: string): never {
  throw new AppError('INTERNAL', message);
}

const UsageEventEdge = builder.objectRef<{ cursor: string; node: EventRow }>('UsageEventEdge').implement({
  fields: (t) => ({ cursor: t.exposeString('cursor'), node: t.field({ type: UsageEventRef, resolve: (e) => e.node }) }),
});
const PageInfo = builder.objectRef<{ hasNextPage: boolean; endCursor: string | null }>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});
const UsageEventConnection = builder
  .objectRef<{
    edges: { cursor: string; node: EventRow }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  }>('UsageEventConnection')
  .implement({
    fields: (t) => ({
      // usageEvents already multiplies by `first`; the page is not counted twice.
      edges: t.field({ type: [UsageEventEdge], complexity: { field: 1, multiplier: 1 }, resolve: (c) => c.edges }),
      pageInfo: t.field({ type: PageInfo, resolve: (c) => c.pageInfo }),
    }),
  });

export const UsageFilter = builder.inputType('UsageFilter', {
  fields: (t) => ({
    tenantId: t.id({ description: 'Required for operator keys; tenant keys default to (and may only use) their own.' }),
    apiKeyId: t.id(),
    subject: t.string(),
    model: t.string(),
    provider: t.string(),
    kind: t.field({ type: UsageKindEnum }),
    status: t.field({ type: UsageStatusEnum, description: 'Only entries with this status.' }),
    currency: t.string({ description: 'Only usage priced in this currency (needed when a range holds several).' }),
    from: t.field({ type: 'DateTime', required: true, description: 'Inclusive.' }),
    to: t.field({ type: 'DateTime', required: true, description: 'Exclusive. The range may span at most 400 days.' }),
  }),
});

const UsageBucket = builder.objectRef<SummaryRow>('UsageBucket').implement({
  fields: (t) => ({
    start: t.expose('start', {
      type: 'DateTime',
      nullable: true,
      description: "Start of the bucket in the tenant's zone; null when no granularity was asked.",
    }),
    apiKey: t.field({
      type: ApiKeyRef,
      nullable: true,
      resolve: (b, _, ctx) => (b.apiKeyId ? ctx.loaders.apiKey.load(b.apiKeyId) : null),
    }),
    subject: t.exposeString('subject', { nullable: true }),
    model: t.exposeString('model', { nullable: true }),
    provider: t.exposeString('provider', { nullable: true }),
    kind: t.field({ type: UsageKindEnum, nullable: true, resolve: (b) => b.kind as UsageKind | null }),
    status: t.field({
      type: UsageStatusEnum,
      nullable: true,
      resolve: (b) => b.status as 'SUCCEEDED' | 'FAILED' | null,
    }),
    totals: t.field({ type: UsageTotalsRef, resolve: (b) => b }),
  }),
});

const UsageSummary = builder
  .objectRef<{ totals: Totals; buckets: SummaryRow[]; asOf: Date }>('UsageSummary')
  .implement({
    fields: (t) => ({
      totals: t.field({
        type: UsageTotalsRef,
        description: 'Exactly the sum of the buckets.',
        resolve: (s) => s.totals,
      }),
      buckets: t.field({ type: [UsageBucket], resolve: (s) => s.buckets }),
      asOf: t.expose('asOf', {
        type: 'DateTime',
        description: 'The instant this answer is exact as of: every entry committed before it is counted, none after.',
      }),
    }),
  });

builder.queryFields((t) => ({
  usageEvents: t.field({
    type: UsageEventConnection,
    description:
      'Ledger entries, newest first (occurredAt, then id, descending), cursor pagination; first over 500 is BAD_USER_INPUT.',
    args: {
      filter: t.arg({ type: UsageFilter, required: true }),
      first: t.arg.int({ defaultValue: 50 }),
      after: t.arg.string(),
    },
    authScopes: { read: true },
    resolve: (_, args, ctx) =>
      ctx.services.usage.events(scopeOf(ctx.principal), args.filter, args.first ?? 50, args.after),
  }),
  usageSummary: t.field({
    type: UsageSummary,
    description:
      "Aggregates served from rollups. Without granularity: one bucket per group over the whole range. With it: buckets in the tenant's zone (HOUR: local hours; WEEK: ISO weeks from Monday), only buckets that hold usage, ordered by start; a bucket's start is its calendar start even when `from` falls inside it, and it counts only usage inside [from, to).",
    args: {
      filter: t.arg({ type: UsageFilter, required: true }),
      groupBy: t.arg({ type: [UsageDimensionEnum], required: { list: false, items: true }, defaultValue: [] }),
      granularity: t.arg({ type: GranularityEnum }),
    },
    authScopes: { read: true },
    resolve: (_, args, ctx) =>
      ctx.services.usage.summary(scopeOf(ctx.principal), args.filter, args.groupBy ?? [], args.granularity ?? null),
  }),
}));

export const RecordUsageInput = builder.inputType('RecordUsageInput', {
  fields: (t) => ({
    idempotencyKey: t.string({
      required: true,
      description: "The gateway's request id. 1 to 255 printable characters.",
    }),
    tenantId: t.id({ description: 'Operator keys must name the tenant; tenant keys may not name another.' }),
    apiKeyId: t.id({ description: 'Attribute to another key of the same tenant; default the calling key.' }),
    subject: t.string(),
    kind: t.field({ type: UsageKindEnum, required: true }),
    provider: t.string(),
    model: t.string({ description: 'Required for LLM.' }),
    modelSource: t.field({ type: ModelSourceEnum, defaultValue: RECORD_DEFAULTS.modelSource }),
    status: t.field({ type: UsageStatusEnum, defaultValue: RECORD_DEFAULTS.status }),
    inputTokens: t.int({
      defaultValue: RECORD_DEFAULTS.inputTokens,
      description:
        'All input tokens, cached and cache-writing ones included (OpenAI prompt_tokens; Anthropic input + cache read + cache creation).',
    }),
    outputTokens: t.int({ defaultValue: RECORD_DEFAULTS.outputTokens }),
    cachedInputTokens: t.int({ defaultValue: RECORD_DEFAULTS.cachedInputTokens }),
    cacheWriteInputTokens: t.int({ defaultValue: RECORD_DEFAULTS.cacheWriteInputTokens }),
    reasoningTokens: t.int({ defaultValue: RECORD_DEFAULTS.reasoningTokens }),
    durationMs: t.int({ description: 'Required for ASR.' }),
    quantity: t.field({ type: 'Decimal', description: 'CALL units; default 1.' }),
    cost: t.field({
      type: 'Decimal',
      description:
        "The upstream's own cost, used instead of the price book when given (also for BYOK). At most 1000000000000000 (10^15), like quantity; a priced cost over that is BAD_USER_INPUT naming the field that drives it.",
    }),
    currency: t.string({
      description:
        "ISO 4217 code of `cost`; default the tenant's currency. Another currency is BAD_USER_INPUT naming `currency`.",
    }),
    latencyMs: t.int(),
    sessionId: t.string(),
    occurredAt: t.field({
      type: 'DateTime',
      description: 'Default: now. At most 5 minutes in the future; at most 35 days in the past.',
    }),
    metadata: t.field({ type: 'JSON', description: 'A JSON object of at most 4 KiB.' }),
    reservationId: t.id({
      description:
        "Settles this reservation (from authorizeUsage) when it is open and the tenant's: its hold is gone and this entry's real usage counts instead. Usage that happened is always recorded: an expired, released, already settled, unknown or malformed id, or another tenant's, settles nothing and is never an error; the answer's `reservation` says which.",
    }),
  }),
});

const ReverseUsageInput = builder.inputType('ReverseUsageInput', {
  fields: (t) => ({
    eventId: t.id({ required: true }),
    idempotencyKey: t.string({ required: true }),
    reason: t.string(),
  }),
});

builder.mutationFields((t) => ({
  recordUsage: t.field({
    type: RecordUsagePayload,
    description:
      'Idempotent on (tenant, idempotencyKey). The fingerprint is every input field with defaults applied, except occurredAt when the caller omitted it. Same key + same fingerprint: DUPLICATE (also while the first call is still in flight: it waits, never 409). Same key + different fingerprint: error IDEMPOTENCY_CONFLICT.',
    args: { input: t.arg({ type: RecordUsageInput, required: true }) },
    authScopes: { ingest: true },
    resolve: (_, { input }, ctx) => ctx.services.usage.recordOne(scopeOf(ctx.principal), input),
  }),
  recordUsageBatch: t.field({
    type: RecordUsageBatchPayload,
    description:
      '1 to 1000 items, each judged on its own; results in input order, index 0-based; rejected = CONFLICT + INVALID. Never fails as a whole for a bad item.',
    args: { input: t.arg({ type: [RecordUsageInput], required: true }) },
    // A bad string, Decimal or DateTime in one item makes that item INVALID (graphql/input-guard.ts).
    extensions: { judgeItems: 'input' },
    authScopes: { ingest: true },
    resolve: (_, { input }, ctx) => ctx.services.usage.recordBatch(scopeOf(ctx.principal), input),
  }),
  reverseUsage: t.field({
    type: RecordUsagePayload,
    description:
      'Appends an entry that cancels another: every count, quantity and cost negated (requests -1), same occurredAt, tenant, key, subject, model, provider and kind as the original, so every rollup and window nets to zero. INGEST or ADMIN. Idempotent on its own idempotencyKey; reversing an entry that is already reversed, or a reversal, is BAD_USER_INPUT. Ledger entries are never updated or deleted.',
    args: { input: t.arg({ type: ReverseUsageInput, required: true }) },
    authScopes: { ingest: true },
    resolve: (_, { input }, ctx) => ctx.services.usage.reverse(scopeOf(ctx.principal), input),
  }),
}));

builder.subscriptionFields((t) => ({
  usageRecorded: t.field({
    type: UsageEventRef,
    description: 'Every CREATED ledger entry of the tenant (a subject token: of its subject).',
    args: { tenantId: t.arg.id(), apiKeyId: t.arg.id() },
    authScopes: { read: true },
    subscribe: async (_, args, ctx) => {
      const scope = scopeOf(ctx.principal);
      const tenantId = tenantIn(scope, args.tenantId, ['tenantId']);
      const keyId = args.apiKeyId;
      // A tenant or key that does not exist (for this caller) is NOT_FOUND, as quotaUpdated
      // answers, not a stream that stays silent forever.
      if (isOperator(scope) && !(await ctx.loaders.tenant.load(tenantId))) throw notFound('tenant', ['tenantId']);
      if (keyId && (!isUuid(keyId) || (await ctx.loaders.apiKey.load(keyId))?.tenantId !== tenantId))
        throw notFound('API key', ['apiKeyId']);
      const events = ctx.pubsub.subscribe('usage:recorded', tenantId);
      // A subject token hears only its subject's entries.
      const mine = scope.subject !== null || keyId;
      return liveStream(
        ctx,
        mine
          ? pipe(
              events,
              filter((e) => (!keyId || e.apiKeyId === keyId) && sees(scope, e.subject)),
            )
          : events,
      );
    },
    resolve: (live: Live<PublishedEvent>) => {
      return revivePublished(liveValue(live)) as EventRow;
    },
  }),
}));
