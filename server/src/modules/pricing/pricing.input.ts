// The price book's input checks, in one style: each takes the raw value and the field it came
// in (relative to the price: setPrice answers under ["input"], setPrices under
// ["input", "prices", "<index>"]), returns the normalized value, and throws BAD_USER_INPUT
// naming that field.
import { type TenantScope, tenantIn } from '../../auth/scope';
import type { PriceTierRow } from '../../db/entities';
import { badInput } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { CURRENCY_RE, fmt, parseAmount } from '../../lib/money';
import { RATE_FIELDS, TIER_FIELDS } from './pricing.store';

type RateField = (typeof RATE_FIELDS)[number][0];
type TierRateField = (typeof TIER_FIELDS)[number][0];

export interface PriceTierInput extends Partial<Record<TierRateField, string | null>> {
  aboveInputTokens: number;
}

export interface SetPriceInput extends Partial<Record<RateField, string | null>> {
  tenantId?: string | null;
  provider: string;
  model: string;
  currency?: string | null;
  effectiveFrom?: Date | null;
  tiers?: readonly PriceTierInput[] | null;
}

/** A checked price: what the price book writes (or finds already written). */
export interface PriceItem {
  tenantId: string | null;
  provider: string;
  model: string;
  currency: string;
  /** Canonical 12-decimal text (as PostgreSQL prints numeric(38,12)), in RATE_FIELDS order. */
  rates: (string | null)[];
  /** By aboveInputTokens ascending, rates canonical. */
  tiers: PriceTierRow[];
  from: Date;
}

/** At most this many tiers per price (LiteLLM's deepest has 4). */
export const MAX_TIERS = 16;

function checkName(value: string | null | undefined, field: string[], required: boolean): string | null {
  if (value == null || value === '') {
    if (required) throw badInput(field, 'is required');
    return null;
  }
  if (value.length > 200 || /\p{Cc}/u.test(value)) throw badInput(field, 'must be at most 200 printable characters');
  return value;
}

/**
 * One price as the caller gave it, checked. `now` is the default effectiveFrom. The caller's
 * currency is checked against the tenant's by the service (it needs the tenant).
 */
export function priceItem(scope: TenantScope, input: SetPriceInput, now: Date): PriceItem {
  let tenantId: string | null;
  if (scope.operator) {
    tenantId = input.tenantId ?? null;
    if (tenantId && !isUuid(tenantId)) throw badInput(['tenantId'], 'no such tenant');
  } else tenantId = tenantIn(scope, input.tenantId, ['tenantId']);
  const provider = checkName(input.provider, ['provider'], true) as string;
  const model = checkName(input.model, ['model'], true) as string;
  const currency = input.currency ?? 'USD';
  if (!CURRENCY_RE.test(currency)) throw badInput(['currency'], 'must be a 3-letter ISO 4217 code such as USD');
  const rates = RATE_FIELDS.map(([f]) => {
    const v = input[f];
    return v == null ? null : fmt(parseAmount(v, [f]));
  });
  if (rates.every((r) => r == null)) throw badInput([], 'give at least one rate (e.g. inputPerMillion)');
  const tiers = priceTiers(input.tiers ?? [], ['tiers']);
  return { tenantId, provider, model, currency, rates, tiers, from: input.effectiveFrom ?? now };
}

/** Tiers: each above a positive, distinct input size, each with at least one exact, non-negative rate. */
export function priceTiers(input: readonly PriceTierInput[], field: string[]): PriceTierRow[] {
  if (input.length > MAX_TIERS) throw badInput(field, `at most ${MAX_TIERS} tiers`);
  const seen = new Map<number, number>();
  const tiers = input.map((t, i): PriceTierRow => {
    const f = [...field, String(i)];
    const above = t.aboveInputTokens;
    if (!Number.isInteger(above) || above <= 0)
      throw badInput([...f, 'aboveInputTokens'], 'must be a whole number of input tokens greater than 0');
    const twin = seen.get(above);
    if (twin !== undefined)
      throw badInput([...f, 'aboveInputTokens'], `tier ${twin} already starts above ${above} input tokens`);
    seen.set(above, i);
    const rates = Object.fromEntries(
      TIER_FIELDS.map(([r]) => {
        const v = t[r];
        return [r, v == null ? null : fmt(parseAmount(v, [...f, r]))];
      }),
    ) as Record<TierRateField, string | null>;
    if (TIER_FIELDS.every(([r]) => rates[r] == null))
      throw badInput(f, 'give at least one rate for the tier (e.g. inputPerMillion)');
    return { aboveInputTokens: above, ...rates };
  });
  return tiers.sort((a, b) => a.aboveInputTokens - b.aboveInputTokens);
}
