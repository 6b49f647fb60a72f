// The default selection of every contract operation. Fragments are unmasked so results are
// plain objects; pass your own document to `tally.request` for another selection.
import { graphql } from './graphql';

export const TotalsFields = graphql(`
  fragment TotalsFields on UsageTotals @_unmask {
    requests failedRequests inputTokens outputTokens cachedInputTokens cacheWriteInputTokens
    reasoningTokens totalTokens asrMilliseconds quantity cost currency
  }
`);

export const TenantFields = graphql(`
  fragment TenantFields on Tenant @_unmask { id name timezone currency createdAt }
`);

export const ApiKeyFields = graphql(`
  fragment ApiKeyFields on ApiKey @_unmask { id name prefix scopes createdAt lastUsedAt revokedAt tenant { id } }
`);

export const PriceFields = graphql(`
  fragment PriceFields on Price @_unmask {
    id tenantId provider model currency inputPerMillion outputPerMillion cachedInputPerMillion
    cacheWriteInputPerMillion perRequest perSecond perUnit effectiveFrom effectiveTo
    tiers { aboveInputTokens inputPerMillion outputPerMillion cachedInputPerMillion cacheWriteInputPerMillion }
  }
`);

export const EventFields = graphql(`
  fragment EventFields on UsageEvent @_unmask {
    id idempotencyKey subject kind provider model modelSource status inputTokens outputTokens
    cachedInputTokens cacheWriteInputTokens reasoningTokens totalTokens durationMs quantity cost currency
    latencyMs sessionId metadata occurredAt recordedAt apiKey { id } price { id } reverses { id }
  }
`);

export const LimitFields = graphql(`
  fragment LimitFields on Limit @_unmask { id metric period scope amount action thresholds }
`);

export const QuotaFields = graphql(
  `
  fragment QuotaFields on QuotaStatus @_unmask {
    tenantId apiKeyId subject blocked asOf
    items { scopeId periodStart periodEnd used reserved remaining exceeded limit { ...LimitFields } }
  }
`,
  [LimitFields],
);

export const AlertFields = graphql(
  `
  fragment AlertFields on QuotaAlert @_unmask {
    id tenantId apiKeyId subject threshold used periodStart crossedAt limit { ...LimitFields }
  }
`,
  [LimitFields],
);

export const WalletFields = graphql(`
  fragment WalletFields on Wallet @_unmask {
    tenantId subject currency balance reserved available lowBalanceThreshold lowBalanceSince depletedSince asOf
  }
`);

export const CreditGrantFields = graphql(`
  fragment CreditGrantFields on CreditGrant @_unmask {
    id amount remaining priority effectiveAt expiresAt reason createdAt voidedAt
  }
`);

export const PlanFields = graphql(
  `
  fragment PlanFields on Plan @_unmask { id code name limits { ...LimitFields } }
`,
  [LimitFields],
);

// ---------------------------------------------------------------- queries

export const ViewerQuery = graphql(
  `
  query Viewer { viewer { isOperator apiKey { ...ApiKeyFields } tenant { ...TenantFields } } }
`,
  [ApiKeyFields, TenantFields],
);

export const TenantQuery = graphql(
  `
  query Tenant($id: ID!) { tenant(id: $id) { ...TenantFields membership { startsAt endsAt plan { ...PlanFields } } } }
`,
  [TenantFields, PlanFields],
);

export const TenantsQuery = graphql(
  `
  query Tenants($first: Int, $after: String) {
    tenants(first: $first, after: $after) { edges { cursor node { ...TenantFields } } pageInfo { hasNextPage endCursor } }
  }
`,
  [TenantFields],
);

export const ApiKeysQuery = graphql(
  `
  query ApiKeys($id: ID!, $includeRevoked: Boolean) { tenant(id: $id) { id apiKeys(includeRevoked: $includeRevoked) { ...ApiKeyFields } } }
`,
  [ApiKeyFields],
);

