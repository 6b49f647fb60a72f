// The rows the webhooks module reads and writes (webhooks.store.ts), as its services see them.
import type { AttemptOutcome } from './webhooks.send';

export interface EndpointRow {
  id: string;
  tenantId: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  createdAt: Date;
}

export type DeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED';

export interface DeliveryRow {
  id: string;
  tenantId: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  lastAttemptAt: Date | null;
  nextAttemptAt: Date | null;
  lastResponseStatus: number | null;
  createdAt: Date;
}

export interface AttemptRow {
  id: string;
  deliveryId: string;
  attempt: number;
  at: Date;
  durationMs: number;
  outcome: AttemptOutcome;
  responseStatus: number | null;
  error: string | null;
}

/** A due delivery this instance claimed: what one attempt needs, and the claim that proves it is still ours. */
export interface ClaimedDelivery {
  id: string;
  claim: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  occurredAt: Date;
  data: unknown;
  attempts: number;
  roundStart: number;
  url: string;
  secret: string;
}
