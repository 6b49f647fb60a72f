// The one writer of the ledger and its rollups. Everything that records usage (a single
// recordUsage is a batch of one; recordUsageBatch; reversals) goes through write().
//
// One transaction, two statements:
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
import {
  EVENT_COLUMNS,
  type EventRow,
  INSERT_COLUMNS,
  LEDGER,
  LEDGER_MEASURES_SQL,
  type NewEntry,
  ROLLUP_MEASURES,
  rowOf,
  wireRow,
} from './usage.columns';

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

// The entries travel as one JSON array of arrays (one native JSON.stringify, parsed by
// PostgreSQL in C) instead of one array parameter per column, which node-postgres escapes
// element by element. bytea travels as hex; instants as ISO text (see wireRow).
const wireType = (t: string) => (t === 'bytea' ? 'text' : t);
const cast = (col: string, t: string) => (t === 'bytea' ? `decode(u.${col}, 'hex')` : `u.${col}`);

/** The rollup key: one list, used by the writer, summaries and reconcile (the measures: usage.columns.ts). */
export const ROLLUP_KEY_COLUMNS = [
  'tenant_id',
  'hour',
  'kind',
  'currency',
  'api_key_id',
  'model',
  'provider',
  'subject',
] as const;
const KEYS_WITHOUT_SUBJECT = ROLLUP_KEY_COLUMNS.filter((c) => c !== 'subject');
/**
 * Three rollup levels, all written with the ledger rows: hourly by subject (end user),
 * hourly without it (much smaller when a tenant has many end users; summaries that neither
 * filter nor group by subject read it), and by the tenant's local day without subject
 * (whole local days of long summaries and quota windows).
 */
export const ROLLUP_LEVELS: readonly { table: string; key: readonly string[] }[] = [
  { table: 'usage_rollups_hourly', key: ROLLUP_KEY_COLUMNS },
  { table: 'usage_rollups_hourly_keys', key: KEYS_WITHOUT_SUBJECT },
  { table: 'usage_rollups_daily_keys', key: KEYS_WITHOUT_SUBJECT.map((c) => (c === 'hour' ? 'day' : c)) },
];

/** A rollup key column computed from ledger rows `e` (as written by rollupSource). */
export const rollupKeySql = (c: string) =>
  c === 'hour'
    ? "date_trunc('hour', e.occurred_at, 'UTC')" // never the session's zone (see BEGIN_TX)
    : c === 'day'
      ? "date_trunc('day', e.occurred_at, z.timezone)"
      : `e.${c}`;
/** FROM clause over ledger rows `source` as `e`, with their tenant as `z` where the key needs its zone. */
export const rollupSource = (source: string, key: readonly string[]) =>
  key.includes('day') ? `${source} e JOIN tenants z ON z.id = e.tenant_id` : `${source} e`;

const INSERT_SQL = `
WITH u AS (
  SELECT ${INSERT_COLUMNS.map(([, c, t], i) => `(r->>${i})::${wireType(t)} AS ${c}`).join(', ')}
    FROM jsonb_array_elements($1::jsonb) AS r
), ins AS (
  INSERT INTO usage_events (${INSERT_COLUMNS.map(([, c]) => c).join(', ')})
  SELECT ${INSERT_COLUMNS.map(([, c, t]) => cast(c, t)).join(', ')} FROM u
  ORDER BY u.tenant_id, u.idempotency_key
  ON CONFLICT DO NOTHING
  RETURNING *
), ${ROLLUP_LEVELS.map(
  (level, i) => `roll${i} AS (
  INSERT INTO ${level.table} (${level.key.join(', ')}, ${ROLLUP_MEASURES.join(', ')})
  SELECT ${level.key.map(rollupKeySql).join(', ')}, ${LEDGER_MEASURES_SQL}
    FROM ${rollupSource('ins', level.key)}
   GROUP BY ${level.key.map((_, j) => j + 1).join(', ')}
   ORDER BY ${level.key.map((_, j) => j + 1).join(', ')}
  ON CONFLICT (${level.key.join(', ')}) DO UPDATE SET
    ${ROLLUP_MEASURES.map((m) => `${m} = ${level.table}.${m} + excluded.${m}`).join(',\n    ')}
  RETURNING 1
)`,
).join(', ')}
-- The ids are ours (uuidV7Ids), so only the exceptions come back, not a row per entry:
-- entries not inserted (their key was taken), and the metadata PostgreSQL normalised; plus
-- one row with recorded_at, which is now(), the same for every entry of the transaction.
SELECT NULL::uuid AS id, false AS skipped, NULL::jsonb AS metadata, now() AS "recordedAt"
UNION ALL
SELECT u.id, true, NULL, NULL FROM u WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.id = u.id)
UNION ALL
SELECT id, false, metadata, NULL FROM ins WHERE metadata IS NOT NULL`;

// The report carries what rowOf cannot take from the entry: recorded_at (the one column the
// database gives) and metadata (the one jsonb column, as PostgreSQL normalised it).
const reported = Object.entries(LEDGER)
  .filter(([, c]) => ('by' in c && c.by === 'database') || c.pg === 'jsonb')
  .map(([k]) => k);
if (reported.join() !== 'metadata,recordedAt')
  throw new Error(`the ledger insert reports metadata and recordedAt, not ${reported.join(', ')}`);

interface WriteReport {
  id: string | null;
  skipped: boolean;
  metadata: unknown;
  recordedAt: Date | null;
}

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
        const report = await tx.query<WriteReport>('recordUsage:insertEvents', INSERT_SQL, [
          JSON.stringify(insert.map((i, j) => wireRow(entries[i] as NewEntry, ids[j] as string))),
        ]);
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
        const existing = await tx.query<EventRow>(
          'recordUsage:existing',
          `SELECT ${EVENT_COLUMNS} FROM usage_events
            WHERE (tenant_id, idempotency_key) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))`,
          [missing.map((e) => e.tenantId), missing.map((e) => e.idempotencyKey)],
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
