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
const MAX_INTEGER_DIGITS = 26;
const DECIMAL_RE = /^[+-]?(\d+)(?:\.(\d+))?$/;

/** Parses a client decimal; rejects floats in exponent form, more than 12 decimals, or over numeric(38,12). */
const TOO_LARGE = new Dec(10).pow(MAX_INTEGER_DIGITS);

export function parseDecimal(value: unknown, field: string[], opts: { min?: 'zero' | 'positive' } = {}): Dec {
  if (typeof value === 'number' && Number.isSafeInteger(value)) value = String(value);
  if (typeof value !== 'string') throw badInput(field, 'must be a decimal string such as "0.15"');
  const m = DECIMAL_RE.exec(value.trim());
  if (!m) throw badInput(field, `"${clip(value)}" is not a decimal number (use digits and one dot, e.g. "0.15")`);
  if ((m[2]?.length ?? 0) > SCALE) throw badInput(field, `at most ${SCALE} decimal places are allowed`);
  const d = new Dec(value.trim());
  if (d.abs().gte(TOO_LARGE)) throw badInput(field, 'is too large');
  if (opts.min === 'zero' && d.isNeg()) throw badInput(field, 'may not be negative');
  if (opts.min === 'positive' && d.lte(0)) throw badInput(field, 'must be greater than 0');
  return d;
}

/** The canonical wire/database form: fixed 12 decimals, as PostgreSQL prints numeric(38,12). */
export const fmt = (d: Dec): string => d.toFixed(SCALE);
/** Rounds an exact result to the stored scale (half-even, so rounding does not drift in aggregate). */
export const toScale = (d: Dec): Dec => d.toDecimalPlaces(SCALE, DecimalJs.ROUND_HALF_EVEN);
export const ZERO = new Dec(0);
