// The sums of open reservations must read each scope's range of the open-reservations index
// whatever ANALYZE last sampled. Sampled while one tenant had all the rows (a young deployment
// with one busy tenant), tenant_id's statistics said "one tenant", and the planner read the whole
// table for every scope of every locked decision: a stall of seconds once a hundred tenants
// came (migration ReservationTenantStats fixes the estimate).
import { describe, expect, it } from 'vitest';
import { RESERVED_SQL } from '../../server/src/modules/quota/quota.store';
import { World } from '../support/world';

const world = await World.forFile('quota-reserved-plan');

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Plan Rows': number;
  Plans?: PlanNode[];
}
const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

describe('the reserved sums', () => {
  it('read the open-reservations index per scope after ANALYZE saw a single tenant', async () => {
    const busy = await world.tenant('busy').onPlan([]);
    const other = await world.tenant('other').onPlan([]);
    await world.h.sql(
      `INSERT INTO reservations (tenant_id, cost, expires_at)
       SELECT $1, 0.01, now() + interval '1 hour' FROM generate_series(1, 30000)`,
      [busy.id],
    );
    await world.h.sql('ANALYZE reservations');
    const [{ 'QUERY PLAN': plan }] = await world.h.sql(`EXPLAIN (FORMAT JSON) ${RESERVED_SQL}`, [
      [other.id, busy.id],
      [null, null],
      [null, null],
      new Date(),
    ]);
    const scans = nodes((plan as { Plan: PlanNode }[])[0]!.Plan).filter((n) => n['Relation Name'] === 'reservations');
    expect(scans).toHaveLength(1);
    expect(scans[0]).toMatchObject({ 'Node Type': 'Index Scan', 'Index Name': 'reservations_open_idx' });
    // Sized as one tenant among many, not as the whole table.
    expect(scans[0]!['Plan Rows']).toBeLessThan(3000);
    // And the sums are right.
    const sums = await world.h.sql(RESERVED_SQL, [[other.id, busy.id], [null, null], [null, null], new Date()]);
    expect(sums.map((s: { cost: string }) => s.cost)).toEqual(['0', '300.000000000000']);
  });
});