export const UsageEventsQuery = graphql(
  `
  query UsageEvents($filter: UsageFilter!, $first: Int, $after: String) {
    usageEvents(filter: $filter, first: $first, after: $after) {
      edges { cursor node { ...EventFields } }
      pageInfo { hasNextPage endCursor }
    }
  }
`,
  [EventFields],
);

export const UsageSummaryQuery = graphql(
  `
  query UsageSummary($filter: UsageFilter!, $groupBy: [UsageDimension!], $granularity: Granularity) {
    usageSummary(filter: $filter, groupBy: $groupBy, granularity: $granularity) {
      asOf
      totals { ...TotalsFields }
      buckets { start apiKey { id name } subject model provider kind status totals { ...TotalsFields } }
    }
  }
`,
  [TotalsFields],
);

export const SubjectMembershipsQuery = graphql(`
  query SubjectMemberships($id: ID!, $first: Int, $after: String, $subject: String) {
    tenant(id: $id) {
      id
      subjectMemberships(first: $first, after: $after, subject: $subject) {
        edges { cursor node { subject startsAt endsAt plan { id code name } } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
`);

export const QuotaStatusQuery = graphql(
  `
  query QuotaStatus($tenantId: ID, $apiKeyId: ID, $subject: String) {
    quotaStatus(tenantId: $tenantId, apiKeyId: $apiKeyId, subject: $subject) { ...QuotaFields }
  }
`,
  [QuotaFields],
);

export const PricesQuery = graphql(
  `
  query Prices($provider: String, $model: String, $at: DateTime, $tenantId: ID) {
    prices(provider: $provider, model: $model, at: $at, tenantId: $tenantId) { ...PriceFields }
  }
`,
  [PriceFields],
);

export const QuoteQuery = graphql(
  `
  query Quote($input: QuoteInput!) { quote(input: $input) { cost currency price { ...PriceFields } } }
`,
  [PriceFields],
);

export const PlansQuery = graphql(
  `
  query Plans { plans { ...PlanFields } }
`,
  [PlanFields],
);

export const QuotaAlertHistoryQuery = graphql(
  `
  query QuotaAlertHistory($tenantId: ID, $from: DateTime, $to: DateTime, $first: Int, $after: String) {
    quotaAlerts(tenantId: $tenantId, from: $from, to: $to, first: $first, after: $after) {
      edges { cursor node { ...AlertFields } }
      pageInfo { hasNextPage endCursor }
    }
  }
`,
  [AlertFields],
);

// ---------------------------------------------------------------- mutations

export const RecordUsageMutation = graphql(
  `
  mutation RecordUsage($input: RecordUsageInput!) { recordUsage(input: $input) { outcome reservation event { ...EventFields } } }
`,
  [EventFields],
);

export const RecordUsageBatchMutation = graphql(
  `
  mutation RecordUsageBatch($input: [RecordUsageInput!]!) {
    recordUsageBatch(input: $input) {
      created duplicates rejected
      results { index outcome reservation event { ...EventFields } error { code message field } }
    }
  }
`,
  [EventFields],
);

export const ReverseUsageMutation = graphql(
  `
  mutation ReverseUsage($input: ReverseUsageInput!) { reverseUsage(input: $input) { outcome event { ...EventFields } } }
`,
  [EventFields],
);

export const AuthorizeUsageMutation = graphql(
  `
  mutation AuthorizeUsage($input: AuthorizeUsageInput!) {
    authorizeUsage(input: $input) {
      allowed
      deniedBy { scopeId periodStart periodEnd used reserved remaining exceeded limit { ...LimitFields } }
      reservation { id expiresAt estimate { ...TotalsFields } }
      quota { ...QuotaFields }
      wallet { ...WalletFields }
    }
  }
`,
  [LimitFields, TotalsFields, QuotaFields, WalletFields],
);

export const WalletQuery = graphql(
  `
  query Wallet($tenantId: ID, $subject: String, $includeSpent: Boolean = false) {
    wallet(tenantId: $tenantId, subject: $subject) { ...WalletFields grants(includeSpent: $includeSpent) { ...CreditGrantFields } }
  }
`,
  [WalletFields, CreditGrantFields],
);

