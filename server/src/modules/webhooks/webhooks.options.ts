// The webhooks module's settings (config.ts reads them from WEBHOOK_* variables).

export interface WebhookOptions {
  /** Deliver to loopback, private, link-local, unique-local addresses too (tests and development only). */
  allowPrivateAddresses: boolean;
  /** The delay after each failed attempt, in order; one more failure than its length: FAILED. */
  retryScheduleMs: number[];
  /** Per attempt: connect, send, and read the answer's head and first bytes. */
  timeoutMs: number;
  /** Attempts in flight at once in this instance. */
  concurrency: number;
  /** How often the worker looks for due deliveries when nothing woke it. */
  pollMs: number;
  /** Whether this instance sends (off: it only writes the outbox; another instance sends). */
  worker: boolean;
}

/**
 * The Standard Webhooks schedule after the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
 * 10 h (27 h 35 min in all, so at least 24 h however the jitter falls, which only lengthens).
 */
export const DEFAULT_RETRY_SCHEDULE_MS = [
  5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
] as const;

export const DEFAULT_WEBHOOKS: WebhookOptions = {
  allowPrivateAddresses: false,
  retryScheduleMs: [...DEFAULT_RETRY_SCHEDULE_MS],
  timeoutMs: 10_000,
  concurrency: 16,
  pollMs: 1000,
  worker: true,
};

/** The delay before the attempt after `failures` failures in a round (null: give up, FAILED). Jitter: +0..25 %. */
export function retryDelay(schedule: readonly number[], failures: number, random = Math.random): number | null {
  const base = schedule[failures - 1];
  if (base === undefined) return null;
  return Math.round(base * (1 + 0.25 * random()));
}

/** Bytes of a receiver's answer read before the connection is dropped (the rest is never read). */
export const MAX_RESPONSE_BYTES = 4096;
