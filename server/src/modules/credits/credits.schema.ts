// GraphQL for wallets and credit grants: the wallet query, the operator's grants and voids,
// thresholds, the wallet on an authorization's answer, and the walletUpdated subscription.
// Resolvers authorize, map arguments and call the credits service.
import { scopeOf, subjectIn, tenantIn } from '../../auth/scope';
import { builder, deny } from '../../graphql/builder';
import { type Live, liveStream, liveValue } from '../../graphql/subscriptions';
import { namedSubject } from '../../lib/input';
import { AuthorizeUsagePayloadRef } from '../quota/quota.objects.schema';
import { WalletFeed } from './credits.feed';
import type { GrantRow, WalletView } from './credits.types';

export const CreditGrantRef = builder.objectRef<GrantRow>('CreditGrant').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    amount: t.field({ type: 'Decimal', resolve: (g) => g.amount }),
    remaining: t.field({ type: 'Decimal', resolve: (g) => g.remaining }),
    priority: t.exposeInt('priority', {
      description: 'Lower numbers are spent first; then the soonest expiresAt; then the oldest.',
    }),
    effectiveAt: t.field({ type: 'DateTime', resolve: (g) => g.effectiveAt }),
    expiresAt: t.field({ type: 'DateTime', nullable: true, resolve: (g) => g.expiresAt }),
    reason: t.exposeString('reason', { nullable: true }),
    createdAt: t.field({ type: 'DateTime', resolve: (g) => g.createdAt }),
    voidedAt: t.field({ type: 'DateTime', nullable: true, resolve: (g) => g.voidedAt }),
  }),
});

export const WalletRef = builder.objectRef<WalletView>('Wallet').implement({
  description: 'Prepaid balance of a tenant, or of one subject of a tenant. Exists once credits were granted to it.',
  fields: (t) => ({
    tenantId: t.exposeID('tenantId'),
    subject: t.exposeString('subject', { nullable: true, description: "Null for the tenant's own wallet." }),
    currency: t.exposeString('currency'),
    balance: t.field({
      type: 'Decimal',
      description:
        "Sum of unexpired, unvoided grants' remaining amounts (grants count from effectiveAt), minus usage not covered by any grant (then negative).",
      resolve: (w) => w.balance,
    }),
    reserved: t.field({ type: 'Decimal', description: 'Held by open reservations.', resolve: (w) => w.reserved }),
    available: t.field({ type: 'Decimal', description: 'balance - reserved.', resolve: (w) => w.available }),
    lowBalanceThreshold: t.field({
      type: 'Decimal',
      nullable: true,
      description:
        'A wallet.low_balance event (webhook, and a push on walletUpdated) fires once when available falls below it; it re-arms once a grant lifts available above it.',
      resolve: (w) => w.lowBalanceThreshold,
    }),
    lowBalanceSince: t.field({
      type: 'DateTime',
      nullable: true,
      description:
        'When wallet.low_balance fired; null while armed (a grant lifting available to the threshold re-arms it).',
      resolve: (w) => w.lowBalanceSince,
    }),
    depletedSince: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When wallet.depleted fired (available reached zero or below); null while armed.',
      resolve: (w) => w.depletedSince,
    }),
    grants: t.field({
      type: [CreditGrantRef],
      args: { includeSpent: t.arg.boolean({ defaultValue: false }) },
      description: 'Newest first. Without includeSpent, only grants that still hold money.',
      resolve: (w, args, ctx) => ctx.services.credits.grants(w.id, args.includeSpent ?? false),
    }),
    asOf: t.field({ type: 'DateTime', resolve: (w) => w.asOf }),
  }),
});

const GrantCreditsInput = builder.inputType('GrantCreditsInput', {
  fields: (t) => ({
    tenantId: t.id({ required: true }),
    subject: t.string(),
    amount: t.field({ type: 'Decimal', required: true }),
    currency: t.string({ description: "Must be the tenant's currency." }),
    idempotencyKey: t.string({
      required: true,
      description:
        'Idempotent like recordUsage: same key and same payload returns the first grant; a different payload is IDEMPOTENCY_CONFLICT.',
    }),
    priority: t.int({ defaultValue: 0 }),
    effectiveAt: t.field({ type: 'DateTime' }),
    expiresAt: t.field({ type: 'DateTime' }),
    reason: t.string(),
  }),
});

