// The price book: platform prices (tenant_id NULL) and tenant overrides, as versions in
// time, with their tiers. Owns the prices and price_tiers tables. Writing versions (the chain
// rules, the backdating rule, all-or-nothing batches) is pricing.book.ts; checks of a price
// as given are pricing.input.ts; this file lists, resolves and quotes.
// Earlier versions stay for audit; ledger entries reference the version they used.
// Currency: a tenant is billed in one currency. A tenant's override must be in it (else it
// could never price anything). A platform price may be in any currency: it prices the usage
// of tenants billed in that currency, and usage of a tenant billed in another that it would
// price is refused (BAD_USER_INPUT naming `currency`, see currencyMismatch), by recordUsage
// and quote alike. Nothing is ever converted.

import { type TenantScope, tenantIn } from '../../auth/scope';
import type { Database, Sql } from '../../db/database';
import type { PriceRow } from '../../db/entities';
import { AppError, badInput } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { clip, RefusedItem } from '../../lib/input';
import { type Dec, fmt, parseAmount, parseDecimal } from '../../lib/money';
import type { TenantsService } from '../tenants/tenants.service';
import { costOf } from './cost';
import type { PricedEntries } from './ports';
import { type ItemResult, sortedKeys, writeBook } from './pricing.book';
import { type PriceItem, priceItem, type SetPriceInput } from './pricing.input';
import * as store from './pricing.store';

export type { SetPriceInput };

/** At most this many prices per setPrices call (the importer sends 100). */
export const MAX_PRICES = 500;

export interface PriceLookup {
  provider: string | null;
  model: string | null;
  at: Date;
}

export interface QuoteInput {
  tenantId?: string | null;
  kind: string;
  provider?: string | null;
  model?: string | null;
  inputTokens?: number | null;
  outputTokens?: number | null;
  cachedInputTokens?: number | null;
  cacheWriteInputTokens?: number | null;
  durationMs?: number | null;
  quantity?: string | null;
  at?: Date | null;
}

export interface SetPricesResult {
  created: number;
  unchanged: number;
  rejected: number;
  results: (ItemResult & { index: number })[];
}

export class PricingService {
  constructor(
    private readonly db: Database,
    /** Tenants' billing currencies (cached there: a currency never changes). */
    private readonly tenants: Pick<TenantsService, 'currencies'>,
    /** The ledger's side of the backdating rule (usage's, given at wiring). */
    private readonly priced: PricedEntries,
    private readonly now: () => Date,
  ) {}

  /**
   * Operator, or tenant ADMIN for its own override (the field's authScopes). Adds a version,
   * or answers the version in force at effectiveFrom when it already says exactly this.
   */
  async setPrice(scope: TenantScope, input: SetPriceInput): Promise<PriceRow> {
    const [r] = await this.setMany(scope, [input]);
    if (r?.outcome === 'INVALID') throw r.error.within(['input']);
    if (r?.outcome !== 'CREATED' && r?.outcome !== 'UNCHANGED') throw new Error('setPrice answered no price');
    return r.price;
  }

  /** Several prices in one transaction: every one of them, or (when any is refused) none. */
  async setPrices(scope: TenantScope, inputs: readonly (SetPriceInput | RefusedItem)[]): Promise<SetPricesResult> {
    if (inputs.length > MAX_PRICES) throw badInput(['input', 'prices'], `at most ${MAX_PRICES} prices per call`);
    const results = (await this.setMany(scope, inputs)).map((r, index) =>
      r.outcome === 'INVALID'
        ? { ...r, index, error: r.error.within(['input', 'prices', String(index)]) }
        : { ...r, index },
    );
    const count = (o: ItemResult['outcome']) => results.filter((r) => r.outcome === o).length;
    return { created: count('CREATED'), unchanged: count('UNCHANGED'), rejected: count('INVALID'), results };
  }

  /** Checks each item (errors relative to the item), then writes them all or none. */
  private async setMany(scope: TenantScope, inputs: readonly (SetPriceInput | RefusedItem)[]): Promise<ItemResult[]> {
    const now = this.now();
    const refused = new Map<number, AppError>();
    const items = inputs.map((input, i): PriceItem | null => {
      try {
        if (input instanceof RefusedItem) throw input.error;
        return priceItem(scope, input, now);
      } catch (e) {
        if (!(e instanceof AppError)) throw e;
        refused.set(i, e);
        return null;
      }
    });
    // A tenant's override must be in the tenant's currency (else it could never price anything).
    const tenantIds = items.flatMap((i) => (i?.tenantId ? [i.tenantId] : []));
    const billed = tenantIds.length ? await this.tenants.currencies(tenantIds) : new Map<string, string>();
    items.forEach((item, i) => {
      if (!item?.tenantId) return;
      const currency = billed.get(item.tenantId);
      if (!currency) refused.set(i, badInput(['tenantId'], 'no such tenant'));
      else if (currency !== item.currency)
        refused.set(
          i,
          badInput(
            ['currency'],
            `this tenant is billed in ${currency}; its prices must be in ${currency} (give currency: "${currency}")`,
          ),
        );
    });
    return writeBook(
      this.db,
      this.priced,
      items.map((item, i) => (refused.has(i) ? null : item)),
      refused,
    );
  }

  /** Versions visible to the caller: the platform's and (for a tenant) its own overrides (READ). */
  async list(
    scope: TenantScope,
    filter: { tenantId?: string | null; provider?: string | null; model?: string | null; at?: Date | null },
  ): Promise<PriceRow[]> {
    let tenantId: string | null = null;
    if (scope.operator) {
      tenantId = filter.tenantId ?? null;
      if (tenantId && !isUuid(tenantId)) return [];
    } else tenantId = tenantIn(scope, filter.tenantId, ['tenantId']);
    return store.listPrices(this.db, {
      tenantId,
      provider: filter.provider ?? null,
      model: filter.model ?? null,
      at: filter.at ?? null,
    });
  }

