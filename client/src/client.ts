// createTallyClient: every contract operation as a typed method (inputs and results inferred
// from the schema), plus `request` / `subscribe` for any typed document.
import type { ResultOf, TadaDocumentNode, VariablesOf } from 'gql.tada';
import { createUsageBuffer, type UsageBufferOptions } from './buffer';
import * as D from './documents';
import { type SubscriptionOptions, Subscriptions } from './subscriptions';
import { Transport, type TransportOptions } from './transport';

export interface TallyClientOptions extends Omit<TransportOptions, 'url'> {
  /** The GraphQL endpoint, e.g. http://localhost:4000/graphql. */
  url: string;
  subscriptions?: SubscriptionOptions;
}

type In<D> = VariablesOf<D> extends { input: infer I } ? I : never;
type Vars<D> = VariablesOf<D>;

export function createTallyClient(options: TallyClientOptions) {
  const transport = new Transport(options);
  const subs = new Subscriptions({
    url: options.url,
    apiKey: options.apiKey,
    fetch: options.fetch,
    ...options.subscriptions,
  });
  const run = <R, V>(doc: TadaDocumentNode<R, V>, variables?: V, retry = false) =>
    transport.request(doc, variables, retry);

  const client = {
    /** Any document, typed from the schema: `tally.request(graphql(\`query { ... }\`))`. */
    request: <R, V>(doc: TadaDocumentNode<R, V>, variables?: V): Promise<R> => run(doc, variables),
    /** Any subscription document, as a typed async iterator. */
    subscribe: <R, V>(doc: TadaDocumentNode<R, V>, variables?: V): AsyncIterableIterator<R> =>
      subs.iterate(doc, variables),

    // queries
    viewer: async () => (await run(D.ViewerQuery)).viewer,
    tenant: async (id: string) => (await run(D.TenantQuery, { id })).tenant,
    apiKeys: async (tenantId: string, opts: { includeRevoked?: boolean } = {}) =>
      (await run(D.ApiKeysQuery, { id: tenantId, includeRevoked: opts.includeRevoked ?? false })).tenant?.apiKeys ?? [],
    usageEvents: async (v: Vars<typeof D.UsageEventsQuery>) => (await run(D.UsageEventsQuery, v)).usageEvents,
    usageSummary: async (v: Vars<typeof D.UsageSummaryQuery>) => (await run(D.UsageSummaryQuery, v)).usageSummary,
    quotaStatus: async (v: Vars<typeof D.QuotaStatusQuery> = {}) => (await run(D.QuotaStatusQuery, v)).quotaStatus,
    prices: async (v: Vars<typeof D.PricesQuery> = {}) => (await run(D.PricesQuery, v)).prices,
    quote: async (input: In<typeof D.QuoteQuery>) => (await run(D.QuoteQuery, { input })).quote,
    plans: async () => (await run(D.PlansQuery)).plans,
    /** Stored threshold crossings (the history; `quotaAlerts()` is the live feed). */
    quotaAlertHistory: async (v: Vars<typeof D.QuotaAlertHistoryQuery> = {}) =>
      (await run(D.QuotaAlertHistoryQuery, v)).quotaAlerts,

    // mutations: recordUsage and recordUsageBatch retry network failures and 5xx with the same
    // idempotency keys (safe by design); other mutations are never retried.
    recordUsage: async (input: In<typeof D.RecordUsageMutation>) =>
      (await run(D.RecordUsageMutation, { input }, true)).recordUsage,
    recordUsageBatch: async (input: In<typeof D.RecordUsageBatchMutation>) =>
      (await run(D.RecordUsageBatchMutation, { input }, true)).recordUsageBatch,
    reverseUsage: async (input: In<typeof D.ReverseUsageMutation>) =>
      (await run(D.ReverseUsageMutation, { input })).reverseUsage,
    authorizeUsage: async (input: In<typeof D.AuthorizeUsageMutation>) =>
      (await run(D.AuthorizeUsageMutation, { input })).authorizeUsage,
    releaseReservation: async (id: string) => (await run(D.ReleaseReservationMutation, { id })).releaseReservation,
    createTenant: async (input: In<typeof D.CreateTenantMutation>) =>
      (await run(D.CreateTenantMutation, { input })).createTenant,
    createApiKey: async (input: In<typeof D.CreateApiKeyMutation>) =>
      (await run(D.CreateApiKeyMutation, { input })).createApiKey,
    revokeApiKey: async (id: string) => (await run(D.RevokeApiKeyMutation, { id })).revokeApiKey,
    upsertPlan: async (input: In<typeof D.UpsertPlanMutation>) =>
      (await run(D.UpsertPlanMutation, { input })).upsertPlan,
    assignPlan: async (input: In<typeof D.AssignPlanMutation>) =>
      (await run(D.AssignPlanMutation, { input })).assignPlan,
    setApiKeyLimits: async (input: In<typeof D.SetApiKeyLimitsMutation>) =>
      (await run(D.SetApiKeyLimitsMutation, { input })).setApiKeyLimits,
    setPrice: async (input: In<typeof D.SetPriceMutation>) => (await run(D.SetPriceMutation, { input })).setPrice,
    /** Up to 500 prices in one transaction: all written, or (when any item is refused) none. */
    setPrices: async (input: In<typeof D.SetPricesMutation>) => (await run(D.SetPricesMutation, { input })).setPrices,

    // subscriptions: typed, reconnecting async iterators
    quotaUpdated: (v: Vars<typeof D.QuotaUpdatedSubscription> = {}) =>
      map(subs.iterate(D.QuotaUpdatedSubscription, v), (r) => r.quotaUpdated),
    quotaAlerts: (v: Vars<typeof D.QuotaAlertsSubscription> = {}) =>
      map(subs.iterate(D.QuotaAlertsSubscription, v), (r) => r.quotaAlerts),
    usageRecorded: (v: Vars<typeof D.UsageRecordedSubscription> = {}) =>
      map(subs.iterate(D.UsageRecordedSubscription, v), (r) => r.usageRecorded),

    /** Gathers record() calls into recordUsageBatch calls; see UsageBufferOptions. */
    usageBuffer: (opts?: UsageBufferOptions) =>
      createUsageBuffer(async (items) => (await client.recordUsageBatch(items)).results, opts),

    /** Closes open subscriptions and their connection. */
    close: () => subs.dispose(),
  };
  return client;
}

export type TallyClient = ReturnType<typeof createTallyClient>;
export type RecordUsageInput = In<typeof D.RecordUsageMutation>;
export type UsageEvent = ResultOf<typeof D.RecordUsageMutation>['recordUsage']['event'];
export type QuotaStatus = ResultOf<typeof D.QuotaStatusQuery>['quotaStatus'];
export type QuotaAlert = ResultOf<typeof D.QuotaAlertsSubscription>['quotaAlerts'];
export type UsageSummary = ResultOf<typeof D.UsageSummaryQuery>['usageSummary'];

function map<A, B>(it: AsyncIterableIterator<A>, f: (a: A) => B): AsyncIterableIterator<B> {
  return {
    async next() {
      const r = await it.next();
      return r.done ? { done: true, value: undefined } : { done: false, value: f(r.value) };
    },
    async return() {
      await it.return?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
