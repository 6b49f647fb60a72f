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

export const PRICE_COLUMNS = `id, tenant_id AS "tenantId", provider, model, currency,
  input_per_million AS "inputPerMillion", output_per_million AS "outputPerMillion",
  cached_input_per_million AS "cachedInputPerMillion", cache_write_input_per_million AS "cacheWriteInputPerMillion",
  per_request AS "perRequest", per_second AS "perSecond", per_unit AS "perUnit",
  effective_from AS "effectiveFrom", effective_to AS "effectiveTo", created_at AS "createdAt"`;

const RATE_FIELDS = [
  ['inputPerMillion', 'input_per_million'],
  ['outputPerMillion', 'output_per_million'],
  ['cachedInputPerMillion', 'cached_input_per_million'],
  ['cacheWriteInputPerMillion', 'cache_write_input_per_million'],
  ['perRequest', 'per_request'],
  ['perSecond', 'per_second'],
  ['perUnit', 'per_unit'],
] as const;
type RateField = (typeof RATE_FIELDS)[number][0];

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
    const rates = RATE_FIELDS.map(([f]) => {
      const v = input[f];
      return v == null ? null : fmt(parseAmount(v, ['input', f]));
    });
    if (rates.every((r) => r == null)) throw badInput(['input'], 'give at least one rate (e.g. inputPerMillion)');
    const from = input.effectiveFrom ?? this.now();

    return this.db.transaction('setPrice', async (tx) => {
      if (tenantId) {
        const [t] = await tx.query<{ currency: string }>(
          'setPrice:tenant',
          'SELECT currency FROM tenants WHERE id = $1',
          [tenantId],
        );
        if (!t) throw badInput(['input', 'tenantId'], 'no such tenant');
        if (t.currency !== currency)
          throw badInput(
            ['input', 'currency'],
            `this tenant is billed in ${t.currency}; its prices must be in ${t.currency} (give currency: "${t.currency}")`,
          );
      }
      // One writer per (tenant, provider, model) at a time keeps the versions a clean chain.
      await tx.query('setPrice:lock', 'SELECT pg_advisory_xact_lock(hashtextextended($1, 7))', [
        `price:${tenantId ?? '-'}:${provider}:${model}`,
      ]);
      const same = await tx.query(
        'setPrice:same',
        'SELECT 1 FROM prices WHERE tenant_id IS NOT DISTINCT FROM $1 AND provider = $2 AND model = $3 AND effective_from = $4',
        [tenantId, provider, model, from],
      );
      if (same.length)
        throw badInput(['input', 'effectiveFrom'], 'a version of this price already starts at that instant');
      const [next] = await tx.query<{ from: Date }>(
        'setPrice:next',
        `SELECT effective_from AS "from" FROM prices
          WHERE tenant_id IS NOT DISTINCT FROM $1 AND provider = $2 AND model = $3 AND effective_from > $4
          ORDER BY effective_from LIMIT 1`,
        [tenantId, provider, model, from],
      );
      await tx.query(
        'setPrice:endPrevious',
        `UPDATE prices SET effective_to = $4
          WHERE tenant_id IS NOT DISTINCT FROM $1 AND provider = $2 AND model = $3
            AND effective_from < $4 AND (effective_to IS NULL OR effective_to > $4)`,
        [tenantId, provider, model, from],
      );
      const [row] = await tx.query<PriceRow>(
        'setPrice:insert',
        `INSERT INTO prices (tenant_id, provider, model, currency, ${RATE_FIELDS.map(([, c]) => c).join(', ')}, effective_from, effective_to)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING ${PRICE_COLUMNS}`,
        [tenantId, provider, model, currency, ...rates, from, next?.from ?? null],
      );
      return row as PriceRow;
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
    return this.db.query<PriceRow>(
      'prices:list',
      `SELECT ${PRICE_COLUMNS} FROM prices
        WHERE (tenant_id IS NULL OR tenant_id = $1)
          AND ($2::text IS NULL OR provider = $2) AND ($3::text IS NULL OR model = $3)
          AND ($4::timestamptz IS NULL OR (effective_from <= $4 AND (effective_to IS NULL OR effective_to > $4)))
        ORDER BY provider, model, tenant_id NULLS FIRST, effective_from DESC`,
      [tenantId, filter.provider ?? null, filter.model ?? null, filter.at ?? null],
    );
  }

  async byIds(ids: readonly string[]): Promise<PriceRow[]> {
    return this.db.query<PriceRow>('prices:byIds', `SELECT ${PRICE_COLUMNS} FROM prices WHERE id = ANY($1::uuid[])`, [
      ids,
    ]);
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
    const rows = await this.db.query<PriceRow & { ord: string }>(
      'prices:resolve',
      `SELECT l.ord, p.* FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS l(tenant_id, provider, model, at, ord)
       JOIN LATERAL (
         SELECT ${PRICE_COLUMNS} FROM prices p
          WHERE (p.tenant_id = l.tenant_id OR p.tenant_id IS NULL) AND p.model = l.model
            AND (l.provider IS NULL OR p.provider = l.provider)
            AND p.effective_from <= l.at AND (p.effective_to IS NULL OR p.effective_to > l.at)
          ORDER BY p.tenant_id NULLS LAST, p.provider LIMIT 1
       ) p ON true`,
      [
        wanted.map((w) => w.tenantId),
        wanted.map((w) => w.provider),
        wanted.map((w) => w.model),
        wanted.map((w) => w.at.toISOString()),
      ],
    );
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
      const [t] = await this.db.query<{ currency: string }>(
        'quote:tenant',
        'SELECT currency FROM tenants WHERE id = $1',
        [tenantId],
      );
      if (t && t.currency !== price.currency) throw currencyMismatch(price, t.currency, ['input', 'currency']);
    }
    return { cost: fmt(costOf(usage, price, ['input'])), currency: price.currency, price };
  }

  private async resolvePlatform(l: PriceLookup): Promise<(PriceRow | null)[]> {
    if (l.model == null) return [null];
    const rows = await this.db.query<PriceRow>(
      'prices:resolvePlatform',
      `SELECT ${PRICE_COLUMNS} FROM prices WHERE tenant_id IS NULL AND model = $1 AND ($2::text IS NULL OR provider = $2)
         AND effective_from <= $3 AND (effective_to IS NULL OR effective_to > $3) ORDER BY provider LIMIT 1`,
      [l.model, l.provider, l.at],
    );
    return [rows[0] ?? null];
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
