// The in-memory escrow of authorizeUsage (docs/authorize-leases.md). This instance holds, per
// BLOCK limit item it is busy with, a lease on a slice of the item's free headroom, recorded
// in quota_leases, and admits calls against it without the tenant's lock:
//   used + reserved + Σ live leases <= amount   (held by the locked path whenever it grants)
// A reservation admitted here leaves the slice in memory and is written by one statement that
// inserts it while its leases exist (share-locked, so none is deleted meanwhile), batched per
// flush and answered after it committed; the lease row still counts it until this instance's
// next write of the row subtracts it (`spent`), so the row only ever overstates what is held. A
// check-only call asks one batched read that its leases still exist. Anything the
// slice cannot answer goes to the locked path (quota.authorizer.ts), which also renews slices
// (quota.lease-round.ts). Leases are owned by this instance (`instanceId`): only it resizes
// them; others delete them when they expire, when limits change, or to reclaim the room.
import { randomUUID } from 'node:crypto';
import type { Database } from '../../db/database';
import type { TenantRow } from '../../db/entities';
import { uuidV7 } from '../../lib/ids';
import { type Dec, ZERO } from '../../lib/money';
import { LeaseBatcher } from './quota.lease-batch';
import { DemandMeter, spread } from './quota.lease-demand';
import { anySubjectKeyOf, scopeKeyOf, sentinelKeyOf } from './quota.lease-keys';
import * as leaseStore from './quota.leases-store';
import { reservedOf } from './quota.status';
import type {
  LimitMetric,
  NewReservation,
  QuotaItem,
  QuotaStatus,
  ReservationRow,
  ReservedAmounts,
} from './quota.types';

/** Settings (config.ts: QUOTA_LEASES, QUOTA_LEASE_MS, QUOTA_LEASE_HORIZON_MS, QUOTA_LEASE_SHARE, QUOTA_LEASE_MIN_RATE). */
export interface LeaseOptions {
  enabled: boolean;
  /** A slice counts this long after its last renewal; a dead instance's slices come back after it. */
  lifetimeMs: number;
  /** Demand is measured over windows this long (a slice covers a lifetime of the rate measured, renewed at half left). */
  horizonMs: number;
  /** A slice takes at most this fraction of the item's free headroom. */
  share: number;
  /** Calls per second a scope needs (on this instance) before it is decided on leases. */
  minRate: number;
}

export const DEFAULT_LEASES: LeaseOptions = {
  enabled: true,
  lifetimeMs: 10_000,
  horizonMs: 1_000,
  share: 0.25,
  minRate: 2,
};

/** One authorization as the escrow sees it (quota.authorizer.ts's calls are these). */
export interface LeaseCall {
  tenant: TenantRow;
  apiKeyId: string | null;
  subject: string | null;
  est: ReservedAmounts;
  seconds: number;
  /** A renewal asked for by the escrow: decided like a check of nothing, answered to nobody. */
  refresh?: boolean;
}

export interface Decision {
  allowed: boolean;
  deniedBy: QuotaItem | null;
  reservation: ReservationRow | null;
  quota: QuotaStatus;
}

/** One own lease: what may still be admitted against it, and what is on its way. */
export interface Lease {
  id: string;
  key: string;
  tenantId: string;
  /** null: the tenant's sentinel. */
  limitId: string | null;
  scopeKey: string;
  available: Dec;
  /** Admitted by check-only calls since the last renewal (the row still counts it). */
  unsynced: Dec;
  /**
   * Held by reservations written out of it since the row was last written: they count in
   * `reserved`, and the row counts them too until the next write subtracts them.
   */
  spent: Dec;
  /** Statements moving admitted reservations out of it, not yet answered. */
  inflight: number;
  /**
   * Half the slice last granted: an admission that leaves less asks for a renewal, and a view
   * is extended without the lock only while each of its slices has at least this much.
   */
  half: Dec;
  expiresAt: Date;
  /** Told when `inflight` comes back to 0. */
  idle: (() => void)[];
}

/** What a scope (tenant, key, subject) looked like at its last locked decision. */
export interface View {
  key: string;
  tenant: TenantRow;
  apiKeyId: string | null;
  subject: string | null;
  status: QuotaStatus;
  /** When `status` was computed (what a QuotaStatus `asOf` of a fast answer is). */
  at: Date;
  items: { key: string; metric: LimitMetric }[];
  /** The tenant's sentinel when the view was made: a limit change deletes it, and the view with it. */
  sentinelId: string;
  validUntil: Date;
  /** What ends the view whatever its slices (a membership change, a window's end). */
  endsBy: Date | null;
  lastUse: number;
  refreshing: boolean;
}

