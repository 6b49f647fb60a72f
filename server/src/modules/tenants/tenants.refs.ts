// The Tenant object's reference, implemented in tenants.schema.ts. Other modules import it to
// name a tenant in their fields (an ApiKey names its Tenant) without loading tenants' schema.
import type { TenantRow } from '../../db/entities';
import { builder } from '../../graphql/builder';

export const TenantRef = builder.objectRef<TenantRow>('Tenant');
