// The credits module's input checks: each bad value is BAD_USER_INPUT naming its field.
import { createHash } from 'node:crypto';
import { badInput, containsNul } from '../../lib/errors';
import { namedSubject } from '../../lib/input';
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
  const key = input.idempotencyKey;
  if (key.length < 1 || key.length > 255 || /\p{C}/u.test(key))
    throw badInput(f('idempotencyKey'), 'must be 1 to 255 printable characters');
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
  const reason = input.reason ?? null;
  if (reason != null && (reason.length > 1000 || containsNul(reason)))
    throw badInput(f('reason'), 'must be at most 1000 characters, without NUL');
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
