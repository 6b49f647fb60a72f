// Validation of one RecordUsageInput, shared by recordUsage and recordUsageBatch (each
// batch item is judged alone, so this cannot live in the GraphQL layer). Each rule is
// checked once: RecordUsageInput's GraphQL type has already checked every type (strings,
// 32-bit Ints, enum values, DateTime; a bad scalar in a batch item was made a RefusedItem by
// graphql/input-guard.ts), so zod checks only what a type cannot say (lengths, printable
// text, non-negative counts, the currency's form), and the cross-field rules follow.
import { createHash, hash } from 'node:crypto';
import { z } from 'zod';
import { badInput, containsNul } from '../../lib/errors';
import { CURRENCY_RE, type Dec, fmt, parseAmount, parseDecimal } from '../../lib/money';
import type { UsageKind } from './usage.types';

export const MAX_FUTURE_MS = 5 * 60_000;
export const MAX_PAST_MS = 35 * 24 * 3600_000;
export const MAX_METADATA_BYTES = 4096;

/** Checked by the GraphQL type (an enum value, a DateTime, an ID): taken as given. */
const given = <T>() => z.custom<T>();
/** An Int (GraphQL: integral and 32-bit) that counts something. */
const count = z.number().min(0, 'may not be negative');
const text = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .regex(/^[^\p{Cc}]*$/u, 'may not contain control characters');

const Input = z.object({
  idempotencyKey: z
    .string()
    .min(1, 'must be 1 to 255 printable characters')
    .max(255, 'must be 1 to 255 printable characters')
    .regex(/^[^\p{C}]+$/u, 'must be 1 to 255 printable characters'),
  tenantId: given<string>().nullish(),
  apiKeyId: given<string>().nullish(),
  subject: text(255).nullish(),
  kind: given<UsageKind>(),
  provider: text(200).nullish(),
  model: text(200).nullish(),
  modelSource: given<'VENDOR' | 'BYOK'>().nullish(),
  status: given<'SUCCEEDED' | 'FAILED'>().nullish(),
  inputTokens: count.nullish(),
  outputTokens: count.nullish(),
  cachedInputTokens: count.nullish(),
  cacheWriteInputTokens: count.nullish(),
  reasoningTokens: count.nullish(),
  durationMs: count.nullish(),
  quantity: z.unknown().optional(),
  cost: z.unknown().optional(),
  currency: z.string().regex(CURRENCY_RE, 'must be a 3-letter ISO 4217 code such as USD').nullish(),
  latencyMs: count.nullish(),
  sessionId: text(255).nullish(),
  occurredAt: given<Date>().nullish(),
  metadata: z.unknown().optional(),
  reservationId: given<string>().nullish(),
});

export type RawRecordUsage = z.input<typeof Input>;

/**
 * RecordUsageInput's defaults, written once: the schema shows them (defaultValue, the
 * contract) and normalizeUsage applies them, whoever calls. (CALL's quantity 1 depends on the
 * kind, so it is a rule below, not a default.)
 */
export const RECORD_DEFAULTS = {
  modelSource: 'VENDOR',
  status: 'SUCCEEDED',
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  cacheWriteInputTokens: 0,
  reasoningTokens: 0,
} as const satisfies Partial<Record<keyof RawRecordUsage, unknown>>;

/** A valid input with every default applied; tenant and key still to be resolved. */
export interface NormalizedUsage {
  idempotencyKey: string;
  tenantId: string | null;
  apiKeyId: string | null;
  subject: string | null;
  kind: UsageKind;
  provider: string | null;
  model: string | null;
  modelSource: 'VENDOR' | 'BYOK';
  status: 'SUCCEEDED' | 'FAILED';
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteInputTokens: number;
  reasoningTokens: number;
  durationMs: number | null;
  quantity: Dec | null;
  cost: Dec | null;
  currency: string | null;
  latencyMs: number | null;
  sessionId: string | null;
  /** As given; null when the caller omitted it (then it is not part of the fingerprint). */
  occurredAt: Date | null;
  metadata: Record<string, unknown> | null;
  reservationId: string | null;
}

