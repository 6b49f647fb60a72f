import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureDatabase } from '../server/src/db/connect';
import { openDatabase } from '../server/src/db/database';
import { type EmbeddedDatabase, freePort, startEmbeddedPostgres } from '../server/src/db/embedded';
import { reconcile } from '../server/src/modules/usage/usage.reconcile';
import { createHarness, freshDatabase, type Harness, OPERATOR_KEY } from './support/harness';
import { type GqlError, killServerProcesses, post, type Reply, startServerProcess } from './support/server-process';

// ---------------------------------------------------------------------------------------
// cleanup: every spawned process and every extra PostgreSQL, even when a test fails

const clusters: { pg: EmbeddedDatabase | null; dir: string }[] = [];

afterAll(async () => {
  killServerProcesses();
  for (const c of clusters) {
    await c.pg?.stop();
    await rm(c.dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------
// the server process and an HTTP client

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for: ${what}`);
}

const RECORD = `mutation($input: RecordUsageInput!) {
  recordUsage(input: $input) { outcome event { id idempotencyKey } }
}`;

async function createTenant(base: string, name: string): Promise<{ key: string; id: string }> {
  const r = await post(
    base,
    OPERATOR_KEY,
    'mutation($n: String!) { createTenant(input: { name: $n }) { secret apiKey { tenant { id } } } }',
    { n: name },
  );
  if (!r.ok || r.errors) throw new Error(`createTenant: ${JSON.stringify(r)}`);
  return { key: r.data.createTenant.secret, id: r.data.createTenant.apiKey.tenant.id };
}

const retryable = (r: Reply) =>
  !r.ok || (r.errors?.length && r.errors.every((e) => e.extensions?.code === 'INTERNAL' && e.extensions.retryable));

/**
 * Sends one recordUsage until it is answered (connection failures and retryable errors are
 * retried with the same payload), and returns the answer.
 */
async function recordUntilAnswered(base: string, key: string, input: Record<string, unknown>) {
  for (let attempt = 1; ; attempt++) {
    const r = await post(base, key, RECORD, { input });
    if (!retryable(r)) return r as Extract<Reply, { ok: true }>;
    if (attempt >= 200) throw new Error(`no answer for ${input.idempotencyKey}: ${JSON.stringify(r)}`);
    await sleep(50);
  }
}

/** A database handle of the test's own, for checks after the run. */
async function ledgerCheck(url: string) {
  const db = await openDatabase(url, { migrate: false, poolSize: 2 });
  try {
    const rows = await db.query<{ key: string; n: number }>(
      'test:keys',
      'SELECT idempotency_key AS key, count(*)::int AS n FROM usage_events GROUP BY 1',
    );
    const [{ total } = { total: -1 }] = await db.query<{ total: number }>(
      'test:total',
      'SELECT count(*)::int AS total FROM usage_events',
    );
    return { perKey: new Map(rows.map((r) => [r.key, r.n])), total, differences: await reconcile(db, null) };
  } finally {
    await db.close();
  }
}

// ---------------------------------------------------------------------------------------

describe('faults', () => {
  it('kill -9 under load: every acknowledged event exactly once, retries never double count, reconcile clean', async () => {
    const started = Date.now();
    const url = await freshDatabase('faults-kill');
    const port = await freePort();
    const env = { DATABASE_URL: url, TALLY_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'tally-faults-')) };
    let server = await startServerProcess(env, port);
    const tenant = await createTenant(server.base, 'kill-9');

    const CLIENTS = 16;
    const inputOf = (c: number, i: number) => ({
      idempotencyKey: `${c}-${i}`,
      kind: 'CALL',
      cost: `${c + 1}.${String(i % 100).padStart(2, '0')}`,
      subject: `client-${c}`,
    });
    const attempted = Array.from({ length: CLIENTS }, () => [] as Record<string, unknown>[]);
    const acked = new Map<string, string>(); // key -> event id
    const unexpected: unknown[] = [];

    // Each client sends its keys one after another until the server goes away.
    const load = Array.from({ length: CLIENTS }, async (_, c) => {
      for (let i = 0; ; i++) {
        const input = inputOf(c, i);
        attempted[c]?.push(input);
        const r = await post(server.base, tenant.key, RECORD, { input });
        if (!r.ok) return; // the server was killed
        if (r.errors || r.data?.recordUsage?.outcome !== 'CREATED') {
          unexpected.push(r);
          return;
        }
        acked.set(input.idempotencyKey, r.data.recordUsage.event.id);
      }
    });
    await until('300 acknowledged events', () => acked.size >= 300 || unexpected.length > 0);
    server.child.kill('SIGKILL');
    await server.exited;
    await Promise.all(load);
    expect(unexpected).toEqual([]);
    expect(server.child.signalCode).toBe('SIGKILL');
    const allKeys = attempted.flat().map((i) => i.idempotencyKey as string);
    const unacked = allKeys.filter((k) => !acked.has(k));
    // The kill landed mid-run: requests were in flight, unanswered.
    expect(unacked.length).toBeGreaterThan(0);

    // Restart on the same database; every client retries everything it ever sent.
    server = await startServerProcess(env, port);
    const retried = new Map<string, { outcome: string; id: string }>();
    await Promise.all(
      attempted.map(async (inputs) => {
        for (const input of inputs) {
          const r = await recordUntilAnswered(server.base, tenant.key, input);
          expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
          retried.set(input.idempotencyKey as string, {
            outcome: r.data.recordUsage.outcome,
            id: r.data.recordUsage.event.id,
          });
        }
      }),
    );
    // An acknowledged event is a DUPLICATE of itself; an unacknowledged one is CREATED now
    // or was committed before the kill (DUPLICATE), never both.
    for (const [k, id] of acked) expect(retried.get(k), k).toEqual({ outcome: 'DUPLICATE', id });
    for (const k of unacked) expect(['CREATED', 'DUPLICATE']).toContain(retried.get(k)?.outcome);

    const { perKey, total, differences } = await ledgerCheck(url);
    for (const k of acked.keys()) expect(perKey.get(k), k).toBe(1);
    expect(total).toBe(new Set(allKeys).size);
    expect([...perKey.values()].every((n) => n === 1)).toBe(true);
    expect(differences).toEqual([]);

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    console.info(
      `kill -9: ${acked.size} acknowledged before the kill, ${unacked.length} in flight, ${allKeys.length} keys, ${Date.now() - started} ms`,
    );
  });

  it('PostgreSQL restart under load: the server stays up, answers retryable errors, recovers, loses nothing', async () => {
    const started = Date.now();
    const dir = `.data/test-faults-${randomBytes(4).toString('hex')}`;
    const cluster: { pg: EmbeddedDatabase | null; dir: string } = { pg: null, dir };
    clusters.push(cluster);
    cluster.pg = await startEmbeddedPostgres({ dir, fast: false });
    cluster.dir = cluster.pg.dir; // where it really is (moved when root cannot share the checkout)
    const pgPort = cluster.pg.port;
    await ensureDatabase(cluster.pg.url('postgres'), 'tally');
    const url = cluster.pg.url('tally');
    const port = await freePort();
    const server = await startServerProcess(
      { DATABASE_URL: url, TALLY_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'tally-faults-')) },
      port,
    );
    const tenant = await createTenant(server.base, 'pg-restart');

    type Phase = 'before' | 'crashing' | 'down' | 'restarting' | 'up';
    let phase: Phase = 'before';
    let stop = false;
    const attempted: Record<string, unknown>[] = [];
    const acked = new Map<string, { id: string; phase: Phase }>();
    const errors: { sent: Phase; answered: Phase; status: number; errors: GqlError[] }[] = [];
    const network: string[] = [];

    // 12 clients: half with the tenant's key, half with the operator key naming the tenant
    // (authentication without the database, so their calls reach the service while it is down).
    const load = Array.from({ length: 12 }, async (_, c) => {
      const operator = c % 2 === 1;
      for (let i = 0; !stop; i++) {
        const input = {
          idempotencyKey: `${c}-${i}`,
          kind: 'CALL',
          cost: '0.5',
          subject: `client-${c}`,
          ...(operator ? { tenantId: tenant.id } : {}),
        };
        attempted.push(input);
        const sent = phase;
        const r = await post(server.base, operator ? OPERATOR_KEY : tenant.key, RECORD, { input });
        if (!r.ok) {
          network.push(r.network);
          await sleep(20);
        } else if (r.errors) {
          errors.push({ sent, answered: phase, status: r.status, errors: r.errors });
          await sleep(20);
        } else acked.set(input.idempotencyKey, { id: r.data.recordUsage.event.id, phase: sent });
      }
    });

    try {
      await until('200 acknowledged events', () => acked.size >= 200 || network.length > 0);
      phase = 'crashing';
      await cluster.pg.crash();
      phase = 'down';

      // About 2 s without the database: the process answers /healthz, /readyz says 503.
      const health: number[] = [];
      const ready: number[] = [];
      const outageEnds = Date.now() + 2000;
      while (Date.now() < outageEnds) {
        health.push((await fetch(`${server.base}/healthz`)).status);
        ready.push((await fetch(`${server.base}/readyz`)).status);
        await sleep(100);
      }
      await until('errors answered during the outage', () => errors.some((e) => e.sent === 'down'), 30_000);
      expect(server.child.exitCode).toBeNull();
      expect(new Set(health)).toEqual(new Set([200]));
      expect(new Set(ready)).toEqual(new Set([503]));

      phase = 'restarting';
      cluster.pg = await startEmbeddedPostgres({ dir, port: pgPort, fast: false });
      phase = 'up';
      // It recovers by itself: ready again, and recording succeeds without a restart.
      await until('/readyz 200', async () => (await fetch(`${server.base}/readyz`)).status === 200);
      await until(
        '50 events acknowledged after the restart',
        () => [...acked.values()].filter((a) => a.phase === 'up').length >= 50,
      );
    } finally {
      stop = true;
      await Promise.all(load);
    }

    // The server never went away, and every error a client saw while the database was down
    // (sent and answered in the outage) was INTERNAL with retryable: true.
    expect(network).toEqual([]);
    expect(server.child.exitCode).toBeNull();
    const duringOutage = errors.filter((e) => e.sent === 'down' && e.answered === 'down');
    expect(duringOutage.length).toBeGreaterThan(0);
    for (const e of duringOutage) {
      expect(e.errors.length).toBe(1);
      expect(e.errors[0]?.extensions, e.errors[0]?.message).toMatchObject({ code: 'INTERNAL', retryable: true });
    }
    // Around the crash and the restart too: nothing but retryable errors.
    const summary = errors.map(
      (e) => `${e.sent}->${e.answered} ${e.status} ${JSON.stringify(e.errors[0]?.extensions)}`,
    );
    for (const e of errors)
      expect(e.errors[0]?.extensions, `${e.errors[0]?.message}\n${summary.join('\n')}`).toMatchObject({
        code: 'INTERNAL',
        retryable: true,
      });

    // Clients retry what was not acknowledged; then every key is in the ledger exactly once.
    const unacked = attempted.filter((i) => !acked.has(i.idempotencyKey as string));
    await Promise.all(
      unacked.map(async (input) => {
        const key = input.tenantId ? OPERATOR_KEY : tenant.key;
        const r = await recordUntilAnswered(server.base, key, input);
        expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
        expect(['CREATED', 'DUPLICATE']).toContain(r.data.recordUsage.outcome);
      }),
    );
    const { perKey, total, differences } = await ledgerCheck(url);
    for (const k of acked.keys()) expect(perKey.get(k), k).toBe(1);
    expect(total).toBe(attempted.length);
    expect([...perKey.values()].every((n) => n === 1)).toBe(true);
    expect(differences).toEqual([]);

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    console.info(
      `PostgreSQL restart: ${acked.size} acknowledged, ${errors.length} retryable errors (${duringOutage.length} during the outage), ${unacked.length} retried, ${Date.now() - started} ms`,
    );
  });

  describe('many tenants, one pool', () => {
    let h: Harness;
    afterAll(async () => h?.close());

    const TENANTS = 50;
    const ROUNDS = 4;
    const EVENT = 'id idempotencyKey subject metadata tenant { id }';
    const RECORD_ONE = `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { outcome event { ${EVENT} } } }`;
    const RECORD_BATCH = `mutation($input: [RecordUsageInput!]!) { recordUsageBatch(input: $input) {
      created results { outcome error { code } event { ${EVENT} } } } }`;
    const EVENTS = `query($filter: UsageFilter!) { usageEvents(filter: $filter, first: 500) {
      edges { node { ${EVENT} } } pageInfo { hasNextPage } } }`;
    const SUMMARY = `query($filter: UsageFilter!) { usageSummary(filter: $filter, groupBy: [SUBJECT]) {
      totals { requests cost } buckets { subject totals { requests cost } } } }`;
    const QUOTA = `query($tenantId: ID) { quotaStatus(tenantId: $tenantId) { tenantId items { used limit { metric } } } }`;

    it('50 tenants interleaved over a pool of 3: no answer holds another tenant’s row; each summary is its own', async () => {
      const started = Date.now();
      h = await createHarness('many', { poolSize: 3 });
      // Every tenant on a plan with a thresholded limit, so quota work runs in every write.
      await h.ok(OPERATOR_KEY, 'mutation($input: UpsertPlanInput!) { upsertPlan(input: $input) { id } }', {
        input: {
          code: 'many',
          name: 'many',
          limits: [{ metric: 'REQUESTS', period: 'TOTAL', amount: '1000000', action: 'ALERT', thresholds: [100] }],
        },
      });
      const tenants = [];
      for (let i = 0; i < TENANTS; i++) {
        const t = await h.seed.tenant(`many-${i}`);
        await h.ok(OPERATOR_KEY, 'mutation($input: AssignPlanInput!) { assignPlan(input: $input) { startsAt } }', {
          input: { tenantId: t.id, planCode: 'many', startsAt: '2020-01-01T00:00:00Z' },
        });
        tenants.push(t);
      }
      const now = Date.now();
      const filter = { from: new Date(now - 86_400_000).toISOString(), to: new Date(now + 86_400_000).toISOString() };
      const dec = (n: number) => `${n}.000000000000`;
      const foreign: string[] = [];

      /** Every event in an answer must be this tenant's, with its marker. */
      const own = (t: { id: string }, marker: string, e: any, where: string) => {
        if (!e) return;
        if (
          e.tenant?.id !== t.id ||
          e.subject !== marker ||
          e.metadata?.marker !== marker ||
          !e.idempotencyKey.startsWith(marker)
        )
          foreign.push(`${where}: ${marker} got ${JSON.stringify(e)}`);
      };

      await Promise.all(
        tenants.map(async (t, i) => {
          const marker = `m${i}`;
          const cost = i + 1; // per event: a foreign row would change the sums
          const input = (k: string) => ({
            idempotencyKey: `${marker}-${k}`,
            kind: 'CALL',
            cost: String(cost),
            subject: marker,
            metadata: { marker },
          });
          let recorded = 0;
          for (let r = 0; r < ROUNDS; r++) {
            // Writes: one single call and a batch of two, concurrently.
            const [one, batch] = await Promise.all([
              h.ok(t.adminKey, RECORD_ONE, { input: input(`${r}-a`) }),
              h.ok(t.adminKey, RECORD_BATCH, { input: [input(`${r}-b`), input(`${r}-c`)] }),
            ]);
            expect(one.recordUsage.outcome).toBe('CREATED');
            own(t, marker, one.recordUsage.event, 'recordUsage');
            expect(batch.recordUsageBatch.created).toBe(2);
            for (const res of batch.recordUsageBatch.results) own(t, marker, res.event, 'recordUsageBatch');
            recorded += 3;

            // Reads, concurrently, alternately with the tenant's key and the operator's.
            const asOperator = (i + r) % 2 === 1;
            const key = asOperator ? OPERATOR_KEY : t.adminKey;
            const f = { ...filter, ...(asOperator ? { tenantId: t.id } : {}) };
            const [events, summary, quota] = await Promise.all([
              h.ok(key, EVENTS, { filter: f }),
              h.ok(key, SUMMARY, { filter: f }),
              h.ok(key, QUOTA, asOperator ? { tenantId: t.id } : {}),
            ]);
            const nodes = events.usageEvents.edges.map((e: any) => e.node);
            for (const n of nodes) own(t, marker, n, 'usageEvents');
            expect(nodes).toHaveLength(recorded);
            expect(summary.usageSummary.buckets.map((b: any) => b.subject)).toEqual([marker]);
            expect(summary.usageSummary.totals).toEqual({ requests: recorded, cost: dec(recorded * cost) });
            expect(quota.quotaStatus.tenantId).toBe(t.id);
            expect(quota.quotaStatus.items).toHaveLength(1);
            expect(Number(quota.quotaStatus.items[0].used)).toBe(recorded);
          }
        }),
      );
      expect(foreign).toEqual([]);

      // Afterwards, each tenant's summary equals what it recorded, and the ledger holds nothing else.
      for (const [i, t] of tenants.entries()) {
        const s = await h.ok(OPERATOR_KEY, SUMMARY, { filter: { ...filter, tenantId: t.id } });
        expect(s.usageSummary.totals).toEqual({ requests: 3 * ROUNDS, cost: dec(3 * ROUNDS * (i + 1)) });
      }
      const [{ n }] = await h.sql('SELECT count(*)::int AS n FROM usage_events');
      expect(n).toBe(TENANTS * ROUNDS * 3);
      expect(await reconcile(h.db, null)).toEqual([]);
      console.info(`many tenants: ${TENANTS} tenants x ${ROUNDS} rounds over a pool of 3, ${Date.now() - started} ms`);
    });
  });
});
