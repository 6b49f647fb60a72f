// Exact decimals. PostgreSQL numeric(38,12) on disk, decimal.js in between, strings on the
// wire. Nothing here ever converts money to a JavaScript number.
import DecimalJs from 'decimal.js';
import { badInput } from './errors';
import { clip } from './input';

/** 80 significant digits: more than numeric(38,12) products ever need, so no step rounds early. */
export const Dec = DecimalJs.clone({
  precision: 80,
  rounding: DecimalJs.ROUND_HALF_EVEN,
  toExpNeg: -100,
  toExpPos: 100,
});
export type Dec = InstanceType<typeof Dec>;

export const SCALE = 12;
/** An ISO 4217 currency code. */
export const CURRENCY_RE = /^[A-Z]{3}$/;
const MAX_INTEGER_DIGITS = 26;
const DECIMAL_RE = /^[+-]?(\d+)(?:\.(\d+))?$/;

/** Parses a client decimal; rejects floats in exponent form, more than 12 decimals, or over numeric(38,12). */
const TOO_LARGE = new Dec(10).pow(MAX_INTEGER_DIGITS);

/**
 * The largest magnitude of any single amount the service accepts or computes: a ledger
 * entry's cost (supplied or priced) and quantity, every price rate, a limit's amount, an
 * authorization's estimate. Inclusive: 10^15 passes, 10^15 + 10^-12 does not.
 *
 * Why 10^15: numeric(38,12) holds 38 - 12 = 26 integer digits, so a stored sum stays below
 * 10^26 as long as it adds fewer than 10^26 / 10^15 = 10^11 entries of the maximum size.
 * The sums that are stored are the rollup cells (one per hour, or per local day, and per
 * key / subject / model / provider / kind) and a quota alert's `used` (one limit window):
 * 10^11 entries in one hour is 2.8 x 10^7 entries a second, in one day 1.2 x 10^6 a second,
 * in a 31-day window 37,000 a second sustained for the month, every one at 10^15: orders of
 * magnitude past what one tenant can write. The sums that are not stored are unbounded:
 * summaries add the cells as plain numeric (no numeric(38,12) cast) over any range, quota
 * sums used + reserved + estimate in decimal.js (80 digits), and TOTAL windows sum in SQL
 * without a cast. A priced cost is bounded too (cost.ts), so `quote` never answers a cost
 * that recordUsage could not store. 10^15 is far beyond any real entry (one entry priced at
 * a quadrillion of its currency) and keeps every computed product exact in 80 digits.
 */
export const MAX_AMOUNT = new Dec(10).pow(15);
export const MAX_AMOUNT_TEXT = '1000000000000000';

export function parseDecimal(
  value: unknown,
  field: string[],
  opts: { min?: 'zero' | 'positive'; max?: Dec } = {},
): Dec {
  if (typeof value === 'number' && Number.isSafeInteger(value)) value = String(value);
  if (typeof value !== 'string') throw badInput(field, 'must be a decimal string such as "0.15"');
  const m = DECIMAL_RE.exec(value.trim());
  if (!m) throw badInput(field, `"${clip(value)}" is not a decimal number (use digits and one dot, e.g. "0.15")`);
  if ((m[2]?.length ?? 0) > SCALE) throw badInput(field, `at most ${SCALE} decimal places are allowed`);
  const d = new Dec(value.trim());
  if (d.abs().gte(TOO_LARGE)) throw badInput(field, 'is too large');
  if (opts.max && d.abs().gt(opts.max)) throw badInput(field, `may be at most ${opts.max.toFixed()}`);
  if (opts.min === 'zero' && d.isNeg()) throw badInput(field, 'may not be negative');
  if (opts.min === 'positive' && d.lte(0)) throw badInput(field, 'must be greater than 0');
  return d;
}

/** parseDecimal for an amount: at most MAX_AMOUNT, at least 0 (or over 0 with min 'positive'). */
export const parseAmount = (value: unknown, field: string[], min: 'zero' | 'positive' = 'zero'): Dec =>
  parseDecimal(value, field, { min, max: MAX_AMOUNT });

/** The canonical wire/database form: fixed 12 decimals, as PostgreSQL prints numeric(38,12). */
export const fmt = (d: Dec): string => d.toFixed(SCALE);
/** Rounds an exact result to the stored scale (half-even, so rounding does not drift in aggregate). */
export const toScale = (d: Dec): Dec => d.toDecimalPlaces(SCALE, DecimalJs.ROUND_HALF_EVEN);
export const ZERO = new Dec(0);
