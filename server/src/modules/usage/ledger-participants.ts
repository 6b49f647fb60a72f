// The registered ledger participants (ports.ts), run around one write: prepared beside
// pricing, turned into the writer's hooks for its transaction, told after commit. A write
// for tenants no participant cares about costs it no statement in the transaction.
import type { Sql } from '../../db/database';
import type { LedgerCommit, LedgerParticipant, LedgerWrite, ReservationClaims } from './ports';
import type { EventRow } from './usage.types';
import type { WriteHooks } from './usage.writer';

/** One write's participants, prepared. */
export interface PreparedWrite {
  /** The writer's hooks, given the reservation each entry names. */
  hooks(reservations: (string | null)[]): WriteHooks;
  /** After commit: every participant publishes what it owns. */
  committed(commit: LedgerCommit): void;
}

export class LedgerParticipants {
  private readonly claims: ReservationClaims | null;

  constructor(private readonly list: readonly LedgerParticipant<unknown>[]) {
    const claiming = list.filter((p) => p.reservations);
    if (claiming.length > 1) throw new Error('at most one ledger participant may claim reservations');
    this.claims = claiming[0]?.reservations ?? null;
  }

  async prepare(write: LedgerWrite): Promise<PreparedWrite> {
    const states = await Promise.all(this.list.map((p) => p.prepare(write)));
    const active = this.list.flatMap((p, i) => (states[i] == null ? [] : [{ p, s: states[i] }]));
    const claims = this.claims;
    const at = write.at;
    return {
      hooks: (reservations) => ({
        reservations,
        ...(claims
          ? {
              lockReservations: (tx: Sql, ids: string[]) => claims.lock(tx, ids, at),
              settle: async (tx: Sql, pairs: { reservationId: string; eventId: string }[]) => {
                await claims.settle(tx, pairs, at);
                for (const { p, s } of active) await p.settled?.(tx, s, pairs);
              },
            }
          : {}),
        ...(active.some(({ p }) => p.lock)
          ? {
              lockTenants: async (tx: Sql) => {
                for (const { p, s } of active) await p.lock?.(tx, s);
              },
            }
          : {}),
        ...(active.some(({ p }) => p.created)
          ? {
              afterInsert: async (tx: Sql, rows: EventRow[]) => {
                for (const { p, s } of active) await p.created?.(tx, s, rows);
              },
            }
          : {}),
      }),
      committed: (commit) => {
        this.list.forEach((p, i) => {
          p.committed?.(states[i] ?? null, commit);
        });
      },
    };
  }
}
