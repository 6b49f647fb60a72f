// Wires the services together. One instance per process; stateless apart from caches.
import type { Config } from './config';
import type { Database } from './db/database';
import { ApiKeysService } from './modules/api-keys/api-keys.service';
import { CreditsService } from './modules/credits/credits.service';
import { PricingService } from './modules/pricing/pricing.service';
import { QuotaService } from './modules/quota/quota.service';
import { TenantsService } from './modules/tenants/tenants.service';
import { pricedEntries, usageReader } from './modules/usage/usage.reader';
import { UsageService } from './modules/usage/usage.service';
import { DEFAULT_WEBHOOKS } from './modules/webhooks/webhooks.options';
import { WebhooksService } from './modules/webhooks/webhooks.service';
import type { Publisher } from './pubsub';
import type { Topics } from './topics';

export interface Services {
  db: Database;
  apiKeys: ApiKeysService;
  tenants: TenantsService;
  pricing: PricingService;
  quota: QuotaService;
  credits: CreditsService;
  usage: UsageService;
  webhooks: WebhooksService;
  now: () => Date;
}

export function createServices(
  db: Database,
  config: Pick<Config, 'operatorKey' | 'authCacheMs' | 'lastUsedFlushMs'> &
    Partial<Pick<Config, 'groupCommit' | 'operatorKeyHash' | 'leases' | 'webhooks'>>,
  /** Where each module publishes its topics after commit. */
  publisher: Publisher<Topics>,
  now: () => Date = () => new Date(),
): Services {
  const apiKeys = new ApiKeysService(
    db,
    {
      operatorKey: config.operatorKey,
      operatorKeyHash: config.operatorKeyHash,
      cacheMs: config.authCacheMs,
      lastUsedFlushMs: config.lastUsedFlushMs,
      now,
      // Asked of tenants (built next; called only after wiring is done).
      tenantExists: (id) => tenants.exists(id),
    },
    publisher,
  );
  // createTenant starts its membership through quota (called only after wiring is done).
  const tenants: TenantsService = new TenantsService(
    db,
    apiKeys,
    (tx, tenantId, planCode): Promise<unknown> => quota.assignIn(tx, tenantId, planCode, now()),
  );
  // Pricing reads tenants' currencies through tenants, and asks the ledger (usage) which
  // entries a price version priced through its own port.
  const pricing = new PricingService(db, tenants, pricedEntries, now);
  // Quota reads usage through usage's reader and checks key ids through api-keys.
  // Webhooks' outbox is handed to the modules that emit (quota's alerts, credits' wallet
  // crossings, usage's reversals through webhooks' own ledger participant); its worker is
  // started by the app.
  const webhooks = new WebhooksService(db, tenants, config.webhooks ?? DEFAULT_WEBHOOKS);
  const quota: QuotaService = new QuotaService(
    db,
    tenants,
    apiKeys,
    usageReader,
    publisher,
    now,
    config.leases,
    webhooks.port,
  );
  // Credits prices authorization estimates through pricing.
  const credits = new CreditsService(db, tenants, pricing, publisher, now, webhooks.port);
  // Authorizations are gated by money too when a wallet pays (quota's WalletGate port).
  quota.authorization.wallets = credits.gate;
  // The ledger participants, registered once: every recording and reversal reaches each.
  // Quota's first: its tenant locks come before credits' wallet locks in every transaction.
  const usage = new UsageService(
    db,
    tenants,
    pricing,
    [quota.ledgerParticipant, credits.ledgerParticipant, webhooks.ledgerParticipant],
    publisher,
    now,
    config.groupCommit,
  );
  return { db, apiKeys, tenants, pricing, quota, credits, usage, webhooks, now };
}
