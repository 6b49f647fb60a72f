// The ApiKey object's reference (implemented in api-keys.schema.ts) and the ApiKeyScope enum.
// Tenants lists a tenant's keys through ApiKeyRef, so it lives apart from the schema file.
import type { API_KEY_SCOPES } from '../../auth/principal';
import type { ApiKeyRow } from '../../db/entities';
import { builder } from '../../graphql/builder';

export const ApiKeyRef = builder.objectRef<ApiKeyRow>('ApiKey');

export const ApiKeyScopeEnum = builder.enumType('ApiKeyScope', {
  values: {
    INGEST: { description: 'May record usage and ask for authorizations.' },
    READ: { description: "May read its own tenant's usage, quota and prices, and subscribe." },
    ADMIN: { description: "May manage its own tenant's API keys and per-key limits; implies READ and INGEST." },
  } satisfies Record<(typeof API_KEY_SCOPES)[number], unknown>,
});
