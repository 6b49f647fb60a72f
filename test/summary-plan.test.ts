// How usageSummary reads: the ledger only for the hours the rollups cannot serve (edge hours
// and hours a local bucket boundary cuts), each by an index range scan; never a pass over
// the tenant's whole ledger. Checked on the executed plan (EXPLAIN ANALYZE) of a 30-day
// summary over a ledger large enough to tempt the planner into sorting it whole.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../server/src/db/database';
import { usageReader } from '../server/src/modules/usage/usage.reader';
import { rebuild } from '../server/src/modules/usage/usage.reconcile';
import { summarize } from '../server/src/modules/usage/usage.summary';
import type { Granularity } from '../server/src/modules/usage/usage.types';
import { createHarness, type Harness } from './support/harness';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Loops': number;
  'Actual Rows': number;
  Plans?: PlanNode[];
}

const EVENTS = 200_000;
const DAY_MS = 86_400_000;

let h: Harness;
let tenantId: string;
const to = new Date(Date.UTC(2026, 10, 1));
const from = new Date(to.getTime() - 30 * DAY_MS);

beforeAll(async () => {
  h = await createHarness('summary-plan');
  tenantId = (await h.seed.tenant('big')).id;
  await h.sql(
    `INSERT INTO usage_events (tenant_id, idempotency_key, fingerprint, kind, provider, model, model_source, status, requests,
       input_tokens, output_tokens, cached_input_tokens, cache_write_input_tokens, reasoning_tokens, cost, currency, occurred_at)
     SELECT $1, 'load-' || g, '\\x00'::bytea, 'LLM', 'openai', (ARRAY['a','b','c','d'])[1 + g % 4], 'VENDOR', 'SUCCEEDED', 1,
            1000, 200, 0, 0, 0, 0.004, 'USD', $2::timestamptz + (g::double precision / $3) * interval '30 days'
       FROM generate_series(0, $3 - 1) AS g`,
    [tenantId, from.toISOString(), EVENTS],
  );
  // The rollups, rebuilt from the ledger by reconcile; then fresh statistics.
  await rebuild(await h.ownerDb(), tenantId);
  await h.sql(
    'ANALYZE usage_events; ANALYZE usage_rollups_hourly; ANALYZE usage_rollups_hourly_keys; ANALYZE usage_rollups_daily_keys',
  );
}, 120_000);
afterAll(() => h?.close());

