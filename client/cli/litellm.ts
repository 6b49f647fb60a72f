// LiteLLM's price map (model_prices_and_context_window.json) -> Tally prices, as a plan: the
// prices to set, the entries skipped (with why), the colliding names and which one won, and
// the cost fields no Tally rate can hold. Nothing is dropped without a word.
//
// Per-token costs become per-million rates exactly (decimal arithmetic on the JSON number's
// shortest form, rounded half-even to Tally's 12 decimals). Which source field becomes which
// Tally field is the table in the README ("Importing LiteLLM's price map"); in short:
//   tokens      input/output_cost_per_token, cache_read/cache_creation_input_token_cost
//   tiers       <those>_above_<N>k_tokens, and tiered_pricing [{ range: [from, to], ... }]
//   perSecond   input_cost_per_second (seconds of audio: ASR's durationMs)
//   perUnit     one unit per model: an image, a second of video, a character, a page, a pixel
//   perRequest  a query (input_cost_per_query, input_cost_per_request, search_context_cost_per_query)
import DecimalJs from 'decimal.js';

export type LiteLLMEntry = Record<string, unknown> & { litellm_provider?: unknown; mode?: unknown };

export interface TierFromLiteLLM {
  aboveInputTokens: number;
  inputPerMillion?: string;
  outputPerMillion?: string;
  cachedInputPerMillion?: string;
  cacheWriteInputPerMillion?: string;
}

export interface PriceFromLiteLLM {
  provider: string;
  model: string;
  inputPerMillion?: string;
  outputPerMillion?: string;
  cachedInputPerMillion?: string;
  cacheWriteInputPerMillion?: string;
  perRequest?: string;
  perSecond?: string;
  perUnit?: string;
  tiers?: TierFromLiteLLM[];
}

/** An entry that became a price, and the cost fields of it that no Tally rate holds. */
export interface Planned {
  key: string;
  price: PriceFromLiteLLM;
  /** What perUnit counts, when set (for the README's table and --verbose). */
  unit?: string;
  notImported: string[];
}

export interface Collision {
  provider: string;
  model: string;
  /** The key that was imported. */
  winner: string;
  losers: string[];
  /** Whether the losers' prices differ from the winner's. */
  differ: boolean;
}

export interface ImportPlan {
  prices: Planned[];
  skipped: { key: string; reason: string }[];
  collisions: Collision[];
  /** Cost field -> keys of imported prices that carry it, not imported. */
  notImported: Map<string, string[]>;
}

/** Tally stores 12 decimals; a rate is rounded half-even to that, then printed without trailing zeros. */
const rate = (d: DecimalJs) => d.toDecimalPlaces(12, DecimalJs.ROUND_HALF_EVEN).toFixed();
const isCost = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const perMillion = (v: unknown) => (isCost(v) ? rate(new DecimalJs(String(v)).times(1_000_000)) : undefined);
const plain = (v: unknown) => (isCost(v) ? rate(new DecimalJs(String(v))) : undefined);

/** The token fields, each with its Tally rate. */
const TOKEN_FIELDS = [
  ['input_cost_per_token', 'inputPerMillion'],
  ['output_cost_per_token', 'outputPerMillion'],
  ['cache_read_input_token_cost', 'cachedInputPerMillion'],
  ['cache_creation_input_token_cost', 'cacheWriteInputPerMillion'],
] as const;
const ABOVE =
  /^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_input_token_cost)_above_(\d+)k_tokens$/;

/**
 * perUnit: a price has one unit, the first of these the entry prices (one above 0 first). Each
 * names what the gateway counts as `quantity` for it.
 */
const UNITS: { field: string; unit: string; modes?: string[] }[] = [
  { field: 'output_cost_per_image', unit: 'image generated' },
  { field: 'input_cost_per_image', unit: 'image generated', modes: ['image_generation', 'image_edit'] },
  { field: 'input_cost_per_image', unit: 'input image' },
  { field: 'output_cost_per_video_per_second', unit: 'second of video generated' },
  { field: 'output_cost_per_second', unit: 'second of video generated', modes: ['video_generation'] },
  { field: 'input_cost_per_video_per_second', unit: 'second of input video' },
  { field: 'input_cost_per_character', unit: 'input character' },
  { field: 'output_cost_per_character', unit: 'output character' },
  { field: 'ocr_cost_per_page', unit: 'page' },
  { field: 'input_cost_per_page', unit: 'page' },
  { field: 'input_cost_per_pixel', unit: 'pixel' },
  { field: 'output_cost_per_pixel', unit: 'pixel' },
];
/** perRequest: a call that is one query. */
const PER_REQUEST = ['input_cost_per_request', 'input_cost_per_query'];

