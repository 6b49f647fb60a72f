// The cost of one piece of usage under one price version, exactly:
//   (input - cached - cacheWrite) x inputPerMillion / 1e6
// + cached x (cachedInputPerMillion ?? inputPerMillion) / 1e6
// + cacheWrite x (cacheWriteInputPerMillion ?? inputPerMillion) / 1e6
// + output x outputPerMillion / 1e6            (reasoning tokens are part of output)
// + perRequest + durationMs / 1000 x perSecond + quantity x perUnit
// Unset rates count 0. The exact result is rounded once, half-even, to 12 decimals.
// Tiers: when inputTokens exceed a tier's aboveInputTokens, the highest such tier's rates
// replace the base rates for the whole call (a rate the tier leaves unset keeps the base
// rate; cached and cache-write then fall back to the resulting input rate as above).
// A result over MAX_AMOUNT (see money.ts for why the bound keeps every sum storable) is
// BAD_USER_INPUT naming the usage field whose term is the largest, so recordUsage and quote
// refuse the same usage the same way.
import type { PriceRow, PriceTierRow } from '../../db/entities';
import { badInput } from '../../lib/errors';
import { Dec, MAX_AMOUNT_TEXT } from '../../lib/money';

export interface Metered {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteInputTokens: number;
  durationMs: number | null;
  quantity: Dec | null;
}

type Rates = Pick<
  PriceRow,
  | 'inputPerMillion'
  | 'outputPerMillion'
  | 'cachedInputPerMillion'
  | 'cacheWriteInputPerMillion'
  | 'perRequest'
  | 'perSecond'
  | 'perUnit'
> & { tiers?: readonly PriceTierRow[] };

// Exact integer arithmetic: every rate and quantity has at most 12 decimals (numeric(38,12)),
// so each term is an integer at scale 24 and their sum is exact; only the final rounding to
// 12 decimals (half-even) loses anything, as in the definition above. BigInt instead of
// decimal.js: this runs for every recorded event.
const SCALE = 12;
const TEN12 = 10n ** 12n;

/** A decimal string with at most 12 decimals (as PostgreSQL or fmt() print it), times 1e12. */
function scaled(v: string | null | undefined): bigint {
  if (v == null) return 0n;
  const neg = v.startsWith('-');
  const [int = '0', frac = ''] = (neg ? v.slice(1) : v).split('.');
  if (frac.length > SCALE) throw new Error(`more than ${SCALE} decimals: ${v}`);
  const n = BigInt(int) * TEN12 + BigInt(frac.padEnd(SCALE, '0') || '0');
  return neg ? -n : n;
}

interface ScaledRates {
  input: bigint;
  cached: bigint;
  write: bigint;
  output: bigint;
  perRequest: bigint;
  perSecond: bigint;
  perUnit: bigint;
}
interface ScaledPrice {
  base: ScaledRates;
  /** The tiers' merged rates, highest aboveInputTokens first. */
  tiers: { above: number; rates: ScaledRates }[];
}

function scaledRates(p: Rates): ScaledRates {
  const input = scaled(p.inputPerMillion);
  return {
    input,
    cached: p.cachedInputPerMillion == null ? input : scaled(p.cachedInputPerMillion),
    write: p.cacheWriteInputPerMillion == null ? input : scaled(p.cacheWriteInputPerMillion),
    output: scaled(p.outputPerMillion),
    perRequest: scaled(p.perRequest),
    perSecond: scaled(p.perSecond),
    perUnit: scaled(p.perUnit),
  };
}

/** A price's rates parsed once: a batch prices many entries with the same few price rows. */
const parsed = new WeakMap<Rates, ScaledPrice>();
function priceOf(p: Rates): ScaledPrice {
  let r = parsed.get(p);
  if (!r) {
    r = {
      base: scaledRates(p),
      tiers: [...(p.tiers ?? [])]
        .sort((a, b) => b.aboveInputTokens - a.aboveInputTokens)
        .map((t) => ({
          above: t.aboveInputTokens,
          rates: scaledRates({
            ...p,
            inputPerMillion: t.inputPerMillion ?? p.inputPerMillion,
            outputPerMillion: t.outputPerMillion ?? p.outputPerMillion,
            cachedInputPerMillion: t.cachedInputPerMillion ?? p.cachedInputPerMillion,
            cacheWriteInputPerMillion: t.cacheWriteInputPerMillion ?? p.cacheWriteInputPerMillion,
          }),
        })),
    };
    parsed.set(p, r);
  }
  return r;
}

