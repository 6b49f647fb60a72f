// The cost of one piece of usage under one price version, exactly:
//   (input - cached - cacheWrite) x inputPerMillion / 1e6
// + cached x (cachedInputPerMillion ?? inputPerMillion) / 1e6
// + cacheWrite x (cacheWriteInputPerMillion ?? inputPerMillion) / 1e6
// + output x outputPerMillion / 1e6            (reasoning tokens are part of output)
// + perRequest + durationMs / 1000 x perSecond + quantity x perUnit
// Unset rates count 0. The exact result is rounded once, half-even, to 12 decimals.
import type { PriceRow } from '../../db/entities';
import { Dec, toScale, ZERO } from '../../lib/money';

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
>;

const rate = (v: string | null | undefined) => (v == null ? ZERO : new Dec(v));
const MILLION = new Dec(1_000_000);

interface ParsedRates {
  input: Dec;
  cached: Dec;
  write: Dec;
  output: Dec;
  perRequest: Dec;
  perSecond: Dec;
  perUnit: Dec;
}
/** A price's rates parsed once: a batch prices many entries with the same few price rows. */
const parsed = new WeakMap<Rates, ParsedRates>();
function ratesOf(p: Rates): ParsedRates {
  let r = parsed.get(p);
  if (!r) {
    const input = rate(p.inputPerMillion);
    r = {
      input,
      cached: p.cachedInputPerMillion == null ? input : new Dec(p.cachedInputPerMillion),
      write: p.cacheWriteInputPerMillion == null ? input : new Dec(p.cacheWriteInputPerMillion),
      output: rate(p.outputPerMillion),
      perRequest: rate(p.perRequest),
      perSecond: rate(p.perSecond),
      perUnit: rate(p.perUnit),
    };
    parsed.set(p, r);
  }
  return r;
}

export function costOf(u: Metered, p: Rates): Dec {
  const { input, cached: cachedRate, write: writeRate, output, perRequest, perSecond, perUnit } = ratesOf(p);
  const uncached = new Dec(u.inputTokens).minus(u.cachedInputTokens).minus(u.cacheWriteInputTokens);
  const tokens = uncached
    .times(input)
    .plus(new Dec(u.cachedInputTokens).times(cachedRate))
    .plus(new Dec(u.cacheWriteInputTokens).times(writeRate))
    .plus(new Dec(u.outputTokens).times(output))
    .div(MILLION);
  const seconds = u.durationMs == null ? ZERO : new Dec(u.durationMs).div(1000).times(perSecond);
  const units = u.quantity == null ? ZERO : u.quantity.times(perUnit);
  return toScale(tokens.plus(perRequest).plus(seconds).plus(units));
}
