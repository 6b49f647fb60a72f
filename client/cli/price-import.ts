// `tally prices import`: a plan (litellm.ts) compared with the price book, then sent in
// batches of a hundred prices, one request and one transaction each (setPrices). The server
// decides what is new: a price equal to the version in force adds nothing, so a nightly run
// of an unchanged file adds no version. The diff here only says which new versions add a
// price and which change one, and is all a --dry-run does.

import type { ImportPlan } from './litellm';
import { type Diff, nameOf, type Sent } from './price-diff';

export { BATCH, changesOf, type Diff, diffPlan, nameOf, type Sent, sendPlan } from './price-diff';

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
