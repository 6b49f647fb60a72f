// Prices by id for one request, one statement per tick (composed in server/src/loaders.ts).
import { idLoader } from '../../graphql/context';
import type { PricingService } from './pricing.service';

export const priceLoader = (pricing: PricingService) => idLoader(pricing.byIds.bind(pricing));
