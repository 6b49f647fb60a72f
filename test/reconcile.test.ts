// Reconcile finds every planted difference between rollups and ledger, and --rebuild
// restores the rollups from the ledger, through the real `npm run reconcile` command.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuild, reconcile } from '../server/src/modules/usage/usage.reconcile';
import { createHarness, type Harness, RECORD } from './support/harness';

const run = promisify(execFile);
let h: Harness;
beforeAll(async () => {
  h = await createHarness('reconcile');
});
afterAll(async () => h?.close());

async function reconcileCli(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run('npx', ['tsx', 'server/src/scripts/reconcile.ts', ...args], {
      env: { ...process.env, DATABASE_URL: h.url },
    });
    return { code: 0, out: stdout };
  } catch (e) {
    const err = e as { code: number; stdout: string };
    return { code: err.code, out: err.stdout };
  }
}

describe('reconcile', () => {
  it('reports no difference when rollups were written with the ledger', async () => {
    const t = await h.seed.tenant('clean');
    for (let i = 0; i < 5; i++)
      await h.ok(t.adminKey, RECORD, {
        input: { idempotencyKey: `c${i}`, kind: 'CALL', cost: `0.${i}1`, subject: `u${i % 2}` },
      });
    expect(await reconcile(h.db, t.id)).toEqual([]);
  });

  it('finds a planted difference, a missing rollup row and an extra one; --rebuild repairs them', async () => {
    const t = await h.seed.tenant('planted');
    const other = await h.seed.tenant('bystander');
    await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'a', kind: 'CALL', cost: '1.5', subject: 'alice' } });
    await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'b', kind: 'CALL', cost: '2', subject: 'bob' } });
    await h.ok(other.adminKey, RECORD, { input: { idempotencyKey: 'z', kind: 'CALL', cost: '9' } });

    // Plant: a wrong cost, a rollup row gone, and a row the ledger knows nothing of.
    await h.sql(
      "UPDATE usage_rollups_hourly SET cost = cost + 0.000000000001 WHERE tenant_id = $1 AND subject = 'alice'",
      [t.id],
    );
    await h.sql("DELETE FROM usage_rollups_hourly WHERE tenant_id = $1 AND subject = 'bob'", [t.id]);
    await h.sql(
      `INSERT INTO usage_rollups_hourly (tenant_id, hour, kind, currency, subject, status, requests, cost)
       VALUES ($1, date_trunc('hour', now()) - interval '5 hours', 'CALL', 'USD', 'ghost', 'SUCCEEDED', 3, 4)`,
      [t.id],
    );

    const diffs = await reconcile(h.db, t.id);
    expect(diffs).toHaveLength(3);
    const bySubject = Object.fromEntries(diffs.map((d) => [d.key.subject, d.measures]));
    expect(bySubject.alice).toEqual({ cost: ['1.500000000000', '1.500000000001'] });
    expect(bySubject.bob?.requests).toEqual(['1', null]);
    expect(bySubject.ghost?.requests).toEqual([null, '3']);
    // the other tenant is untouched and clean
    expect(await reconcile(h.db, other.id)).toEqual([]);

    const found = await reconcileCli(['--tenant', t.id]);
    expect(found.code).toBe(1);
    expect(found.out).toContain('reconcile: 3 difference(s)');
    expect(found.out).toMatch(/DIFF .*subject=alice.*cost: ledger 1\.500000000000 rollup 1\.500000000001/);

    const fixed = await reconcileCli(['--tenant', t.id, '--rebuild']);
    expect(fixed.code).toBe(0);
    expect(fixed.out).toContain('0 difference(s) after rebuild');
    expect(await reconcile(h.db, null)).toEqual([]);
    const [sum] = await h.sql('SELECT sum(cost)::text AS c FROM usage_rollups_hourly WHERE tenant_id = $1', [t.id]);
    expect(sum.c).toBe('3.500000000000');
  });

  it('checks the daily level in the tenant zone: a day row off by one request is found and rebuilt', async () => {
    const t = await h.seed.tenant('daily', 'Asia/Kolkata');
    await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'd1', kind: 'CALL', cost: '1' } });
    await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'd2', kind: 'CALL', cost: '2' } });
    // Written by the recording itself, keyed by the start of the local day.
    const [day] = await h.sql(
      `SELECT day = (SELECT date_trunc('day', max(occurred_at), 'Asia/Kolkata') FROM usage_events WHERE tenant_id = $1) AS local,
              requests::int AS n
         FROM usage_rollups_daily_keys WHERE tenant_id = $1`,
      [t.id],
    );
    expect(day).toEqual({ local: true, n: 2 });
    await h.sql('UPDATE usage_rollups_daily_keys SET requests = requests + 1 WHERE tenant_id = $1', [t.id]);
    const diffs = await reconcile(h.db, t.id);
    expect(diffs.map((d) => [d.table, d.measures])).toEqual([['usage_rollups_daily_keys', { requests: ['2', '3'] }]]);
    await rebuild(await h.ownerDb(), t.id);
    expect(await reconcile(h.db, t.id)).toEqual([]);
  });

  it('rebuild keeps usage recorded while it runs (writers wait for it)', async () => {
    const t = await h.seed.tenant('busy');
    const writes = Array.from({ length: 30 }, (_, i) =>
      h.ok(t.adminKey, RECORD, { input: { idempotencyKey: `w${i}`, kind: 'CALL', cost: '0.1' } }),
    );
    const rebuilt = rebuild(await h.ownerDb(), t.id);
    await Promise.all([...writes, rebuilt]);
    expect(await reconcile(h.db, t.id)).toEqual([]);
    const [sum] = await h.sql('SELECT sum(cost)::text AS c FROM usage_rollups_hourly WHERE tenant_id = $1', [t.id]);
    expect(sum.c).toBe('3.000000000000');
  });

  it('checks the minute level where reads trust it (the last 7 days) and rebuilds it from the ledger', async () => {
    const t = await h.seed.tenant('minutes');
    await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'm1', kind: 'CALL', cost: '1', status: 'FAILED' } });
    await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'm2', kind: 'CALL', cost: '2' } });
    // written by the recording itself: one row per (minute, status)
    const [rows] = await h.sql('SELECT count(*)::int AS n FROM usage_rollups_minute_keys WHERE tenant_id = $1', [t.id]);
    expect(rows.n).toBeGreaterThanOrEqual(2);
    expect(await reconcile(h.db, t.id)).toEqual([]);

    // a recent minute off by one request is found; a row older than reads trust is not compared
    await h.sql(
      "UPDATE usage_rollups_minute_keys SET requests = requests + 1 WHERE tenant_id = $1 AND status = 'FAILED'",
      [t.id],
    );
    await h.sql(
      `INSERT INTO usage_rollups_minute_keys (tenant_id, minute, kind, currency, status, requests)
       VALUES ($1, date_trunc('minute', now()) - interval '7 days 1 hour', 'CALL', 'USD', 'SUCCEEDED', 9)`,
      [t.id],
    );
    const diffs = await reconcile(h.db, t.id);
    expect(diffs.map((d) => [d.table, d.key.status, d.measures])).toEqual([
      ['usage_rollups_minute_keys', 'FAILED', { requests: ['1', '2'] }],
    ]);
    const found = await reconcileCli(['--tenant', t.id]);
    expect(found.code).toBe(1);
    expect(found.out).toContain('reconcile: 1 difference(s)');

    await rebuild(await h.ownerDb(), t.id);
    expect(await reconcile(h.db, t.id)).toEqual([]);
    // rebuilt from the ledger: the planted old row is gone, the recent rows are back
    const after = await h.sql(
      'SELECT status, requests::int AS n FROM usage_rollups_minute_keys WHERE tenant_id = $1 ORDER BY status',
      [t.id],
    );
    expect(after.reduce((n, r) => n + r.n, 0)).toBe(2);
    expect(after.map((r) => r.status).sort()).toEqual(['FAILED', 'SUCCEEDED']);
  });
});
