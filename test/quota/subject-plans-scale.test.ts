// 100,000 subjects on plans of their own in one tenant: authorizing one subject, reading its
// quota and recording its usage read only that subject's membership and limits. The statements
// each costs are counted (h.db.queryCount) against a tenant with ten subjects, and the plan of
// the statement that reads the limits is asked of PostgreSQL (EXPLAIN: an index scan).
import { beforeAll, describe, expect, it } from 'vitest';
import { LIMITS_IN_FORCE } from '../../server/src/modules/quota/quota.store';
import { dec, type LimitInput, NOON, type Plan, World, type WorldTenant } from '../support/world';

const world = await World.forFile('quota-subject-scale');
const SUBJECTS = 100_000;

const free: LimitInput[] = [{ metric: 'REQUESTS', period: 'DAY', amount: '3', action: 'BLOCK' }];
const pro: LimitInput[] = [{ metric: 'REQUESTS', period: 'DAY', amount: '30', action: 'BLOCK' }];

let small: WorldTenant;
let large: WorldTenant;
let plans: { free: Plan; pro: Plan };

/** `n` subjects dev-1..dev-n: odd ones on free, even ones on pro, in one INSERT … SELECT. */
async function seedSubjects(t: WorldTenant, n: number) {
  await world.h.sql(
    `INSERT INTO memberships (tenant_id, plan_id, subject, starts_at)
     SELECT $1, CASE WHEN g % 2 = 1 THEN $2::uuid ELSE $3::uuid END, 'dev-' || g, '2020-01-01T00:00:00Z'
       FROM generate_series(1, $4::int) AS g`,
    [t.id, plans.free.id, plans.pro.id, n],
  );
}

/** Statements one call sends, after a warm-up call of the same shape (key cached, pools open). */
async function statements(call: () => Promise<unknown>, warm: () => Promise<unknown>) {
  await warm();
  const before = world.h.db.queryCount();
  await call();
  return world.h.db.queryCount() - before;
}

beforeAll(async () => {
  world.clock.set(NOON);
  plans = { free: await world.plan(free), pro: await world.plan(pro) };
  const tenantPlan: LimitInput[] = [{ metric: 'COST', period: 'DAY', amount: '100', action: 'BLOCK' }];
  small = await world.tenant('ten-subjects').onPlan(tenantPlan).withKey('INGEST');
  large = await world.tenant('many-subjects').onPlan(tenantPlan).withKey('INGEST');
  await seedSubjects(small, 10);
  await seedSubjects(large, SUBJECTS);
  await world.h.sql('ANALYZE memberships');
  const [{ n }] = await world.h.sql('SELECT count(*)::int AS n FROM memberships WHERE tenant_id = $1', [large.id]);
  expect(n).toBe(SUBJECTS + 1);
}, 120_000);

describe(`a tenant with ${SUBJECTS.toLocaleString('en')} subject plans`, () => {
  it('authorizing one subject costs the same statements as in a tenant with ten, and follows its plan', async () => {
    const authorize = (t: WorldTenant, subject: string) => () =>
      t.authorize({ subject, estimate: { cost: '0.01' }, reserveSeconds: 60 });
    const few = await statements(authorize(small, 'dev-7'), authorize(small, 'dev-5'));
    const many = await statements(authorize(large, 'dev-77777'), authorize(large, 'dev-55555'));
    expect(many).toBe(few);
    // The tenant lookup, the transaction with its lock, the leases (docs/authorize-leases.md),
    // limits (one statement, its own plan's included), windows, used and reserved per item, the
    // reservation, the commit.
    expect(many).toBeLessThanOrEqual(13);
    const odd = await large.authorize({ subject: 'dev-77777' });
    expect(odd.quota.items.map((i) => i.limit.id)).toEqual([large.limit(0), plans.free.limits[0]!.id]);
    const even = await large.authorize({ subject: 'dev-77778' });
    expect(even.quota.items.map((i) => i.limit.id)).toEqual([large.limit(0), plans.pro.limits[0]!.id]);
    // A subject with no plan of its own: the tenant's plan only.
    const none = await large.authorize({ subject: 'dev-0' });
    expect(none.quota.items.map((i) => i.limit.id)).toEqual([large.limit(0)]);
  });

  it('quotaStatus and recording usage of one subject cost the same statements as with ten subjects', async () => {
    const quota = (t: WorldTenant, subject: string) => () => t.quota({ subject });
    expect(await statements(quota(large, 'dev-12345'), quota(large, 'dev-12347'))).toBe(
      await statements(quota(small, 'dev-3'), quota(small, 'dev-1')),
    );
    const record = (t: WorldTenant, subject: string) => () => t.record({ subject, cost: '0.01' });
    expect(await statements(record(large, 'dev-999'), record(large, 'dev-997'))).toBe(
      await statements(record(small, 'dev-9'), record(small, 'dev-7')),
    );
    for (let i = 0; i < 3; i++) await large.record({ subject: 'dev-31', cost: '0' });
    const q = await large.quota({ subject: 'dev-31' });
    expect(world.item(q, plans.free.limits[0]!.id)).toMatchObject({ used: dec(3), exceeded: true });
    expect((await large.authorize({ subject: 'dev-31' })).allowed).toBe(false);
  });

  it("reads the subject's membership by index, never by walking the tenant's memberships", async () => {
    const plan = await world.h.sql(`EXPLAIN (FORMAT JSON) ${LIMITS_IN_FORCE}`, [
      [large.id, small.id],
      [null, null],
      ['dev-77777', 'dev-3'],
      new Date(NOON),
    ]);
    // Every node of the plan that reads memberships, and how.
    const reads: string[][] = [];
    const walk = (node: Record<string, any>) => {
      if (node['Relation Name'] === 'memberships') reads.push([node['Node Type'], node['Index Name'] ?? '']);
      for (const child of node.Plans ?? []) walk(child);
    };
    walk(plan[0]['QUERY PLAN'][0].Plan);
    expect(reads.sort()).toEqual([
      ['Index Scan', 'memberships_subject_idx'],
      ['Index Scan', 'memberships_tenant_idx'],
    ]);
  });

  it('Tenant.subjectMemberships pages them without reading them all', async () => {
    const first = await large.subjectMemberships({ first: 100 });
    expect(first?.edges).toHaveLength(100);
    expect(first?.pageInfo.hasNextPage).toBe(true);
    const next = await large.subjectMemberships({ first: 100, after: first?.pageInfo.endCursor ?? undefined });
    const seen = new Set([...(first?.edges ?? []), ...(next?.edges ?? [])].map((e) => e.node.subject));
    expect(seen.size).toBe(200);
    const one = await large.subjectMemberships({ subject: 'dev-4242' });
    expect(one?.edges.map((e) => [e.node.subject, e.node.plan.code])).toEqual([['dev-4242', plans.pro.code]]);
  });
});