const SetWalletThresholdInput = builder.inputType('SetWalletThresholdInput', {
  fields: (t) => ({
    tenantId: t.id(),
    subject: t.string(),
    lowBalanceThreshold: t.field({ type: 'Decimal' }),
  }),
});

builder.objectField(AuthorizeUsagePayloadRef, 'wallet', (t) =>
  t.field({
    type: WalletRef,
    nullable: true,
    description:
      'The wallet that would pay, when one applies. A COST estimate (or the estimate priced by quote) above wallet.available denies with deniedBy null; with reserveSeconds the estimate is held against the wallet too, so concurrent authorizations never together exceed it.',
    resolve: (p) => ((p as { wallet?: WalletView | null }).wallet ?? null) as WalletView | null,
  }),
);

builder.queryFields((t) => ({
  wallet: t.field({
    type: WalletRef,
    description:
      'Operator (tenantId required), tenant READ keys (their own tenant), subject tokens (their own subject). NOT_FOUND when no credits were ever granted to it.',
    args: { tenantId: t.arg.id(), subject: t.arg.string() },
    authScopes: { read: true },
    resolve: (_, args, ctx) => ctx.services.credits.wallet(scopeOf(ctx.principal), args),
  }),
}));

builder.mutationFields((t) => ({
  grantCredits: t.field({
    type: CreditGrantRef,
    description:
      'Operator only: money in. Every CREATED entry’s cost is then debited from the wallet of its subject when that subject has one, else from the tenant’s wallet, in the same transaction as the ledger entry; a reversal credits it back. Usage is never refused for want of balance: an uncovered cost takes the balance below zero.',
    args: { input: t.arg({ type: GrantCreditsInput, required: true }) },
    authScopes: { operator: true },
    ...deny('only the operator grants credits'),
    resolve: (_, { input }, ctx) => ctx.services.credits.grantCredits(input),
  }),
  voidCreditGrant: t.field({
    type: CreditGrantRef,
    description: 'Operator only. The grant’s remaining amount leaves the balance; what it already paid stays paid.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: { operator: true },
    ...deny('only the operator voids credit grants'),
    resolve: (_, args, ctx) => ctx.services.credits.voidCreditGrant(args.id),
  }),
  setWalletThreshold: t.field({
    type: WalletRef,
    description: 'Tenant ADMIN or operator.',
    args: { input: t.arg({ type: SetWalletThresholdInput, required: true }) },
    authScopes: { admin: true },
    resolve: (_, { input }, ctx) => ctx.services.credits.setWalletThreshold(scopeOf(ctx.principal), input),
  }),
}));

/** One feed per pub/sub (so per app): watchers of a wallet on this instance share its recomputation. */
const feeds = new WeakMap<object, WalletFeed>();

builder.subscriptionFields((t) => ({
  walletUpdated: t.field({
    type: WalletRef,
    description: 'The current state at once, then after every change (coalesced like quotaUpdated).',
    args: { tenantId: t.arg.id(), subject: t.arg.string() },
    authScopes: { read: true },
    subscribe: async (_, args, ctx) => {
      const scope = scopeOf(ctx.principal);
      const tenantId = tenantIn(scope, args.tenantId, ['tenantId']);
      const subject = namedSubject(subjectIn(scope, args.subject, ['subject']), ['subject']);
      // NOT_FOUND at subscribe when there is no wallet yet.
      await ctx.services.credits.wallet(scope, { tenantId, subject });
      let feed = feeds.get(ctx.pubsub);
      if (!feed) {
        feed = new WalletFeed(ctx.pubsub);
        feeds.set(ctx.pubsub, feed);
      }
      return liveStream(
        ctx,
        feed.watch(tenantId, subject, () => ctx.services.credits.wallet(scope, { tenantId, subject })),
      );
    },
    resolve: (w: Live<WalletView>) => liveValue(w),
  }),
}));
