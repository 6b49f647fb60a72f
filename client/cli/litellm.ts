// LiteLLM's price map (model_prices_and_context_window.json) -> Tally prices. Per-token costs
// become per-million rates exactly (decimal arithmetic on the JSON number's shortest form).
import DecimalJs from 'decimal.js';

export interface LiteLLMEntry {
  litellm_provider?: string;
  mode?: string;
  input_cost_per_token?: number;
  output_cost_per_token?: number;
  cache_read_input_token_cost?: number;
  cache_creation_input_token_cost?: number;
  input_cost_per_second?: number;
  output_cost_per_second?: number;
  [k: string]: unknown;
}

export interface PriceFromLiteLLM {
  provider: string;
  model: string;
  inputPerMillion?: string;
  outputPerMillion?: string;
  cachedInputPerMillion?: string;
  cacheWriteInputPerMillion?: string;
  perSecond?: string;
}

const perMillion = (v: unknown) =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? rate(new DecimalJs(String(v)).times(1_000_000)) : undefined;
const plain = (v: unknown) =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? rate(new DecimalJs(String(v))) : undefined;
// Tally stores 12 decimals; rates are rounded half-even to that, then printed without trailing zeros.
const rate = (d: DecimalJs) => d.toDecimalPlaces(12, DecimalJs.ROUND_HALF_EVEN).toFixed();

/** The price an entry describes, or the reason it is skipped. */
export function priceOf(key: string, e: LiteLLMEntry): PriceFromLiteLLM | { skip: string } {
  if (key === 'sample_spec') return { skip: 'the sample entry' };
  if (!e || typeof e !== 'object') return { skip: 'not an object' };
  const provider = e.litellm_provider;
  if (!provider) return { skip: 'no litellm_provider' };
  // Keys are often "provider/model"; the model is what the gateway reports.
  const model = key.startsWith(`${provider}/`) ? key.slice(provider.length + 1) : key;
  const p: PriceFromLiteLLM = {
    provider,
    model,
    inputPerMillion: perMillion(e.input_cost_per_token),
    outputPerMillion: perMillion(e.output_cost_per_token),
    cachedInputPerMillion: perMillion(e.cache_read_input_token_cost),
    cacheWriteInputPerMillion: perMillion(e.cache_creation_input_token_cost),
    perSecond: plain(e.input_cost_per_second ?? e.output_cost_per_second),
  };
  for (const k of Object.keys(p) as (keyof PriceFromLiteLLM)[]) if (p[k] === undefined) delete p[k];
  if (Object.keys(p).length === 2) return { skip: 'no cost fields' };
  if (model.length > 200 || provider.length > 200) return { skip: 'name too long' };
  return p;
}
