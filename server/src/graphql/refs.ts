// Object references and enums shared across modules. Declaring them here (implemented in
// their modules) keeps modules free of import cycles: Tenant lists ApiKeys, an ApiKey
// names its Tenant, a UsageEvent names both.

import type { API_KEY_SCOPES } from '../auth/principal';
import type { ApiKeyRow, PriceRow, TenantRow } from '../db/entities';
import type { EventRow, KINDS, Totals } from '../modules/usage/usage.types';
import { builder } from './builder';

export const TenantRef = builder.objectRef<TenantRow>('Tenant');
export const ApiKeyRef = builder.objectRef<ApiKeyRow>('ApiKey');
export const PriceRef = builder.objectRef<PriceRow>('Price');
export const UsageEventRef = builder.objectRef<EventRow>('UsageEvent');
export const UsageTotalsRef = builder.objectRef<Totals>('UsageTotals');

export const UsageKindEnum = builder.enumType('UsageKind', {
  values: {
    LLM: { description: 'A language-model call, counted in tokens.' },
    ASR: { description: 'A speech-recognition session, counted in milliseconds of audio.' },
    CALL: { description: 'Work priced per call or per unit: a workflow run, a tool call, an image.' },
  } satisfies Record<(typeof KINDS)[number], unknown>,
});
export const ModelSourceEnum = builder.enumType('ModelSource', {
  values: {
    VENDOR: { description: 'The platform paid the upstream provider; the tenant is charged.' },
    BYOK: { description: 'The tenant brought its own upstream key; tokens count toward limits, cost is 0.' },
  },
});
export const UsageStatusEnum = builder.enumType('UsageStatus', { values: ['SUCCEEDED', 'FAILED'] as const });
export const ApiKeyScopeEnum = builder.enumType('ApiKeyScope', {
  values: {
    INGEST: { description: 'May record usage and ask for authorizations.' },
    READ: { description: "May read its own tenant's usage, quota and prices, and subscribe." },
    ADMIN: { description: "May manage its own tenant's API keys and per-key limits; implies READ and INGEST." },
  } satisfies Record<(typeof API_KEY_SCOPES)[number], unknown>,
});
