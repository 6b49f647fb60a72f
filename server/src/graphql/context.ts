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

export type Loaders = ReturnType<typeof createLoaders>;

const byId = <T extends { id: string }>(ids: readonly string[], rows: T[]) => {
  const m = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => m.get(id) ?? null);
};

/**
 * The request's DataLoaders, each made on first use: most requests (a recordUsage, say)
 * touch none, and every object not made is garbage not collected.
 */
export function createLoaders(s: Services) {
  const made: Partial<Record<string, DataLoader<never, unknown, unknown>>> = {};
  const lazy = <L>(name: string, make: () => L): L => {
    made[name] ??= make() as never;
    return made[name] as L;
  };
  const loaders = {
    get tenant() {
      return lazy(
        'tenant',
        () => new DataLoader<string, TenantRow | null>(async (ids) => byId(ids, await s.tenants.byIds(ids))),
      );
    },
    get apiKey() {
      return lazy(
        'apiKey',
        () => new DataLoader<string, ApiKeyRow | null>(async (ids) => byId(ids, await s.apiKeys.byIds(ids))),
      );
    },
    get price() {
      return lazy(
        'price',
        () => new DataLoader<string, PriceRow | null>(async (ids) => byId(ids, await s.pricing.byIds(ids))),
      );
    },
    get event() {
      return lazy(
        'event',
        () => new DataLoader<string, EventRow | null>(async (ids) => byId(ids, await s.usage.byIds(ids))),
      );
    },
    get plan() {
      return lazy(
        'plan',
        () => new DataLoader<string, PlanRow | null>(async (ids) => byId(ids, await s.quota.plansByIds(ids))),
      );
    },
    get limit() {
      return lazy(
        'limit',
        () => new DataLoader<string, LimitRow | null>(async (ids) => byId(ids, await s.quota.limitsByIds(ids))),
      );
    },
    /** Active limits of a plan or of an API key. */
    get limitsOf() {
      return lazy(
        'limitsOf',
        () =>
          new DataLoader<string, LimitRow[]>(async (owners) => {
            const m = await s.quota.limitsOf(owners);
            return owners.map((o) => m.get(o) ?? []);
          }),
      );
    },
    /** Key usage over one range: all keys asked in one tick cost one statement per (tenant, range). */
    get keyUsage() {
      return lazy('keyUsage', () => keyUsageLoader(s, loaders.tenant));
    },
  };
  return loaders;
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
