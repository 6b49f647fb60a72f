// The locked wallets of one transaction, and everything that moves them: a WalletBook is
// opened on wallet rows already locked (FOR UPDATE, in id order), reads their holds and live
// grants in further statements (so it sees every commit before the lock), writes the EXPIRY of
// grants found expired, then takes debits, credit-backs, grants, voids and holds in memory
// (decimal.js, exact) and writes them in one statement: a multi-row INSERT of movements, an
// UPDATE of the grants touched and one of the wallet rows (each once, however many entries
// moved it). The low-balance / depleted state is decided here too, under the lock.
import { randomUUID } from 'node:crypto';
import type { Sql } from '../../db/database';
import { Dec, fmt, ZERO } from '../../lib/money';
import type { WebhookEvent, WebhookOutbox } from '../webhooks/ports';
import { type LockedState, lockedState, writeMoves } from './credits.store';
import type { GrantRow, MovementKind, NewMovement, WalletRow, WalletView } from './credits.types';

interface GrantState {
  row: GrantRow;
  remaining: Dec;
  voidedAt: Date | null;
  expiredAt: Date | null;
  dirty: boolean;
}

export interface HeldWallet {
  row: WalletRow;
  balance: Dec;
  reserved: Dec;
  threshold: Dec | null;
  lowSince: Date | null;
  depletedSince: Date | null;
  /** Live grants in burn order. */
  grants: GrantState[];
  /** Every grant of it this book loaded or made (what expire() looks through). */
  loaded: GrantState[];
  dirty: boolean;
  /** A grant lifted it in this transaction: a fired state may re-arm. */
  rearm: boolean;
}

const burnOrder = (a: GrantState, b: GrantState) =>
  a.row.priority - b.row.priority ||
  (a.row.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY) - (b.row.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY) ||
  a.row.createdAt.getTime() - b.row.createdAt.getTime() ||
  (a.row.id < b.row.id ? -1 : 1);

const ownerKey = (tenantId: string, subject: string | null) => JSON.stringify([tenantId, subject]);

export class WalletBook {
  readonly wallets = new Map<string, HeldWallet>();
  /** The same wallets by owner (tenant, subject), for payer(). */
  private readonly owners = new Map<string, HeldWallet>();
  private readonly grants = new Map<string, GrantState>();
  private readonly movements: NewMovement[] = [];
  readonly events: WebhookEvent[] = [];

  private constructor(readonly now: Date) {}

  /** On wallets locked by the caller; `also`: grants to load whatever their state (credit-backs). */
  static async open(tx: Sql, rows: WalletRow[], now: Date, also: string[] = []): Promise<WalletBook> {
    if (!rows.length) return new WalletBook(now);
    const { reserved, grants } = await lockedState(
      tx,
      rows.map((r) => r.id),
      now,
      also,
    );
    return WalletBook.on({ rows, reserved, grants }, now);
  }

  /** On a state read after the lock (LockedState: the wallet rows, their holds and movable grants). */
  static on({ rows, reserved, grants }: LockedState, now: Date): WalletBook {
    const book = new WalletBook(now);
    for (const row of rows) {
      book.wallets.set(row.id, {
        row,
        balance: new Dec(row.balance),
        reserved: new Dec(reserved.get(row.id) ?? 0),
        threshold: row.lowBalanceThreshold == null ? null : new Dec(row.lowBalanceThreshold),
        lowSince: row.lowBalanceSince,
        depletedSince: row.depletedSince,
        grants: [],
        loaded: [],
        dirty: false,
        rearm: false,
      });
      book.owners.set(ownerKey(row.tenantId, row.subject), book.wallet(row.id));
    }
    for (const g of grants) {
      const st: GrantState = {
        row: g,
        remaining: new Dec(g.remaining),
        voidedAt: g.voidedAt,
        expiredAt: g.expiredAt,
        dirty: false,
      };
      book.grants.set(g.id, st);
      const w = book.wallets.get(g.walletId);
      w?.loaded.push(st);
      if (w && book.live(st)) w.grants.push(st);
    }
    for (const w of book.wallets.values()) {
      w.grants.sort(burnOrder);
      book.expire(w);
    }
    return book;
  }

