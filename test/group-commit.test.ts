// Group commit: concurrent recordUsage calls share transactions, yet every caller gets its
// own outcome, idempotency holds inside one batch, a bad call never fails its batch-mates,
// batches are capped, the queue is bounded (RATE_LIMITED after a wait, nothing dropped),
// and close() drains. The service tests run against PostgreSQL; the GroupCommitter tests
// drive the plain class with an in-memory writer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../server/src/app';
import { loadConfig } from '../server/src/config';
import { type Database, openDatabase } from '../server/src/db/database';
import { AppError } from '../server/src/lib/errors';
import { type GroupCommitOptions, GroupCommitter } from '../server/src/modules/usage/group-commit';
import { createLogger } from '../server/src/observability';
import { createHarness, freshDatabase, type GqlResult, type Harness, OPERATOR_KEY } from './support/harness';

const RECORD_KEYED = `mutation Record($input: RecordUsageInput!) {
  recordUsage(input: $input) { outcome event { id idempotencyKey cost subject tenant { id } } }
}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A promise that can be opened from outside: a writer that blocks until the test lets it go. */
function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => {
    open = r;
  });
  return { p, open };
}

/** Settles a promise into a value the test can inspect without awaiting it first. */
function track<T>(p: Promise<T>) {
  const s: { done: boolean; value?: T; error?: unknown } = { done: false };
  p.then(
    (value) => Object.assign(s, { done: true, value }),
    (error) => Object.assign(s, { done: true, error }),
  );
  return s;
}

const OPTS: GroupCommitOptions = {
  maxItems: 1000,
  maxDelayMs: 5,
  maxConcurrent: 1,
  maxQueued: 10_000,
  queueTimeoutMs: 5000,
};

describe('group commit through the service', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness('gc');
  });
  afterAll(async () => h?.close());

  it('writes 64 concurrent recordUsage calls in fewer transactions than calls, each caller its own outcome', async () => {
    const t = await h.seed.tenant('gc-many');
    const before = { ...h.app.services.usage.committer.stats };
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        h.gql(t.adminKey, RECORD_KEYED, {
          input: { idempotencyKey: `gc-${i}`, kind: 'CALL', cost: `${i + 1}.25`, subject: `s-${i}` },
        }),
      ),
    );
    const after = h.app.services.usage.committer.stats;
    const calls = after.calls - before.calls;
    const flushes = after.flushes - before.flushes;
    expect(calls).toBe(64);
    expect(after.entries - before.entries).toBe(64);
    expect(flushes).toBeGreaterThan(0);
    expect(flushes).toBeLessThan(calls);

    // Every caller got its own entry back: its key, its cost, its subject, one CREATED each.
    results.forEach((r, i) => {
      expect(r.errors, `call ${i}`).toBeUndefined();
      expect(r.data.recordUsage).toMatchObject({
        outcome: 'CREATED',
        event: { idempotencyKey: `gc-${i}`, cost: `${i + 1}.250000000000`, subject: `s-${i}`, tenant: { id: t.id } },
      });
    });
    expect(new Set(results.map((r) => r.data.recordUsage.event.id)).size).toBe(64);

    const [ledger] = await h.sql(
      'SELECT count(*)::int AS n, sum(requests)::int AS r, sum(cost)::text AS c FROM usage_events WHERE tenant_id = $1',
      [t.id],
    );
    const [rollup] = await h.sql(
      'SELECT sum(requests)::int AS r, sum(cost)::text AS c FROM usage_rollups_hourly WHERE tenant_id = $1',
      [t.id],
    );
    // sum of (i + 1.25) for i in 0..63 = 2080 + 16 = 2096
    expect(ledger).toEqual({ n: 64, r: 64, c: '2096.000000000000' });
    expect(rollup).toEqual({ r: ledger.r, c: ledger.c });
  });

  it('prices each entry of a shared batch with its own tenant and time, refuses only the unpriced, in fewer statements than calls', async () => {
    const a = await h.seed.tenant('gc-price-a');
    const b = await h.seed.tenant('gc-price-b');
    // Platform price for both; a new platform version from 5 days ago; tenant B overrides both.
    const now = Date.now();
    const daysAgo = (d: number) => new Date(now - d * 86_400_000).toISOString();
    await h.seed.price({ provider: 'acme', model: 'gc-m', inputPerMillion: '1', outputPerMillion: '2' });
    await h.seed.price({ provider: 'acme', model: 'gc-m', inputPerMillion: '5', effectiveFrom: daysAgo(5) });
    await h.seed.price({ tenantId: b.id, provider: 'acme', model: 'gc-m', inputPerMillion: '10' });
    const calls = Array.from({ length: 48 }, (_, i) => {
      const t = i % 2 ? b : a;
      const kind = i % 3; // 0: occurred now, 1: occurred 10 days ago, 2: a model nobody priced
      return {
        key: t.adminKey,
        input: {
          idempotencyKey: `gc-price-${i}`,
          kind: 'LLM',
          provider: 'acme',
          model: kind === 2 ? 'gc-unpriced' : 'gc-m',
          inputTokens: 1_000_000,
          outputTokens: 1_000_000,
          ...(kind === 1 ? { occurredAt: daysAgo(10) } : {}),
        },
      };
    });
    const statements = h.db.queryCount();
    const results = await Promise.all(calls.map((c) => h.gql(c.key, RECORD_KEYED, { input: c.input })));
    const used = h.db.queryCount() - statements;
    results.forEach((r, i) => {
      const inB = i % 2 === 1;
      if (i % 3 === 2) {
        expect(r.errors?.[0]?.extensions, `call ${i}`).toMatchObject({
          code: 'PRICE_NOT_FOUND',
          field: ['input', 'model'],
        });
        return;
      }
      expect(r.errors, `call ${i}`).toBeUndefined();
      // B always pays its own 10 (no output rate); A the platform version in force when it occurred.
      const expected = inB ? '10.000000000000' : i % 3 === 1 ? '3.000000000000' : '5.000000000000';
      expect(r.data.recordUsage.event.cost, `call ${i}`).toBe(expected);
    });
    const [ledger] = await h.sql(`SELECT count(*)::int AS n FROM usage_events WHERE idempotency_key LIKE 'gc-price-%'`);
    expect(ledger.n).toBe(32);
    // Pricing is done per shared batch, so 48 calls need far fewer than 48 statements.
    expect(used).toBeLessThan(calls.length);
  });
});

describe('one idempotency key twice in one batch', () => {
  let db: Database;
  let app: App;
  let tenantKey: string;
  let tenantId: string;

  const gql = async (key: string, query: string, variables?: Record<string, unknown>): Promise<GqlResult> => {
    const res = await app.yoga.fetch('http://tally.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    return { ...((await res.json()) as object), status: res.status };
  };

  beforeAll(async () => {
    db = await openDatabase(await freshDatabase('gc'), { poolSize: 10 });
    // A 50 ms window, so two calls sent together surely share a flush.
    app = createApp({
      db,
      config: { ...loadConfig({ GROUP_COMMIT_MAX_DELAY_MS: '50' }), operatorKey: OPERATOR_KEY },
      logger: createLogger('silent'),
    });
    const r = await gql(
      OPERATOR_KEY,
      'mutation { createTenant(input: { name: "gc-idem" }) { secret apiKey { tenant { id } } } }',
    );
    tenantKey = r.data.createTenant.secret;
    tenantId = r.data.createTenant.apiKey.tenant.id;
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
  });

  async function twoInOneBatch(a: Record<string, unknown>, b: Record<string, unknown>) {
    // Warm the key cache first, so both calls reach the committer together.
    await gql(tenantKey, '{ viewer { isOperator } }');
    const before = { ...app.services.usage.committer.stats };
    const results = await Promise.all([
      gql(tenantKey, RECORD_KEYED, { input: a }),
      gql(tenantKey, RECORD_KEYED, { input: b }),
    ]);
    const after = app.services.usage.committer.stats;
    // Both calls were in one shared write.
    expect(after.calls - before.calls).toBe(2);
    expect(after.flushes - before.flushes).toBe(1);
    return results;
  }

  const rows = async (key: string) =>
    (
      await db.query<{ n: number }>(
        'test:count',
        'SELECT count(*)::int AS n FROM usage_events WHERE tenant_id = $1 AND idempotency_key = $2',
        [tenantId, key],
      )
    )[0]?.n;

  it('same payload: exactly one CREATED and one DUPLICATE of the same entry, one ledger row', async () => {
    const input = { idempotencyKey: 'twin', kind: 'CALL', cost: '0.75', subject: 'x' };
    const results = await twoInOneBatch(input, input);
    for (const r of results) expect(r.errors).toBeUndefined();
    const outcomes = results.map((r) => r.data.recordUsage.outcome).sort();
    expect(outcomes).toEqual(['CREATED', 'DUPLICATE']);
    expect(results[0]?.data.recordUsage.event).toEqual(results[1]?.data.recordUsage.event);
    expect(await rows('twin')).toBe(1);
    const [roll] = await db.query<{ r: number; c: string }>(
      'test:rollup',
      "SELECT sum(requests)::int AS r, sum(cost)::text AS c FROM usage_rollups_hourly WHERE tenant_id = $1 AND subject = 'x'",
      [tenantId],
    );
    expect(roll).toEqual({ r: 1, c: '0.750000000000' });
  });

  it('different payloads: exactly one CREATED and one IDEMPOTENCY_CONFLICT, one ledger row', async () => {
    const results = await twoInOneBatch(
      { idempotencyKey: 'rival', kind: 'CALL', cost: '1' },
      { idempotencyKey: 'rival', kind: 'CALL', cost: '2' },
    );
    const created = results.filter((r) => r.data?.recordUsage?.outcome === 'CREATED');
    const conflicts = results.filter((r) => r.errors?.[0]?.extensions?.code === 'IDEMPOTENCY_CONFLICT');
    expect(created).toHaveLength(1);
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]?.errors?.[0]?.extensions?.field).toEqual(['input', 'idempotencyKey']);
    expect(await rows('rival')).toBe(1);
    const [row] = await db.query<{ cost: string }>(
      'test:row',
      "SELECT cost::text AS cost FROM usage_events WHERE tenant_id = $1 AND idempotency_key = 'rival'",
      [tenantId],
    );
    expect(row?.cost).toBe(created[0]?.data.recordUsage.event.cost);
  });
});

describe('GroupCommitter', () => {
  it('retries the calls of a failed batch alone: only the caller whose entries fail is rejected', async () => {
    const batches: number[][] = [];
    const c = new GroupCommitter<number, number>(
      async (entries) => {
        batches.push([...entries]);
        await sleep(2);
        if (entries.includes(-1)) throw new Error('entry -1 cannot be written');
        return entries.map((e) => e * 10);
      },
      { ...OPTS, maxDelayMs: 20 },
    );
    const a = c.submit([1, 2]);
    const bad = c.submit([3, -1]);
    const b = c.submit([4]);
    const d = c.submit([5, 6, 7]);
    const settled = await Promise.allSettled([a, bad, b, d]);
    expect(settled[0]).toEqual({ status: 'fulfilled', value: [10, 20] });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { message: 'entry -1 cannot be written' } });
    expect(settled[2]).toEqual({ status: 'fulfilled', value: [40] });
    expect(settled[3]).toEqual({ status: 'fulfilled', value: [50, 60, 70] });
    // One shared attempt, then each call alone.
    expect(batches[0]).toEqual([1, 2, 3, -1, 4, 5, 6, 7]);
    expect(batches.slice(1).sort((x, y) => (x[0] as number) - (y[0] as number))).toEqual([
      [1, 2],
      [3, -1],
      [4],
      [5, 6, 7],
    ]);
    expect(c.stats).toEqual({ flushes: 1, entries: 8, calls: 4 });
    await c.close();
  });

  it('a lone failing call is rejected once; the next batch is unaffected', async () => {
    let attempts = 0;
    const c = new GroupCommitter<number, number>(async (entries) => {
      attempts++;
      if (entries.includes(-1)) throw new Error('nope');
      return entries;
    }, OPTS);
    await expect(c.submit([-1])).rejects.toThrow('nope');
    expect(attempts).toBe(1);
    expect(await c.submit([9])).toEqual([9]);
    await c.close();
  });

  it('caps a batch at maxItems entries, takes whole calls, and lets one oversized call through alone', async () => {
    const sizes: number[][] = [];
    const c = new GroupCommitter<number, string>(
      async (entries) => {
        sizes.push([...entries]);
        await sleep(1);
        return entries.map((e) => `ok-${e}`);
      },
      { ...OPTS, maxItems: 5, maxConcurrent: 2 },
    );
    const singles = Array.from({ length: 23 }, (_, i) => c.submit([i]));
    const pairs = Array.from({ length: 4 }, (_, i) => c.submit([100 + 2 * i, 101 + 2 * i]));
    const big = c.submit([200, 201, 202, 203, 204, 205, 206]);
    const out = await Promise.all([...singles, ...pairs, big]);
    expect(out.slice(0, 23)).toEqual(Array.from({ length: 23 }, (_, i) => [`ok-${i}`]));
    expect(out.slice(23, 27)).toEqual(Array.from({ length: 4 }, (_, i) => [`ok-${100 + 2 * i}`, `ok-${101 + 2 * i}`]));
    expect(out[27]).toEqual([200, 201, 202, 203, 204, 205, 206].map((e) => `ok-${e}`));

    const oversized = sizes.filter((b) => b.length > 5);
    expect(oversized).toEqual([[200, 201, 202, 203, 204, 205, 206]]);
    for (const b of sizes.filter((x) => x.length <= 5)) {
      // A pair is never split across batches.
      for (let i = 0; i < 4; i++) expect(b.includes(100 + 2 * i)).toBe(b.includes(101 + 2 * i));
    }
    expect(sizes.flat().sort((x, y) => x - y)).toEqual([
      ...Array.from({ length: 23 }, (_, i) => i),
      ...Array.from({ length: 8 }, (_, i) => 100 + i),
      200,
      201,
      202,
      203,
      204,
      205,
      206,
    ]);
    expect(sizes.length).toBeGreaterThanOrEqual(Math.ceil(31 / 5) + 1);
    await c.close();
  });

  it('bounds the queue: extra callers wait, then get RATE_LIMITED; every accepted call is still written', async () => {
    const written: number[] = [];
    const g = gate();
    const c = new GroupCommitter<number, number>(
      async (entries) => {
        await g.p;
        written.push(...entries);
        return entries;
      },
      { maxItems: 1, maxDelayMs: 0, maxConcurrent: 1, maxQueued: 2, queueTimeoutMs: 150 },
    );
    const first = track(c.submit([1])); // taken by the (blocked) flush
    await sleep(20);
    expect(c.stats.flushes).toBe(1);
    // Fill the queue, one call at a time (the test below covers calls arriving together).
    const queued = [track(c.submit([2]))];
    await sleep(5);
    queued.push(track(c.submit([3])));
    await sleep(5);
    const refused = c.submit([4]); // no room: waits, then gives up
    const err = await refused.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'RATE_LIMITED', extensions: { code: 'RATE_LIMITED', retryable: true } });
    expect(first.done).toBe(false);
    expect(queued.map((q) => q.done)).toEqual([false, false]);

    g.open();
    await c.close();
    expect(first).toMatchObject({ done: true, value: [1] });
    expect(queued.map((q) => q.value)).toEqual([[2], [3]]);
    expect(written.sort()).toEqual([1, 2, 3]);
  });

  it('a caller waiting for room gets in when the queue drains (nothing is dropped)', async () => {
    const written: number[] = [];
    const g = gate();
    const c = new GroupCommitter<number, number>(
      async (entries) => {
        await g.p;
        written.push(...entries);
        return entries.map((e) => -e);
      },
      { maxItems: 1, maxDelayMs: 0, maxConcurrent: 1, maxQueued: 2, queueTimeoutMs: 60_000 },
    );
    const calls = [track(c.submit([1]))];
    await sleep(20);
    for (const e of [2, 3]) {
      calls.push(track(c.submit([e])));
      await sleep(5);
    }
    const waiting = [track(c.submit([4])), track(c.submit([5]))];
    await sleep(100);
    // The queue is full and the writer is blocked: the extra callers are still waiting.
    expect(waiting.map((w) => w.done)).toEqual([false, false]);
    g.open();
    await c.close();
    await sleep(0);
    for (const [i, s] of [...calls, ...waiting].entries())
      expect(s, `call ${i + 1}`).toMatchObject({ done: true, value: [-(i + 1)] });
    expect(written.sort()).toEqual([1, 2, 3, 4, 5]);
    expect(c.stats).toMatchObject({ entries: 5, calls: 5 });
  });

  it('close() resolves only after every queued call was written, and refuses new calls', async () => {
    const written: number[] = [];
    const c = new GroupCommitter<number, number>(
      async (entries) => {
        await sleep(15);
        written.push(...entries);
        return entries;
      },
      // Full batches of 4 go at once; the last 2 calls would wait 10 minutes for the timer
      // (longer than the test's timeout) unless close() flushes them.
      { maxItems: 4, maxDelayMs: 600_000, maxConcurrent: 1, maxQueued: 1000, queueTimeoutMs: 1000 },
    );
    const calls = Array.from({ length: 10 }, (_, i) => track(c.submit([i])));
    await sleep(0);
    expect(written).toEqual([]);
    await c.close();
    expect(written.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await sleep(0);
    calls.forEach((s, i) => {
      expect(s).toMatchObject({ done: true, value: [i] });
    });
    const late = await c.submit([99]).catch((e: unknown) => e);
    expect(late).toMatchObject({ code: 'INTERNAL', extensions: { retryable: true } });
    expect(written).not.toContain(99);
  });

  // Guards a regression: the room check and the accounting were once split by an `await`, so
  // callers woken together (or a burst) all claimed the same room and the bound did not hold.
  it('never lets more than maxQueued entries wait, even when waiting callers are woken together', async () => {
    const batches: number[][] = [];
    const g = gate();
    const c = new GroupCommitter<number, number>(
      async (entries) => {
        await g.p;
        batches.push([...entries]);
        return entries;
      },
      { maxItems: 100, maxDelayMs: 0, maxConcurrent: 1, maxQueued: 2, queueTimeoutMs: 60_000 },
    );
    const calls = [c.submit([1])];
    await sleep(20);
    for (const e of [2, 3, 4, 5, 6, 7, 8, 9]) {
      calls.push(c.submit([e]));
      await sleep(5);
    }
    g.open();
    expect((await Promise.all(calls)).flat()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Every batch after the first was taken from the queue, which holds at most 2 entries.
    for (const b of batches) expect(b.length, JSON.stringify(batches)).toBeLessThanOrEqual(2);
    await c.close();
  });
});
