// What the escrow (quota.leases.ts) knows of demand on this instance: calls per scope (is it
// busy enough for leases: QUOTA_LEASE_MIN_RATE) and amounts per limit item (how large a slice:
// quota.lease-round.ts), in the current and the previous window of QUOTA_LEASE_HORIZON_MS.
import { Dec, ZERO } from '../../lib/money';

/** Demand in the current and the previous window (horizonMs long), for sizing and heat. */
export interface Demand {
  cur: Dec;
  prev: Dec;
  peak: Dec;
  calls: number;
  prevCalls: number;
  since: number;
}

export class DemandMeter {
  readonly byKey = new Map<string, Demand>();

  constructor(private readonly horizonMs: number) {}

  of(key: string): Demand {
    const t = performance.now();
    let d = this.byKey.get(key);
    if (!d) {
      d = { cur: ZERO, prev: ZERO, peak: ZERO, calls: 0, prevCalls: 0, since: t };
      this.byKey.set(key, d);
    } else if (t - d.since >= this.horizonMs) {
      const adjacent = t - d.since < 2 * this.horizonMs;
      d.prev = adjacent ? d.cur : ZERO;
      d.prevCalls = adjacent ? d.calls : 0;
      if (!adjacent) d.peak = ZERO;
      d.cur = ZERO;
      d.calls = 0;
      d.since = t;
    }
    return d;
  }

  /** Counts a call of a scope (its items' amounts go to `use`). */
  call(scopeKey: string) {
    this.of(scopeKey).calls++;
  }

  /** Counts what a call asks of an item. */
  use(itemKey: string, x: Dec) {
    const d = this.of(itemKey);
    d.cur = d.cur.plus(x);
    if (x.gt(d.peak)) d.peak = x;
  }

  /**
   * What an item was asked per second lately on this instance: the last whole window's rate,
   * or the current window's so far if higher (extrapolated over at least a tenth of a window,
   * so a scope that just got busy is sized for the rate it has, not for the few calls it made).
   */
  rateOf(key: string): Dec {
    const d = this.of(key);
    const h = this.horizonMs;
    const elapsed = Math.max(performance.now() - d.since, h / 10);
    return Dec.max(d.prev.times(1000 / h), d.cur.times(1000 / elapsed));
  }

  /** Calls per second the scope saw lately on this instance. */
  calls(scopeKey: string): number {
    const d = this.of(scopeKey);
    return (Math.max(d.calls, d.prevCalls) * 1000) / this.horizonMs;
  }

  /** Forgets what was last counted more than `ms` ago. */
  forget(ms: number) {
    const t = performance.now();
    for (const [k, d] of this.byKey) if (t - d.since > ms) this.byKey.delete(k);
  }
}

/** A fraction in [0, 1) fixed by a string (FNV-1a), to spread work per key. */
export function spread(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) / 2 ** 32;
}