export const GrantCreditsMutation = graphql(
  `
  mutation GrantCredits($input: GrantCreditsInput!) { grantCredits(input: $input) { ...CreditGrantFields } }
`,
  [CreditGrantFields],
);

export const VoidCreditGrantMutation = graphql(
  `
  mutation VoidCreditGrant($id: ID!) { voidCreditGrant(id: $id) { ...CreditGrantFields } }
`,
  [CreditGrantFields],
);

export const SetWalletThresholdMutation = graphql(
  `
  mutation SetWalletThreshold($input: SetWalletThresholdInput!) { setWalletThreshold(input: $input) { ...WalletFields } }
`,
  [WalletFields],
);

export const ReleaseReservationMutation = graphql(`
  mutation ReleaseReservation($id: ID!) { releaseReservation(id: $id) }
`);

export const CreateTenantMutation = graphql(
  `
  mutation CreateTenant($input: CreateTenantInput!) { createTenant(input: $input) { secret apiKey { ...ApiKeyFields } } }
`,
  [ApiKeyFields],
);

export const CreateApiKeyMutation = graphql(
  `
  mutation CreateApiKey($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { ...ApiKeyFields } } }
`,
  [ApiKeyFields],
);

export const RevokeApiKeyMutation = graphql(
  `
  mutation RevokeApiKey($id: ID!) { revokeApiKey(id: $id) { ...ApiKeyFields } }
`,
  [ApiKeyFields],
);

export const UpsertPlanMutation = graphql(
  `
  mutation UpsertPlan($input: UpsertPlanInput!) { upsertPlan(input: $input) { ...PlanFields } }
`,
  [PlanFields],
);

export const AssignPlanMutation = graphql(
  `
  mutation AssignPlan($input: AssignPlanInput!) {
    assignPlan(input: $input) { startsAt endsAt subject tenant { id } plan { ...PlanFields } }
  }
`,
  [PlanFields],
);

export const CreateSubjectTokenMutation = graphql(`
  mutation CreateSubjectToken($input: CreateSubjectTokenInput!) {
    createSubjectToken(input: $input) { token subject expiresAt }
  }
`);

export const SetApiKeyLimitsMutation = graphql(
  `
  mutation SetApiKeyLimits($input: SetApiKeyLimitsInput!) { setApiKeyLimits(input: $input) { ...ApiKeyFields limits { ...LimitFields } } }
`,
  [ApiKeyFields, LimitFields],
);

export const SetPriceMutation = graphql(
  `
  mutation SetPrice($input: SetPriceInput!) { setPrice(input: $input) { ...PriceFields } }
`,
  [PriceFields],
);

export const SetPricesMutation = graphql(
  `
  mutation SetPrices($input: SetPricesInput!) {
    setPrices(input: $input) {
      created unchanged rejected
      results { index outcome price { ...PriceFields } error { code message field } }
    }
  }
`,
  [PriceFields],
);

// ---------------------------------------------------------------- subscriptions

export const QuotaUpdatedSubscription = graphql(
  `
  subscription QuotaUpdated($tenantId: ID, $apiKeyId: ID, $subject: String) {
    quotaUpdated(tenantId: $tenantId, apiKeyId: $apiKeyId, subject: $subject) { ...QuotaFields }
  }
`,
  [QuotaFields],
);

export const QuotaAlertsSubscription = graphql(
  `
  subscription QuotaAlerts($tenantId: ID) { quotaAlerts(tenantId: $tenantId) { ...AlertFields } }
`,
  [AlertFields],
);

export const UsageRecordedSubscription = graphql(
  `
  subscription UsageRecorded($tenantId: ID, $apiKeyId: ID) { usageRecorded(tenantId: $tenantId, apiKeyId: $apiKeyId) { ...EventFields } }
`,
  [EventFields],
);

export const WalletUpdatedSubscription = graphql(
  `
  subscription WalletUpdated($tenantId: ID, $subject: String) { walletUpdated(tenantId: $tenantId, subject: $subject) { ...WalletFields } }
`,
  [WalletFields],
);
