// The locked path's part in the leases (docs/authorize-leases.md): one LeaseRound per flush of
// the authorizer, inside its transaction and under the tenants' lock.
//   begin       after this instance's earlier rounds of the same tenants
//   enter       other instances' expired leases go, the plans in force are share-locked, what
//               the live leases hold is read (before used and reserved are)
//   heldFor     what a decision must count besides used and reserved: every live slice, this
//               instance's too, so far from the limit a locked call leaves the fast path alone
//   reclaim     a call that fits but for slices takes them back: this instance's (once the
//               reservations admitted against them are written) and the others' (deleted);
//               the authorizer then reads reserved again and decides the flush again
//   grant       sizes this instance's slice of every item of the flush in one statement,
//               relative to what it held when sized (the fast path goes on meanwhile)
//   committed   applies the new slices and views locally (failed: gives back what it took)
import { randomUUID } from 'node:crypto';
import type { Sql } from '../../db/database';
import { Dec, ZERO } from '../../lib/money';
import { countsKeyOf, itemKeyOf, leaseItemKeyOf, sentinelKeyOf, viewKeyOf } from './quota.lease-keys';
import type { Lease, LeaseCall, QuotaLeases, View } from './quota.leases';
import * as leaseStore from './quota.leases-store';
import { reservedOf } from './quota.status';
import type { QuotaItem, QuotaStatus } from './quota.types';

interface Taken {
  lease: Lease;
  /** available + unsynced when the round began: what the row holds for this instance beyond what is in flight. */
  base: Dec;
  /** Taken out of `available` when the round began (a real call's scope). */
  took: Dec;
  /** Left in `available` (a renewal's top-up: the fast path goes on using it meanwhile). */
  kept: Dec;
  /** The check-only amounts handed back with the new size. */
  unsynced: Dec;
  /** What reservations written out of it hold that the row still counts: subtracted by the round's write. */
  spent: Dec;
  /** Taken for a real call (not a renewal's top-up). */
  real: boolean;
}

/** A take whose row was not written: the lease has again what the round took out of it. */
function giveBack(t: Taken): void {
  t.lease.available = t.lease.available.plus(t.took);
  t.lease.unsynced = t.lease.unsynced.plus(t.unsynced);
  t.lease.spent = t.lease.spent.plus(t.spent);
}

const block = (s: QuotaStatus) => s.items.filter((i) => i.limit.action === 'BLOCK');

/** Whether a call fits (used + reserved + held + estimate for every BLOCK item), and which held slices stop it. */
export function judge(
  status: QuotaStatus,
  c: LeaseCall,
  held: (i: QuotaItem) => Dec,
): { deniedBy: QuotaItem | null; reclaim: QuotaItem[] } {
  const need = (i: QuotaItem) => new Dec(i.used).plus(i.reserved).plus(reservedOf(c.est, i.limit.metric));
  const items = block(status);
  const deniedBy = items.find((i) => i.exceeded || need(i).plus(held(i)).gt(i.limit.amount)) ?? null;
  if (!deniedBy || c.refresh || items.some((i) => i.exceeded || need(i).gt(i.limit.amount)))
    return { deniedBy, reclaim: [] };
  return { deniedBy, reclaim: items.filter((i) => need(i).plus(held(i)).gt(i.limit.amount)) };
}

export class LeaseRound {
  private readonly taken = new Map<string, Taken>();
  private held = new Map<string, Dec>();
  private next = new Map<string, Date>();
  /** Tenants some subject of which has (or will have) a plan of its own. */
  private subjectPlans = new Set<string>();
  private readonly reclaimed = new Set<string>();
  private apply: (() => void) | null = null;
  private readonly tenantIds: string[];

  private done: () => void = () => {};

  private constructor(
    private readonly book: QuotaLeases,
    private readonly now: Date,
    tenantIds: string[],
    private readonly subjects: string[],
  ) {
    this.tenantIds = tenantIds;
  }

