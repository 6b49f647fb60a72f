// The ledger's columns, in one table: each column of usage_events as SQL and as TypeScript, and
// what it is to the writer, to a reversal, to the rollups and to published events. Every place
// that spells a ledger row out is derived from it, once, at module load: EventRow and NewEntry,
// the insert's column list and casts and the JSON row an entry travels as (usage.writer.ts),
// the row a write answers without reading it back, EVENT_COLUMNS, a reversal's entry, the
// rollup measures (their SQL, Totals, summaries, reconcile). A new column is a line here and a
// migration (migrations are history and never import this); test/ledger-columns.test.ts fails
// when the migrated database, the runtime role's grants or the rollup key disagree with it.
import { Dec, fmt } from '../../lib/money';
import { KINDS } from './usage.types';

type PgType = 'uuid' | 'text' | 'bytea' | 'smallint' | 'integer' | 'numeric' | 'jsonb' | 'timestamptz';

/** A rollup measure: the aggregate, over ledger rows `e`, that the rollups keep per key. */
interface Measure {
  sql: string;
  ts: string;
  /** Default `sum(e.<column>)`; cast to bigint (counters) or numeric(38,12) (numeric columns). */
  agg?: string;
}

interface Column {
  /** The column in usage_events. */
  sql: string;
  /** Its type: the insert casts to it, and it decides the TypeScript type. */
  pg: PgType;
  nullable?: true;
  /** The values a CHECK allows (the TypeScript type is their union). */
  values?: readonly (string | number)[];
  /** Who gives the value when not the entry: the writer (UUIDv7 ids) or the database (its default). */
  by?: 'writer' | 'database';
  /** What a reversal entry holds: the original's value, its negation, or a value of its own. */
  reversal: 'copy' | 'negate' | 'own';
  /** In the rollups: part of their key, summed under its own name, or these measures. */
  rollup?: 'key' | 'sum' | readonly Measure[];
  /** false: kept in the database, never published to subscribers (it would not survive JSON either). */
  published?: false;
}

/** usage_events, in its column order. */
export const LEDGER = {
  id: { sql: 'id', pg: 'uuid', by: 'writer', reversal: 'own' },
  tenantId: { sql: 'tenant_id', pg: 'uuid', reversal: 'copy', rollup: 'key' },
  idempotencyKey: { sql: 'idempotency_key', pg: 'text', reversal: 'own' },
  fingerprint: { sql: 'fingerprint', pg: 'bytea', reversal: 'own', published: false },
  apiKeyId: { sql: 'api_key_id', pg: 'uuid', nullable: true, reversal: 'copy', rollup: 'key' },
  subject: { sql: 'subject', pg: 'text', nullable: true, reversal: 'copy', rollup: 'key' },
  kind: { sql: 'kind', pg: 'text', values: KINDS, reversal: 'copy', rollup: 'key' },
  provider: { sql: 'provider', pg: 'text', nullable: true, reversal: 'copy', rollup: 'key' },
  model: { sql: 'model', pg: 'text', nullable: true, reversal: 'copy', rollup: 'key' },
  modelSource: { sql: 'model_source', pg: 'text', values: ['VENDOR', 'BYOK'], reversal: 'copy' },
  status: { sql: 'status', pg: 'text', values: ['SUCCEEDED', 'FAILED'], reversal: 'copy', rollup: 'key' },
  requests: {
    sql: 'requests',
    pg: 'smallint',
    values: [1, -1],
    reversal: 'negate',
    rollup: [
      { sql: 'requests', ts: 'requests' },
      {
        sql: 'failed_requests',
        ts: 'failedRequests',
        agg: "sum(CASE WHEN e.status = 'FAILED' THEN e.requests ELSE 0 END)",
      },
    ],
  },
  inputTokens: { sql: 'input_tokens', pg: 'integer', reversal: 'negate', rollup: 'sum' },
  outputTokens: { sql: 'output_tokens', pg: 'integer', reversal: 'negate', rollup: 'sum' },
  cachedInputTokens: { sql: 'cached_input_tokens', pg: 'integer', reversal: 'negate', rollup: 'sum' },
  cacheWriteInputTokens: { sql: 'cache_write_input_tokens', pg: 'integer', reversal: 'negate', rollup: 'sum' },
  reasoningTokens: { sql: 'reasoning_tokens', pg: 'integer', reversal: 'negate', rollup: 'sum' },
  durationMs: {
    sql: 'duration_ms',
    pg: 'integer',
    nullable: true,
    reversal: 'negate',
    rollup: [
      {
        sql: 'asr_ms',
        ts: 'asrMilliseconds',
        agg: "sum(CASE WHEN e.kind = 'ASR' THEN coalesce(e.duration_ms, 0) ELSE 0 END)",
      },
    ],
  },
  quantity: {
    sql: 'quantity',
    pg: 'numeric',
    nullable: true,
    reversal: 'negate',
    rollup: [
      {
        sql: 'quantity',
        ts: 'quantity',
        agg: "coalesce(sum(CASE WHEN e.kind = 'CALL' THEN e.quantity ELSE 0 END), 0)",
      },
    ],
  },
  cost: { sql: 'cost', pg: 'numeric', reversal: 'negate', rollup: 'sum' },
  currency: { sql: 'currency', pg: 'text', reversal: 'copy', rollup: 'key' },
  priceId: { sql: 'price_id', pg: 'uuid', nullable: true, reversal: 'copy' },
  latencyMs: { sql: 'latency_ms', pg: 'integer', nullable: true, reversal: 'copy' },
  sessionId: { sql: 'session_id', pg: 'text', nullable: true, reversal: 'copy' },
  metadata: { sql: 'metadata', pg: 'jsonb', nullable: true, reversal: 'copy' },
  // in the rollup key as the hour (and the tenant's local day) that holds it
  occurredAt: { sql: 'occurred_at', pg: 'timestamptz', reversal: 'copy', rollup: 'key' },
  recordedAt: { sql: 'recorded_at', pg: 'timestamptz', by: 'database', reversal: 'own' },
  reversesId: { sql: 'reverses_id', pg: 'uuid', nullable: true, reversal: 'own' },
  reason: { sql: 'reason', pg: 'text', nullable: true, reversal: 'own' },
} as const satisfies Record<string, Column>;