/** The leases a view is decided on: its tenant's sentinel, then one per BLOCK item. */
const leaseKeysOf = (v: View): string[] => [sentinelKeyOf(v.tenant.id), ...v.items.map((i) => i.key)];

interface FastCall {
  view: View;
  takes: { lease: Lease; x: Dec }[];
  sentinel: Lease;
  reservation: NewReservation | null;
}
type FastResult = ReservationRow | 'live' | null;

export class QuotaLeases {
  readonly instanceId = randomUUID();
  readonly views = new Map<string, View>();
  /** The tenants of the views. */
  readonly tenants = new Map<string, TenantRow>();
  readonly leases = new Map<string, Lease>();
  /** Demand per scope (calls) and per item (amounts), for heat and sizing. */
  readonly demand: DemandMeter;
  /** Own leases this instance stopped using that may still have a row: deleted once nothing is in flight. */
  readonly lost = new Map<string, Lease>();
  /** The last locked round of each tenant on this instance: rounds of one tenant run one after another. */
  readonly rounds = new Map<string, Promise<void>>();
  /** Admissions on the fast path, written in shared statements (no tenant lock). */
  readonly fast: LeaseBatcher<FastCall, FastResult>;
  private readonly tick: NodeJS.Timeout | null;
  /** Renewals asked for and not answered yet (close() waits for them). */
  private readonly renewing = new Set<Promise<unknown>>();
  private closing = false;

  constructor(
    readonly db: Database,
    readonly o: LeaseOptions,
    readonly now: () => Date,
    /** Asks the locked path to decide a renewal of a scope (the authorizer's committer). */
    private readonly renew: (c: LeaseCall) => Promise<unknown>,
  ) {
    // No wait for company: calls arriving while a statement is out form the next batch. One
    // statement out at a time: while the statement updated the lease rows, a second one waited
    // for the first's row locks (measured at 2,600 calls/s open loop, p50 3.4 ms with one
    // against 3.9 to 4.3 with two); since it only share-locks them the two do not wait for
    // each other, but a second statement still cost more CPU than the overlap saved on a
    // 2-core machine (one tenant / 100 tenants, p50 4.6 / 4.1 ms with one, 5.0 / 4.3 with
    // two; on two instances 6.7 / 8.1 against 9.8 / 12).
    this.fast = new LeaseBatcher((calls) => this.write(calls), { maxItems: 1000, maxConcurrent: 1, maxQueued: 50_000 });
    this.demand = new DemandMeter(o.horizonMs);
    this.tick = o.enabled ? setInterval(() => void this.housekeep(), Math.min(250, o.horizonMs / 2)) : null;
    this.tick?.unref();
  }

  /** The tenant row of a scope this instance has a view of (saves the lookup; a tenant never changes once it has usage). */
  tenant(tenantId: string): TenantRow | null {
    return this.tenants.get(tenantId) ?? null;
  }

  /**
   * The fast path: a decision from this instance's slices, or null when the locked path must
   * decide (no view, a slice too small, a lease gone). Answered only after its statement.
   */
  async admit(c: Omit<LeaseCall, 'tenant'> & { tenantId: string }): Promise<Decision | null> {
    if (!this.o.enabled) return null;
    const view =
      this.views.get(scopeKeyOf(c.tenantId, c.apiKeyId, c.subject)) ??
      this.views.get(anySubjectKeyOf(c.tenantId, c.apiKeyId));
    const sentinel = this.leases.get(sentinelKeyOf(c.tenantId));
    const now = this.now();
    if (!view || !sentinel || view.sentinelId !== sentinel.id || view.status.blocked) return null;
    if (now >= view.validUntil || now >= sentinel.expiresAt) return null;
    const takes: { lease: Lease; x: Dec }[] = [];
    for (const i of view.items) {
      const x = reservedOf(c.est, i.metric);
      if (x.isZero()) continue;
      const lease = this.leases.get(i.key);
      if (!lease || now >= lease.expiresAt || lease.available.lt(x)) return null;
      takes.push({ lease, x });
    }
    // Admitted here: the slices give the estimate now, before any await.
    for (const t of takes) {
      t.lease.available = t.lease.available.minus(t.x);
      if (c.seconds > 0) t.lease.inflight++;
      else t.lease.unsynced = t.lease.unsynced.plus(t.x);
    }
    view.lastUse = performance.now();
    this.demand.call(view.key);
    for (const t of takes) this.demand.use(t.lease.key, t.x);
    if (takes.some((t) => t.lease.available.lt(t.lease.half))) this.refresh(view);
    const reservation: NewReservation | null =
      c.seconds > 0
        ? {
            id: uuidV7(now.getTime()),
            tenantId: c.tenantId,
            apiKeyId: c.apiKeyId,
            subject: c.subject,
            est: c.est,
            expiresAt: new Date(now.getTime() + c.seconds * 1000),
          }
        : null;
    let result: FastResult;
    try {
      const written = this.fast.submit({ view, takes, sentinel, reservation });
      if (!written) throw new Error('the fast path is full');
      result = await written;
    } catch {
      // Nothing was written (or nobody knows): give the slices back and let the locked path answer.
      for (const t of takes) {
        t.lease.available = t.lease.available.plus(t.x);
        if (c.seconds > 0) this.settle(t.lease);
        else t.lease.unsynced = t.lease.unsynced.minus(t.x);
      }
      return null;
    }
    if (result === null) return null;
    // A view shared by the key's subjects answers with the caller's subject.
    const quota = view.status.subject === c.subject ? view.status : { ...view.status, subject: c.subject };
    return { allowed: true, deniedBy: null, reservation: result === 'live' ? null : result, quota };
  }

