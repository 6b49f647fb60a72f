// The price book's writes: setPrice and setPrices add versions to price chains, one
// transaction per call, all of a batch or nothing of it.
//
// A chain is a (tenant or platform, provider, model); its versions never overlap: a new
// version ends the one in force at its start, and ends where the next one begins. Rules, in
// the order they are applied to each item:
// - a version whose currency, rates and tiers equal the version already in force at the
//   item's effectiveFrom adds nothing: that version is the answer (UNCHANGED), so a nightly
//   re-import of an unchanged price list adds no version;
// - another version starting at that very instant: BAD_USER_INPUT naming `effectiveFrom`;
// - the history never contradicts an entry's snapshot: when an entry already priced by a
//   version the new one would take over from (the version it cuts short; for a tenant
//   override also the platform versions under it) occurred at or after effectiveFrom (and
//   before the new version's end), it is BAD_USER_INPUT naming `effectiveFrom`.
// Race-free against recordings: the writer of the ledger holds, in its transaction, a shared
// lock per model it prices (modelLockKey, taken with BEGIN) and resolves prices after it; this
// takes the same keys exclusively first. So the check below waits for every ledger
// transaction that priced one of the models to commit (and sees its entries), and a
// recording that starts later waits for this transaction and prices with the new book.
import { createHash } from 'node:crypto';
import type { Database } from '../../db/database';
import type { PriceRow, PriceTierRow } from '../../db/entities';
import { type AppError, badInput } from '../../lib/errors';
import type { PricedEntries } from './ports';
import type { PriceItem } from './pricing.input';
import * as store from './pricing.store';

/** What became of one item of a setPrices call. */
export type ItemResult =
  | { outcome: 'CREATED' | 'UNCHANGED'; price: PriceRow }
  | { outcome: 'INVALID'; error: AppError }
  | { outcome: 'NOT_WRITTEN' };

/** The advisory lock key of a model's prices (a signed 64-bit integer, as PostgreSQL takes it). */
export function modelLockKey(model: string): bigint {
  return createHash('sha256').update(`tally:prices:${model}`).digest().readBigInt64BE(0);
}

