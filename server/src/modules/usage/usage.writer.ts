// The one writer of the ledger and its rollups. Everything that records usage (a single
// recordUsage is a batch of one; recordUsageBatch; reversals) goes through write().
//
// One transaction, two statements (usage.store.ts: insertEvents, eventsByKeys):
//  1. INSERT the entries (one jsonb array, ids made here) ON CONFLICT DO NOTHING, in
//     (tenant, idempotency key) order so concurrent batches take locks in one order, and
//     in the same statement upsert every rollup level aggregated from exactly the rows
//     that were inserted, in rollup-key order. The ledger and rollups cannot diverge.
//  2. For entries that were not inserted, read the row that holds their key: the same
//     fingerprint is a DUPLICATE, another is a CONFLICT. A concurrent writer of the same
//     key makes ON CONFLICT wait for it, so N racing calls give one CREATED and N-1
//     DUPLICATEs, never an error.
// The group-commit layer (issue 5) gathers concurrent calls into one write().
//
// Reservations never stop an entry: usage that happened is recorded. The reservations the
// entries name are read and locked before the INSERT (one statement, whatever their state);
// after it, each open reservation of the entry's tenant is settled by the first CREATED entry
// that names it, and every entry's outcome says what happened to its reservation.
import type { Database, Sql } from '../../db/database';
import { isUuid, uuidV7Ids } from '../../lib/ids';
import { type EventRow, LEDGER, type NewEntry, rowOf, wireRow } from './usage.columns';
import * as store from './usage.store';

/**
 * What a recorded entry did to the reservation it named: SETTLED it, or settled nothing
 * because it had EXPIRED, was RELEASED, was ALREADY_SETTLED by another entry, or is UNKNOWN
 * (no reservation of the entry's tenant has that id).
 */
export type Settlement = 'SETTLED' | 'EXPIRED' | 'RELEASED' | 'ALREADY_SETTLED' | 'UNKNOWN';

/** A named reservation as the write found it (locked for the transaction). */
export interface ReservationState {
  tenantId: string;
  state: 'OPEN' | 'EXPIRED' | 'RELEASED' | 'SETTLED';
  eventId: string | null;
}

export type WriteOutcome =
  /** `reservation`: null when the entry named none. */
  | { outcome: 'CREATED'; event: EventRow; reservation: Settlement | null }
  | { outcome: 'DUPLICATE'; event: EventRow; reservation: Settlement | null }
  | { outcome: 'CONFLICT'; event: EventRow }
  /** Not inserted, and no entry holds the key: another entry already reverses the same original. */
  | { outcome: 'ALREADY_REVERSED' };

// The report carries what rowOf cannot take from the entry: recorded_at (the one column the
// database gives) and metadata (the one jsonb column, as PostgreSQL normalised it).
const reported = Object.entries(LEDGER)
  .filter(([, c]) => ('by' in c && c.by === 'database') || c.pg === 'jsonb')
  .map(([k]) => k);
if (reported.join() !== 'metadata,recordedAt')
  throw new Error(`the ledger insert reports metadata and recordedAt, not ${reported.join(', ')}`);

/** What a write does besides entries and rollups, in the same transaction. */
export interface WriteHooks<A = unknown> {
  /** Tenants to lock first (quota decisions for them must see this write whole). */
  lockTenants?: (tx: Sql) => Promise<void>;
  /** Per entry: the reservation it settles. */
  reservations?: (string | null)[];
  /** The named reservations (well-formed ids) that exist, locked for the transaction. */
  lockReservations?: (tx: Sql, ids: string[]) => Promise<Map<string, ReservationState>>;
  settle?: (tx: Sql, pairs: { reservationId: string; eventId: string }[]) => Promise<void>;
  /** After the entries are in (e.g. quota alerts); its result is returned with the outcomes. */
  afterInsert?: (tx: Sql, created: EventRow[]) => Promise<A>;
}

export class UsageWriter {
  constructor(private readonly db: Database) {}

