// Trends and status (issue 12): MINUTE buckets for charts (the minute level for whole recent
// minutes, the ledger for the rest, in the tenant's zone), failed calls apart from successful
// ones (UsageFilter.status, UsageBucket.status, the STATUS dimension, usageEvents' filter),
// and the minute level kept short-lived (written for 8 days, pruned after).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../migrations/index';
import { openDatabase } from '../server/src/db/database';
import { reconcile } from '../server/src/modules/usage/usage.reconcile';
import { createHarness, freshDatabase, type Harness, RECORD, type SeededTenant, SUMMARY } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('usage-trends');
});
afterAll(async () => h?.close());

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const iso = (ms: number) => new Date(ms).toISOString();
/** The start of the current UTC minute, minus `n` minutes. */
const minuteAgo = (n: number) => Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - n * MINUTE_MS;

const EVENTS = `query($filter: UsageFilter!) { usageEvents(filter: $filter, first: 500) { edges { node { idempotencyKey status } } } }`;

async function record(t: SeededTenant, input: Record<string, unknown>) {
  return h.ok(t.adminKey, RECORD, { input: { kind: 'CALL', ...input } });
}

type Bucket = {
  start: string | null;
  model: string | null;
  subject: string | null;
  status: string | null;
  totals: Record<string, string | number>;
};
async function summary(t: SeededTenant, vars: Record<string, unknown>) {
  const r = await h.gql(t.adminKey, SUMMARY.replace('buckets { start', 'asOf buckets { status start'), vars);
  return r;
}
const buckets = async (t: SeededTenant, vars: Record<string, unknown>) => {
  const r = await summary(t, vars);
  expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return r.data.usageSummary.buckets as Bucket[];
};

