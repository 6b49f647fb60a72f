// Webhooks' part in ledger writes (usage's LedgerParticipant port): a reversal's entries put
// usage.reversed in the outbox in the reversal's own transaction. A recording prepares
// nothing (prepare answers null), so it costs recordUsage no statement; after every write's
// commit the worker is woken when something was emitted (quota alerts and wallet events are
// emitted inside ledger transactions too).
import { Dec, fmt } from '../../lib/money';
import type { LedgerParticipant } from '../usage/ports';
import type { EventRow } from '../usage/usage.types';
import type { WebhookEvent } from './ports';
import type { Outbox } from './webhooks.outbox';

const iso = (d: Date | string | null) => (d == null ? null : new Date(d).toISOString());

/** The body's data for a reversal entry: the contract's UsageEvent fields, money as decimal text. */
export function reversedData(e: EventRow): Record<string, unknown> {
  return {
    id: e.id,
    reversesId: e.reversesId,
    idempotencyKey: e.idempotencyKey,
    tenantId: e.tenantId,
    apiKeyId: e.apiKeyId,
    subject: e.subject,
    kind: e.kind,
    provider: e.provider,
    model: e.model,
    status: e.status,
    inputTokens: e.inputTokens,
    outputTokens: e.outputTokens,
    durationMs: e.durationMs,
    quantity: e.quantity == null ? null : fmt(new Dec(e.quantity)),
    cost: fmt(new Dec(e.cost)),
    currency: e.currency,
    reason: e.reason,
    occurredAt: iso(e.occurredAt),
    recordedAt: iso(e.recordedAt),
  };
}

export function webhooksLedgerParticipant(outbox: Outbox): LedgerParticipant<{ at: Date }> {
  return {
    prepare: async (write) => (write.kind === 'reverse' ? { at: write.at } : null),
    created: async (tx, state, rows) => {
      const events: WebhookEvent[] = rows
        .filter((r) => r.reversesId)
        .map((r) => ({
          tenantId: r.tenantId,
          type: 'usage.reversed',
          key: r.id,
          at: r.recordedAt ? new Date(r.recordedAt) : state.at,
          data: reversedData(r),
        }));
      await outbox.emit(tx, events);
    },
    committed: () => outbox.committed(),
  };
}
