// The two ports the usage module offers other modules. Usage owns them and never names
// who implements them: the composition root (services.ts) hands the participants to
// UsageService once, and gives the reader to whoever needs to know what was used.
//
//   LedgerParticipant  what another module may do inside the ledger transaction: take its
//                      locks first, claim reservations, react to the rows created; then
//                      publish what it owns after commit. Recordings and reversals both
//                      reach every participant. Quota is one; credits (wallet debits) can
//                      be a second beside it without a change here.
//   UsageReader        "how much was used in this scope and window": the only way another
//                      module reads usage. Nobody else names usage's tables.
import type { Sql } from '../../db/database';
import type { EventRow, Totals } from './usage.types';
import type { ReservationState } from './usage.writer';

export type { ReservationState };

/** One write to the ledger, as a participant sees it before the transaction. */
export interface LedgerWrite {
  /** The writer's clock for this write. */
  at: Date;
  /** 'record' for recordUsage / recordUsageBatch, 'reverse' for reverseUsage. */
  kind: 'record' | 'reverse';
  /** The tenants of the entries, each once. */
  tenantIds: string[];
}

/** What a committed write did, for participants to publish. */
export interface LedgerCommit {
  /** The entries this write created (none when every one was a retry). */
  created: EventRow[];
  /** The tenants of written entries that named a reservation (whether or not it settled). */
  reservationTenants: string[];
}

/**
 * A module's part in ledger writes. `S` is what it prepared for one write (null: nothing
 * to do in the transaction, so it costs the write nothing there).
 */
export interface LedgerParticipant<S> {
  /** Before the transaction, beside pricing (so no statement waits on it). */
  prepare(write: LedgerWrite): Promise<S | null>;
  /** First in the transaction, when prepared: the locks its decisions need. */
  lock?(tx: Sql, state: S): Promise<void>;
  /**
   * In the transaction, when prepared: the open reservations this write settled (each by the
   * first created entry naming it), before created() (credits releases its holds on them).
   */
  settled?(tx: Sql, state: S, pairs: { reservationId: string; eventId: string }[]): Promise<void>;
  /** In the transaction after the entries are in, when prepared and some were created. */
  created?(tx: Sql, state: S, rows: EventRow[]): Promise<void>;
  /** After commit, always: publish the facts it owns. */
  committed?(state: S | null, commit: LedgerCommit): void;
  /** The reservations entries may name: at most one participant claims them. */
  reservations?: ReservationClaims;
}

/** Reservations named by entries: locked in the transaction, then settled by the first entry naming each. */
export interface ReservationClaims {
  /** Those among `ids` that exist, whatever their state, locked until commit. */
  lock(tx: Sql, ids: string[], at: Date): Promise<Map<string, ReservationState>>;
  settle(tx: Sql, pairs: { reservationId: string; eventId: string }[], at: Date): Promise<void>;
}

/** A scope inside one tenant: the whole tenant, one key, or one subject. */
export interface UsageScope {
  tenantId: string;
  /** The tenant's zone: local days are read from the daily level. */
  timezone: string;
  apiKeyId?: string | null;
  subject?: string | null;
}

/** [start, end); both null: since the first entry (a TOTAL window). */
export interface UsageWindow {
  start: Date | null;
  end: Date | null;
}

export interface UsageReader {
  /**
   * What the ledger says for one scope and window, reversals included. Runs on `sql`, so a
   * caller holding a lock reads in its own transaction.
   */
  used(sql: Sql, scope: UsageScope, window: UsageWindow): Promise<Totals>;
  /**
   * The same for many (scope, window) pairs, in order, with a statement or two for all of
   * them (one per kind of read) instead of one per pair: quota's locked path asks for every
   * scope of a flush at once, under the tenants' lock.
   */
  usedMany(sql: Sql, asks: readonly { scope: UsageScope; window: UsageWindow }[]): Promise<Totals[]>;
}
