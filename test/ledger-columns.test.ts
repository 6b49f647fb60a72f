// The ledger's column table (usage.columns.ts) is the one place a ledger row is spelled out.
// These tests hold every place derived from it, or kept beside it, to the migrated database:
// a column added to the table and not to a migration, the rollups or the runtime role's
// grants (or the other way round) fails here, as does a derived place that drops a column.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNTIME_GRANTS } from '../server/src/db/runtime-role';
import {
  EVENT_COLUMNS,
  type EventRow,
  INSERT_COLUMNS,
  LEDGER,
  MEASURES,
  type NewEntry,
  publishedEvent,
  ROLLUP_KEY_FIELDS,
  ROLLUP_MEASURES,
  reversalOf,
  revivePublished,
} from '../server/src/modules/usage/usage.columns';
import { ROLLUP_KEY_COLUMNS, ROLLUP_LEVELS } from '../server/src/modules/usage/usage.store';
import { UsageWriter } from '../server/src/modules/usage/usage.writer';
import { createHarness, type Harness, SUMMARY } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('ledger-columns');
});
afterAll(async () => h?.close());

const UDT: Record<string, string> = {
  uuid: 'uuid',
  text: 'text',
  bytea: 'bytea',
  smallint: 'int2',
  integer: 'int4',
  numeric: 'numeric',
  jsonb: 'jsonb',
  timestamptz: 'timestamptz',
};
const fields = Object.keys(LEDGER) as (keyof typeof LEDGER)[];
const column = (k: keyof typeof LEDGER) =>
  LEDGER[k] as { sql: string; pg: string; nullable?: true; by?: string; reversal: string; published?: false };