  /** In a transaction of its own, or in `within` (a caller's, which it opened for the ledger). */
  async write<A = unknown>(
    entries: NewEntry[],
    hooks: WriteHooks<A> = {},
    within?: Sql,
  ): Promise<{ outcomes: WriteOutcome[]; after: A | null }> {
    if (entries.length === 0) return { outcomes: [], after: null };
    // One entry per (tenant, key) goes to the INSERT; repeats inside the batch are judged
    // against whatever holds the key afterwards, exactly like a retry.
    const keys = entries.map((e) => `${e.tenantId}\u0000${e.idempotencyKey}`);
    const first = new Map<string, number>();
    keys.forEach((k, i) => {
      if (!first.has(k)) first.set(k, i);
    });

    const run = async (tx: Sql) => {
      await hooks.lockTenants?.(tx);
      const reservationOf = (i: number) => hooks.reservations?.[i] ?? null;
      const wanted = [...first.values()].map(reservationOf).filter((r): r is string => r != null && isUuid(r));
      const found =
        wanted.length && hooks.lockReservations
          ? await hooks.lockReservations(tx, [...new Set(wanted)])
          : new Map<string, ReservationState>();
      const insert = [...first.values()];

      const byKey = new Map<string, EventRow>();
      if (insert.length) {
        const ids = uuidV7Ids(insert.length);
        const report = await store.insertEvents(
          tx,
          JSON.stringify(insert.map((i, j) => wireRow(entries[i] as NewEntry, ids[j] as string))),
        );
        // The statement always answers its recorded_at row; the clock here never stands in for it.
        const recordedAt = report.find((r) => r.id === null)?.recordedAt;
        if (!recordedAt) throw new Error('the ledger insert answered without its recorded_at row');
        const skipped = new Set<string>();
        const metadata = new Map<string, unknown>();
        for (const r of report) {
          if (r.id === null) continue;
          if (r.skipped) skipped.add(r.id);
          else metadata.set(r.id, r.metadata);
        }
        insert.forEach((i, j) => {
          const id = ids[j] as string;
          if (skipped.has(id)) return;
          const e = entries[i] as NewEntry;
          byKey.set(keys[i] as string, rowOf(e, id, recordedAt, e.metadata == null ? null : metadata.get(id)));
        });
      }
      const created = new Set(byKey.keys());

      // Each open reservation of the entry's tenant goes to the first created entry naming it.
      const settledBy = new Map<string, string>(); // reservation -> event, by this write
      for (const i of insert) {
        const r = reservationOf(i);
        const row = byKey.get(keys[i] as string);
        const st = r == null ? undefined : found.get(r);
        if (r != null && row && st?.state === 'OPEN' && st.tenantId === row.tenantId && !settledBy.has(r))
          settledBy.set(r, row.id);
      }
      const settle = [...settledBy].map(([reservationId, eventId]) => ({ reservationId, eventId }));
      if (settle.length) await hooks.settle?.(tx, settle);
      /** What entry row `row`, recorded with reservation `r`, did to it. */
      const settlement = (r: string | null, row: EventRow): Settlement | null => {
        if (r == null) return null;
        const st = found.get(r);
        if (!st || st.tenantId !== row.tenantId) return 'UNKNOWN';
        const by = settledBy.get(r) ?? st.eventId;
        if (by === row.id) return 'SETTLED';
        if (by != null || st.state === 'OPEN') return 'ALREADY_SETTLED';
        return st.state === 'RELEASED' ? 'RELEASED' : 'EXPIRED';
      };

      const missing = [...first.entries()].filter(([k]) => !byKey.has(k)).map(([, i]) => entries[i] as NewEntry);
      if (missing.length) {
        const existing = await store.eventsByKeys(
          tx,
          missing.map((e) => e.tenantId),
          missing.map((e) => e.idempotencyKey),
        );
        for (const row of existing) byKey.set(`${row.tenantId}\u0000${row.idempotencyKey}`, row);
      }

      const createdRows = [...created].map((k) => byKey.get(k) as EventRow);
      const after = createdRows.length && hooks.afterInsert ? await hooks.afterInsert(tx, createdRows) : null;

      const claimed = new Set<string>();
      const outcomes = entries.map((e, i): WriteOutcome => {
        const k = keys[i] as string;
        const row = byKey.get(k);
        if (!row) return { outcome: 'ALREADY_REVERSED' };
        const reservation = settlement(reservationOf(i), row);
        if (created.has(k) && !claimed.has(k)) {
          claimed.add(k);
          return { outcome: 'CREATED', event: row, reservation };
        }
        return row.fingerprint.equals(e.fingerprint)
          ? { outcome: 'DUPLICATE', event: row, reservation }
          : { outcome: 'CONFLICT', event: row };
      });
      return { outcomes, after };
    };
    return within ? run(within) : this.db.transaction('recordUsage', run);
  }
}