  /** One flush of the fast path: reservations moved out of their leases, checks of leases that must exist. */
  private async write(calls: FastCall[]): Promise<FastResult[]> {
    const reserving = calls.filter((c) => c.reservation);
    const checking = calls.filter((c) => !c.reservation);
    // Every change that ends a view deletes all of its tenant's leases (docs/authorize-leases.md),
    // so the item leases a call takes from witness its view as well as the sentinel would; the
    // sentinel is locked and updated only for a call that takes from none (an estimate of zero).
    const witnesses = (c: FastCall) => (c.takes.length ? c.takes.map((t) => t.lease) : [c.sentinel]);
    const takes = reserving.flatMap((c, r) =>
      c.takes.length ? c.takes.map((t) => ({ r, leaseId: t.lease.id })) : [{ r, leaseId: c.sentinel.id }],
    );
    const [inserted, live] = await Promise.all([
      reserving.length
        ? leaseStore.reserveFromLeases(
            this.db,
            takes,
            reserving.map((c) => c.reservation as NewReservation),
          )
        : new Set<string>(),
      checking.length
        ? leaseStore.liveLeases(this.db, [...new Set(checking.flatMap((c) => witnesses(c).map((l) => l.id)))])
        : new Set<string>(),
    ]);
    return calls.map((c): FastResult => {
      if (c.reservation) {
        const r = c.reservation;
        const written = inserted.has(r.id);
        for (const t of c.takes) {
          if (written) t.lease.spent = t.lease.spent.plus(t.x);
          this.settle(t.lease);
        }
        const row: ReservationRow | null = written
          ? {
              id: r.id,
              tenantId: r.tenantId,
              apiKeyId: r.apiKeyId,
              subject: r.subject,
              ...r.est,
              expiresAt: r.expiresAt,
            }
          : null;
        // Not inserted: a lease it named is gone. This instance stops using them all.
        if (!row) for (const l of [c.sentinel, ...c.takes.map((t) => t.lease)]) this.lose(l);
        return row;
      }
      const gone = witnesses(c).filter((l) => !live.has(l.id));
      for (const l of gone) this.lose(l);
      return gone.length ? null : 'live';
    });
  }

  /** One statement moving out of the lease is answered. */
  settle(l: Lease) {
    if (--l.inflight === 0) for (const f of l.idle.splice(0)) f();
  }

  /** Resolves when nothing is in flight out of the lease (a taken lease gets no new takes). */
  quiet(l: Lease): Promise<void> {
    if (l.inflight === 0) return Promise.resolve();
    return new Promise((r) => l.idle.push(r));
  }

  /** Stops using a lease; its row, if it still exists, is deleted once nothing is in flight. */
  lose(l: Lease) {
    if (this.leases.get(l.key) === l) this.leases.delete(l.key);
    l.available = ZERO;
    this.lost.set(l.id, l);
  }

  /** Asks the locked path to renew a scope's view and slices (once at a time). */
  refresh(view: View) {
    if (view.refreshing || this.closing) return;
    view.refreshing = true;
    const call: LeaseCall = {
      tenant: view.tenant,
      apiKeyId: view.apiKeyId,
      subject: view.subject,
      est: { cost: '0', tokens: '0', inputTokens: '0', outputTokens: '0', asrSeconds: '0', requests: '0' },
      seconds: 0,
      refresh: true,
    };
    const p = this.renew(call)
      .catch(() => {})
      .finally(() => {
        view.refreshing = false;
        this.renewing.delete(p);
      });
    this.renewing.add(p);
  }