type Ledger = typeof LEDGER;
export type LedgerField = keyof Ledger;
type PgTs = {
  uuid: string;
  text: string;
  bytea: Buffer;
  smallint: number;
  integer: number;
  numeric: string; // exact decimal text, never a number
  jsonb: unknown;
  timestamptz: Date;
};
type TsOf<C extends Column> =
  | (C extends { values: readonly (infer V)[] } ? V : PgTs[C['pg']])
  | (C extends { nullable: true } ? null : never);
type FieldsWhere<Cond> = { [K in LedgerField]: Ledger[K] extends Cond ? K : never }[LedgerField];

/** A ledger row as read back (EVENT_COLUMNS) or as a write answers it. */
export type EventRow = { -readonly [K in LedgerField]: TsOf<Ledger[K]> };
/** What the writer inserts: a row without what the writer or the database gives it. */
export type NewEntry = Omit<EventRow, FieldsWhere<{ by: string }>>;
/** What a reversal entry holds of its own (the rest is the original's, or its negation). */
export type ReversalOwn = Pick<NewEntry, Exclude<FieldsWhere<{ reversal: 'own' }>, FieldsWhere<{ by: string }>>>;
/** A ledger row as published to subscribers (JSON: instants may arrive as ISO text). */
export type PublishedEvent = Omit<EventRow, FieldsWhere<{ published: false }>>;

type MeasureOf<K extends LedgerField> = Ledger[K] extends { rollup: 'sum' }
  ? { ts: K; pg: Ledger[K]['pg'] }
  : Ledger[K] extends { rollup: readonly (infer M extends Measure)[] }
    ? { ts: M['ts']; pg: Ledger[K]['pg'] }
    : never;
type AnyMeasure = { [K in LedgerField]: MeasureOf<K> }[LedgerField];
/** The rollup measures as served: counters are bigint (exact), numeric sums decimal text. */
export type MeasureTotals = { [M in AnyMeasure as M['ts']]: M['pg'] extends 'numeric' ? string : bigint };
/** UsageTotals as served: the measures, inputTokens + outputTokens, and the currency. */
export type Totals = MeasureTotals & { totalTokens: bigint; currency: string };

const FIELDS = Object.keys(LEDGER) as LedgerField[];
const col = (k: LedgerField): Column => LEDGER[k];

/** [field, column, type] of every column the insert writes (the writer's id included), in table order. */
export const INSERT_COLUMNS: readonly [keyof NewEntry | 'id', string, PgType][] = FIELDS.filter(
  (k) => col(k).by !== 'database',
).map((k) => [k as keyof NewEntry | 'id', col(k).sql, col(k).pg]);

/** The SELECT list that reads a ledger row as EventRow. */
export const EVENT_COLUMNS = FIELDS.map((k) => (col(k).sql === k ? k : `${col(k).sql} AS "${k}"`)).join(', ');