/** A key that holds a cost (every key with cost or price in its name). */
const costField = (k: string) => /cost|price/.test(k);
/** Whether a cost value charges anything: a zero price left out loses nothing, so it is not reported. */
const priced = (v: unknown): boolean =>
  typeof v === 'number' ? v > 0 : !!v && typeof v === 'object' && Object.values(v).some(priced);

/** The price an entry describes, or the reason it is skipped. */
export function priceOf(key: string, e: unknown): Omit<Planned, 'key'> | { skip: string } {
  if (key === 'sample_spec') return { skip: 'the sample entry (sample_spec)' };
  if (!e || typeof e !== 'object' || Array.isArray(e)) return { skip: 'not a price entry' };
  const entry = e as LiteLLMEntry;
  const provider = entry.litellm_provider;
  if (typeof provider !== 'string' || !provider) return { skip: 'no litellm_provider' };
  // Keys are often "provider/model"; the model is what the gateway reports.
  const model = key.startsWith(`${provider}/`) ? key.slice(provider.length + 1) : key;
  if (model.length > 200 || provider.length > 200) return { skip: 'name longer than 200 characters' };
  const mode = typeof entry.mode === 'string' ? entry.mode : '';
  const used = new Set<string>();
  const take = (field: string, f: (v: unknown) => string | undefined) => {
    const v = f(entry[field]);
    if (v !== undefined) used.add(field);
    return v;
  };

  const p: PriceFromLiteLLM = { provider, model };
  for (const [field, to] of TOKEN_FIELDS) {
    const v = take(field, perMillion);
    if (v !== undefined) p[to] = v;
  }

  // Tiers: "<rate>_above_<N>k_tokens" (N x 1000 input tokens) and tiered_pricing's ranges.
  const tiers = new Map<number, TierFromLiteLLM>();
  const tierAt = (above: number) => {
    const t = tiers.get(above) ?? { aboveInputTokens: above };
    tiers.set(above, t);
    return t;
  };
  for (const field of Object.keys(entry)) {
    const m = ABOVE.exec(field);
    if (!m) continue;
    const v = take(field, perMillion);
    const to = TOKEN_FIELDS.find(([f]) => f === m[1])?.[1];
    if (v !== undefined && to) tierAt(Number(m[2]) * 1000)[to] = v;
  }
  const inner = new Set<string>();
  const ranges = entry.tiered_pricing;
  if (Array.isArray(ranges) && ranges.length) {
    if (ranges.some((r) => r && typeof r === 'object' && 'max_results_range' in r))
      return { skip: 'priced by the number of results (tiered_pricing by max_results_range)' };
    const steps = ranges
      .filter((r): r is Record<string, unknown> => !!r && typeof r === 'object' && Array.isArray(r.range))
      .map((r) => ({ from: Number((r.range as unknown[])[0]), r }))
      .filter((s) => Number.isInteger(s.from) && s.from >= 0)
      .sort((a, b) => a.from - b.from);
    const base = TOKEN_FIELDS.every(([, to]) => p[to] === undefined);
    for (const { from, r } of steps) {
      const rates: Partial<TierFromLiteLLM> = {};
      for (const [field, to] of TOKEN_FIELDS) {
        const v = perMillion(r[field]);
        if (v !== undefined) rates[to] = v;
      }
      for (const k of Object.keys(r))
        if (k !== 'range' && !TOKEN_FIELDS.some(([f]) => f === k) && priced(r[k])) inner.add(`tiered_pricing[].${k}`);
      if (from === 0 || (base && from === steps[0]?.from)) {
        if (base) Object.assign(p, rates);
      } else if (Object.keys(rates).length) Object.assign(tierAt(from), rates);
    }
    used.add('tiered_pricing');
  }
  if (tiers.size) p.tiers = [...tiers.values()].sort((a, b) => a.aboveInputTokens - b.aboveInputTokens);

  // Seconds of audio in (ASR); a transcription model that prices only "output" seconds means the same.
  p.perSecond = take('input_cost_per_second', plain);
  if (p.perSecond === undefined && mode === 'audio_transcription') p.perSecond = take('output_cost_per_second', plain);
  if (p.perSecond !== undefined && entry.output_cost_per_second === entry.input_cost_per_second)
    used.add('output_cost_per_second'); // the same price said twice (whisper-1, Bedrock commitments)

  const units = UNITS.filter((u) => isCost(entry[u.field]) && (!u.modes || u.modes.includes(mode)));
  const unit = units.find((u) => (entry[u.field] as number) > 0) ?? units[0];
  let unitName: string | undefined;
  if (unit) {
    p.perUnit = take(unit.field, plain);
    unitName = unit.unit;
    // The same unit priced in and out at zero is no other unit (e.g. a free input image).
    for (const u of units) if (u !== unit && (entry[u.field] as number) === 0) used.add(u.field);
  }

  const perRequest = PER_REQUEST.find((f) => isCost(entry[f]));
  if (perRequest) p.perRequest = take(perRequest, plain);
  else if (TOKEN_FIELDS.every(([, to]) => p[to] === undefined) && !tiers.size) {
    // A search model priced only by its search context size: the medium size, per query.
    const ctx = entry.search_context_cost_per_query;
    if (ctx && typeof ctx === 'object') {
      const sizes = ctx as Record<string, unknown>;
      const v = plain(sizes.search_context_size_medium ?? sizes.search_context_size_low);
      if (v !== undefined) {
        p.perRequest = v;
        used.add('search_context_cost_per_query');
      }
    }
  }

  for (const k of Object.keys(p) as (keyof PriceFromLiteLLM)[]) if (p[k] === undefined) delete p[k];
  const notImported = [...Object.keys(entry).filter((k) => costField(k) && !used.has(k) && priced(entry[k])), ...inner];
  if (Object.keys(p).length === 2) {
    if (!notImported.length) return { skip: 'no price in the file' };
    return { skip: `only costs Tally has no rate for: ${notImported.join(', ')}` };
  }
  return { price: p, ...(unitName ? { unit: unitName } : {}), notImported };
}

