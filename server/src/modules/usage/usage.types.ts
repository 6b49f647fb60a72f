// Shapes shared inside the usage module. A ledger row (EventRow) and totals (Totals) are
// derived from the ledger's column table, usage.columns.ts.
export type { EventRow, Totals } from './usage.columns';
export const KINDS = ['LLM', 'ASR', 'CALL'] as const;
export type UsageKind = (typeof KINDS)[number];
export const DIMENSIONS = ['API_KEY', 'SUBJECT', 'MODEL', 'PROVIDER', 'KIND', 'STATUS'] as const;
export type UsageDimension = (typeof DIMENSIONS)[number];
export const GRANULARITIES = ['MINUTE', 'HOUR', 'DAY', 'WEEK', 'MONTH'] as const;
export type Granularity = (typeof GRANULARITIES)[number];
export type RecordOutcome = 'CREATED' | 'DUPLICATE' | 'CONFLICT' | 'INVALID';
