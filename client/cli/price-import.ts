// `tally prices import`: a plan (litellm.ts) compared with the price book, then sent in
// batches of a hundred prices, one request and one transaction each (setPrices). The server
// decides what is new: a price equal to the version in force adds nothing, so a nightly run
// of an unchanged file adds no version. The diff here only says which new versions add a
// price and which change one, and is all a --dry-run does.
import DecimalJs from 'decimal.js';
import type { TallyClient } from '../src/index';
import { dec } from './format';
import type { ImportPlan, Planned, PriceFromLiteLLM, TierFromLiteLLM } from './litellm';

type Current = Awaited<ReturnType<TallyClient['prices']>>[number];

export const BATCH = 100;

const RATES: [keyof PriceFromLiteLLM & keyof Current, string][] = [
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

/** The reasons of skipped entries, counted (a reason with a list after its colon counts as one). */
function reasons(skipped: ImportPlan['skipped']): [string, number][] {
  const counts = new Map<string, number>();
  for (const s of skipped) {
    const r = s.reason.replace(/: .*/, '');
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/** The report, as text; `sent` is absent on a dry run. */
export function reportText(
  plan: ImportPlan,
  diff: Diff,
  opts: { verbose: boolean; from: string; sent?: Sent },
): string {
  const lines: string[] = [];
  const s = opts.sent;
  const skipped = plan.skipped.length;
  // After an import, what the server added (a price changed meanwhile may differ from the diff).
  const added = s ? diff.added.filter((a) => s.createdKeys.has(a.key)) : diff.added;
  const changed = s ? diff.changed.filter((c) => s.createdKeys.has(c.planned.key)) : diff.changed;
  if (!s)
    lines.push(
      `dry run at ${opts.from}: would add ${diff.added.length}, change ${diff.changed.length}, leave ${diff.unchanged.length} unchanged; skipped ${skipped}`,
    );
  else
    lines.push(
      `set ${s.created} price(s) (${added.length} added, ${changed.length} changed), ${s.unchanged} unchanged, skipped ${skipped}${s.refused.length ? `, refused ${s.refused.length}` : ''}`,
    );
  if (opts.verbose && added.length) {
    lines.push(`added (${added.length}):`);
    for (const a of added) lines.push(`  ${nameOf(a.price)}${a.key !== nameOf(a.price) ? `  (${a.key})` : ''}`);
  }
  if (changed.length) {
    lines.push(`changed (${changed.length}, old → new):`);
    for (const c of changed) lines.push(`  ${nameOf(c.planned.price)}  ${c.changes.join(', ')}`);
  }
  if (opts.verbose && diff.unchanged.length) {
    lines.push(`unchanged (${diff.unchanged.length}):`);
    for (const u of diff.unchanged) lines.push(`  ${nameOf(u.price)}`);
  }
  if (skipped) {
    lines.push(`skipped (${skipped}):`);
    if (opts.verbose) for (const k of plan.skipped) lines.push(`  ${k.key}: ${k.reason}`);
    else for (const [r, n] of reasons(plan.skipped)) lines.push(`  ${String(n).padStart(4)}  ${r}`);
  }
  if (plan.collisions.length) {
    lines.push(`collisions (${plan.collisions.length}; the provider-qualified key wins):`);
    for (const c of plan.collisions)
      lines.push(`  ${nameOf(c)}: ${c.winner} over ${c.losers.join(', ')}${c.differ ? ' (their prices differ)' : ''}`);
  }
  if (plan.notImported.size) {
    const fields = [...plan.notImported].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1));
    const prices = new Set(fields.flatMap(([, keys]) => keys)).size;
    lines.push(`cost fields not imported (no Tally rate holds them): ${fields.length} field(s) in ${prices} price(s)`);
    for (const [f, keys] of opts.verbose ? fields : fields.slice(0, 5))
      lines.push(`  ${String(keys.length).padStart(4)}  ${f}${opts.verbose ? `: ${keys.join(', ')}` : ''}`);
    if (!opts.verbose && fields.length > 5) lines.push(`        ... ${fields.length - 5} more (--verbose lists them)`);
  }
  if (s?.refused.length) {
    lines.push(`refused by the server (${s.refused.length}):`);
    for (const r of s.refused) lines.push(`  ${r.key}: ${r.reason}`);
  }
  return lines.join('\n');
}

/** The report, as JSON. */
export function reportJson(plan: ImportPlan, diff: Diff, sent?: Sent) {
  return {
    dryRun: !sent,
    added: diff.added.map((a) => nameOf(a.price)),
    changed: diff.changed.map((c) => ({ price: nameOf(c.planned.price), changes: c.changes })),
    unchanged: diff.unchanged.length,
    skipped: plan.skipped,
    collisions: plan.collisions,
    notImported: Object.fromEntries([...plan.notImported].map(([f, keys]) => [f, keys.length])),
    ...(sent ? { set: [...sent.createdKeys], unchangedOnServer: sent.unchanged, refused: sent.refused } : {}),
  };
}