  /**
   * Every tick: renews busy views before they expire, forgets idle ones, gives back slices no
   * view uses any more and deletes lost leases' rows (shrinking needs no lock), forgets old demand.
   */
  async housekeep(): Promise<void> {
    const t = performance.now();
    const now = this.now().getTime();
    const idle = 2 * this.o.horizonMs;
    const used = new Set<string>();
    const tenants = new Set<string>();
    const extend: View[] = [];
    for (const v of this.views.values()) {
      if (t - v.lastUse > idle) {
        this.views.delete(v.key);
        continue;
      }
      for (const k of leaseKeysOf(v)) used.add(k);
      tenants.add(v.tenant.id);
      // Renewed at half its life or a little before (a view ending with its window or a
      // membership just ends). The point is spread per view over a fifth of a lifetime, so the
      // many scopes that got busy together do not all renew in the same flush ever after.
      const sentinel = this.leases.get(sentinelKeyOf(v.tenant.id));
      if (!sentinel || sentinel.expiresAt.getTime() - now < this.o.lifetimeMs * (0.5 + 0.2 * spread(v.key)))
        if (sentinel && (v.refreshing || this.extensible(v, now)))
          // A renewal already out and late: the slices are kept alive meanwhile (not lost to
          // expiry because the database is slow, which would send every call to the lock).
          extend.push(v);
        else this.refresh(v);
    }
    if (extend.length) await this.extend(extend);
    for (const id of this.tenants.keys()) if (!tenants.has(id)) this.tenants.delete(id);
    const change: leaseStore.LeaseChange[] = [];
    const drop: string[] = [];
    for (const l of this.leases.values()) {
      if (used.has(l.key)) continue;
      const back = l.available.plus(l.unsynced).plus(l.spent);
      l.available = ZERO;
      l.unsynced = ZERO;
      l.spent = ZERO;
      if (l.inflight === 0) {
        drop.push(l.id);
        this.leases.delete(l.key);
      } else if (back.gt(0)) change.push({ id: l.id, delta: back.neg().toFixed(), expiresAt: null });
    }
    for (const l of this.lost.values())
      if (l.inflight === 0) {
        drop.push(l.id);
        this.lost.delete(l.id);
      }
    this.demand.forget(2 * idle);
    if (change.length || drop.length)
      await leaseStore.writeLeases(this.db, this.instanceId, change, drop, []).catch(() => {});
  }

  /**
   * A view due for its half-life renewal may instead have its slices extended, without the
   * lock, once: when its status is less than 0.6 of a lifetime old and every slice still has at
   * least half its size. The next time it is due it is renewed (so what a view answers with,
   * and what it knows of usage recorded beyond reservations, is at most about a lifetime old,
   * or as old as a renewal that is late: its slices are extended until it comes back).
   */
  private extensible(v: View, now: number): boolean {
    if (now - v.at.getTime() >= this.o.lifetimeMs * 0.6) return false;
    return v.items.every((i) => {
      const l = this.leases.get(i.key);
      return !!l && l.available.gte(l.half);
    });
  }

  /** Extends the views' slices (one statement); a view whose slice could not be extended is renewed. */
  private async extend(views: View[]): Promise<void> {
    const now = this.now().getTime();
    const expiresAt = new Date(now + this.o.lifetimeMs);
    const leases = new Map<string, Lease>();
    for (const v of views)
      for (const k of leaseKeysOf(v)) {
        const l = this.leases.get(k);
        if (l) leases.set(l.id, l);
      }
    // What each row counts twice goes with the same statement (taken now; given back if it fails).
    const writes = [...leases.values()].map((l) => ({ l, spent: l.spent }));
    for (const w of writes) w.l.spent = ZERO;
    const done = await leaseStore
      .extendLeases(
        this.db,
        this.instanceId,
        writes.map((w) => ({ id: w.l.id, spent: w.spent.toFixed() })),
        expiresAt,
        new Date(now + this.o.lifetimeMs / 4),
      )
      .catch(() => new Set<string>());
    for (const { l, spent } of writes) {
      if (done.has(l.id)) {
        if (l.expiresAt < expiresAt) l.expiresAt = expiresAt;
      } else l.spent = l.spent.plus(spent); // not written (failed, or the row is gone): the row still counts it
    }
    for (const v of views) {
      const mine = leaseKeysOf(v).map((k) => this.leases.get(k));
      if (mine.every((l) => l && done.has(l.id))) {
        v.validUntil = v.endsBy && v.endsBy < expiresAt ? v.endsBy : expiresAt;
      } else this.refresh(v);
    }
  }

  /** Writes what is queued and gives every slice back. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.tick) clearInterval(this.tick);
    await Promise.all(this.renewing);
    await this.fast.drain();
    this.views.clear();
    this.leases.clear();
    if (this.o.enabled) await leaseStore.dropInstance(this.db, this.instanceId).catch(() => {});
  }
}
