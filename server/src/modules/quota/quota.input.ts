// Quota's input checks, in one style: each takes the raw value and the field it came in,
// returns the normalized value, and throws BAD_USER_INPUT (or NOT_FOUND) naming that field.
import { badInput, containsNul, notFound } from '../../lib/errors';
import { isUuid } from '../../lib/ids';
import { fmt, parseAmount, ZERO } from '../../lib/money';
import {
  ACTIONS,
  type Estimate,
  type LimitInput,
  type LimitMetric,
  METRICS,
  type NewLimit,
  PERIODS,
  type ReservedAmounts,
  SCOPES,
} from './quota.types';

export const MAX_RESERVE_SECONDS = 3600;
const MAX_LIMITS = 50;

export function planCode(raw: string, field: string[]): string {
  const code = raw.trim();
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(code)) throw badInput(field, 'use 1 to 64 letters, digits, _ . : -');
  return code;
}

export function planName(raw: string, field: string[]): string {
  const name = raw.trim();
  if (!name || name.length > 200 || containsNul(name)) throw badInput(field, 'must be 1 to 200 characters');
  return name;
}

/** A plan's limits, or a key's own (`forKey`: they count that key's usage, so scope API_KEY). */
export function limits(input: LimitInput[], field: string[], forKey: boolean): NewLimit[] {
  if (input.length > MAX_LIMITS) throw badInput(field, `at most ${MAX_LIMITS} limits`);
  return input.map((l, i) => {
    const f = [...field, String(i)];
    if (!METRICS.includes(l.metric as LimitMetric)) throw badInput([...f, 'metric'], 'unknown metric');
    if (!PERIODS.includes(l.period as never)) throw badInput([...f, 'period'], 'unknown period');
    let scope = l.scope ?? 'TENANT';
    if (!SCOPES.includes(scope as never)) throw badInput([...f, 'scope'], 'unknown scope');
    if (forKey) {
      if (scope === 'SUBJECT') throw badInput([...f, 'scope'], "a key's own limits count the key's usage; use API_KEY");
      scope = 'API_KEY';
    }
    const action = l.action ?? 'BLOCK';
    if (!ACTIONS.includes(action as never)) throw badInput([...f, 'action'], 'unknown action');
    const amount = fmt(parseAmount(l.amount, [...f, 'amount'], 'positive'));
    const thresholds = [...new Set(l.thresholds ?? [80, 100])].sort((a, b) => a - b);
    if (thresholds.some((t) => !Number.isInteger(t) || t < 1 || t > 1000))
      throw badInput([...f, 'thresholds'], 'thresholds are whole percentages from 1 to 1000');
    return { metric: l.metric, period: l.period, scope, amount, action, thresholds, position: i };
  });
}

export function subject(raw: string | null | undefined, field: string[]): string | null {
  const s = raw ?? null;
  if (s != null && (s.length > 255 || containsNul(s))) throw badInput(field, 'must be at most 255 characters');
  return s;
}

/** A key id that can exist (a malformed one is answered like a missing key). */
export function keyId(raw: string, field: string[]): string {
  if (!isUuid(raw)) throw notFound('API key', field);
  return raw;
}

export function reserveSeconds(raw: number | null | undefined, field: string[]): number {
  const seconds = raw ?? 0;
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_RESERVE_SECONDS)
    throw badInput(field, `must be 0 to ${MAX_RESERVE_SECONDS}`);
  return seconds;
}

function count(v: number | null | undefined, field: string[]): number {
  if (v == null) return 0;
  if (!Number.isInteger(v) || v < 0) throw badInput(field, 'may not be negative');
  return v;
}

/** What an authorization expects to use, as the amounts a reservation holds. */
export function estimate(e: Estimate, field: string[]): ReservedAmounts {
  const f = (name: string) => [...field, name];
  // Checked in the order the fields are read, so the first bad one is the one named.
  const est = {
    cost: fmt(e.cost == null ? ZERO : parseAmount(e.cost, f('cost'))),
    inputTokens: String(count(e.inputTokens, f('inputTokens'))),
    outputTokens: String(count(e.outputTokens, f('outputTokens'))),
    tokens: '0',
    asrSeconds: fmt(e.asrSeconds == null ? ZERO : parseAmount(e.asrSeconds, f('asrSeconds'))),
    requests: String(e.requests == null ? 1 : count(e.requests, f('requests'))),
  };
  est.tokens = String(
    e.tokens != null ? count(e.tokens, f('tokens')) : Number(est.inputTokens) + Number(est.outputTokens),
  );
  return est;
}

/** A membership may only be added after the last one starts (history is append-only). */
export function badStart(field: string[]) {
  return badInput(field, 'a membership already starts at or after that instant');
}
