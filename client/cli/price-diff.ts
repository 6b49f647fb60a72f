// The price import's plan against the price book, and its sending: no Node-only code, so
// both `tally prices import` (price-import.ts) and the dashboard's Prices page use it. The
// server decides what is new: a price equal to the version in force adds nothing.
import DecimalJs from 'decimal.js';
import type { TallyClient } from '../src/index';
import { dec } from './decimal-text';
import type { ImportPlan, Planned, PriceFromLiteLLM, TierFromLiteLLM } from './litellm';

type Current = Awaited<ReturnType<TallyClient['prices']>>[number];

export const BATCH = 100;

/** Each rate a price can set, and its short name in tables and diffs ("input/M"). */
export const RATES: [keyof PriceFromLiteLLM & keyof Current, string][] = [
  ['inputPerMillion', 'input/M'],
  ['cachedInputPerMillion', 'cached/M'],
  ['cacheWriteInputPerMillion', 'cache-write/M'],
  ['outputPerMillion', 'output/M'],
  ['perRequest', 'request'],
  ['perSecond', 'second'],
  ['perUnit', 'unit'],
];
const TIER_RATES = RATES.slice(0, 4) as [keyof TierFromLiteLLM, string][];

export const nameOf = (p: { provider: string; model: string }) => `${p.provider}/${p.model}`;
const eq = (a: string | null | undefined, b: string | null | undefined) =>
  a == null || b == null ? a == null && b == null : new DecimalJs(a).eq(b);
const show = (v: string | null | undefined) => (v == null ? '-' : dec(v));
const tiersText = (tiers: readonly Partial<Record<keyof TierFromLiteLLM, unknown>>[]) =>
  tiers.length
    ? tiers
        .map(
          (t) =>
            `>${t.aboveInputTokens}: ${TIER_RATES.filter(([k]) => t[k] != null)
              .map(([k, n]) => `${n} ${dec(String(t[k]))}`)
              .join(' ')}`,
        )
        .join('; ')
    : 'none';

/** What changes from `old` to `p`, one "field old → new" per rate (empty: the same price). */
export function changesOf(p: PriceFromLiteLLM, old: Current): string[] {
  const out = RATES.filter(([k]) => !eq(p[k] as string | undefined, old[k] as string | null)).map(
    ([k, n]) => `${n} ${show(old[k] as string | null)} → ${show(p[k] as string | undefined)}`,
  );
  if (old.currency !== 'USD') out.push(`currency ${old.currency} → USD`);
  const mine = p.tiers ?? [];
  const theirs = old.tiers;
  const sameTiers =
    mine.length === theirs.length &&
    mine.every((t, i) => {
      const u = theirs[i];
      return (
        u?.aboveInputTokens === t.aboveInputTokens && TIER_RATES.every(([k]) => eq(t[k] as string, u[k] as string))
      );
    });
  if (!sameTiers) out.push(`tiers ${tiersText(theirs)} → ${tiersText(mine)}`);
  return out;
}

export interface Diff {
  added: Planned[];
  changed: { planned: Planned; changes: string[] }[];
  unchanged: Planned[];
}

/** The plan against the versions in force (of the platform, or of `tenantId`'s overrides). */
export function diffPlan(plan: ImportPlan, current: readonly Current[], tenantId: string | null): Diff {
  const inForce = new Map(
    current.filter((c) => (c.tenantId ?? null) === tenantId).map((c) => [`${c.provider}\u0000${c.model}`, c]),
  );
  const diff: Diff = { added: [], changed: [], unchanged: [] };
  for (const planned of plan.prices) {
    const old = inForce.get(`${planned.price.provider}\u0000${planned.price.model}`);
    if (!old) diff.added.push(planned);
    else {
      const changes = changesOf(planned.price, old);
      if (changes.length) diff.changed.push({ planned, changes });
      else diff.unchanged.push(planned);
    }
  }
  return diff;
}

export interface Sent {
  created: number;
  unchanged: number;
  /** The keys of the prices that added a version. */
  createdKeys: Set<string>;
  /** Prices the server refused (the rest of their batch is sent again without them). */
  refused: { key: string; reason: string }[];
}

/** Sends the plan in batches of BATCH prices, `concurrency` requests at a time. */
export async function sendPlan(
  client: TallyClient,
  plan: ImportPlan,
  opts: { tenantId?: string | null; from: string; concurrency: number; progress: (done: number) => void },
): Promise<Sent> {
  const sent: Sent = { created: 0, unchanged: 0, createdKeys: new Set(), refused: [] };
  const batches: Planned[][] = [];
  for (let i = 0; i < plan.prices.length; i += BATCH) batches.push(plan.prices.slice(i, i + BATCH));
  const send = async (batch: Planned[], retry: boolean): Promise<void> => {
    const r = await client.setPrices({
      prices: batch.map((p) => ({ ...p.price, tenantId: opts.tenantId, effectiveFrom: opts.from })),
    });
    if (r.rejected === 0) {
      sent.created += r.created;
      sent.unchanged += r.unchanged;
      r.results.forEach((res, i) => {
        if (res.outcome === 'CREATED') sent.createdKeys.add((batch[i] as Planned).key);
      });
      return;
    }
    // Nothing of a refused batch was written: the refused prices are reported, the rest sent again.
    const again: Planned[] = [];
    r.results.forEach((res, i) => {
      const p = batch[i] as Planned;
      if (res.outcome === 'INVALID')
        sent.refused.push({
          key: p.key,
          reason: `${res.error?.code}: ${res.error?.message} (${res.error?.field?.join('.')})`,
        });
      else again.push(p);
    });
    if (again.length && retry) await send(again, false);
    else for (const p of again) sent.refused.push({ key: p.key, reason: 'its batch was refused twice' });
  };
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++] as Planned[];
      await send(batch, true);
      done += batch.length;
      opts.progress(done);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  return sent;
}