/** The executed plan of summarize(...), through the app's own connections and settings. */
async function executedPlan(timezone: string, f: Date, t: Date, granularity: Granularity): Promise<PlanNode> {
  let plan: PlanNode | undefined;
  const explaining: Sql = {
    query: async <T>(name: string, text: string, params?: unknown[]) => {
      const [row] = await h.db.transaction(name, (tx) =>
        tx.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(name, `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, params),
      );
      plan = row?.['QUERY PLAN'][0].Plan;
      return [] as T[];
    },
  } as Sql;
  await summarize(explaining, { tenantId, timezone, from: f, to: t }, ['MODEL'], granularity);
  if (!plan) throw new Error('no plan');
  return plan;
}

/** Every executed read of usage_events: node type, times it ran, rows it returned in total. */
const ledgerReads = (node: PlanNode) => reads(node, 'usage_events');

/** Every executed read of `table`: node type, times it ran, rows it returned in total. */
function reads(node: PlanNode, table: string, out: { type: string; loops: number; rows: number }[] = []) {
  if (node['Relation Name'] === table && node['Actual Loops'] > 0)
    out.push({
      type: node['Node Type'],
      loops: node['Actual Loops'],
      rows: node['Actual Rows'] * node['Actual Loops'],
    });
  for (const child of node.Plans ?? []) reads(child, table, out);
  return out;
}

describe('usageSummary plan', () => {
  it('the app runs summaries with PostgreSQL JIT off (it compiled for 0.9 s to save nothing on 5 ms statements)', async () => {
    // Summaries run in a transaction of their own, which sets JIT off (SET LOCAL: no session state).
    const [row] = await h.db.transaction('jit', (tx) =>
      tx.query<{ jit: string }>('jit', "SELECT current_setting('jit') AS jit"),
    );
    expect(row?.jit).toBe('off');
  });

  it('30 whole days in the tenant zone read 30 x 4 daily rows: no hourly rows, no ledger', async () => {
    const plan = await executedPlan('UTC', from, to, 'DAY');
    expect(ledgerReads(plan)).toEqual([]);
    expect(reads(plan, 'usage_rollups_daily_keys').reduce((n, r) => n + r.rows, 0)).toBe(30 * 4);
    expect(reads(plan, 'usage_rollups_hourly_keys')).toEqual([]);
  });

  it('a range of whole hours (not whole days) reads hourly rows and never the ledger', async () => {
    const plan = await executedPlan('UTC', new Date(from.getTime() + 3_600_000), to, 'DAY');
    expect(ledgerReads(plan)).toEqual([]);
    expect(reads(plan, 'usage_rollups_hourly_keys').reduce((n, r) => n + r.rows, 0)).toBe(23 * 4);
  });

  it('edge hours and hours cut by a local day boundary are read by index, a range per side of the cut', async () => {
    // Kathmandu is UTC+5:45: every local midnight cuts a UTC hour, so 30 days hold 30 or 31
    // cut hours (each read as the quarter before and the three quarters after midnight),
    // plus the two partial edge hours of the range. The tenant's own zone is UTC, so its
    // daily rows (cut in UTC) cannot serve these days: this is the hourly-and-ledger path.
    const f = new Date(from.getTime() + 7 * 60_000 + 3_000);
    const t = new Date(to.getTime() - 11 * 60_000);
    const reads = ledgerReads(await executedPlan('Asia/Kathmandu', f, t, 'DAY'));
    expect(reads.length).toBeGreaterThan(0);
    for (const r of reads) expect(r.type).toMatch(/^(Index|Index Only|Bitmap Heap) Scan$/);
    const loops = reads.reduce((s, r) => s + r.loops, 0);
    expect(loops).toBeGreaterThanOrEqual(2 * 30 + 2);
    expect(loops).toBeLessThanOrEqual(2 * 31 + 2);
    // about one hour of events per cut hour (EVENTS / 720 per hour), nowhere near the ledger
    const rows = reads.reduce((s, r) => s + r.rows, 0);
    expect(rows).toBeLessThan((31 + 2) * Math.ceil(EVENTS / 720));
  });
});

describe("quota's used for many scopes at once (usedMany, prepared: a generic plan)", () => {
  it('reads the ledger only at the edges, by index, and answers what usageSummary does for each scope', async () => {
    const edge = (ms: number) => new Date(from.getTime() + ms);
    const asks = [
      // a month-like window with partial edge hours, a whole-day window, a window cut mid-day
      {
        scope: { tenantId, timezone: 'UTC' },
        window: { start: edge(7 * 60_000), end: edge(29 * DAY_MS + 11 * 60_000) },
      },
      { scope: { tenantId, timezone: 'UTC' }, window: { start: edge(DAY_MS), end: edge(2 * DAY_MS) } },
      { scope: { tenantId, timezone: 'Asia/Kathmandu' }, window: { start: edge(3 * DAY_MS), end: edge(4.5 * DAY_MS) } },
    ];
    let plan: PlanNode | undefined;
    const explaining: Sql = {
      query: async <T>(name: string, text: string, params?: unknown[]) => {
        // The plan a prepared statement settles on after its first runs, one for any values (an
        // EXPLAIN with parameters would plan for these values instead).
        const [row] = await h.db.transaction(name, async (tx) => {
          await tx.query('plan:generic', 'SET LOCAL plan_cache_mode = force_generic_plan');
          await tx.query('plan:prepare', `PREPARE used_many_plan AS ${text}`);
          try {
            // EXECUTE takes no bind parameters: each value as an array literal (uuids, zones, instants).
            const literal = (v: unknown) =>
              `'{${(v as (string | null)[]).map((x) => (x === null ? 'NULL' : `"${x}"`)).join(',')}}'`;
            const args = (params ?? []).map(literal).join(', ');
            return await tx.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
              name,
              `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE used_many_plan(${args})`,
            );
          } finally {
            await tx.query('plan:deallocate', 'DEALLOCATE used_many_plan');
          }
        });
        plan = row?.['QUERY PLAN'][0].Plan;
        return [] as T[];
      },
    } as Sql;
    await usageReader.usedMany(explaining, asks);
    if (!plan) throw new Error('no plan');
    const ledger = ledgerReads(plan);
    for (const r of ledger) expect(r.type).toMatch(/^(Index|Index Only|Bitmap Heap) Scan$/);
    // The edges only: a few hours' worth of the 200,000 entries, never the tenant's whole ledger.
    expect(ledger.reduce((s, r) => s + r.rows, 0)).toBeLessThan(6 * Math.ceil(EVENTS / 720));
    // Each answer is the summary's, exactly.
    const got = await usageReader.usedMany(h.db, asks);
    for (const [i, a] of asks.entries()) {
      const rows = await summarize(
        h.db,
        { tenantId, timezone: a.scope.timezone, from: a.window.start, to: a.window.end },
        [],
        null,
      );
      expect(got[i]?.cost).toBe(rows[0]?.cost);
      expect(got[i]?.requests).toBe(rows[0]?.requests);
      expect(got[i]?.requests).toBeGreaterThan(0n);
    }
  });
});