  /** A round for a flush, once this instance's earlier rounds of its tenants are applied. */
  static async begin(book: QuotaLeases, calls: LeaseCall[], now: Date): Promise<LeaseRound> {
    const round = new LeaseRound(
      book,
      now,
      [...new Set(calls.map((c) => c.tenant.id))],
      [...new Set(calls.flatMap((c) => (c.subject === null ? [] : [c.subject])))],
    );
    if (!book.o.enabled) return round;
    const prior = round.tenantIds.flatMap((t) => book.rounds.get(t) ?? []);
    const mine = new Promise<void>((r) => {
      round.done = () => {
        for (const t of round.tenantIds) if (book.rounds.get(t) === mine) book.rounds.delete(t);
        r();
      };
    });
    for (const t of round.tenantIds) book.rounds.set(t, mine);
    await Promise.all(prior);
    return round;
  }

  /**
   * What the round sizes this lease from, captured once: available + unsynced. Taken (`real`):
   * available goes to 0, so the slice can be counted as free for the flush's calls. Otherwise
   * the fast path goes on using `available`, and the new size is given relative to it.
   */
  private capture(l: Lease, real: boolean): Taken {
    const known = this.taken.get(l.key);
    if (known && (known.real || !real)) return known;
    if (known) {
      // A top-up becomes a take: what it left usable is taken too.
      known.took = known.took.plus(l.available);
      known.base = known.base.plus(l.available).minus(known.kept);
      known.kept = ZERO;
      known.real = true;
      known.spent = known.spent.plus(l.spent);
      l.available = ZERO;
      l.spent = ZERO;
      return known;
    }
    const took = real ? l.available : ZERO;
    const t: Taken = {
      lease: l,
      base: l.available.plus(l.unsynced),
      took,
      kept: l.available.minus(took),
      unsynced: l.unsynced,
      spent: l.spent,
      real,
    };
    this.taken.set(l.key, t);
    l.available = t.kept;
    l.unsynced = ZERO;
    l.spent = ZERO;
    return t;
  }

  async enter(tx: Sql): Promise<void> {
    this.reclaimed.clear();
    const { held, next, subjectPlans } = await leaseStore.enterLeases(tx, this.tenantIds, this.subjects, this.now);
    this.held = new Map(held.map((r) => [leaseItemKeyOf(r), new Dec(r.amount)]));
    this.next = next;
    this.subjectPlans = subjectPlans;
  }

  /**
   * What live leases hold of the item, but this instance's slices the flush took back (and what
   * their rows still count of reservations written out of them: those are in `reserved`).
   */
  heldFor(tenantId: string, i: QuotaItem): Dec {
    const k = itemKeyOf(tenantId, i);
    const t = this.taken.get(k);
    return Dec.max(ZERO, (this.held.get(k) ?? ZERO).minus(t?.real ? t.base.plus(t.spent) : ZERO));
  }

  /** Items not reclaimed yet among these. */
  fresh(items: { tenantId: string; item: QuotaItem }[]) {
    return items.filter((x) => !this.reclaimed.has(itemKeyOf(x.tenantId, x.item)));
  }

  async reclaim(tx: Sql, items: { tenantId: string; item: QuotaItem }[]): Promise<void> {
    const own: Lease[] = [];
    for (const x of items) {
      const k = itemKeyOf(x.tenantId, x.item);
      this.reclaimed.add(k);
      const l = this.book.leases.get(k);
      if (l) own.push(this.capture(l, true).lease);
    }
    // This instance's slices: what they admitted is written first (then the row holds `base`
    // and what those reservations hold, which the round's write subtracts).
    await Promise.all(own.map((l) => this.book.quiet(l)));
    for (const l of own) {
      const t = this.taken.get(l.key) as Taken;
      t.spent = t.spent.plus(l.spent);
      l.spent = ZERO;
    }
    const rows = await leaseStore.reclaimLeases(
      tx,
      items.map((x) => ({
        tenantId: x.tenantId,
        limitId: x.item.limit.id,
        scopeKey: countsKeyOf(x.item),
        periodStart: x.item.periodStart,
      })),
      this.book.instanceId,
      this.now,
    );
    const tenants = new Set(items.map((x) => x.tenantId));
    for (const k of [...this.held.keys()]) if (tenants.has(k.slice(0, k.indexOf('|')))) this.held.delete(k);
    for (const r of rows) this.held.set(leaseItemKeyOf(r), new Dec(r.amount));
  }

