// The price book: platform prices (tenant_id NULL) and tenant overrides, as versions in
// time. Owns the prices table. Versions of one (tenant, provider, model) never overlap: a
// new version ends the one in force at its start, and ends where the next one begins.
// Earlier versions stay for audit; ledger entries reference the version they used.
// Currency: a tenant is billed in one currency. A tenant's override must be in it (else it
// could never price anything). A platform price may be in any currency: it prices the usage
// of tenants billed in that currency, and usage of a tenant billed in another that it would
// price is refused (BAD_USER_INPUT naming `currency`, see currencyMismatch), by recordUsage
// and quote alike. Nothing is ever converted.

import { type TenantScope, tenantIn } from '../../auth/scope';
import type { Database } from '../../db/database';
import type { PriceRow } from '../../db/entities';
import { AppError, badInput } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { clip } from '../../lib/input';
import { CURRENCY_RE, type Dec, fmt, parseAmount, parseDecimal } from '../../lib/money';
import { costOf } from './cost';
import * as store from './pricing.store';

type RateField = (typeof store.RATE_FIELDS)[number][0];

export interface SetPriceInput extends Partial<Record<RateField, string | null>> {
  tenantId?: string | null;
  provider: string;
  model: string;
  currency?: string | null;
  effectiveFrom?: Date | null;
}

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

export function checkName(value: string | null | undefined, field: string[], required: boolean): string | null {
  if (value == null || value === '') {
    if (required) throw badInput(field, 'is required');
    return null;
  }
  if (value.length > 200 || /\p{Cc}/u.test(value)) throw badInput(field, 'must be at most 200 printable characters');
  return value;
}

export class PricingService {
  constructor(
    private readonly db: Database,
    private readonly now: () => Date,
  ) {}

  /** Operator, or tenant ADMIN for its own override (the field's authScopes). */
  async setPrice(scope: TenantScope, input: SetPriceInput): Promise<PriceRow> {
    let tenantId: string | null;
    if (scope.operator) {
      tenantId = input.tenantId ?? null;
      if (tenantId && !isUuid(tenantId)) throw badInput(['input', 'tenantId'], 'no such tenant');
    } else tenantId = tenantIn(scope, input.tenantId, ['input', 'tenantId']);
    const provider = checkName(input.provider, ['input', 'provider'], true) as string;
    const model = checkName(input.model, ['input', 'model'], true) as string;
    const currency = input.currency ?? 'USD';
    if (!CURRENCY_RE.test(currency))
      throw badInput(['input', 'currency'], 'must be a 3-letter ISO 4217 code such as USD');
    const rates = store.RATE_FIELDS.map(([f]) => {
      const v = input[f];
      return v == null ? null : fmt(parseAmount(v, ['input', f]));
    });
    if (rates.every((r) => r == null)) throw badInput(['input'], 'give at least one rate (e.g. inputPerMillion)');
    const from = input.effectiveFrom ?? this.now();

    return this.db.transaction('setPrice', async (tx) => {
      if (tenantId) {
        const billed = await store.currencyForSetPrice(tx, tenantId);
        if (!billed) throw badInput(['input', 'tenantId'], 'no such tenant');
        if (billed !== currency)
          throw badInput(
            ['input', 'currency'],
            `this tenant is billed in ${billed}; its prices must be in ${billed} (give currency: "${billed}")`,
          );
      }
      const chain = { tenantId, provider, model };
      // One writer per (tenant, provider, model) at a time keeps the versions a clean chain.
      await store.lockChain(tx, chain);
      if (await store.versionStartsAt(tx, chain, from))
        throw badInput(['input', 'effectiveFrom'], 'a version of this price already starts at that instant');
      const next = await store.nextVersionStart(tx, chain, from);
      await store.endVersionAt(tx, chain, from);
      return store.insertPrice(tx, { ...chain, currency, rates, from, to: next });
    });
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
  async resolveMany(lookups: ((PriceLookup & { tenantId: string }) | null)[]): Promise<(PriceRow | null)[]> {
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
    const rows = await store.resolvePrices(this.db, wanted);
    const found: (PriceRow | null)[] = wanted.map(() => null);
    for (const { ord, ...price } of rows) found[Number(ord) - 1] = price;
    return asked.map((n) => (n < 0 ? null : (found[n] ?? null)));
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
      const billed = await store.currencyForQuote(this.db, tenantId);
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