async function columnsOf(table: string) {
  return h.sql<{ name: string; udt: string; nullable: boolean; hasDefault: boolean }>(
    `SELECT column_name AS name, udt_name AS udt, is_nullable = 'YES' AS nullable, column_default IS NOT NULL AS "hasDefault"
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
}

/** An entry of tenant `tenantId` with every column set, each to a value of its own. */
function fullEntry(tenantId: string, key: string): NewEntry {
  return {
    tenantId,
    idempotencyKey: key,
    fingerprint: Buffer.from(`fp-${key}`),
    apiKeyId: null,
    subject: 'user-1',
    kind: 'ASR',
    provider: 'acme',
    model: 'whisper-x',
    modelSource: 'BYOK',
    status: 'FAILED',
    requests: 1,
    inputTokens: 100,
    outputTokens: 20,
    cachedInputTokens: 30,
    cacheWriteInputTokens: 40,
    reasoningTokens: 5,
    durationMs: 1500,
    quantity: '2.500000000000',
    cost: '0.125000000000',
    currency: 'USD',
    priceId: null,
    latencyMs: 321,
    sessionId: 'session-1',
    metadata: { b: 1, a: [true, null] },
    occurredAt: new Date('2026-03-04T05:06:07.089Z'),
    reversesId: null,
    reason: null,
  };
}

describe('the ledger column table', () => {
  it('is usage_events of the migrated database: every column, in order, with its type and nullability', async () => {
    const db = await columnsOf('usage_events');
    expect(db.map((c) => c.name)).toEqual(fields.map((k) => column(k).sql));
    for (const k of fields) {
      const c = column(k);
      const d = db.find((x) => x.name === c.sql);
      expect({ udt: d?.udt, nullable: d?.nullable }, k).toEqual({ udt: UDT[c.pg], nullable: c.nullable === true });
      // what the database gives has a default; nothing the entry gives relies on one
      if (c.by === 'database') expect(d?.hasDefault, k).toBe(true);
    }
    // the insert writes every column but the ones the database gives
    expect(INSERT_COLUMNS.map(([, sql]) => sql)).toEqual(db.filter((c) => c.name !== 'recorded_at').map((c) => c.name));
    expect(fields.filter((k) => column(k).by === 'database')).toEqual(['recordedAt']);
  });

  it('keys and measures every rollup level as the migrated rollup tables do', async () => {
    // the rollup key is the table's key columns, occurred_at as the hour (or the local day)
    expect([...ROLLUP_KEY_COLUMNS].map((c) => (c === 'hour' ? 'occurred_at' : c)).sort()).toEqual(
      [...ROLLUP_KEY_FIELDS].sort(),
    );
    for (const level of ROLLUP_LEVELS) {
      const db = await columnsOf(level.table);
      expect(db.map((c) => c.name).sort(), level.table).toEqual([...level.key, ...ROLLUP_MEASURES].sort());
      for (const m of MEASURES)
        expect(db.find((c) => c.name === m.sql)?.udt, `${level.table}.${m.sql}`).toBe(m.numeric ? 'numeric' : 'int8');
    }
  });

  it('is what the runtime role may update in the rollups: exactly the measures, in every level', async () => {
    const [me] = await h.db.query<{ u: string }>('test:who', 'SELECT current_user AS u');
    for (const { table } of ROLLUP_LEVELS) {
      const granted = await h.sql<{ c: string }>(
        `SELECT column_name AS c FROM information_schema.column_privileges
          WHERE grantee = $1 AND table_name = $2 AND privilege_type = 'UPDATE'`,
        [me?.u, table],
      );
      expect(granted.map((g) => g.c).sort(), table).toEqual([...ROLLUP_MEASURES].sort());
      expect(RUNTIME_GRANTS[table], table).toContain(`UPDATE (${ROLLUP_MEASURES.join(', ')})`);
    }
  });

  it('gives a written row, a row read back with EVENT_COLUMNS and a duplicate the same fields and values', async () => {
    const t = await h.seed.tenant('columns-row');
    const writer = new UsageWriter(h.db);
    const entry = fullEntry(t.id, 'full-1');
    const {
      outcomes: [created],
    } = await writer.write([entry]);
    expect(created?.outcome).toBe('CREATED');
    const written = (created as { event: EventRow }).event;
    expect(Object.keys(written)).toEqual(fields);

    const [read] = await h.db.query<EventRow>('test:read', `SELECT ${EVENT_COLUMNS} FROM usage_events WHERE id = $1`, [
      written.id,
    ]);
    expect(Object.keys(read as object)).toEqual(fields);
    expect(read).toEqual(written);
    expect(read?.fingerprint).toBeInstanceOf(Buffer);
    expect(read?.occurredAt).toEqual(entry.occurredAt);

    // a retry answers the stored row (read with EVENT_COLUMNS), equal to what the write answered
    const {
      outcomes: [again],
    } = await writer.write([{ ...entry }]);
    expect(again).toEqual({ outcome: 'DUPLICATE', event: written, reservation: null });
  });

  it('makes a reversal negate the negated columns, keep the copied ones and hold its own', async () => {
    const t = await h.seed.tenant('columns-reverse');
    const writer = new UsageWriter(h.db);
    const {
      outcomes: [o],
    } = await writer.write([fullEntry(t.id, 'orig')]);
    const original = (o as { event: EventRow }).event;
    const own = { idempotencyKey: 'rev', fingerprint: Buffer.from('rev'), reversesId: original.id, reason: 'refund' };
    const entry = reversalOf(original, own);
    expect(Object.keys(entry).sort()).toEqual(fields.filter((k) => !column(k).by).sort());
    for (const k of fields) {
      const c = column(k);
      if (c.by) continue;
      const v = (entry as unknown as Record<string, unknown>)[k];
      const was = (original as unknown as Record<string, unknown>)[k];
      if (c.reversal === 'own') expect(v, k).toEqual((own as Record<string, unknown>)[k]);
      else if (c.reversal === 'copy') expect(v, k).toEqual(was);
      else if (c.pg === 'numeric') expect(v, k).toBe(`-${was}`);
      else expect(v, k).toBe(-(was as number));
    }

    // through the API: every measure of the tenant nets to zero
    const REV = 'mutation($input: ReverseUsageInput!) { reverseUsage(input: $input) { outcome } }';
    const r = await h.ok(t.adminKey, REV, { input: { eventId: original.id, idempotencyKey: 'rev-api' } });
    expect(r.reverseUsage.outcome).toBe('CREATED');
    const s = await h.ok(t.adminKey, SUMMARY, {
      filter: { from: '2026-03-04T00:00:00Z', to: '2026-03-05T00:00:00Z' },
    });
    const totals = s.usageSummary.totals;
    for (const m of MEASURES) expect(totals[m.ts], m.ts).toBe(m.numeric ? '0.000000000000' : 0);
    expect(totals.totalTokens).toBe(0);
  });

  it('publishes every column but those kept in the database, and revives its instants after JSON', async () => {
    const t = await h.seed.tenant('columns-published');
    const {
      outcomes: [o],
    } = await new UsageWriter(h.db).write([fullEntry(t.id, 'pub')]);
    const row = (o as { event: EventRow }).event;
    const published = publishedEvent(row);
    expect(Object.keys(published)).toEqual(fields.filter((k) => column(k).published !== false));
    const revived = revivePublished(JSON.parse(JSON.stringify(published)));
    const { fingerprint: _f, ...expected } = row;
    expect(revived).toEqual(expected);
  });
});