/** Distinct keys, in the one order every locker takes them. */
export const sortedKeys = (models: Iterable<string>): bigint[] =>
  [...new Set([...models].map(modelLockKey))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** Thrown inside the transaction to roll back a refused batch; caught right outside it. */
class Refused extends Error {
  constructor(readonly results: ItemResult[]) {
    super('refused');
  }
}

const chainKey = (i: { tenantId: string | null; provider: string; model: string }) =>
  `${i.tenantId ?? ''}\u0000${i.provider}\u0000${i.model}`;

function sameTiers(a: readonly PriceTierRow[], b: readonly PriceTierRow[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((t, i) => {
    const u = b[i] as PriceTierRow;
    return (
      t.aboveInputTokens === u.aboveInputTokens &&
      t.inputPerMillion === u.inputPerMillion &&
      t.outputPerMillion === u.outputPerMillion &&
      t.cachedInputPerMillion === u.cachedInputPerMillion &&
      t.cacheWriteInputPerMillion === u.cacheWriteInputPerMillion
    );
  });
}

/** Whether version `p` says exactly what `item` says (currency, every rate, every tier). */
export function sameRates(p: PriceRow, item: PriceItem): boolean {
  return (
    p.currency === item.currency &&
    store.RATE_FIELDS.every(([f], i) => (p[f] ?? null) === (item.rates[i] ?? null)) &&
    sameTiers(p.tiers ?? [], item.tiers)
  );
}

/**
 * Writes checked items (null: refused before, its error already in `refused`) in one
 * transaction. Any refusal, before or here, writes nothing: the valid items are NOT_WRITTEN.
 */
export async function writeBook(
  db: Database,
  priced: PricedEntries,
  items: readonly (PriceItem | null)[],
  refused: ReadonlyMap<number, AppError>,
): Promise<ItemResult[]> {
  const results: (ItemResult | null)[] = items.map((_, i) => {
    const e = refused.get(i);
    return e ? { outcome: 'INVALID', error: e } : null;
  });
  // One version per chain per call: a batch that names a price twice is refused at the second.
  const firstOf = new Map<string, number>();
  items.forEach((item, i) => {
    if (!item) return;
    const twin = firstOf.get(chainKey(item));
    if (twin === undefined) firstOf.set(chainKey(item), i);
    else results[i] = { outcome: 'INVALID', error: badInput(['model'], `item ${twin} already sets this price`) };
  });
  const fail = (): ItemResult[] => results.map((r) => r ?? { outcome: 'NOT_WRITTEN' });
  if (results.some((r) => r?.outcome === 'INVALID')) return fail();
  const todo = items as PriceItem[];
  if (!todo.length) return [];
  const decided = results;

  try {
    return await db.transaction('setPrices', async (tx) => {
      // Each attempt (a deadlock is retried whole) starts from the results decided before it.
      const results = [...decided];
      const fail = (): ItemResult[] => results.map((r) => r ?? { outcome: 'NOT_WRITTEN' });
      await store.lockModels(tx, sortedKeys(todo.map((i) => i.model)));
      const states = await store.chainStates(tx, todo);
      const creating: { i: number; end: Date | null; displaced: string[]; cut: PriceRow | null }[] = [];
      todo.forEach((item, i) => {
        const cur = states[i]?.current ?? null;
        if (cur && sameRates(cur, item)) results[i] = { outcome: 'UNCHANGED', price: cur };
        else if (cur && cur.effectiveFrom.getTime() === item.from.getTime())
          results[i] = {
            outcome: 'INVALID',
            error: badInput(['effectiveFrom'], 'another version of this price already starts at that instant'),
          };
        else {
          const end = cur ? cur.effectiveTo : (states[i]?.nextFrom ?? null);
          const displaced = [...(cur ? [cur.id] : []), ...(states[i]?.platformIds ?? [])];
          creating.push({ i, end, displaced, cut: cur });
        }
      });
      const checked = creating.filter((c) => c.displaced.length);
      const latest = checked.length
        ? await priced.latestPriced(
            tx,
            checked.map((c) => ({
              priceIds: c.displaced,
              tenantId: (todo[c.i] as PriceItem).tenantId,
              from: (todo[c.i] as PriceItem).from,
              to: c.end,
            })),
          )
        : [];
      checked.forEach((c, k) => {
        const at = latest[k];
        if (at)
          results[c.i] = {
            outcome: 'INVALID',
            error: badInput(
              ['effectiveFrom'],
              `usage at ${at.toISOString()} was already priced by the version in force then; a new version may start only after it (the price book never contradicts what an entry was charged)`,
            ),
          };
      });
      if (results.some((r) => r?.outcome === 'INVALID')) throw new Refused(fail());

      await store.endVersions(
        tx,
        creating.flatMap((c) => (c.cut ? [{ id: c.cut.id, to: (todo[c.i] as PriceItem).from }] : [])),
      );
      const rows = creating.length
        ? await store.insertPrices(
            tx,
            creating.map(({ i, end }) => {
              const { tiers: _, ...item } = todo[i] as PriceItem;
              return { ...item, to: end };
            }),
          )
        : [];
      const byChain = new Map(rows.map((r) => [chainKey(r), r]));
      const created = creating.map(({ i }) => {
        const row = byChain.get(chainKey(todo[i] as PriceItem));
        if (!row) throw new Error('a new price version was not returned by its insert');
        return { i, row };
      });
      const newTiers = created.flatMap(({ i, row }) =>
        (todo[i] as PriceItem).tiers.map((t) => ({ ...t, priceId: row.id })),
      );
      const tiers = newTiers.length ? await store.insertTiers(tx, newTiers) : [];
      for (const { i, row } of created) {
        const own = tiers
          .filter((t) => t.priceId === row.id)
          .map(({ priceId: _, ...t }) => t)
          .sort((a, b) => a.aboveInputTokens - b.aboveInputTokens);
        results[i] = { outcome: 'CREATED', price: { ...row, tiers: own } };
      }
      return results as ItemResult[];
    });
  } catch (e) {
    if (e instanceof Refused) return e.results;
    throw e;
  }
}
