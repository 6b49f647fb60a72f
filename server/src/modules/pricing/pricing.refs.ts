// The Price object's reference, implemented in pricing.schema.ts.
import type { PriceRow } from '../../db/entities';
import { builder } from '../../graphql/builder';

export const PriceRef = builder.objectRef<PriceRow>('Price');