  /**
   * After the flush's reservations: this instance's new slice of every BLOCK item of the
   * flush's scopes that are busy enough, sized by demand and free headroom, written in one
   * statement. `statuses` hold the admitted reservations already.
   */
  async grant(tx: Sql, scopes: { call: LeaseCall; status: QuotaStatus }[]): Promise<void> {
    const book = this.book;
    this.apply = null;
    if (!book.o.enabled) return;
    const o = book.o;
    // The locked calls count as demand too (a scope's first calls are all locked).
    for (const { call, status } of scopes) {
      if (call.refresh) continue;
      book.demand.call(viewKeyOf(call, status, this.subjectPlans.has(call.tenant.id)));
      for (const i of block(status))
        book.demand.use(itemKeyOf(call.tenant.id, i), reservedOf(call.est, i.limit.metric));
    }
    const hot = scopes.filter(
      ({ call, status }) =>
        book.demand.calls(viewKeyOf(call, status, this.subjectPlans.has(call.tenant.id))) >= o.minRate,
    );
    // Items of this flush's busy scopes, and of the busy views this instance has (a quiet
    // scope sharing a tenant item with a busy one must not shrink the busy one's slice).
    const hotItems = new Set(hot.flatMap(({ call, status }) => block(status).map((i) => itemKeyOf(call.tenant.id, i))));
    for (const v of book.views.values()) for (const i of v.items) hotItems.add(i.key);
    const expiresAt = new Date(this.now.getTime() + o.lifetimeMs);
    const sizes = new Map<string, { size: Dec; tenantId: string; item: QuotaItem }>();
    for (const { call, status } of scopes)
      for (const i of block(status)) {
        const k = itemKeyOf(call.tenant.id, i);
        if (sizes.has(k)) continue;
        const own = book.leases.get(k);
        const t = this.taken.get(k) ?? (own ? this.capture(own, false) : undefined);
        const free = new Dec(i.limit.amount)
          .minus(i.used)
          .minus(i.reserved)
          .minus((this.held.get(k) ?? ZERO).minus(t ? t.base.plus(t.spent) : ZERO));
        // A slice covers two lifetimes of the item's recent rate: at a steady rate a quarter of it
        // is used when its half-life renewal is due, so one renewal per half lifetime serves it,
        // and what is left covers the calls made while the renewal is out even when the rate
        // triples meanwhile (a slice runs out only if a renewal takes longer than that).
        const peak = book.demand.of(k).peak;
        const want = Dec.max(book.demand.rateOf(k).times((2 * o.lifetimeMs) / 1000), peak.times(4));
        let size = Dec.min(want, free.times(o.share)).toDecimalPlaces(12, Dec.ROUND_DOWN);
        if (!hotItems.has(k) || i.exceeded || this.reclaimed.has(k) || size.lt(peak) || size.lte(0)) size = ZERO;
        sizes.set(k, { size, tenantId: call.tenant.id, item: i });
      }
    const change: leaseStore.LeaseChange[] = [];
    const drop: string[] = [];
    const add: leaseStore.NewLease[] = [];
    const added = new Map<string, leaseStore.NewLease>();
    for (const [k, { size, tenantId, item }] of sizes) {
      const t = this.taken.get(k);
      if (t) {
        if (size.isZero() && t.lease.inflight === 0) drop.push(t.lease.id);
        else change.push({ id: t.lease.id, delta: size.minus(t.base).minus(t.spent).toFixed(), expiresAt });
      } else if (size.gt(0) && !book.leases.has(k)) {
        const l = {
          id: randomUUID(),
          tenantId,
          limitId: item.limit.id,
          scopeKey: countsKeyOf(item),
          periodStart: item.periodStart,
          amount: size.toFixed(),
          expiresAt,
        };
        add.push(l);
        added.set(k, l);
      }
    }
    for (const tenantId of new Set(hot.map((h) => h.call.tenant.id))) {
      const s = book.leases.get(sentinelKeyOf(tenantId));
      if (s) change.push({ id: s.id, delta: '0', expiresAt });
      else {
        const l = {
          id: randomUUID(),
          tenantId,
          limitId: null,
          scopeKey: '',
          periodStart: null,
          amount: '0',
          expiresAt,
        };
        add.push(l);
        added.set(sentinelKeyOf(tenantId), l);
      }
    }
    const exist = await leaseStore.writeLeases(tx, book.instanceId, change, drop, add);
    this.apply = () => {
      // A slice taken back whose item the flush no longer has (its limit went): nothing was written.
      for (const [k, t] of this.taken) if (!sizes.has(k)) giveBack(t);
      for (const [k, { size }] of sizes) {
        const t = this.taken.get(k);
        if (!t) continue;
        const l = t.lease;
        if (drop.includes(l.id) || !exist.has(l.id)) {
          book.lose(l);
          continue;
        }
        // The row moved by size - base: what may be admitted is the new size, less what was
        // admitted meanwhile out of what a top-up kept.
        l.available = l.available.plus(size).minus(t.kept);
        l.half = size.div(2);
        l.expiresAt = expiresAt;
      }
      for (const [k, n] of added)
        if (exist.has(n.id))
          book.leases.set(k, {
            id: n.id,
            key: k,
            tenantId: n.tenantId,
            limitId: n.limitId,
            scopeKey: n.scopeKey,
            available: new Dec(n.amount),
            unsynced: ZERO,
            spent: ZERO,
            inflight: 0,
            idle: [],
            half: new Dec(n.amount).div(2),
            expiresAt,
          });
      for (const s of new Set(hot.map((h) => h.call.tenant.id))) {
        const l = book.leases.get(sentinelKeyOf(s));
        if (l && !added.has(sentinelKeyOf(s))) {
          if (exist.has(l.id)) l.expiresAt = expiresAt;
          else book.lose(l);
        }
      }
      for (const { call, status } of hot) {
        const sentinel = book.leases.get(sentinelKeyOf(call.tenant.id));
        if (sentinel) this.view(call, status, expiresAt, sentinel.id);
      }
    };
  }

