// The port the webhooks module offers other modules: an event is put in the transactional
// outbox inside the transaction that made it (the quota alert, the wallet crossing, the
// reversal), so a crash between commit and send loses nothing. Callers never name the
// outbox's tables or know which endpoints exist; the composition root (services.ts) hands
// the outbox to the modules that emit.
import type { Sql } from '../../db/database';

/** The event types an endpoint may subscribe to (contract: "prepaid credits and webhooks"). */
export const WEBHOOK_EVENT_TYPES = [
  'quota.threshold_crossed',
  'wallet.low_balance',
  'wallet.depleted',
  'usage.reversed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface WebhookEvent {
  tenantId: string;
  type: WebhookEventType;
  /**
   * Stable per fact (e.g. the alert's id, the reversal entry's id, the wallet crossing's
   * movement id): emitting the same key twice makes no second delivery.
   */
  key: string;
  /** When the fact happened (the body's `timestamp`). */
  at: Date;
  /** The body's `data`: JSON-ready, money as decimal strings, never JS numbers. */
  data: Record<string, unknown>;
}

export interface WebhookOutbox {
  /** In the caller's transaction: one delivery row per enabled endpoint of the tenant that wants the type. */
  emit(tx: Sql, events: WebhookEvent[]): Promise<void>;
}
