// Type tests for the typed client, checked by `tsc --noEmit -p .` (and so by
// test/client-types.test.ts under `npm test`). Nothing here runs: it only has to compile, and
// every `@ts-expect-error` line has to fail to compile.

import {
  createTallyClient,
  fromAnthropicUsage,
  fromOpenAIUsage,
  graphql,
  type QuotaAlert,
  type RecordUsageInput,
  type ResultOf,
  type TallyClient,
  TallyError,
  type TokenFields,
  type UsageEvent,
  type VariablesOf,
} from '@tally/client';
import { expectTypeOf } from 'expect-type';

type Outcome = 'CREATED' | 'DUPLICATE' | 'CONFLICT' | 'INVALID';
type Kind = 'LLM' | 'ASR' | 'CALL';
type Code =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'IDEMPOTENCY_CONFLICT'
  | 'PRICE_NOT_FOUND'
  | 'RESERVATION_INVALID'
  | 'QUERY_TOO_COMPLEX'
  | 'RATE_LIMITED'
  | 'INTERNAL';

const tally: TallyClient = createTallyClient({ url: 'http://localhost:4000/graphql', apiKey: 'tly_x' });

export async function results() {
  // Decimal is a string, DateTime an ISO string, enums string unions, Int a number.
  const recorded = await tally.recordUsage({ idempotencyKey: 'k', kind: 'LLM', model: 'gpt-4o-mini', inputTokens: 3 });
  expectTypeOf(recorded.event.cost).toEqualTypeOf<string>();
  expectTypeOf(recorded.event.quantity).toEqualTypeOf<string | null>();
  expectTypeOf(recorded.event.occurredAt).toEqualTypeOf<string>();
  expectTypeOf(recorded.event.inputTokens).toEqualTypeOf<number>();
  expectTypeOf(recorded.event.kind).toEqualTypeOf<Kind>();
  expectTypeOf(recorded.event.modelSource).toEqualTypeOf<'VENDOR' | 'BYOK'>();
  expectTypeOf(recorded.event.price).toEqualTypeOf<{ id: string } | null>();
  expectTypeOf(recorded.outcome).toEqualTypeOf<Outcome>();
  expectTypeOf(recorded.event).toEqualTypeOf<UsageEvent>();

  const batch = await tally.recordUsageBatch([{ idempotencyKey: 'k', kind: 'CALL', cost: '1' }]);
  expectTypeOf(batch.created).toEqualTypeOf<number>();
  const item = batch.results[0];
  expectTypeOf(item).toEqualTypeOf<(typeof batch.results)[number] | undefined>();
  expectTypeOf(batch.results[0]!.outcome).toEqualTypeOf<Outcome>();
  expectTypeOf(batch.results[0]!.event).toEqualTypeOf<UsageEvent | null>();
  expectTypeOf(batch.results[0]!.error).toEqualTypeOf<{
    code: string;
    message: string;
    field: string[] | null;
  } | null>();

  const summary = await tally.usageSummary({
    filter: { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' },
    groupBy: ['MODEL'],
    granularity: 'DAY',
  });
  expectTypeOf(summary.totals.requests).toEqualTypeOf<number>();
  expectTypeOf(summary.totals.cost).toEqualTypeOf<string>();
  expectTypeOf(summary.buckets[0]!.start).toEqualTypeOf<string | null>();
  expectTypeOf(summary.buckets[0]!.kind).toEqualTypeOf<Kind | null>();

  const quota = await tally.quotaStatus();
  expectTypeOf(quota.blocked).toEqualTypeOf<boolean>();
  expectTypeOf(quota.items[0]!.remaining).toEqualTypeOf<string>();
  expectTypeOf(quota.items[0]!.limit.metric).toEqualTypeOf<
    'COST' | 'TOKENS' | 'INPUT_TOKENS' | 'OUTPUT_TOKENS' | 'ASR_SECONDS' | 'REQUESTS'
  >();

  const auth = await tally.authorizeUsage({ estimate: { cost: '0.5' }, reserveSeconds: 30 });
  expectTypeOf(auth.reservation).toEqualTypeOf<{
    id: string;
    expiresAt: string;
    estimate: typeof summary.totals;
  } | null>();
  expectTypeOf(await tally.releaseReservation('r')).toEqualTypeOf<boolean>();

  const key = await tally.createApiKey({ name: 'n', scopes: ['READ', 'INGEST'] });
  expectTypeOf(key.secret).toEqualTypeOf<string>();
  expectTypeOf(key.apiKey.scopes).toEqualTypeOf<('INGEST' | 'READ' | 'ADMIN')[]>();
  expectTypeOf(key.apiKey.revokedAt).toEqualTypeOf<string | null>();

  const token = await tally.createSubjectToken({ subject: 'user-42', expiresInSeconds: 600, maxRangeDays: 31 });
  expectTypeOf(token).toEqualTypeOf<{ token: string; subject: string; expiresAt: string }>();
  // @ts-expect-error the subject is required
  await tally.createSubjectToken({ expiresInSeconds: 600 });
  const page = await tally.subjectMemberships('t', { first: 10 });
  expectTypeOf(page!.edges[0]!.node.subject).toEqualTypeOf<string | null>();

  const viewer = await tally.viewer();
  expectTypeOf(viewer.isOperator).toEqualTypeOf<boolean>();
  expectTypeOf(await tally.tenant('t')).toMatchTypeOf<{ id: string; name: string } | null>();

  const price = await tally.setPrice({ provider: 'p', model: 'm', inputPerMillion: '0.15' });
  expectTypeOf(price.inputPerMillion).toEqualTypeOf<string | null>();
  expectTypeOf((await tally.quote({ kind: 'CALL', quantity: '2' })).cost).toEqualTypeOf<string>();
}

export async function customDocuments() {
  const custom = await tally.request(graphql('query { viewer { tenant { name } } }'));
  expectTypeOf(custom).toEqualTypeOf<{ viewer: { tenant: { name: string } | null } }>();

  const doc = graphql(`
    query Events($filter: UsageFilter!) { usageEvents(filter: $filter, first: 5) { edges { node { id cost kind } } } }
  `);
  expectTypeOf<VariablesOf<typeof doc>['filter']['kind']>().toEqualTypeOf<Kind | null | undefined>();
  const events = await tally.request(doc, { filter: { from: 'a', to: 'b', kind: 'ASR' } });
  expectTypeOf(events.usageEvents.edges[0]!.node).toEqualTypeOf<{ id: string; cost: string; kind: Kind }>();
  expectTypeOf(events).toEqualTypeOf<ResultOf<typeof doc>>();
  // @ts-expect-error a variable of the wrong enum
  await tally.request(doc, { filter: { from: 'a', to: 'b', kind: 'GPU' } });
  // @ts-expect-error a required variable is missing
  await tally.request(doc, {});
}

export async function subscriptions() {
  for await (const alert of tally.quotaAlerts()) {
    expectTypeOf(alert).toEqualTypeOf<QuotaAlert>();
    expectTypeOf(alert.threshold).toEqualTypeOf<number>();
    expectTypeOf(alert.used).toEqualTypeOf<string>();
  }
  for await (const event of tally.usageRecorded({ apiKeyId: 'k' })) expectTypeOf(event.cost).toEqualTypeOf<string>();
  for await (const state of tally.quotaUpdated()) expectTypeOf(state.blocked).toEqualTypeOf<boolean>();
  const it = tally.subscribe(graphql('subscription { usageRecorded { cost } }'));
  expectTypeOf(it).toEqualTypeOf<AsyncIterableIterator<{ usageRecorded: { cost: string } }>>();
}

export async function buffer() {
  const b = tally.usageBuffer({ maxItems: 10, maxDelayMs: 20 });
  const r = await b.record({ idempotencyKey: 'k', kind: 'CALL', cost: '1' });
  expectTypeOf(r.outcome).toEqualTypeOf<Outcome>();
  expectTypeOf(r.event).toEqualTypeOf<UsageEvent | null>();
  // @ts-expect-error Decimal is a string, never a number
  await b.record({ idempotencyKey: 'k', kind: 'CALL', cost: 1 });
}

export function errors(e: unknown) {
  // The contract's codes, and the two only the client gives (no answer in time, the caller aborted).
  expectTypeOf<TallyError['code']>().toEqualTypeOf<Code | 'TIMEOUT' | 'ABORTED'>();
  expectTypeOf<TallyError['field']>().toEqualTypeOf<string[] | undefined>();
  expectTypeOf<TallyError['retryable']>().toEqualTypeOf<boolean>();
  if (e instanceof TallyError && e.code === 'BAD_USER_INPUT')
    expectTypeOf(e.field).toEqualTypeOf<string[] | undefined>();
  // @ts-expect-error not a code
  if (e instanceof TallyError && e.code === 'NETWORK') return;
}

export async function callOptions(signal: AbortSignal) {
  // Every call takes { timeoutMs, signal } last; the result type does not change.
  const r = await tally.recordUsage({ idempotencyKey: 'k', kind: 'CALL', cost: '1' }, { timeoutMs: 500, signal });
  expectTypeOf(r.event.cost).toEqualTypeOf<string>();
  await tally.viewer({ signal });
  await tally.usageSummary({ filter: { from: 'a', to: 'b' } }, { timeoutMs: 2000 });
  await tally.apiKeys('t', { includeRevoked: true, timeoutMs: 100 });
  tally.quotaUpdated({}, { signal });
  // @ts-expect-error timeoutMs is a number
  await tally.viewer({ timeoutMs: '5s' });
}

export async function inputs() {
  // @ts-expect-error a wrong enum value
  await tally.recordUsage({ idempotencyKey: 'k', kind: 'GPU' });
  // @ts-expect-error a number for a Decimal
  await tally.recordUsage({ idempotencyKey: 'k', kind: 'CALL', cost: 0.5 });
  // @ts-expect-error the required idempotencyKey is missing
  await tally.recordUsage({ kind: 'CALL', cost: '0.5' });
  // @ts-expect-error a string for an Int
  await tally.recordUsage({ idempotencyKey: 'k', kind: 'LLM', model: 'm', inputTokens: '5' });
  // @ts-expect-error a wrong dimension
  await tally.usageSummary({ filter: { from: 'a', to: 'b' }, groupBy: ['COLOR'] });
  // @ts-expect-error a wrong scope
  await tally.createApiKey({ name: 'n', scopes: ['ROOT'] });
  // @ts-expect-error a number for a Decimal limit amount
  await tally.upsertPlan({ code: 'c', name: 'n', limits: [{ metric: 'COST', period: 'DAY', amount: 5 }] });

  const input: RecordUsageInput = { idempotencyKey: 'k', kind: 'LLM', model: 'm', ...fromOpenAIUsage({}) };
  expectTypeOf(input.kind).toEqualTypeOf<Kind>();
  expectTypeOf(fromOpenAIUsage).returns.toEqualTypeOf<TokenFields>();
  expectTypeOf(fromAnthropicUsage({ input_tokens: 1 })).toEqualTypeOf<TokenFields>();
  // @ts-expect-error OpenAI counts are numbers
  fromOpenAIUsage({ prompt_tokens: '5' });
}
