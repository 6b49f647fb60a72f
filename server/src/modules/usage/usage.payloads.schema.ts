// GraphQL answers of recordUsage, recordUsageBatch and reverseUsage: outcome, settlement and
// the per-item results with their UserError.
import { builder } from '../../graphql/builder';
import { toUserError, type UserError } from '../../lib/errors';
import { UsageEventRef } from './usage.refs';
import type { ItemResult } from './usage.service';
import type { EventRow, RecordOutcome } from './usage.types';
import type { Settlement } from './usage.writer';

const RecordOutcomeEnum = builder.enumType('RecordOutcome', {
  values: {
    CREATED: { description: 'A new ledger entry was written.' },
    DUPLICATE: {
      description:
        'The idempotency key was seen before with the same payload; nothing was written, the original entry is returned.',
    },
    CONFLICT: {
      description:
        'The idempotency key was seen before with a DIFFERENT payload; nothing was written (batch items only; a single recordUsage fails with IDEMPOTENCY_CONFLICT).',
    },
    INVALID: { description: 'The item failed validation; nothing was written (batch items only).' },
  } satisfies Record<RecordOutcome, unknown>,
});

const ReservationSettlementEnum = builder.enumType('ReservationSettlement', {
  description:
    'What a recorded entry did to the reservation its input named. The entry is recorded in every case; only SETTLED released a hold.',
  values: {
    SETTLED: {
      description: "This entry settled the reservation: its hold is gone and the entry's real usage counts instead.",
    },
    EXPIRED: {
      description:
        'The reservation had expired before the usage was recorded (its hold had already stopped counting). Nothing was settled.',
    },
    RELEASED: { description: 'The reservation had been released (releaseReservation). Nothing was settled.' },
    ALREADY_SETTLED: { description: 'Another entry had settled the reservation. Nothing was settled.' },
    UNKNOWN: {
      description:
        "No reservation of this tenant has that id (never issued, malformed, or another tenant's). Nothing was settled.",
    },
  } satisfies Record<Settlement, unknown>,
});

const reservationField = {
  type: ReservationSettlementEnum,
  nullable: true,
  description:
    'Set when the input named a reservationId: what this entry did to that reservation (the same on a DUPLICATE retry, until the reservation is deleted RESERVATION_RETENTION_DAYS after it expired: UNKNOWN from then on). Null without a reservationId, and on CONFLICT.',
} as const;

export const RecordUsagePayload = builder
  .objectRef<{ outcome: RecordOutcome; event: EventRow; reservation?: Settlement | null }>('RecordUsagePayload')
  .implement({
    fields: (t) => ({
      outcome: t.field({ type: RecordOutcomeEnum, resolve: (p) => p.outcome }),
      event: t.field({ type: UsageEventRef, resolve: (p) => p.event }),
      reservation: t.field({ ...reservationField, resolve: (p) => p.reservation ?? null }),
    }),
  });

export const UserErrorRef = builder.objectRef<UserError>('UserError').implement({
  fields: (t) => ({
    code: t.exposeString('code', { description: 'One of the error codes listed at the end of this file.' }),
    message: t.exposeString('message'),
    field: t.exposeStringList('field', {
      nullable: true,
      description: 'Path of the offending input field, e.g. ["inputTokens"].',
    }),
  }),
});

const RecordUsageResult = builder.objectRef<ItemResult>('RecordUsageResult').implement({
  fields: (t) => ({
    index: t.exposeInt('index'),
    outcome: t.field({ type: RecordOutcomeEnum, resolve: (r) => r.outcome }),
    event: t.field({ type: UsageEventRef, nullable: true, resolve: (r) => r.event }),
    error: t.field({ type: UserErrorRef, nullable: true, resolve: (r) => r.error && toUserError(r.error) }),
    reservation: t.field({ ...reservationField, resolve: (r) => r.reservation }),
  }),
});

export const RecordUsageBatchPayload = builder
  .objectRef<{ created: number; duplicates: number; rejected: number; results: ItemResult[] }>(
    'RecordUsageBatchPayload',
  )
  .implement({
    fields: (t) => ({
      created: t.exposeInt('created'),
      duplicates: t.exposeInt('duplicates'),
      rejected: t.exposeInt('rejected'),
      results: t.field({ type: [RecordUsageResult], resolve: (p) => p.results }),
    }),
  });
