// createTallyClient: every contract operation as a typed method (inputs and results inferred
// from the schema), plus `request` / `subscribe` for any typed document.
import type { ResultOf, TadaDocumentNode, VariablesOf } from 'gql.tada';
import { createUsageBuffer, type UsageBufferOptions } from './buffer';
import * as D from './documents';
import { type SubscribeOptions, type SubscriptionOptions, Subscriptions } from './subscriptions';
import { type CallOptions, Transport, type TransportOptions } from './transport';

export interface TallyClientOptions extends Omit<TransportOptions, 'url'> {
  /** The GraphQL endpoint, e.g. http://localhost:4000/graphql. */
  url: string;
  subscriptions?: SubscriptionOptions | undefined;
}

type In<D> = VariablesOf<D> extends { input: infer I } ? I : never;
type Vars<D> = VariablesOf<D>;

export function createTallyClient(options: TallyClientOptions) {
  const transport = new Transport(options);
  const subs = new Subscriptions({
    url: options.url,
    apiKey: options.apiKey,
    fetch: options.fetch,
    timeoutMs: options.timeoutMs,
    ...options.subscriptions,
  });
  const run = <R, V>(doc: TadaDocumentNode<R, V>, variables?: V, call?: CallOptions, retry = false) =>
    transport.request(doc, variables, { ...call, retry });

  // Every method takes CallOptions last: `{ timeoutMs, signal }` for that call only.
  const client = {
    /** Any document, typed from the schema: `tally.request(graphql(\`query { ... }\`))`. */
    request: <R, V>(doc: TadaDocumentNode<R, V>, variables?: V, call?: CallOptions): Promise<R> =>
      run(doc, variables, call),
    /** Any subscription document, as a typed async iterator. */
    subscribe: <R, V>(doc: TadaDocumentNode<R, V>, variables?: V, opts?: SubscribeOptions): AsyncIterableIterator<R> =>
      subs.iterate(doc, variables, opts),

    // queries
    viewer: async (call?: CallOptions) => (await run(D.ViewerQuery, undefined, call)).viewer,
    tenant: async (id: string, call?: CallOptions) => (await run(D.TenantQuery, { id }, call)).tenant,
    apiKeys: async (tenantId: string, opts: { includeRevoked?: boolean | undefined } & CallOptions = {}) =>
      (await run(D.ApiKeysQuery, { id: tenantId, includeRevoked: opts.includeRevoked ?? false }, opts)).tenant
        ?.apiKeys ?? [],
    /** Plans of single subjects (end users, devices) of a tenant, not ended yet, newest start first; a page. */
    subjectMemberships: async (
      tenantId: string,
      opts: { first?: number | undefined; after?: string | undefined; subject?: string | undefined } & CallOptions = {},
    ) =>
      (
        await run(
          D.SubjectMembershipsQuery,
          {
            id: tenantId,
            ...(opts.first !== undefined && { first: opts.first }),
            ...(opts.after !== undefined && { after: opts.after }),
            ...(opts.subject !== undefined && { subject: opts.subject }),
          },
          opts,
        )
      ).tenant?.subjectMemberships ?? null,
    usageEvents: async (v: Vars<typeof D.UsageEventsQuery>, call?: CallOptions) =>
      (await run(D.UsageEventsQuery, v, call)).usageEvents,
    usageSummary: async (v: Vars<typeof D.UsageSummaryQuery>, call?: CallOptions) =>
      (await run(D.UsageSummaryQuery, v, call)).usageSummary,
    quotaStatus: async (v: Vars<typeof D.QuotaStatusQuery> = {}, call?: CallOptions) =>
      (await run(D.QuotaStatusQuery, v, call)).quotaStatus,
    prices: async (v: Vars<typeof D.PricesQuery> = {}, call?: CallOptions) =>
      (await run(D.PricesQuery, v, call)).prices,
    quote: async (input: In<typeof D.QuoteQuery>, call?: CallOptions) =>
      (await run(D.QuoteQuery, { input }, call)).quote,
    plans: async (call?: CallOptions) => (await run(D.PlansQuery, undefined, call)).plans,
    /** A tenant's wallet (subject: one subject's); NOT_FOUND when no credits were ever granted to it. */
    wallet: async (v: Vars<typeof D.WalletQuery> = {}, call?: CallOptions) =>
      (await run(D.WalletQuery, v, call)).wallet,
    /** Stored threshold crossings (the history; `quotaAlerts()` is the live feed). */
    quotaAlertHistory: async (v: Vars<typeof D.QuotaAlertHistoryQuery> = {}, call?: CallOptions) =>
      (await run(D.QuotaAlertHistoryQuery, v, call)).quotaAlerts,

    // mutations: recordUsage and recordUsageBatch retry network failures and 5xx with the same
    // idempotency keys (safe by design), within the call's deadline; other mutations are never
    // retried.
    recordUsage: async (input: In<typeof D.RecordUsageMutation>, call?: CallOptions) =>
      (await run(D.RecordUsageMutation, { input }, call, true)).recordUsage,
    recordUsageBatch: async (input: In<typeof D.RecordUsageBatchMutation>, call?: CallOptions) =>
      (await run(D.RecordUsageBatchMutation, { input }, call, true)).recordUsageBatch,
    reverseUsage: async (input: In<typeof D.ReverseUsageMutation>, call?: CallOptions) =>
      (await run(D.ReverseUsageMutation, { input }, call)).reverseUsage,
    authorizeUsage: async (input: In<typeof D.AuthorizeUsageMutation>, call?: CallOptions) =>
      (await run(D.AuthorizeUsageMutation, { input }, call)).authorizeUsage,
    /** Operator only; idempotent by input.idempotencyKey, so it is retried with the same body. */
    grantCredits: async (input: In<typeof D.GrantCreditsMutation>, call?: CallOptions) =>
      (await run(D.GrantCreditsMutation, { input }, call, true)).grantCredits,
    voidCreditGrant: async (id: string, call?: CallOptions) =>
      (await run(D.VoidCreditGrantMutation, { id }, call)).voidCreditGrant,
    setWalletThreshold: async (input: In<typeof D.SetWalletThresholdMutation>, call?: CallOptions) =>
      (await run(D.SetWalletThresholdMutation, { input }, call)).setWalletThreshold,
    releaseReservation: async (id: string, call?: CallOptions) =>
      (await run(D.ReleaseReservationMutation, { id }, call)).releaseReservation,
    createTenant: async (input: In<typeof D.CreateTenantMutation>, call?: CallOptions) =>
      (await run(D.CreateTenantMutation, { input }, call)).createTenant,
    createApiKey: async (input: In<typeof D.CreateApiKeyMutation>, call?: CallOptions) =>
      (await run(D.CreateApiKeyMutation, { input }, call)).createApiKey,
    /**
     * A short-lived bearer token for one end user (ADMIN key, or the operator with tenantId):
     * a page given it sees only that subject's usage and quota. `token` is shown once.
     */
    createSubjectToken: async (input: In<typeof D.CreateSubjectTokenMutation>, call?: CallOptions) =>
      (await run(D.CreateSubjectTokenMutation, { input }, call)).createSubjectToken,
    revokeApiKey: async (id: string, call?: CallOptions) =>
      (await run(D.RevokeApiKeyMutation, { id }, call)).revokeApiKey,
    upsertPlan: async (input: In<typeof D.UpsertPlanMutation>, call?: CallOptions) =>
      (await run(D.UpsertPlanMutation, { input }, call)).upsertPlan,
    assignPlan: async (input: In<typeof D.AssignPlanMutation>, call?: CallOptions) =>
      (await run(D.AssignPlanMutation, { input }, call)).assignPlan,
    setApiKeyLimits: async (input: In<typeof D.SetApiKeyLimitsMutation>, call?: CallOptions) =>
      (await run(D.SetApiKeyLimitsMutation, { input }, call)).setApiKeyLimits,
    setPrice: async (input: In<typeof D.SetPriceMutation>, call?: CallOptions) =>
      (await run(D.SetPriceMutation, { input }, call)).setPrice,
    /** Up to 500 prices in one transaction: all written, or (when any item is refused) none. */
    setPrices: async (input: In<typeof D.SetPricesMutation>, call?: CallOptions) =>
      (await run(D.SetPricesMutation, { input }, call)).setPrices,

    // subscriptions: typed, reconnecting async iterators; `{ signal }` ends one
    quotaUpdated: (v: Vars<typeof D.QuotaUpdatedSubscription> = {}, opts?: SubscribeOptions) =>
      map(subs.iterate(D.QuotaUpdatedSubscription, v, opts), (r) => r.quotaUpdated),
    quotaAlerts: (v: Vars<typeof D.QuotaAlertsSubscription> = {}, opts?: SubscribeOptions) =>
      map(subs.iterate(D.QuotaAlertsSubscription, v, opts), (r) => r.quotaAlerts),
    usageRecorded: (v: Vars<typeof D.UsageRecordedSubscription> = {}, opts?: SubscribeOptions) =>
      map(subs.iterate(D.UsageRecordedSubscription, v, opts), (r) => r.usageRecorded),
    walletUpdated: (v: Vars<typeof D.WalletUpdatedSubscription> = {}, opts?: SubscribeOptions) =>
      map(subs.iterate(D.WalletUpdatedSubscription, v, opts), (r) => r.walletUpdated),

    /** Gathers record() calls into recordUsageBatch calls; see UsageBufferOptions. */
    usageBuffer: (opts?: UsageBufferOptions) =>
      createUsageBuffer(
        async (items) => (await client.recordUsageBatch(items, { timeoutMs: opts?.timeoutMs })).results,
        opts,
      ),

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
export type Wallet = ResultOf<typeof D.WalletQuery>['wallet'];
export type CreditGrant = ResultOf<typeof D.GrantCreditsMutation>['grantCredits'];

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
