// The credits module's input checks: each bad value is BAD_USER_INPUT naming its field.
import { createHash } from 'node:crypto';
import { badInput } from '../../lib/errors';
import { idempotencyKey, namedSubject, reasonText } from '../../lib/input';
import { type Dec, fmt, parseAmount } from '../../lib/money';

export interface GrantInput {
  tenantId: string;
  subject?: string | null;
  amount: string;
  currency?: string | null;
  idempotencyKey: string;
  priority?: number | null;
  effectiveAt?: Date | null;
  expiresAt?: Date | null;
  reason?: string | null;
}

export interface CheckedGrant {
  subject: string | null;
  amount: Dec;
  priority: number;
  effectiveAt: Date | null;
  expiresAt: Date | null;
  reason: string | null;
  idempotencyKey: string;
}

export function grant(input: GrantInput, now: Date): CheckedGrant {
  const f = (n: string) => ['input', n];
  const key = idempotencyKey(input.idempotencyKey, f('idempotencyKey'));
  const amount = parseAmount(input.amount, f('amount'), 'positive');
  const priority = input.priority ?? 0;
  if (!Number.isInteger(priority) || Math.abs(priority) > 1_000_000)
    throw badInput(f('priority'), 'must be an integer from -1000000 to 1000000');
  const effectiveAt = input.effectiveAt ?? null;
  const expiresAt = input.expiresAt ?? null;
  if (expiresAt) {
    if (expiresAt <= (effectiveAt ?? now)) throw badInput(f('expiresAt'), 'must be after effectiveAt');
    if (expiresAt <= now) throw badInput(f('expiresAt'), 'must be in the future');
  }
  const reason = reasonText(input.reason, f('reason'));
  return {
    subject: namedSubject(input.subject, f('subject')),
    amount,
    priority,
    effectiveAt,
    expiresAt,
    reason,
    idempotencyKey: key,
  };
}

/** The payload's fingerprint: a retry with the same key must match it (defaults as omitted). */
export function fingerprintOf(g: CheckedGrant, currency: string): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        g.subject,
        fmt(g.amount),
        currency,
        g.priority,
        g.effectiveAt?.toISOString() ?? null,
        g.expiresAt?.toISOString() ?? null,
        g.reason,
      ]),
    )
    .digest('hex');
}

export function threshold(raw: string | null | undefined, field: string[]): Dec | null {
  return raw == null ? null : parseAmount(raw, field);
}
