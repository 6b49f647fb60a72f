// The per-request context: who calls, the services, and DataLoaders created per request
// (so batching never crosses requests or tenants).
import DataLoader from 'dataloader';
import type { Principal } from '../auth/principal';
import type { ApiKeyRow, TenantRow } from '../db/entities';
import type { QuotaFeed } from '../modules/quota/quota.feed';
import type { LimitRow } from '../modules/quota/quota.types';
import type { Totals } from '../modules/usage/usage.types';
import type { PubSubHealth } from '../pubsub';
import type { Revocations } from '../revocations';
import type { Services } from '../services';
import type { TallyPubSub } from '../topics';

export interface Context {
  requestId: string;
  principal: Principal;
  services: Services;
  loaders: Loaders;
  pubsub: TallyPubSub;
  /** Whether live events flow (Redis can be lost; in-process cannot). */
  pubsubHealth: PubSubHealth;
  feed: QuotaFeed;
  revocations: Revocations;
  /** The operation came over a graphql-ws socket (which is closed when its key is revoked). */
  viaSocket?: boolean;
}

const byId = <T extends { id: string }>(ids: readonly string[], rows: T[]) => {
  const m = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => m.get(id) ?? null);
};

/**
 * The request's DataLoaders, each made on first use: most requests (a recordUsage, say)
 * touch none, and every object not made is garbage not collected. A class, so the getters
 * live once on the prototype instead of as closures on every request's object.
 */
export class Loaders {
  private made = new Map<string, unknown>();

  constructor(private readonly s: Services) {}

  /** The loader called `name`, made by `make` on first use. */
  private once<L>(name: string, make: (s: Services) => L): L {
    let l = this.made.get(name) as L | undefined;
    if (l === undefined) {
      l = make(this.s);
      this.made.set(name, l);
    }
    return l;
  }

  get tenant() {
    return this.once('tenant', (s) => idLoader(s.tenants.byIds.bind(s.tenants)));
  }
  get apiKey() {
    return this.once('apiKey', (s) => idLoader(s.apiKeys.byIds.bind(s.apiKeys)));
  }
  get price() {
    return this.once('price', (s) => idLoader(s.pricing.byIds.bind(s.pricing)));
  }
  get event() {
    return this.once('event', (s) => idLoader(s.usage.byIds.bind(s.usage)));
  }
  get plan() {
    return this.once('plan', (s) => idLoader(s.quota.plansByIds.bind(s.quota)));
  }
  get limit() {
    return this.once('limit', (s) => idLoader(s.quota.limitsByIds.bind(s.quota)));
  }
  /** Active limits of a plan or of an API key. */
  get limitsOf() {
    return this.once(
      'limitsOf',
      (s) =>
        new DataLoader<string, LimitRow[]>(async (owners) => {
          const m = await s.quota.limitsOf(owners);
          return owners.map((o) => m.get(o) ?? []);
        }),
    );
  }
  /** Key usage over one range: all keys asked in one tick cost one statement per (tenant, range). */
  get keyUsage() {
    return this.once('keyUsage', (s) => keyUsageLoader(s, this.tenant));
  }
}

/** Rows by id, one statement per tick; a missing id answers null. */
function idLoader<T extends { id: string }>(fetch: (ids: readonly string[]) => Promise<T[]>) {
  return new DataLoader<string, T | null>(async (ids) => byId(ids, await fetch(ids)));
}

export function createLoaders(s: Services): Loaders {
  return new Loaders(s);
}

function keyUsageLoader(s: Services, tenant: DataLoader<string, TenantRow | null>) {
  return new DataLoader<{ key: ApiKeyRow; from: Date; to: Date }, Totals, string>(
    async (asks) => {
      const groups = new Map<string, { tenantId: string; from: Date; to: Date; ids: string[] }>();
      for (const a of asks) {
        const g = `${a.key.tenantId}|${a.from.toISOString()}|${a.to.toISOString()}`;
        const e = groups.get(g) ?? { tenantId: a.key.tenantId, from: a.from, to: a.to, ids: [] };
        e.ids.push(a.key.id);
        groups.set(g, e);
      }
      const answers = new Map<string, Totals>();
      await Promise.all(
        [...groups.entries()].map(async ([g, e]) => {
          const t = await tenant.load(e.tenantId);
          const totals = await s.usage.totalsByKey(e.tenantId, t?.timezone ?? 'UTC', e.ids, e.from, e.to);
          for (const [id, v] of totals) answers.set(`${id}|${g}`, v);
        }),
      );
      return asks.map(
        (a) => answers.get(`${a.key.id}|${a.key.tenantId}|${a.from.toISOString()}|${a.to.toISOString()}`) as Totals,
      );
    },
    { cacheKeyFn: (a) => `${a.key.id}|${a.from.toISOString()}|${a.to.toISOString()}` },
  );
}
