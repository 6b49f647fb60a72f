// The per-request context: who calls, the services, and DataLoaders created per request
// (so batching never crosses requests or tenants).
import DataLoader from 'dataloader';
import type { ApiKeyRow, PriceRow, TenantRow } from '../db/entities';
import type { QuotaFeed } from '../modules/quota/quota.feed';
import type { LimitRow, PlanRow } from '../modules/quota/quota.types';
import type { EventRow, Totals } from '../modules/usage/usage.types';
import type { TallyPubSub } from '../pubsub';
import type { Revocations } from '../revocations';
import type { Services } from '../services';
import type { Principal } from './principal';

export interface Context {
  requestId: string;
  principal: Principal;
  services: Services;
  loaders: Loaders;
  pubsub: TallyPubSub;
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
  private made: {
    tenant?: DataLoader<string, TenantRow | null>;
    apiKey?: DataLoader<string, ApiKeyRow | null>;
    price?: DataLoader<string, PriceRow | null>;
    event?: DataLoader<string, EventRow | null>;
    plan?: DataLoader<string, PlanRow | null>;
    limit?: DataLoader<string, LimitRow | null>;
    limitsOf?: DataLoader<string, LimitRow[]>;
    keyUsage?: ReturnType<typeof keyUsageLoader>;
  } = {};

  constructor(private readonly s: Services) {}

  get tenant() {
    const s = this.s;
    this.made.tenant ??= new DataLoader(async (ids) => byId(ids, await s.tenants.byIds(ids)));
    return this.made.tenant;
  }
  get apiKey() {
    const s = this.s;
    this.made.apiKey ??= new DataLoader(async (ids) => byId(ids, await s.apiKeys.byIds(ids)));
    return this.made.apiKey;
  }
  get price() {
    const s = this.s;
    this.made.price ??= new DataLoader(async (ids) => byId(ids, await s.pricing.byIds(ids)));
    return this.made.price;
  }
  get event() {
    const s = this.s;
    this.made.event ??= new DataLoader(async (ids) => byId(ids, await s.usage.byIds(ids)));
    return this.made.event;
  }
  get plan() {
    const s = this.s;
    this.made.plan ??= new DataLoader(async (ids) => byId(ids, await s.quota.plansByIds(ids)));
    return this.made.plan;
  }
  get limit() {
    const s = this.s;
    this.made.limit ??= new DataLoader(async (ids) => byId(ids, await s.quota.limitsByIds(ids)));
    return this.made.limit;
  }
  /** Active limits of a plan or of an API key. */
  get limitsOf() {
    const s = this.s;
    this.made.limitsOf ??= new DataLoader(async (owners) => {
      const m = await s.quota.limitsOf(owners);
      return owners.map((o) => m.get(o) ?? []);
    });
    return this.made.limitsOf;
  }
  /** Key usage over one range: all keys asked in one tick cost one statement per (tenant, range). */
  get keyUsage() {
    this.made.keyUsage ??= keyUsageLoader(this.s, this.tenant);
    return this.made.keyUsage;
  }
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
