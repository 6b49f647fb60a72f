// Tenants by id for one request, one statement per tick (composed in server/src/loaders.ts).
import { idLoader } from '../../graphql/context';
import type { TenantsService } from './tenants.service';

export const tenantLoader = (tenants: TenantsService) => idLoader(tenants.byIds.bind(tenants));