/** The rollup measures, in table order: the rollup tables' measure columns and Totals' fields. */
export const MEASURES: readonly { sql: string; ts: keyof MeasureTotals; numeric: boolean; agg: string }[] =
  FIELDS.flatMap((k) => {
    const c = col(k);
    const of = c.rollup === 'sum' ? [{ sql: c.sql, ts: k }] : typeof c.rollup === 'object' ? c.rollup : [];
    return of.map((m) => ({
      sql: m.sql,
      ts: m.ts as keyof MeasureTotals,
      numeric: c.pg === 'numeric',
      agg: m.agg ?? `sum(e.${c.sql})`,
    }));
  });
export const ROLLUP_MEASURES = MEASURES.map((m) => m.sql);
/** The ledger columns the rollups are keyed by (occurred_at as the hour or day that holds it). */
export const ROLLUP_KEY_FIELDS = FIELDS.filter((k) => col(k).rollup === 'key').map((k) => col(k).sql);

/** The rollup measures of ledger rows `e`, as SQL aggregates (the writer, reconcile and summaries). */
export const LEDGER_MEASURES_SQL = `\n  ${MEASURES.map(
  (m) => `${m.agg}::${m.numeric ? 'numeric(38,12)' : 'bigint'} AS ${m.sql}`,
).join(',\n  ')}`;

/**
 * The entry that cancels `original`: the table's `negate` columns negated, `copy` columns
 * kept, and the reversal's own values (its key, fingerprint, reversesId, reason).
 */
export function reversalOf(original: EventRow, own: ReversalOwn): NewEntry {
  const e: Record<string, unknown> = {};
  for (const k of FIELDS) {
    const c = col(k);
    if (c.by) continue;
    const v = original[k];
    if (c.reversal === 'own') e[k] = own[k as keyof ReversalOwn];
    else if (c.reversal === 'copy' || v == null) e[k] = v;
    else e[k] = c.pg === 'numeric' ? fmt(new Dec(v as string).neg()) : -(v as number);
  }
  return e as NewEntry;
}

/** A row as published: without the columns kept in the database. */
export function publishedEvent(row: EventRow): PublishedEvent {
  const p: Record<string, unknown> = {};
  for (const k of FIELDS) if (col(k).published !== false) p[k] = row[k];
  return p as PublishedEvent;
}

/** A published row back as EventRow's instants (they cross Redis as ISO text). */
export function revivePublished(p: PublishedEvent): PublishedEvent {
  const r: Record<string, unknown> = { ...p };
  for (const k of FIELDS) if (col(k).pg === 'timestamptz' && r[k] != null) r[k] = new Date(r[k] as string | Date);
  return r as PublishedEvent;
}

// Per entry, on the hot path: the JSON row the insert reads and the row a write answers are
// compiled from the table into exactly the code one would write by hand (a generic loop costs
// a third more per entry). The field names are the table's own identifiers, checked here.
const ident = /^[A-Za-z][A-Za-z0-9]*$/;
for (const k of FIELDS) if (!ident.test(k)) throw new Error(`ledger field ${k} is not an identifier`);
const wireValue = (k: LedgerField) => {
  const c = col(k);
  const orNull = (v: string) => (c.nullable ? `(e.${k} == null ? null : ${v})` : v);
  if (c.by === 'writer') return 'id';
  if (c.pg === 'bytea') return orNull(`e.${k}.toString('hex')`); // bytea travels as hex
  // a string, not a Date: toJSON calls would take JSON.stringify off its fast path
  if (c.pg === 'timestamptz') return orNull(`e.${k}.toISOString()`);
  if (c.pg === 'jsonb') return `e.${k} ?? null`; // nests as JSON
  return `e.${k}`;
};
/** One entry as the JSON row the insert reads, in INSERT_COLUMNS order. */
export const wireRow = new Function('e', 'id', `return [${INSERT_COLUMNS.map(([k]) => wireValue(k)).join(', ')}];`) as (
  e: NewEntry,
  id: string,
) => unknown[];

/**
 * The ledger row an inserted entry became, without reading it back: the writer's id, the
 * database's recorded_at, and jsonb as PostgreSQL normalised it (the insert reports it).
 */
export const rowOf = new Function(
  'e',
  'id',
  'recordedAt',
  'metadata',
  `return { ${FIELDS.map((k) => {
    const c = col(k);
    const v = c.by === 'writer' ? 'id' : c.by === 'database' ? 'recordedAt' : c.pg === 'jsonb' ? 'metadata' : `e.${k}`;
    return `${k}: ${v}`;
  }).join(', ')} };`,
) as (e: NewEntry, id: string, recordedAt: Date, metadata: unknown) => EventRow;