  /** A wallet this book was opened on (its caller locked it). */
  wallet(id: string): HeldWallet {
    const w = this.wallets.get(id);
    if (!w) throw new Error(`wallet ${id} is not in this book`);
    return w;
  }

  /** Unvoided and not expired now (its EXPIRY may be unwritten yet). */
  private live(g: GrantState): boolean {
    return !g.voidedAt && !g.expiredAt && (!g.row.expiresAt || g.row.expiresAt > this.now);
  }

  private move(w: HeldWallet, g: GrantState | null, kind: MovementKind, amount: Dec, eventId: string | null = null) {
    this.movements.push({
      tenantId: w.row.tenantId,
      walletId: w.row.id,
      grantId: g?.row.id ?? null,
      eventId,
      kind,
      amount: fmt(amount),
      at: this.now,
    });
    w.balance = w.balance.plus(amount);
    w.dirty = true;
    if (g) {
      g.remaining = g.remaining.plus(amount);
      g.dirty = true;
    }
  }

  /** Grants past their expiry leave the balance now (an EXPIRY of what they still held). */
  private expire(w: HeldWallet) {
    for (const g of w.loaded) {
      if (g.voidedAt || g.expiredAt) continue;
      if (!g.row.expiresAt || g.row.expiresAt > this.now) continue;
      if (g.remaining.gt(0)) this.move(w, g, 'EXPIRY', g.remaining.neg());
      g.expiredAt = this.now;
      g.dirty = true;
    }
    w.grants = w.grants.filter((g) => this.live(g));
  }

  /** The wallet that pays an entry of `subject`: the subject's when it has one, else the tenant's. */
  payer(tenantId: string, subject: string | null): HeldWallet | null {
    return (
      (subject === null ? undefined : this.owners.get(ownerKey(tenantId, subject))) ??
      this.owners.get(ownerKey(tenantId, null)) ??
      null
    );
  }

  /** An entry's cost, burnt in order from the grants effective and unexpired at `at`; the rest below zero. */
  debit(w: HeldWallet, cost: Dec, at: Date, eventId: string) {
    let left = cost;
    for (const g of w.grants) {
      if (left.lte(0)) break;
      if (g.remaining.lte(0) || g.row.effectiveAt > at || (g.row.expiresAt && g.row.expiresAt <= at)) continue;
      const take = Dec.min(left, g.remaining);
      this.move(w, g, 'DEBIT', take.neg(), eventId);
      left = left.minus(take);
    }
    if (left.gt(0)) this.move(w, null, 'DEBIT', left.neg(), eventId);
  }

  /**
   * What one DEBIT took, given back for a reversal: to its grant when it is still live; a grant
   * voided or expired since gets it back and loses it again at once (VOID / EXPIRY), since that
   * money had left the wallet anyway; the uncovered part lifts the balance.
   */
  creditBack(w: HeldWallet, grantId: string | null, debited: Dec, eventId: string) {
    const amount = debited.neg();
    const g = grantId ? (this.grants.get(grantId) ?? null) : null;
    if (grantId && !g) throw new Error(`grant ${grantId} of a debit was not loaded`);
    this.move(w, g, 'CREDIT_BACK', amount, eventId);
    if (g && !this.live(g)) this.move(w, g, g.voidedAt ? 'VOID' : 'EXPIRY', amount.neg(), eventId);
  }

  /** A new grant's money in. */
  grant(w: HeldWallet, row: GrantRow) {
    const g: GrantState = { row, remaining: ZERO, voidedAt: null, expiredAt: null, dirty: false };
    this.grants.set(row.id, g);
    w.loaded.push(g);
    this.move(w, g, 'GRANT', new Dec(row.amount));
    g.dirty = false; // inserted with remaining = amount
    if (this.live(g)) w.grants = [...w.grants, g].sort(burnOrder);
    else this.expire(w);
    w.rearm = true;
  }

  /**
   * A grant's remainder leaves the balance; what it paid stays paid. The grant as it is
   * afterwards (one voided already is answered unchanged). It must have been opened with the
   * book (WalletBook.open's `also`).
   */
  void(w: HeldWallet, grantId: string): GrantRow {
    const g = this.grants.get(grantId);
    if (!g) throw new Error('void: the grant was not opened with the book');
    if (g.voidedAt) return this.rowOf(g);
    if (g.remaining.gt(0)) this.move(w, g, 'VOID', g.remaining.neg());
    g.voidedAt = this.now;
    g.dirty = true;
    w.grants = w.grants.filter((x) => x !== g);
    return this.rowOf(g);
  }