  async byIds(ids: readonly string[]): Promise<PriceRow[]> {
    return store.pricesByIds(this.db, ids);
  }

  /**
   * The version in force for each lookup, in one statement: the tenant's override for
   * (provider, model) first, else the platform's. Without a provider, any provider's price
   * for the model matches (the first by provider name, so the choice is deterministic).
   */
  async resolve(tenantId: string, lookups: PriceLookup[]): Promise<(PriceRow | null)[]> {
    return this.resolveMany(lookups.map((l) => ({ ...l, tenantId })));
  }

  /**
   * resolve() for lookups of several tenants in one statement (the group committer prices
   * every entry of a shared batch with it). A null lookup, or one without a model, is null.
   */
  async resolveMany(
    lookups: ((PriceLookup & { tenantId: string }) | null)[],
    sql: Sql = this.db,
  ): Promise<(PriceRow | null)[]> {
    // Entries of one batch mostly share tenant, model and instant: each distinct lookup is asked once.
    const slot = new Map<string, number>();
    const wanted: (PriceLookup & { tenantId: string })[] = [];
    const asked = lookups.map((l) => {
      if (l?.model == null) return -1;
      const k = `${l.tenantId}|${l.provider ?? ''}|${l.model}|${l.at.getTime()}`;
      let n = slot.get(k);
      if (n === undefined) {
        n = wanted.push(l) - 1;
        slot.set(k, n);
      }
      return n;
    });
    if (wanted.length === 0) return lookups.map(() => null);
    const rows = await store.resolvePrices(sql, wanted);
    const found: (PriceRow | null)[] = wanted.map(() => null);
    for (const { ord, ...price } of rows) found[Number(ord) - 1] = price;
    return asked.map((n) => (n < 0 ? null : (found[n] ?? null)));
  }

  /**
   * The locks a ledger transaction pricing `lookups` takes shared with its BEGIN, before it
   * resolves them (resolveMany on that transaction): setPrices takes them exclusively, so it
   * never checks the ledger while such a transaction is open, nor changes a price under it.
   */
  bookLocks(lookups: readonly ({ model: string | null } | null)[]): bigint[] {
    return sortedKeys(lookups.flatMap((l) => (l?.model == null ? [] : [l.model])));
  }

  /** Any key may ask. */
  async quote(
    scope: TenantScope,
    input: QuoteInput,
  ): Promise<{ cost: string; currency: string; price: PriceRow | null }> {
    const tenantId = scope.operator ? (input.tenantId ?? null) : tenantIn(scope, input.tenantId, ['input', 'tenantId']);
    const n = (v: number | null | undefined, f: string) => {
      const x = v ?? 0;
      if (!Number.isInteger(x) || x < 0) throw badInput(['input', f], 'may not be negative');
      return x;
    };
    const usage = {
      inputTokens: n(input.inputTokens, 'inputTokens'),
      outputTokens: n(input.outputTokens, 'outputTokens'),
      cachedInputTokens: n(input.cachedInputTokens, 'cachedInputTokens'),
      cacheWriteInputTokens: n(input.cacheWriteInputTokens, 'cacheWriteInputTokens'),
      durationMs: input.durationMs == null ? null : n(input.durationMs, 'durationMs'),
      quantity: null as Dec | null,
    };
    if (usage.cachedInputTokens + usage.cacheWriteInputTokens > usage.inputTokens)
      throw badInput(
        ['input', 'cachedInputTokens'],
        'cachedInputTokens + cacheWriteInputTokens may not exceed inputTokens',
      );
    if (input.quantity != null) usage.quantity = parseAmount(input.quantity, ['input', 'quantity']);
    else if (input.kind === 'CALL') usage.quantity = parseDecimal('1', []);
    const lookup = { provider: input.provider ?? null, model: input.model ?? null, at: input.at ?? this.now() };
    const [price] =
      tenantId && isUuid(tenantId) ? await this.resolve(tenantId, [lookup]) : await this.resolvePlatform(lookup);
    if (!price) throw priceNotFound(lookup.provider, lookup.model);
    // The tenant's currency, as recordUsage checks it (an operator quote without a tenant has none).
    if (tenantId && isUuid(tenantId)) {
      const billed = (await this.tenants.currencies([tenantId])).get(tenantId);
      if (billed && billed !== price.currency) throw currencyMismatch(price, billed, ['input', 'currency']);
    }
    return { cost: fmt(costOf(usage, price, ['input'])), currency: price.currency, price };
  }

  private async resolvePlatform(l: PriceLookup): Promise<(PriceRow | null)[]> {
    if (l.model == null) return [null];
    return [await store.resolvePlatformPrice(this.db, { provider: l.provider, model: l.model, at: l.at })];
  }
}

/** Usage of a tenant billed in `tenantCurrency` that `price` (in another currency) would price. */
export function currencyMismatch(price: PriceRow, tenantCurrency: string, field: string[] = ['currency']) {
  return badInput(
    field,
    `the price of ${price.provider}/${price.model} is in ${price.currency}; this tenant is billed in ${tenantCurrency}: set a ${tenantCurrency} price for the tenant (setPrice with tenantId) or send cost`,
  );
}

export function priceNotFound(provider: string | null, model: string | null) {
  const what = model ? clip(`${provider ? `${provider}/` : ''}${model}`, 80) : 'usage without a model';
  return new AppError('PRICE_NOT_FOUND', `no price covers ${what} at that time; set one (setPrice) or send cost`, [
    'model',
  ]);
}
