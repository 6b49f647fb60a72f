// Usage's references and enums that other modules name: UsageEvent (implemented in
// usage.schema.ts), UsageTotals (tenants, api-keys and quota render totals with it), and the
// kind, source and status enums (pricing prices by UsageKind).
import { builder } from '../../graphql/builder';
import type { EventRow, KINDS, Totals } from './usage.types';

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
