// Bench test 9 (BENCH_ONLY=9): webhook delivery keeps up and does not slow ingest.
// 1,000 reversals of one tenant with 10 endpoints (8 answering at once, 1 answering after
// SLOW_MS, 1 always answering 500) make 10,000 deliveries; while the server delivers them,
// recordUsage runs the same load as just before (another tenant, no endpoints). Reported: the
// time until every delivery is DELIVERED or scheduled for a retry (the failing endpoint's), the
// time for the 9 answering endpoints, and the ingest rate while delivering over the better of
// the rates without (just before, and once every delivery settled), measured in the same run.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';

export const EVENTS = 1000;
const ENDPOINTS = 10;
const SLOW_MS = 100;

interface Ctx {
  base: string;
  raw: pg.Pool;
  run: string;
  smoke: boolean;
  log: (s: string) => void;
  fmt: (n: number, d?: number) => string;
  gql: (base: string, key: string, query: string, variables?: unknown) => Promise<Record<string, any>>;
  tenant: (base: string, name: string) => Promise<{ id: string; key: string }>;
  /** recordUsage load for the bench's duration on `key`: events/s. */
  ingest: (key: string, tag: string) => Promise<{ rps: number; p99: number }>;
}

export interface WebhookRow {
  test: string;
  figure: string;
  baseline: string;
  ratio: string;
  target: string;
}

async function receiver(
  answer: (res: import('node:http').ServerResponse) => void,
): Promise<{ server: Server; url: string; count: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n++;
      answer(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, count: () => n };
}

export async function webhooksTest(c: Ctx): Promise<WebhookRow[]> {
  const events = c.smoke ? 50 : EVENTS;
  c.log(`9/10 webhooks: ${events} events x ${ENDPOINTS} endpoints (1 slow, 1 failing) while ingesting ...`);
  const receivers = await Promise.all(
    Array.from({ length: ENDPOINTS }, (_, i) =>
      receiver((res) => {
        if (i === 0) setTimeout(() => res.writeHead(200).end(), SLOW_MS);
        else if (i === 1) res.writeHead(500).end();
        else res.writeHead(204).end();
      }),
    ),
  );
  try {
    const hooked = await c.tenant(c.base, 'bench-hooks');
    const plain = await c.tenant(c.base, 'bench-hooks-ingest');
    const key = (
      await c.gql(c.base, hooked.key, 'mutation { createApiKey(input: { name: "gw", scopes: [INGEST] }) { secret } }')
    ).createApiKey.secret as string;
    // Events to reverse (before any endpoint exists: recording emits nothing anyway).
    for (let i = 0; i < events; i += 500)
      await c.gql(c.base, key, 'mutation($i: [RecordUsageInput!]!) { recordUsageBatch(input: $i) { created } }', {
        i: Array.from({ length: Math.min(500, events - i) }, (_, j) => ({
          idempotencyKey: `wh-${c.run}-${i + j}`,
          kind: 'CALL',
          cost: '0.01',
        })),
      });
    const ids = (
      await c.raw.query('SELECT id FROM usage_events WHERE tenant_id = $1 AND reverses_id IS NULL', [hooked.id])
    ).rows.map((r) => r.id as string);
    const ingestKey = (
      await c.gql(c.base, plain.key, 'mutation { createApiKey(input: { name: "gw", scopes: [INGEST] }) { secret } }')
    ).createApiKey.secret as string;

    // Ingest without deliveries (the baseline), then the endpoints and the reversals.
    const without = await c.ingest(ingestKey, 'a');
    const endpointIds: string[] = [];
    for (const r of receivers)
      endpointIds.push(
        (
          await c.gql(
            c.base,
            hooked.key,
            'mutation($u: String!) { createWebhookEndpoint(input: { url: $u }) { endpoint { id } } }',
            {
              u: r.url,
            },
          )
        ).createWebhookEndpoint.endpoint.id,
      );
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < ids.length) {
          const id = ids[next++] as string;
          await c.gql(c.base, key, 'mutation($i: ReverseUsageInput!) { reverseUsage(input: $i) { outcome } }', {
            i: { eventId: id, idempotencyKey: `wh-rev-${id}` },
          });
        }
      }),
    );
    const reversedIn = performance.now() - t0;
    // Deliveries run while the same ingest load runs again.
    const settled = async () =>
      (
        await c.raw.query(
          `SELECT endpoint_id::text AS e, count(*) FILTER (WHERE status = 'DELIVERED' OR (status <> 'DELIVERED' AND attempts > 0))::int AS done,
                  count(*)::int AS n
             FROM webhook_deliveries WHERE tenant_id = $1 GROUP BY endpoint_id`,
          [hooked.id],
        )
      ).rows as { e: string; done: number; n: number }[];
    let healthyAt = 0;
    let allAt = 0;
    const watch = (async () => {
      for (;;) {
        const rows = await settled();
        const doneOf = (e: string) => rows.find((r) => r.e === e);
        const healthy = endpointIds.slice(1).every((e) => doneOf(e)?.done === events);
        if (healthy && !healthyAt) healthyAt = performance.now() - t0;
        if (healthy && doneOf(endpointIds[0] as string)?.done === events) {
          allAt = performance.now() - t0;
          return;
        }
        if (performance.now() - t0 > 300_000) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const during = await c.ingest(ingestKey, 'b');
    await watch;
    // The baseline again once every delivery is settled; the better of the two is the one compared.
    const after = await c.ingest(ingestKey, 'c');
    const baseline = Math.max(without.rps, after.rps);
    const total = (await settled()).reduce((s, r) => s + r.done, 0);
    const fails = receivers[1]?.count() ?? 0;
    // Deliveries begin with the first reversal; what is left to send after the last one is the backlog.
    const drain = (at: number) => c.fmt(Math.max(0, at - reversedIn) / 1000, 1);
    c.log(
      `   ${total} of ${events * ENDPOINTS} delivered or scheduled; ${c.fmt(events)} reversals took ${c.fmt(reversedIn / 1000, 1)} s; after the last, the answering endpoints were done in ${drain(healthyAt)} s, the slow one in ${drain(allAt)} s; failing endpoint hit ${fails} times`,
    );
    return [
      {
        test: `9. webhooks: ${c.fmt(events)} reversals x ${ENDPOINTS} endpoints (1 answers in ${SLOW_MS} ms, 1 always 500)`,
        figure: `${c.fmt(total)} of ${c.fmt(events * ENDPOINTS)} delivered or scheduled ${c.fmt(allAt / 1000, 1)} s after the first reversal, ${drain(allAt)} s after the last (the 9 others: ${drain(healthyAt)} s); the ${c.fmt(events)} reversals took ${c.fmt(reversedIn / 1000, 1)} s`,
        baseline: `${c.fmt((events * (ENDPOINTS - 1)) / (healthyAt / 1000))} deliveries/s to the 9 over the whole run`,
        ratio: (total / (events * ENDPOINTS)).toFixed(2),
        target: '1.00 (all)',
      },
      {
        test: '9. recordUsage while delivering them',
        figure: `${c.fmt(during.rps)} events/s, p99 ${during.p99} ms`,
        baseline: `same load, no deliveries: ${c.fmt(without.rps)} before, ${c.fmt(after.rps)} after events/s`,
        ratio: (during.rps / baseline).toFixed(2),
        target: '>= 0.8',
      },
    ];
  } finally {
    for (const r of receivers) {
      r.server.closeAllConnections();
      r.server.close();
    }
  }
}
