// The cost as pricing/cost.ts defines it, written again the plain way in decimal.js (no
// integer arithmetic, no shortcuts): the reference the property tests compare costText with.
import { Dec, toScale } from '../../server/src/lib/money';
import type { Metered } from '../../server/src/modules/pricing/cost';

/** The cost of `u` at price `p` (its rates as decimal text or null, tiers included). */
export function referenceCost(u: Metered, p: Record<string, unknown>): string {
  const tiers = ((p.tiers ?? []) as Record<string, string | null>[])
    .filter((t) => u.inputTokens > Number(t.aboveInputTokens))
    .sort((a, b) => Number(b.aboveInputTokens) - Number(a.aboveInputTokens));
  const top = tiers[0] ?? {};
  const pick = (f: string) => (top[f] ?? p[f] ?? null) as string | null;
  const rate = (v: string | null) => new Dec(v ?? 0);
  const input = rate(pick('inputPerMillion'));
  const cached = pick('cachedInputPerMillion') == null ? input : rate(pick('cachedInputPerMillion'));
  const write = pick('cacheWriteInputPerMillion') == null ? input : rate(pick('cacheWriteInputPerMillion'));
  const tokens = new Dec(u.inputTokens - u.cachedInputTokens - u.cacheWriteInputTokens)
    .times(input)
    .plus(new Dec(u.cachedInputTokens).times(cached))
    .plus(new Dec(u.cacheWriteInputTokens).times(write))
    .plus(new Dec(u.outputTokens).times(rate(pick('outputPerMillion'))))
    .div(1_000_000);
  const perSecond = rate(p.perSecond as string | null);
  const seconds = u.durationMs == null ? new Dec(0) : new Dec(u.durationMs).div(1000).times(perSecond);
  const units = u.quantity == null ? new Dec(0) : u.quantity.times(rate(p.perUnit as string | null));
  return toScale(
    tokens
      .plus(rate(p.perRequest as string | null))
      .plus(seconds)
      .plus(units),
  ).toFixed(12);
}