  private view(call: LeaseCall, status: QuotaStatus, expiresAt: Date, sentinelId: string) {
    const key = viewKeyOf(call, status, this.subjectPlans.has(call.tenant.id));
    const items = block(status);
    // The view ends with its slices, or before: when a membership starts or ends, or a window.
    let endsBy: Date | null = this.next.get(call.tenant.id) ?? null;
    for (const i of items) if (i.periodEnd && (!endsBy || i.periodEnd < endsBy)) endsBy = new Date(i.periodEnd);
    const validUntil = endsBy && endsBy < expiresAt ? endsBy : expiresAt;
    const old = this.book.views.get(key);
    const v: View = {
      key,
      tenant: call.tenant,
      apiKeyId: call.apiKeyId,
      subject: call.subject,
      status,
      at: this.now,
      items: items.map((i) => ({ key: itemKeyOf(call.tenant.id, i), metric: i.limit.metric })),
      sentinelId,
      validUntil,
      endsBy,
      lastUse: old?.lastUse ?? performance.now(),
      refreshing: old?.refreshing ?? false,
    };
    if (old) Object.assign(old, v);
    else this.book.views.set(key, v);
    this.book.tenants.set(call.tenant.id, call.tenant);
  }

  committed(): void {
    this.apply?.();
    this.done();
  }

  /** Nothing was written: what the flush took back is usable again. */
  failed(): void {
    for (const t of this.taken.values()) giveBack(t);
    this.done();
  }
}
