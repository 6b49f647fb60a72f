import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../server/src/db/embedded';
import { freshDatabase, OPERATOR_KEY } from '../support/harness';
import { killServerProcesses, post, startServerProcess } from '../support/server-process';
import { sleep, until } from '../support/wait';
import { dec } from '../support/world';

const LEASE_MS = 3000;
const dirs: string[] = [];
afterAll(async () => {
  killServerProcesses();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function startServer(url: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tally-leases-'));
  dirs.push(dir);
  const env = {
    DATABASE_URL: url,
    TALLY_DATA_DIR: dir,
    NODE_ENV: 'production',
    QUOTA_LEASE_MS: String(LEASE_MS),
    QUOTA_LEASE_HORIZON_MS: '500',
  };
  return startServerProcess(env, await freePort());
}

const AUTHORIZE = `mutation { authorizeUsage(input: { estimate: { cost: "0.1" }, reserveSeconds: 600 }) {
  allowed reservation { id } deniedBy { used reserved limit { id } } } }`;

describe('leases and kill -9', () => {
  it('one of two instances killed mid-race: nothing it answered is lost, the other fills the limit exactly, its leases go after their lifetime', async () => {
    const url = await freshDatabase('leases-kill');
    const [a, b] = await Promise.all([startServer(url), startServer(url)]);
    const plan = await post(
      a.base,
      OPERATOR_KEY,
      'mutation { upsertPlan(input: { code: "kill-race", name: "Race", limits: [{ metric: COST, period: DAY, amount: "50", action: BLOCK }] }) { limits { id } } }',
    );
    expect(plan.ok && !plan.errors).toBe(true);
    const limitId = (plan as { data: any }).data.upsertPlan.limits[0].id as string;
    const created = await post(
      a.base,
      OPERATOR_KEY,
      'mutation { createTenant(input: { name: "racer", planCode: "kill-race" }) { secret apiKey { tenant { id } } } }',
    );
    const key = (created as { data: any }).data.createTenant.secret as string;
    const tenantId = (created as { data: any }).data.createTenant.apiKey.tenant.id as string;

    const answered = { a: [] as string[], b: [] as string[] };
    const denials: any[] = [];
    const unexpected: unknown[] = [];
    // 16 clients per server ask one after another until refused (or, on a, until it dies).
    const clients = (server: { base: string }, mine: string[]) =>
      Array.from({ length: 16 }, async () => {
        for (;;) {
          const r = await post(server.base, key, AUTHORIZE);
          if (!r.ok) return;
          if (r.errors) {
            unexpected.push(r.errors);
            return;
          }
          const d = r.data.authorizeUsage;
          if (!d.allowed) {
            denials.push(d.deniedBy);
            return;
          }
          mine.push(d.reservation.id);
        }
      });
    const racing = [...clients(a, answered.a), ...clients(b, answered.b)];
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      // Both instances decide on slices of the limit when a dies.
      const holders = async () =>
        (
          await db.query(
            'SELECT count(DISTINCT instance_id)::int AS n FROM quota_leases WHERE tenant_id = $1 AND limit_id IS NOT NULL AND amount > 0',
            [tenantId],
          )
        ).rows[0].n as number;
      await until(async () => (await holders()) === 2, 'both instances to hold a slice', 30_000, 5);
      await until(() => answered.a.length >= 100, 'a to answer 100 reservations', 30_000, 5);
      a.child.kill('SIGKILL');
      await a.exited;
      const atKill = answered.a.length + answered.b.length;
      await Promise.all(racing);
      expect(unexpected).toEqual([]);
      // Mid-race: the limit (500 calls of 0.1) was far from full when a died.
      expect(atKill).toBeLessThan(400);

      // Nothing answered is lost: every reservation either server answered is committed.
      const ids = [...answered.a, ...answered.b];
      expect(new Set(ids).size).toBe(ids.length);
      const found = await db.query('SELECT count(*)::int AS n FROM reservations WHERE id = ANY($1::uuid[])', [ids]);
      expect(found.rows[0].n).toBe(ids.length);
      // Exactly what fits: b filled the limit, a's slices taken back where the room was needed.
      const sum = await db.query(
        'SELECT sum(cost)::text AS cost, count(*)::int AS n FROM reservations WHERE tenant_id = $1',
        [tenantId],
      );
      expect(sum.rows[0]).toEqual({ cost: dec(50), n: 500 });
      // a may have committed reservations whose answers died with it; b answered the rest.
      expect(ids.length).toBeLessThanOrEqual(500);
      expect(answered.b.length).toBeGreaterThan(0);
      // No false denial: b refused only when the limit was full.
      expect(denials.length).toBeGreaterThan(0);
      for (const d of denials) expect(d).toEqual({ used: dec(0), reserved: dec(50), limit: { id: limitId } });

      // a's leases count no longer than their lifetime: after it, the next decision drops them.
      await sleep(LEASE_MS + 200);
      const late = await post(b.base, key, AUTHORIZE);
      expect(late.ok && late.data.authorizeUsage.allowed).toBe(false);
      const left = await db.query(
        'SELECT count(DISTINCT instance_id)::int AS instances, count(*) FILTER (WHERE expires_at <= now())::int AS expired FROM quota_leases WHERE tenant_id = $1',
        [tenantId],
      );
      expect(left.rows[0].expired).toBe(0);
      expect(left.rows[0].instances).toBeLessThanOrEqual(1);
    } finally {
      await db.end();
      b.child.kill('SIGTERM');
      await b.exited;
    }
  }, 120_000);
});
