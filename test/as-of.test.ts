// asOf on UsageSummary and QuotaStatus: the instant the answer is exact as of. A write
// acknowledged before the read is counted (and is before asOf); a write whose transaction is
// held open across the read is not counted, and commits after asOf; once committed, the next
// read counts it. The held write is the ledger's own statement (entries and every rollup
// level), run in a transaction of the test's, so nothing but its commit is missing.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../server/src/db/database';
import { uuidV7Ids } from '../server/src/lib/ids';
import { type NewEntry, wireRow } from '../server/src/modules/usage/usage.columns';
import { insertEvents } from '../server/src/modules/usage/usage.store';
import { createHarness, type Harness, OPERATOR_KEY, RECORD, type SeededTenant } from './support/harness';
import { sleep } from './support/wait';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('as-of');
});
afterAll(async () => h?.close());

const SUMMARY = `query($filter: UsageFilter!) { usageSummary(filter: $filter) { asOf totals { requests cost } } }`;
const QUOTA = '{ quotaStatus { asOf items { used } } }';
const AUTHORIZE = `mutation { authorizeUsage(input: { estimate: { cost: "0" } }) { allowed quota { asOf items { used } } } }`;

function entry(tenantId: string, key: string, cost: string): NewEntry {
  return {
    tenantId,
    idempotencyKey: key,
    fingerprint: Buffer.from(key),
    apiKeyId: null,
    subject: null,
    kind: 'CALL',
    provider: null,
    model: null,
    modelSource: 'VENDOR',
    status: 'SUCCEEDED',
    requests: 1,
    inputTokens: 0,
    outputTokens: 0,
    cachedInputTokens: 0,
    cacheWriteInputTokens: 0,
    reasoningTokens: 0,
    durationMs: null,
    quantity: '1',
    cost,
    currency: 'USD',
    priceId: null,
    latencyMs: null,
    sessionId: null,
    metadata: null,
    occurredAt: new Date(),
    reversesId: null,
    reason: null,
  };
}

/** A ledger write held open: the writer's statement in a transaction the test commits later. */
async function heldWrite(tenantId: string, key: string, cost: string) {
  const c = new pg.Client({ connectionString: h.url });
  await c.connect();
  const tx: Sql = { query: async (_name, text, params) => (await c.query(text, params)).rows };
  await c.query('BEGIN');
  const [id] = uuidV7Ids(1);
  await insertEvents(tx, JSON.stringify([wireRow(entry(tenantId, key, cost), id as string)]));
  return {
    /** The database's clock inside the held transaction, right before it commits. */
    async commit(): Promise<Date> {
      await sleep(5);
      const [{ t }] = (await c.query('SELECT clock_timestamp() AS t')).rows;
      await c.query('COMMIT');
      await c.end();
      return t;
    },
  };
}

async function tenantOnPlan(name: string): Promise<SeededTenant> {
  const t = await h.seed.tenant(name);
  await h.ok(OPERATOR_KEY, 'mutation($i: UpsertPlanInput!) { upsertPlan(input: $i) { id } }', {
    i: { code: `p-${name}`, name, limits: [{ metric: 'COST', period: 'DAY', amount: '1000', action: 'BLOCK' }] },
  });
  await h.ok(OPERATOR_KEY, 'mutation($i: AssignPlanInput!) { assignPlan(input: $i) { startsAt } }', {
    i: { tenantId: t.id, planCode: `p-${name}`, startsAt: '2020-01-01T00:00:00Z' },
  });
  return t;
}

describe('asOf', () => {
  const filter = () => ({
    from: new Date(Date.now() - 3_600_000).toISOString(),
    to: new Date(Date.now() + 3_600_000).toISOString(),
  });

  it('usageSummary: a write acknowledged before is counted; one held open across the read is not, and commits after asOf', async () => {
    const t = await h.seed.tenant('summary-as-of');
    await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'before', kind: 'CALL', cost: '1' } });
    const acknowledged = Date.now();
    const held = await heldWrite(t.id, 'held', '10');

    const first = (await h.ok(t.adminKey, SUMMARY, { filter: filter() })).usageSummary;
    expect(first.totals).toEqual({ requests: 1, cost: '1.000000000000' });
    expect(Date.parse(first.asOf)).toBeGreaterThanOrEqual(acknowledged);

    const committing = await held.commit();
    expect(committing.getTime()).toBeGreaterThan(Date.parse(first.asOf));

    const second = (await h.ok(t.adminKey, SUMMARY, { filter: filter() })).usageSummary;
    expect(second.totals).toEqual({ requests: 2, cost: '11.000000000000' });
    expect(Date.parse(second.asOf)).toBeGreaterThan(committing.getTime());
  });

  it('quotaStatus and authorizeUsage: the same, for the status of every limit', async () => {
    const t = await tenantOnPlan('quota-as-of');
    await h.ok(t.adminKey, RECORD, { input: { idempotencyKey: 'before', kind: 'CALL', cost: '1' } });
    const acknowledged = Date.now();
    const held = await heldWrite(t.id, 'held', '10');

    const first = (await h.ok(t.adminKey, QUOTA)).quotaStatus;
    expect(first.items).toEqual([{ used: '1.000000000000' }]);
    expect(Date.parse(first.asOf)).toBeGreaterThanOrEqual(acknowledged);
    // an authorization's status is read under the tenant lock, after it: as of then
    const auth = (await h.ok(t.adminKey, AUTHORIZE)).authorizeUsage;
    expect(auth.quota.items).toEqual([{ used: '1.000000000000' }]);
    expect(Date.parse(auth.quota.asOf)).toBeGreaterThanOrEqual(Date.parse(first.asOf) - 1);

    const committing = await held.commit();
    expect(committing.getTime()).toBeGreaterThan(Date.parse(first.asOf));
    const second = (await h.ok(t.adminKey, QUOTA)).quotaStatus;
    expect(second.items).toEqual([{ used: '11.000000000000' }]);
    expect(Date.parse(second.asOf)).toBeGreaterThan(committing.getTime());
  });
});
