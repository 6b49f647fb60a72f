// Quota's per-request loaders: plans and limits by id, and the active limits of a plan or an
// API key, each one statement per tick (composed in server/src/loaders.ts).
import DataLoader from 'dataloader';
import { idLoader } from '../../graphql/context';
import type { QuotaService } from './quota.service';
import type { LimitRow } from './quota.types';

export const planLoader = (quota: QuotaService) => idLoader(quota.plansByIds.bind(quota));
export const limitLoader = (quota: QuotaService) => idLoader(quota.limitsByIds.bind(quota));

/** Active limits of a plan or of an API key. */
export const limitsOfLoader = (quota: QuotaService) =>
  new DataLoader<string, LimitRow[]>(async (owners) => {
    const m = await quota.limitsOf(owners);
    return owners.map((o) => m.get(o) ?? []);
  });
