// The per-request DataLoaders, composed from each module's loader factories
// (modules/<m>/<m>.loaders.ts) over the Services. graphql/context.ts holds the generic
// made-on-first-use machinery and names this class only as a type.
import { MadeOnFirstUse } from './graphql/context';
import { apiKeyLoader } from './modules/api-keys/api-keys.loaders';
import { priceLoader } from './modules/pricing/pricing.loaders';
import { limitLoader, limitsOfLoader, planLoader } from './modules/quota/quota.loaders';
import { tenantLoader } from './modules/tenants/tenants.loaders';
import { eventLoader, keyUsageLoader } from './modules/usage/usage.loaders';
import { webhookAttemptsLoader } from './modules/webhooks/webhooks.loaders';
import type { Services } from './services';

export class Loaders extends MadeOnFirstUse<Services> {
  get tenant() {
    return this.once('tenant', (s) => tenantLoader(s.tenants));
  }
  get apiKey() {
    return this.once('apiKey', (s) => apiKeyLoader(s.apiKeys));
  }
  get price() {
    return this.once('price', (s) => priceLoader(s.pricing));
  }
  get event() {
    return this.once('event', (s) => eventLoader(s.usage));
  }
  get plan() {
    return this.once('plan', (s) => planLoader(s.quota));
  }
  get limit() {
    return this.once('limit', (s) => limitLoader(s.quota));
  }
  /** Active limits of a plan or of an API key. */
  get limitsOf() {
    return this.once('limitsOf', (s) => limitsOfLoader(s.quota));
  }
  /** Key usage over one range: all keys asked in one tick cost one statement per (tenant, range). */
  get keyUsage() {
    return this.once('keyUsage', (s) => keyUsageLoader(s.usage, this.tenant));
  }
  /** Each delivery's attempt log: a page of deliveries costs one statement. */
  get webhookAttempts() {
    return this.once('webhookAttempts', (s) => webhookAttemptsLoader(s.webhooks));
  }
}

export function createLoaders(s: Services): Loaders {
  return new Loaders(s);
}