/** Why a colliding name was not imported (the collision itself is listed in plan.collisions). */
export const COLLIDED = 'its provider and model are also named by another key, which wins (see collisions)';

const chainOf = (p: PriceFromLiteLLM) => `${p.provider}\u0000${p.model}`;
const same = (a: PriceFromLiteLLM, b: PriceFromLiteLLM) =>
  JSON.stringify({ ...a, provider: '', model: '' }) === JSON.stringify({ ...b, provider: '', model: '' });

/**
 * Every entry of a price map, judged; names that map to one (provider, model) resolve the
 * same way whatever the file's order: the provider-qualified key ("deepseek/deepseek-chat")
 * wins over the bare one ("deepseek-chat"), and between equals the first by key.
 */
export function planImport(map: Record<string, unknown>, opts: { provider?: string } = {}): ImportPlan {
  const plan: ImportPlan = { prices: [], skipped: [], collisions: [], notImported: new Map() };
  const byChain = new Map<string, Planned[]>();
  for (const key of Object.keys(map).sort()) {
    const r = priceOf(key, map[key]);
    if ('skip' in r) plan.skipped.push({ key, reason: r.skip });
    else if (opts.provider && r.price.provider !== opts.provider)
      plan.skipped.push({ key, reason: `another provider than ${opts.provider}` });
    else {
      const list = byChain.get(chainOf(r.price)) ?? [];
      list.push({ key, ...r });
      byChain.set(chainOf(r.price), list);
    }
  }
  for (const list of byChain.values()) {
    const qualified = (p: Planned) => p.key.startsWith(`${p.price.provider}/`);
    const [winner, ...losers] = [...list].sort(
      (a, b) => Number(qualified(b)) - Number(qualified(a)) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
    ) as [Planned, ...Planned[]];
    plan.prices.push(winner);
    for (const f of winner.notImported) plan.notImported.set(f, [...(plan.notImported.get(f) ?? []), winner.key]);
    if (!losers.length) continue;
    plan.collisions.push({
      provider: winner.price.provider,
      model: winner.price.model,
      winner: winner.key,
      losers: losers.map((l) => l.key),
      differ: losers.some((l) => !same(l.price, winner.price)),
    });
    for (const l of losers) plan.skipped.push({ key: l.key, reason: COLLIDED });
  }
  plan.prices.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return plan;
}