  rowOf(g: GrantState): GrantRow {
    return { ...g.row, remaining: fmt(g.remaining), voidedAt: g.voidedAt, expiredAt: g.expiredAt };
  }

  /** The balance as read: without grants not effective yet. */
  balanceOf(w: HeldWallet): Dec {
    let future = ZERO;
    for (const g of w.grants) if (g.row.effectiveAt > this.now) future = future.plus(g.remaining);
    return w.balance.minus(future);
  }

  available(w: HeldWallet): Dec {
    return this.balanceOf(w).minus(w.reserved);
  }

  hold(w: HeldWallet, amount: Dec) {
    w.reserved = w.reserved.plus(amount);
  }

  setThreshold(w: HeldWallet, threshold: Dec | null) {
    w.threshold = threshold;
    w.lowSince = null; // re-armed: judged against the new threshold below
    w.dirty = true;
  }

  view(w: HeldWallet): WalletView {
    const balance = this.balanceOf(w);
    return {
      id: w.row.id,
      tenantId: w.row.tenantId,
      subject: w.row.subject,
      currency: w.row.currency,
      balance: fmt(balance),
      reserved: fmt(w.reserved),
      available: fmt(balance.minus(w.reserved)),
      lowBalanceThreshold: w.threshold == null ? null : fmt(w.threshold),
      lowBalanceSince: w.lowSince,
      depletedSince: w.depletedSince,
      asOf: this.now,
    };
  }

  /** The once-only crossings, decided under the lock: fired states set, re-armed by a grant. */
  private crossings() {
    for (const w of this.wallets.values()) {
      const available = this.available(w);
      const fire = (type: WebhookEvent['type']) => {
        const v = this.view(w);
        this.events.push({
          tenantId: w.row.tenantId,
          type,
          // Each crossing is decided once, under the wallet's lock, and its outbox row commits or
          // rolls back with that decision, so a fresh id per crossing is its stable key (the
          // clock is not: two crossings can share a millisecond).
          key: `${w.row.id}:${type}:${randomUUID()}`,
          at: this.now,
          data: {
            tenantId: v.tenantId,
            subject: v.subject,
            currency: v.currency,
            balance: v.balance,
            reserved: v.reserved,
            available: v.available,
            lowBalanceThreshold: v.lowBalanceThreshold,
          },
        });
        w.dirty = true;
      };
      if (w.threshold !== null) {
        if (w.lowSince === null && available.lt(w.threshold)) {
          w.lowSince = this.now;
          fire('wallet.low_balance');
        } else if (w.lowSince !== null && w.rearm && available.gte(w.threshold)) {
          w.lowSince = null;
          w.dirty = true;
        }
      } else if (w.lowSince !== null) {
        w.lowSince = null;
        w.dirty = true;
      }
      if (w.depletedSince === null && available.lte(0)) {
        w.depletedSince = this.now;
        fire('wallet.depleted');
      } else if (w.depletedSince !== null && w.rearm && available.gt(0)) {
        w.depletedSince = null;
        w.dirty = true;
      }
    }
  }

  /** Writes what moved (one statement) and emits the crossings; answers the wallets written. */
  async write(tx: Sql, outbox: WebhookOutbox | null): Promise<HeldWallet[]> {
    this.crossings();
    const dirty = [...this.wallets.values()].filter((w) => w.dirty);
    await writeMoves(
      tx,
      this.movements,
      [...this.grants.values()]
        .filter((g) => g.dirty)
        .map((g) => ({ id: g.row.id, remaining: fmt(g.remaining), voidedAt: g.voidedAt, expiredAt: g.expiredAt })),
      dirty.map((w) => ({
        id: w.row.id,
        balance: fmt(w.balance),
        lowBalanceThreshold: w.threshold == null ? null : fmt(w.threshold),
        lowBalanceSince: w.lowSince,
        depletedSince: w.depletedSince,
      })),
      this.now,
    );
    if (outbox && this.events.length) await outbox.emit(tx, this.events);
    return dirty;
  }
}