/** The rates a call of `inputTokens` pays: the highest tier it exceeds, else the base rates. */
function ratesOf(p: Rates, inputTokens: number): ScaledRates {
  const s = priceOf(p);
  for (const t of s.tiers) if (inputTokens > t.above) return t.rates;
  return s.base;
}

/** MAX_AMOUNT at scale 12. */
const MAX_SCALED = BigInt(MAX_AMOUNT_TEXT) * TEN12;

/**
 * The cost as the canonical 12-decimal string (what fmt() prints and the ledger stores).
 * Over MAX_AMOUNT: BAD_USER_INPUT at `[...field, <usage field>]`.
 */
export function costText(u: Metered, p: Rates, field: readonly string[] = []): string {
  const r = ratesOf(p, u.inputTokens);
  const uncached = BigInt(u.inputTokens - u.cachedInputTokens - u.cacheWriteInputTokens);
  // tokens x rate(scale 12) / 1e6 is exact at scale 18; x 1e6 brings it to scale 24.
  const tokens =
    (uncached * r.input +
      BigInt(u.cachedInputTokens) * r.cached +
      BigInt(u.cacheWriteInputTokens) * r.write +
      BigInt(u.outputTokens) * r.output) *
    1_000_000n;
  // durationMs / 1000 x perSecond(scale 12) is exact at scale 15; x 1e9 to scale 24.
  const seconds = u.durationMs == null ? 0n : BigInt(u.durationMs) * r.perSecond * 1_000_000_000n;
  const units = u.quantity == null ? 0n : scaled(u.quantity.toFixed(SCALE)) * r.perUnit;
  const total = tokens + seconds + units + r.perRequest * TEN12; // scale 24
  const cost = roundHalfEven(total, TEN12);
  if (cost > MAX_SCALED) throw tooCostly(u, r, cost, field);
  return format(cost);
}

export function costOf(u: Metered, p: Rates, field: readonly string[] = []): Dec {
  return new Dec(costText(u, p, field));
}

/** The refusal of a cost over MAX_AMOUNT, naming the field whose term weighs most. */
function tooCostly(u: Metered, r: ScaledRates, cost: bigint, field: readonly string[]) {
  const uncached = BigInt(u.inputTokens - u.cachedInputTokens - u.cacheWriteInputTokens);
  const terms: [string, bigint][] = [
    ['inputTokens', uncached * r.input * 1_000_000n],
    ['cachedInputTokens', BigInt(u.cachedInputTokens) * r.cached * 1_000_000n],
    ['cacheWriteInputTokens', BigInt(u.cacheWriteInputTokens) * r.write * 1_000_000n],
    ['outputTokens', BigInt(u.outputTokens) * r.output * 1_000_000n],
    ['durationMs', u.durationMs == null ? 0n : BigInt(u.durationMs) * r.perSecond * 1_000_000_000n],
    ['quantity', u.quantity == null ? 0n : scaled(u.quantity.toFixed(SCALE)) * r.perUnit],
    ['cost', r.perRequest * TEN12],
  ];
  const [name] = terms.reduce((a, b) => (b[1] > a[1] ? b : a));
  return badInput(
    [...field, name],
    `this usage would cost ${format(cost)}, more than one entry may cost (${MAX_AMOUNT_TEXT})`,
  );
}

/** n / d rounded half to even (d > 0). */
function roundHalfEven(n: bigint, d: bigint): bigint {
  const neg = n < 0n;
  const a = neg ? -n : n;
  let q = a / d;
  const twice = (a % d) * 2n;
  if (twice > d || (twice === d && q % 2n === 1n)) q += 1n;
  return neg ? -q : q;
}

/** A scale-12 integer as a decimal string with exactly 12 decimals. */
function format(n: bigint): string {
  const neg = n < 0n;
  const digits = (neg ? -n : n).toString().padStart(SCALE + 1, '0');
  return `${neg ? '-' : ''}${digits.slice(0, -SCALE)}.${digits.slice(-SCALE)}`;
}
