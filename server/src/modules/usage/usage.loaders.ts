// Usage's per-request loaders: events by id, and API keys' totals over a range (composed in
// server/src/loaders.ts).
import DataLoader from 'dataloader';
import type { ApiKeyRow, TenantRow } from '../../db/entities';
import { idLoader } from '../../graphql/context';
import type { UsageService } from './usage.service';
import type { Totals } from './usage.types';

export const eventLoader = (usage: UsageService) => idLoader(usage.byIds.bind(usage));

/**
 * Key usage over one range: all keys asked in one tick cost one statement per (tenant, range).
 * Each tenant's timezone comes through the request's `tenant` loader.
 */
export function keyUsageLoader(usage: UsageService, tenant: DataLoader<string, TenantRow | null>) {
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
          const totals = await usage.totalsByKey(e.tenantId, t?.timezone ?? 'UTC', e.ids, e.from, e.to);
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