export function normalizeUsage(raw: unknown, now: Date): NormalizedUsage {
  const parsed = Input.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    throw badInput(issue.path.map(String), issue.message);
  }
  const i = parsed.data;
  const u: NormalizedUsage = {
    idempotencyKey: i.idempotencyKey,
    tenantId: i.tenantId ?? null,
    apiKeyId: i.apiKeyId ?? null,
    subject: i.subject || null,
    kind: i.kind,
    provider: i.provider || null,
    model: i.model || null,
    modelSource: i.modelSource ?? RECORD_DEFAULTS.modelSource,
    status: i.status ?? RECORD_DEFAULTS.status,
    inputTokens: i.inputTokens ?? RECORD_DEFAULTS.inputTokens,
    outputTokens: i.outputTokens ?? RECORD_DEFAULTS.outputTokens,
    cachedInputTokens: i.cachedInputTokens ?? RECORD_DEFAULTS.cachedInputTokens,
    cacheWriteInputTokens: i.cacheWriteInputTokens ?? RECORD_DEFAULTS.cacheWriteInputTokens,
    reasoningTokens: i.reasoningTokens ?? RECORD_DEFAULTS.reasoningTokens,
    durationMs: i.durationMs ?? null,
    quantity: i.quantity == null ? null : parseAmount(i.quantity, ['quantity']),
    cost: i.cost == null ? null : parseAmount(i.cost, ['cost']),
    currency: i.currency ?? null,
    latencyMs: i.latencyMs ?? null,
    sessionId: i.sessionId || null,
    occurredAt: i.occurredAt ?? null,
    metadata: null,
    reservationId: i.reservationId ?? null,
  };
  if (u.kind === 'LLM' && !u.model) throw badInput(['model'], 'LLM usage needs a model');
  if (u.kind === 'ASR' && u.durationMs == null) throw badInput(['durationMs'], 'ASR usage needs durationMs');
  if (u.kind === 'CALL' && u.quantity == null) u.quantity = parseDecimal('1', []);
  if (u.cachedInputTokens + u.cacheWriteInputTokens > u.inputTokens)
    throw badInput(['cachedInputTokens'], 'cachedInputTokens + cacheWriteInputTokens may not exceed inputTokens');
  if (u.reasoningTokens > u.outputTokens)
    throw badInput(['reasoningTokens'], 'reasoningTokens may not exceed outputTokens');
  if (u.inputTokens + u.outputTokens > 2_147_483_647)
    throw badInput(['outputTokens'], 'inputTokens + outputTokens is too large');
  if (u.occurredAt) {
    const t = u.occurredAt.getTime();
    if (t > now.getTime() + MAX_FUTURE_MS) throw badInput(['occurredAt'], 'may be at most 5 minutes in the future');
    if (t < now.getTime() - MAX_PAST_MS) throw badInput(['occurredAt'], 'may be at most 35 days in the past');
  }
  if (i.metadata != null) {
    if (typeof i.metadata !== 'object' || Array.isArray(i.metadata))
      throw badInput(['metadata'], 'must be a JSON object');
    if (containsNul(i.metadata)) throw badInput(['metadata'], 'may not contain the NUL character');
    const bytes = Buffer.byteLength(JSON.stringify(i.metadata), 'utf8');
    if (bytes > MAX_METADATA_BYTES) throw badInput(['metadata'], `must be at most 4 KiB as JSON (is ${bytes} bytes)`);
    u.metadata = i.metadata as Record<string, unknown>;
  }
  // A malformed reservationId is an unknown reservation: the usage is still recorded (the writer says UNKNOWN).
  return u;
}

/** JSON with object keys sorted, so equal payloads hash equally whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .filter((k) => o[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/**
 * The idempotency fingerprint: every input field with defaults applied (tenant and key as
 * resolved), except occurredAt when the caller omitted it. Decimals are normalised, so
 * "1" and "1.0" are the same payload.
 */
export function fingerprintOf(u: NormalizedUsage, tenantId: string, apiKeyId: string | null): Buffer {
  // One-shot hash: no Hash object per entry.
  return hash('sha256', fingerprintText(u, tenantId, apiKeyId), 'buffer') as unknown as Buffer;
}

/**
 * canonicalJson of the fingerprint's field list, built the fast way: every field but metadata
 * is a primitive, which JSON.stringify of an array writes exactly as canonicalJson would.
 * (Stored fingerprints depend on this text; a test holds it equal to canonicalJson's.)
 */
export function fingerprintText(u: NormalizedUsage, tenantId: string, apiKeyId: string | null): string {
  const head = JSON.stringify([
    'record/v1',
    u.idempotencyKey,
    tenantId,
    apiKeyId,
    u.subject,
    u.kind,
    u.provider,
    u.model,
    u.modelSource,
    u.status,
    u.inputTokens,
    u.outputTokens,
    u.cachedInputTokens,
    u.cacheWriteInputTokens,
    u.reasoningTokens,
    u.durationMs,
    u.quantity ? fmt(u.quantity) : null,
    u.cost ? fmt(u.cost) : null,
    u.currency,
    u.latencyMs,
    u.sessionId,
    u.occurredAt ? u.occurredAt.toISOString() : null,
  ]);
  return `${head.slice(0, -1)},${canonicalJson(u.metadata)},${JSON.stringify(u.reservationId)}]`;
}

export function reversalFingerprint(eventId: string, reason: string | null): Buffer {
  return createHash('sha256')
    .update(canonicalJson(['reverse/v1', eventId, reason]))
    .digest();
}