describe('MINUTE buckets', () => {
  it('equal a GROUP BY local minute over the ledger, whole minutes from the minute level', async () => {
    for (const zone of ['UTC', 'Asia/Kathmandu', 'America/St_Johns']) {
      const t = await h.seed.tenant(`minutes-${zone}`, zone);
      const base = minuteAgo(90);
      // 40 entries over 90 minutes at odd seconds and milliseconds, two models, some failed
      for (let i = 0; i < 40; i++)
        await record(t, {
          idempotencyKey: `m${i}`,
          kind: 'LLM',
          model: i % 3 ? 'gpt-4o' : 'claude',
          cost: `0.00${i}1`,
          inputTokens: 100 + i,
          outputTokens: i,
          status: i % 7 === 0 ? 'FAILED' : 'SUCCEEDED',
          occurredAt: iso(base + i * 137_311 + (i % 5) * 1_003),
        });
      // a range with partial minutes at both ends
      const from = base + 17_500;
      const to = base + 89 * MINUTE_MS + 42_250;
      const got = await buckets(t, {
        filter: { from: iso(from), to: iso(to) },
        groupBy: ['MODEL', 'STATUS'],
        granularity: 'MINUTE',
      });
      const want = await h.sql(
        `SELECT date_trunc('minute', occurred_at, $2) AS start, model, status, count(*)::int AS requests,
                sum(input_tokens + output_tokens)::int AS tokens, sum(cost)::text AS cost
           FROM usage_events WHERE tenant_id = $1 AND occurred_at >= $3 AND occurred_at < $4
          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
        [t.id, zone, iso(from), iso(to)],
      );
      expect(want.length, zone).toBeGreaterThan(25);
      expect(
        got.map((b) => ({
          start: b.start,
          model: b.model,
          status: b.status,
          requests: b.totals.requests,
          tokens: b.totals.totalTokens,
          cost: b.totals.cost,
        })),
        zone,
      ).toEqual(
        want.map((w) => ({
          start: (w.start as Date).toISOString(),
          model: w.model,
          status: w.status,
          requests: w.requests,
          tokens: w.tokens,
          cost: w.cost,
        })),
      );
      // requests per minute: every bucket starts on a minute
      for (const b of got) expect(new Date(b.start as string).getUTCSeconds()).toBe(0);
    }
  });

  it('serve whole recent minutes from the minute level, and edges, subjects and old minutes from the ledger', async () => {
    // A minute-level row with no ledger entry behind it shows which path served a minute.
    const t = await h.seed.tenant('minute-paths');
    await record(t, { idempotencyKey: 'real', cost: '1', subject: 'alice', occurredAt: iso(minuteAgo(10) + 5_000) });
    const planted = minuteAgo(20);
    await h.sql(
      `INSERT INTO usage_rollups_minute_keys (tenant_id, minute, kind, currency, status, requests, cost)
       VALUES ($1, $2, 'CALL', 'USD', 'SUCCEEDED', 5, 0)`,
      [t.id, iso(planted)],
    );
    const requests = async (from: number, to: number, extra: Record<string, unknown> = {}) => {
      const r = await summary(t, { filter: { from: iso(from), to: iso(to), ...extra }, granularity: 'MINUTE' });
      expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
      return r.data.usageSummary.totals.requests as number;
    };
    expect(await requests(minuteAgo(30), minuteAgo(0))).toBe(6); // minute 20 whole: the level
    expect(await requests(planted + 1, minuteAgo(0))).toBe(1); // minute 20 cut: the ledger
    expect(await requests(minuteAgo(30), minuteAgo(0), { subject: 'alice' })).toBe(1); // by subject: the ledger
    // the reconcile sees the planted row (the minute level is checked like every level)
    const diffs = await reconcile(h.db, t.id);
    expect(diffs).toEqual([
      expect.objectContaining({
        table: 'usage_rollups_minute_keys',
        key: expect.objectContaining({ minute: expect.any(String), status: 'SUCCEEDED' }),
        measures: expect.objectContaining({ requests: [null, '5'], cost: [null, '0.000000000000'] }),
      }),
    ]);

    // 9 days ago: older than the level is written for, so the ledger serves it (and no row was written)
    const old = minuteAgo(9 * 24 * 60);
    await record(t, { idempotencyKey: 'old', cost: '2', occurredAt: iso(old + 1_000) });
    const [n] = await h.sql(
      'SELECT count(*)::int AS n FROM usage_rollups_minute_keys WHERE tenant_id = $1 AND minute = $2',
      [t.id, iso(old)],
    );
    expect(n.n).toBe(0);
    const got = await buckets(t, {
      filter: { from: iso(old - HOUR_MS), to: iso(old + HOUR_MS) },
      granularity: 'MINUTE',
    });
    expect(got.map((b) => [b.start, b.totals.requests, b.totals.cost])).toEqual([[iso(old), 1, '2.000000000000']]);
  });

  it('in a zone whose offset had seconds (Monrovia, 1971: -0:44:30) start on the local minute', async () => {
    const t = await h.seed.tenant('monrovia', 'Africa/Monrovia');
    await h.sql(
      `INSERT INTO usage_events (id, tenant_id, idempotency_key, fingerprint, kind, model_source, status, requests,
         input_tokens, output_tokens, cached_input_tokens, cache_write_input_tokens, reasoning_tokens, cost, currency, occurred_at)
       VALUES (gen_random_uuid(), $1, 'lmt', '\\x00', 'CALL', 'VENDOR', 'SUCCEEDED', 1, 0, 0, 0, 0, 0, 1, 'USD', '1971-06-01T10:00:40Z')`,
      [t.id],
    );
    const got = await buckets(t, {
      filter: { from: '1971-06-01T00:00:00Z', to: '1971-06-02T00:00:00Z' },
      granularity: 'MINUTE',
    });
    // 10:00:40Z is 09:16:10 local; its local minute began at 09:16:00 local, 10:00:30Z
    expect(got.map((b) => [b.start, b.totals.requests])).toEqual([['1971-06-01T10:00:30.000Z', 1]]);
  });

  it('are for ranges of at most 24 hours: a longer one is BAD_USER_INPUT naming granularity', async () => {
    const t = await h.seed.tenant('minute-range');
    const day = { from: iso(minuteAgo(24 * 60)), to: iso(minuteAgo(0)) };
    expect((await summary(t, { filter: day, granularity: 'MINUTE' })).errors).toBeUndefined();
    const longer = { ...day, to: iso(minuteAgo(0) + 1) };
    const r = await summary(t, { filter: longer, granularity: 'MINUTE' });
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: ['granularity'] });
    expect((await summary(t, { filter: longer, granularity: 'HOUR' })).errors).toBeUndefined();
  });

  it('the minute level is pruned after 8 days; what reads trust is kept', async () => {
    const t = await h.seed.tenant('prune');
    for (const [minute, requests] of [
      [minuteAgo(8 * 24 * 60 + 5), 1],
      [minuteAgo(30 * 24 * 60), 2],
      [minuteAgo(7 * 24 * 60 - 5), 3],
      [minuteAgo(1), 4],
    ] as const)
      await h.sql(
        `INSERT INTO usage_rollups_minute_keys (tenant_id, minute, kind, currency, status, requests)
         VALUES ($1, $2, 'CALL', 'USD', 'SUCCEEDED', $3)`,
        [t.id, iso(minute), requests],
      );
    // by the service's own role, in batches
    expect(await h.app.services.usage.pruneMinutes(1)).toBe(2);
    const left = await h.sql(
      'SELECT requests::int AS r FROM usage_rollups_minute_keys WHERE tenant_id = $1 ORDER BY minute',
      [t.id],
    );
    expect(left.map((x) => x.r)).toEqual([3, 4]);
  });
});

describe('status', () => {
  it('STATUS groups failed calls apart, and UsageFilter.status keeps one side, over days, hours and edges', async () => {
    const t = await h.seed.tenant('status', 'Asia/Kolkata');
    const start = Date.now() - 3 * DAY_MS;
    const events = [
      { ok: true, cost: '1.5', inputTokens: 10, outputTokens: 5, at: start + 1_000 },
      { ok: false, cost: '0.25', inputTokens: 7, outputTokens: 0, at: start + DAY_MS + 61_000 },
      { ok: true, cost: '2', inputTokens: 1, outputTokens: 1, at: start + DAY_MS + 2 * HOUR_MS },
      { ok: false, cost: '0.000000000001', inputTokens: 0, outputTokens: 0, at: start + 2 * DAY_MS + 5 * HOUR_MS },
    ];
    for (const [i, e] of events.entries())
      await record(t, {
        idempotencyKey: `s${i}`,
        kind: 'LLM',
        model: 'gpt-4o',
        cost: e.cost,
        inputTokens: e.inputTokens,
        outputTokens: e.outputTokens,
        status: e.ok ? 'SUCCEEDED' : 'FAILED',
        occurredAt: iso(e.at),
      });
    const filter = { from: iso(start - 7 * 60_000 - 123), to: iso(Date.now()) };
    const got = await buckets(t, { filter, groupBy: ['STATUS'] });
    expect(
      got.map((b) => [b.status, b.totals.requests, b.totals.failedRequests, b.totals.totalTokens, b.totals.cost]),
    ).toEqual([
      ['FAILED', 2, 2, 7, '0.250000000001'],
      ['SUCCEEDED', 2, 0, 17, '3.500000000000'],
    ]);
    const failed = await summary(t, { filter: { ...filter, status: 'FAILED' }, granularity: 'DAY' });
    expect(failed.data.usageSummary.totals).toMatchObject({ requests: 2, failedRequests: 2, cost: '0.250000000001' });
    expect(failed.data.usageSummary.buckets.map((b: Bucket) => b.status)).toEqual([null, null]);
    const ok = await summary(t, {
      filter: { ...filter, status: 'SUCCEEDED' },
      groupBy: ['STATUS'],
      granularity: 'HOUR',
    });
    expect(ok.data.usageSummary.totals).toMatchObject({ requests: 2, failedRequests: 0, cost: '3.500000000000' });
    // usageEvents filters the same way
    const list = await h.ok(t.adminKey, EVENTS, { filter: { ...filter, status: 'FAILED' } });
    expect(list.usageEvents.edges.map((e: { node: { idempotencyKey: string } }) => e.node.idempotencyKey)).toEqual([
      's3',
      's1',
    ]);
    expect(await reconcile(h.db, t.id)).toEqual([]);
  });
});

describe('the RollupStatusAndMinutes migration', () => {
  it('splits every rollup level by status from the ledger, and writes the minute level for the last 8 days', async () => {
    const db = await openDatabase(await freshDatabase('status-migration'), { poolSize: 2, migrate: false });
    const qr = db.dataSource.createQueryRunner();
    try {
      const at = migrations.findIndex((m) => m.name === 'RollupStatusAndMinutes1764420000000');
      for (const M of migrations.slice(0, at)) await new M().up(qr);
      const [t] = (await qr.query(
        "INSERT INTO tenants (name, timezone) VALUES ('m', 'Asia/Kolkata') RETURNING id",
      )) as {
        id: string;
      }[];
      // one hour holding a succeeded and a failed call (the old rollups mix them), and an old call
      const ledger = (key: string, status: string, cost: string, at: string) =>
        qr.query(
          `INSERT INTO usage_events (id, tenant_id, idempotency_key, fingerprint, kind, model_source, status, requests,
             input_tokens, output_tokens, cached_input_tokens, cache_write_input_tokens, reasoning_tokens, cost, currency, occurred_at)
           VALUES (gen_random_uuid(), $1, $2, '\\x00', 'CALL', 'VENDOR', $3, 1, 5, 1, 0, 0, 0, $4, 'USD', $5)`,
          [t?.id, key, status, cost, at],
        );
      const hour = new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 2 * HOUR_MS);
      await ledger('a', 'SUCCEEDED', '1.5', iso(hour.getTime() + 60_000));
      await ledger('b', 'FAILED', '0.25', iso(hour.getTime() + 120_000));
      await ledger('c', 'FAILED', '4', iso(hour.getTime() - 20 * DAY_MS));
      for (const table of ['usage_rollups_hourly', 'usage_rollups_hourly_keys'])
        await qr.query(
          `INSERT INTO ${table} (tenant_id, hour, kind, currency, requests, failed_requests, cost)
           SELECT tenant_id, date_trunc('hour', occurred_at, 'UTC'), kind, currency, count(*), count(*) FILTER (WHERE status = 'FAILED'), sum(cost)
             FROM usage_events GROUP BY 1, 2, 3, 4`,
        );
      await new (migrations[at] as (typeof migrations)[number])().up(qr);

      const hourly = (await qr.query(
        `SELECT status, requests::int AS n, failed_requests::int AS f, cost::text AS cost, input_tokens::int AS i
           FROM usage_rollups_hourly WHERE hour = $1 ORDER BY status`,
        [hour.toISOString()],
      )) as unknown[];
      expect(hourly).toEqual([
        { status: 'FAILED', n: 1, f: 1, cost: '0.250000000000', i: 5 },
        { status: 'SUCCEEDED', n: 1, f: 0, cost: '1.500000000000', i: 5 },
      ]);
      // the daily level (built from the ledger before, now keyed by status too) and the minutes
      const daily = (await qr.query(
        'SELECT status, sum(requests)::int AS n FROM usage_rollups_daily_keys GROUP BY 1 ORDER BY 1',
      )) as unknown[];
      expect(daily).toEqual([
        { status: 'FAILED', n: 2 },
        { status: 'SUCCEEDED', n: 1 },
      ]);
      const minutes = (await qr.query(
        'SELECT status, minute, requests::int AS n FROM usage_rollups_minute_keys ORDER BY minute',
      )) as { status: string; minute: Date; n: number }[];
      expect(minutes.map((m) => [m.status, m.minute.toISOString(), m.n])).toEqual([
        ['SUCCEEDED', iso(hour.getTime() + 60_000), 1],
        ['FAILED', iso(hour.getTime() + 120_000), 1],
      ]);
      expect(await reconcile(db, null)).toEqual([]);
    } finally {
      await qr.release();
      await db.close();
    }
  });
});
